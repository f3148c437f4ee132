//! `POST /v1/admin/backfill` (`videos:admin`): bring existing ready videos up to date with outputs
//! added since they were made, as one `BackfillWorkflow` an operator can watch in the Temporal UI;
//! `GET /v1/admin/backfill/{id}` for its progress, `POST …/pause` and `…/resume` to hold it.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use temporalio_client::{
    WorkflowDescribeOptions, WorkflowExecutionStatus, WorkflowQueryOptions, WorkflowSignalOptions,
};
use vodflow_core::backfill::{Backfill, Output, Progress};
use vodflow_workflows::{BackfillWorkflow, backfill};

use crate::ApiTags;
use crate::auth::{BearerAuth, SCOPE_ADMIN};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub(crate) struct NewBackfill {
    /// Any of `storyboard`, `downloads` (those each video asks for), `dash`,
    /// `text_track_masters` (always up to date: made when served) and `loudness` (a video made
    /// without `normalize_audio` gets it: its audio is encoded again in a new generation, its
    /// video segments copied; the one output that encodes, so never implied).
    pub outputs: Vec<String>,
    /// Only this owner's videos.
    pub owner: Option<String>,
    /// Only videos uploaded before this moment.
    pub uploaded_before: Option<DateTime<Utc>>,
    /// Videos worked on at once (1 to 8, default 2).
    pub concurrency: Option<u32>,
    /// Videos per workflow run before it continues as new (1 to 100, default 10).
    pub page: Option<u32>,
}

#[derive(Object, Debug)]
pub(crate) struct BackfillProgress {
    pub examined: u64,
    /// Videos that got at least one output.
    pub updated: u64,
    pub up_to_date: u64,
    /// Deleted (or no longer ready) by the time their turn came.
    pub skipped: u64,
    pub failed: u64,
    /// The last few failures, `video: reason`.
    pub failures: Vec<String>,
    pub paused: bool,
    pub finished: bool,
    /// Workflow runs so far (it continues as new after each page).
    pub runs: u32,
}

#[derive(Object, Debug)]
pub(crate) struct BackfillView {
    pub id: String,
    /// `running`, `completed`, `failed`, `terminated`, `cancelled` or `timed_out`.
    pub status: String,
    pub progress: BackfillProgress,
    /// The workflow in the Temporal UI.
    pub workflow: String,
}

#[derive(ApiResponse)]
pub(crate) enum BackfillResponse {
    /// Started (or, for pause and resume, signalled).
    #[oai(status = 202)]
    Accepted(Json<BackfillView>),
    #[oai(status = 200)]
    Ok(Json<BackfillView>),
}

#[derive(Default)]
pub struct BackfillApi;

fn view(state: &AppState, id: &str, status: &str, p: Progress) -> BackfillView {
    BackfillView {
        workflow: format!(
            "{}/namespaces/{}/workflows/{}",
            state.cfg.temporal_ui_url,
            state.cfg.temporal_namespace,
            backfill::workflow_id(id)
        ),
        id: id.to_owned(),
        status: status.to_owned(),
        progress: BackfillProgress {
            examined: p.examined,
            updated: p.updated,
            up_to_date: p.up_to_date,
            skipped: p.skipped,
            failed: p.failed,
            failures: p.failures,
            paused: p.paused,
            finished: p.finished,
            runs: p.runs,
        },
    }
}

/// A backfill id as handed out: a UUID, one spelling.
fn backfill_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .ok()
        .map(|u| u.to_string())
        .filter(|u| u == raw)
        .ok_or_else(|| ApiError::NotFound("no such backfill".into()))
}

fn require_admin(auth: &BearerAuth) -> Result<(), ApiError> {
    if auth.0.has(SCOPE_ADMIN) {
        Ok(())
    } else {
        Err(ApiError::MissingScope(SCOPE_ADMIN))
    }
}

async fn current(state: &AppState, id: &str) -> Result<BackfillView, ApiError> {
    let client = state.temporal().await?;
    let h = client.get_workflow_handle::<BackfillWorkflow>(backfill::workflow_id(id));
    let d = h
        .describe(WorkflowDescribeOptions::default())
        .await
        .map_err(|_| ApiError::NotFound(format!("no backfill {id}")))?;
    let status = match d.status() {
        WorkflowExecutionStatus::Running => "running",
        WorkflowExecutionStatus::Completed => "completed",
        WorkflowExecutionStatus::Failed => "failed",
        WorkflowExecutionStatus::Terminated => "terminated",
        WorkflowExecutionStatus::Canceled => "cancelled",
        WorkflowExecutionStatus::TimedOut => "timed_out",
        _ => "running",
    };
    let progress = h
        .query(
            BackfillWorkflow::progress,
            (),
            WorkflowQueryOptions::default(),
        )
        .await
        .map_err(|e| ApiError::Unavailable(format!("Temporal: {e}")))?;
    Ok(view(state, id, status, progress))
}

