//! A video's processing as an integrator drives it: the workflow view, replay (`reprocess`) and
//! `cancel`.

mod replay;
mod view;

pub(crate) use replay::replay;

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use temporalio_client::WorkflowSignalOptions;
use vodflow_workflows::VideoProcessingWorkflow;

use crate::ApiTags;
use crate::auth::{BearerAuth, SCOPE_READ, SCOPE_WRITE};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;
use crate::videos::{Video, visible};
use view::WorkflowResponse;

#[derive(ApiResponse)]
pub enum ReprocessResponse {
    /// A new run started under the same workflow id.
    #[oai(status = 202)]
    Accepted(Json<Video>),
}

#[derive(ApiResponse)]
pub enum CancelResponse {
    /// Cancellation requested: the run stops at its next step and the video ends `cancelled`.
    #[oai(status = 202)]
    Accepted(Json<Video>),
}

#[derive(Default)]
pub struct WorkflowApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Videos")]
impl WorkflowApi {
    /// The video's processing workflow: status, runs, pending activities and progress.
    #[oai(
        path = "/videos/:id/workflow",
        method = "get",
        operation_id = "getVideoWorkflow"
    )]
    async fn workflow(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<WorkflowResponse> {
        auth.0.require(SCOPE_READ)?;
        let row = visible(&state, &auth.0, &id.0).await?;
        let client = state.temporal().await?;
        let view = view::describe(
            &client,
            &row,
            &state.cfg.temporal_ui_url,
            &state.cfg.temporal_namespace,
        )
        .await?;
        Ok(WorkflowResponse::Ok(Json(view)))
    }

    /// Replay processing: a new run under the same workflow id, reusing every chunk already in the
    /// store. Only for failed or cancelled videos, or ready ones with `force=true` (re-encodes all).
    #[oai(
        path = "/videos/:id/reprocess",
        method = "post",
        operation_id = "reprocessVideo"
    )]
    async fn reprocess(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        /// Re-encode a `ready` video from scratch.
        force: Query<Option<bool>>,
    ) -> ApiResult<ReprocessResponse> {
        auth.0.require(SCOPE_WRITE)?;
        state.limits.reprocess.check(&auth.0.sub)?;
        let row = visible(&state, &auth.0, &id.0).await?;
        let row = replay(&state, row, force.0.unwrap_or(false)).await?;
        Ok(ReprocessResponse::Accepted(Json(Video::from_row(
            row, &state.cfg,
        ))))
    }

    /// Cancel processing: the run stops at its next step, publishes nothing more, and the video
    /// ends `cancelled` (it can be reprocessed later).
    #[oai(
        path = "/videos/:id/cancel",
        method = "post",
        operation_id = "cancelVideo"
    )]
    async fn cancel(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<CancelResponse> {
        auth.0.require(SCOPE_WRITE)?;
        state.limits.reprocess.check(&auth.0.sub)?;
        let row = visible(&state, &auth.0, &id.0).await?;
        let vid = row.video_id();
        if row.status().is_terminal() {
            return Err(ApiError::Conflict(format!(
                "video {vid} is {}: nothing to cancel",
                row.status
            ))
            .into());
        }
        let client = state.temporal().await?;
        let h = client.get_workflow_handle::<VideoProcessingWorkflow>(vid.workflow_id());
        h.signal(
            VideoProcessingWorkflow::cancel,
            format!("cancelled by {}", auth.0.sub),
            WorkflowSignalOptions::default(),
        )
        .await
        .map_err(|e| {
            ApiError::Conflict(format!(
                "video {vid} has no running workflow to cancel ({e})"
            ))
        })?;
        Ok(CancelResponse::Accepted(Json(Video::from_row(
            row, &state.cfg,
        ))))
    }
}