#[OpenApi(prefix_path = "/v1/admin", tag = "ApiTags::Videos")]
impl BackfillApi {
    /// Bring existing ready videos (any owner, or one) up to date with outputs added since they
    /// were made, from their published segments, without encoding again. Needs `videos:admin`.
    #[oai(path = "/backfill", method = "post", operation_id = "startBackfill")]
    async fn start_backfill(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<NewBackfill>,
    ) -> ApiResult<BackfillResponse> {
        require_admin(&auth)?;
        let b = body.0;
        if b.outputs.is_empty() || b.outputs.len() > Output::ALL.len() {
            return Err(ApiError::BadRequest(
                "outputs: name one to five of storyboard, downloads, dash, text_track_masters, loudness"
                    .into(),
            )
            .into());
        }
        let mut outputs = Vec::new();
        for o in &b.outputs {
            let o: Output = o.parse().map_err(ApiError::BadRequest)?;
            if !outputs.contains(&o) {
                outputs.push(o);
            }
        }
        let concurrency = b.concurrency.unwrap_or(2);
        let page = b.page.unwrap_or(10);
        if !(1..=8).contains(&concurrency) || !(1..=100).contains(&page) {
            return Err(ApiError::BadRequest(
                "concurrency must be 1 to 8 and page 1 to 100".into(),
            )
            .into());
        }
        if let Some(o) = &b.owner
            && (o.is_empty() || o.len() > 255)
        {
            return Err(ApiError::BadRequest("owner must be 1 to 255 characters".into()).into());
        }
        let id = uuid::Uuid::now_v7().to_string();
        let input = Backfill {
            bucket: state.cfg.s3.bucket.clone(),
            outputs,
            owner: b.owner,
            uploaded_before: b.uploaded_before,
            concurrency,
            page,
            after: None,
            progress: Progress::default(),
        };
        let client = state.temporal().await?;
        backfill::start(&state.cfg, &client, &id, input)
            .await
            .map_err(|e| ApiError::Unavailable(format!("Temporal: {e}")))?;
        tracing::info!(backfill = %id, by = %auth.0.sub, "backfill started");
        Ok(BackfillResponse::Accepted(Json(view(
            &state,
            &id,
            "running",
            Progress::default(),
        ))))
    }

    /// A backfill's progress. Needs `videos:admin`.
    #[oai(path = "/backfill/:id", method = "get", operation_id = "getBackfill")]
    async fn get_backfill(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<BackfillResponse> {
        require_admin(&auth)?;
        let id = backfill_id(&id.0)?;
        Ok(BackfillResponse::Ok(Json(current(&state, &id).await?)))
    }

    /// Hold a backfill before its next batch (the batch under way finishes). Needs `videos:admin`.
    #[oai(
        path = "/backfill/:id/pause",
        method = "post",
        operation_id = "pauseBackfill"
    )]
    async fn pause_backfill(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<BackfillResponse> {
        signalled(&state, &auth, &id.0, true).await
    }

    /// Let a paused backfill go on. Needs `videos:admin`.
    #[oai(
        path = "/backfill/:id/resume",
        method = "post",
        operation_id = "resumeBackfill"
    )]
    async fn resume_backfill(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<BackfillResponse> {
        signalled(&state, &auth, &id.0, false).await
    }
}

/// Sends `pause` (or `resume`) and answers with the backfill as it then is.
async fn signalled(
    state: &AppState,
    auth: &BearerAuth,
    raw_id: &str,
    pause: bool,
) -> ApiResult<BackfillResponse> {
    require_admin(auth)?;
    let id = backfill_id(raw_id)?;
    signal(state, &id, pause).await?;
    Ok(BackfillResponse::Accepted(Json(current(state, &id).await?)))
}

async fn signal(state: &AppState, id: &str, pause: bool) -> Result<(), ApiError> {
    let client = state.temporal().await?;
    let h = client.get_workflow_handle::<BackfillWorkflow>(backfill::workflow_id(id));
    let sent = if pause {
        h.signal(
            BackfillWorkflow::pause,
            (),
            WorkflowSignalOptions::default(),
        )
        .await
    } else {
        h.signal(
            BackfillWorkflow::resume,
            (),
            WorkflowSignalOptions::default(),
        )
        .await
    };
    sent.map_err(|e| ApiError::Conflict(format!("backfill {id} is not running ({e})")))
}
