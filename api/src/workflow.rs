//! A video's processing as Temporal sees it: the workflow endpoint, live progress for the video
//! resource, and the integrator's replay (`reprocess`) and `cancel`.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use temporalio_client::{
    Client, WorkflowDescribeOptions, WorkflowExecutionStatus, WorkflowIdReusePolicy,
    WorkflowListOptions, WorkflowQueryOptions, WorkflowSignalOptions,
};
use vodflow_core::repo::{self, VideoRow};
use vodflow_core::{VideoId, VideoStatus, layout};
use vodflow_workflows::VideoProcessingWorkflow;

use crate::ApiTags;
use crate::auth::{BearerAuth, SCOPE_READ, SCOPE_WRITE};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;
use crate::videos::{Video, visible};

#[derive(Object, Debug, Clone)]
pub struct ChunkState {
    pub index: u32,
    /// queued, encoding, uploading, done or failed.
    pub state: String,
    /// 0 to 100; every rendition of a chunk is encoded by one FFmpeg process, so they move together.
    pub percent: f64,
    /// Attempt of the encode activity, while it runs.
    #[oai(skip_serializing_if_is_none)]
    pub attempt: Option<i32>,
    /// Worker running the encode.
    #[oai(skip_serializing_if_is_none)]
    pub worker: Option<String>,
}

#[derive(Object, Debug, Clone)]
pub struct RenditionProgress {
    /// Rung name, e.g. `720p`.
    pub name: String,
    /// queued, encoding or done (its segments of every chunk are in the store).
    pub state: String,
    /// Mean of its chunks' percent.
    pub percent: f64,
}

#[derive(Object, Debug, Clone)]
pub struct PendingActivity {
    /// Readable id, e.g. `encode-chunk-0003`.
    pub activity_id: String,
    /// Activity type, e.g. `encode_chunk`.
    pub activity_type: String,
    /// scheduled, started or cancel_requested.
    pub state: String,
    /// Attempt number (1 = first try).
    pub attempt: i32,
    /// Worker running it.
    #[oai(skip_serializing_if_is_none)]
    pub worker: Option<String>,
    /// Why the previous attempt failed.
    #[oai(skip_serializing_if_is_none)]
    pub last_failure: Option<String>,
    /// Last heartbeat: `{step, out_time_s, percent}`.
    #[oai(skip_serializing_if_is_none)]
    pub heartbeat: Option<serde_json::Value>,
    #[oai(skip_serializing_if_is_none)]
    pub last_heartbeat_at: Option<DateTime<Utc>>,
}

#[derive(Object, Debug, Clone)]
pub struct Progress {
    /// Step being run: probe_source, encode, package, create_poster, update_metadata, ...
    pub step: String,
    /// Overall percent, 0 to 100.
    pub percent: f64,
    pub renditions: Vec<RenditionProgress>,
    pub chunks: Vec<ChunkState>,
    #[oai(skip_serializing_if_is_none)]
    pub audio: Option<String>,
    /// Activities running or waiting right now, with attempt and heartbeat.
    pub pending: Vec<PendingActivity>,
    /// Seconds to completion, once enough chunks finished to estimate.
    #[oai(skip_serializing_if_is_none)]
    pub eta_seconds: Option<f64>,
}

#[derive(Object, Debug, Clone)]
pub struct RunInfo {
    pub run_id: String,
    /// Temporal status: Running, Completed, Failed, Canceled, Terminated, TimedOut.
    pub status: String,
    #[oai(skip_serializing_if_is_none)]
    pub started_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub closed_at: Option<DateTime<Utc>>,
}

#[derive(Object, Debug)]
pub struct WorkflowView {
    pub workflow_id: String,
    pub run_id: String,
    pub status: String,
    #[oai(skip_serializing_if_is_none)]
    pub started_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub closed_at: Option<DateTime<Utc>>,
    pub history_length: u64,
    /// Result of the workflow's `progress` query (absent when the run has closed).
    #[oai(skip_serializing_if_is_none)]
    pub progress: Option<Progress>,
    /// Every run of this workflow id, newest first (replays add runs).
    pub runs: Vec<RunInfo>,
    /// This workflow in the Temporal UI.
    pub temporal_ui: String,
}

#[derive(ApiResponse)]
pub enum WorkflowResponse {
    /// The workflow of the video's latest processing run.
    #[oai(status = 200)]
    Ok(Json<WorkflowView>),
}

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

fn utc(t: Option<SystemTime>) -> Option<DateTime<Utc>> {
    t.map(DateTime::<Utc>::from)
}

fn status_name(s: WorkflowExecutionStatus) -> String {
    format!("{s:?}")
}

pub(crate) async fn temporal(state: &AppState) -> Result<Client, ApiError> {
    state
        .temporal
        .get_or_try_init(|| vodflow_core::temporal::connect(&state.cfg, "vodflow-api"))
        .await
        .cloned()
        .map_err(|e| ApiError::Unavailable(format!("Temporal is unavailable: {e}")))
}

/// The activity that failed the video's last run and how many attempts it made, read from the
/// run's history (the `ActivityTaskStarted` event of the final attempt carries its number).
pub(crate) async fn failed_attempts(client: &Client, id: VideoId) -> Option<(String, i32)> {
    use std::collections::HashMap;
    use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;
    let h = client.get_workflow_handle::<VideoProcessingWorkflow>(id.workflow_id());
    let events = h
        .fetch_history(Default::default())
        .into_events()
        .await
        .ok()?;
    let mut scheduled: HashMap<i64, String> = HashMap::new();
    let mut started: HashMap<i64, i32> = HashMap::new();
    let mut last = None;
    for e in &events {
        match &e.attributes {
            Some(Attributes::ActivityTaskScheduledEventAttributes(a)) => {
                scheduled.insert(e.event_id, a.activity_id.clone());
            }
            Some(Attributes::ActivityTaskStartedEventAttributes(a)) => {
                started.insert(e.event_id, a.attempt);
            }
            Some(Attributes::ActivityTaskFailedEventAttributes(a)) => {
                last = Some((a.scheduled_event_id, a.started_event_id));
            }
            Some(Attributes::ActivityTaskTimedOutEventAttributes(a)) => {
                last = Some((a.scheduled_event_id, a.started_event_id));
            }
            _ => {}
        }
    }
    let (sched, start) = last?;
    Some((scheduled.get(&sched)?.clone(), *started.get(&start)?))
}

/// Live progress of a running workflow: the `progress` query plus pending activities.
pub(crate) async fn live_progress(client: &Client, id: VideoId) -> Option<Progress> {
    let h = client.get_workflow_handle::<VideoProcessingWorkflow>(id.workflow_id());
    let d = h.describe(WorkflowDescribeOptions::default()).await.ok()?;
    if d.status() != WorkflowExecutionStatus::Running {
        return None;
    }
    let q = h
        .query(
            VideoProcessingWorkflow::progress,
            (),
            WorkflowQueryOptions::default(),
        )
        .await
        .ok()?;
    let pending: Vec<PendingActivity> = d
        .raw()
        .pending_activities
        .iter()
        .map(|p| PendingActivity {
            activity_id: p.activity_id.clone(),
            activity_type: p
                .activity_type
                .as_ref()
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            state: format!("{:?}", p.state()).to_lowercase(),
            attempt: p.attempt,
            worker: Some(p.last_worker_identity.clone()).filter(|w| !w.is_empty()),
            last_failure: p.last_failure.as_ref().map(|f| f.message.clone()),
            heartbeat: p
                .heartbeat_details
                .as_ref()
                .and_then(|d| d.payloads.first())
                .and_then(|pl| serde_json::from_slice(&pl.data).ok()),
            last_heartbeat_at: p
                .last_heartbeat_time
                .as_ref()
                .and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)),
        })
        .collect();
    let elapsed = d
        .start_time()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .map(|e| e.as_secs_f64());
    // Chunks dominate the time: once some are done, the rest take about as long each.
    let done = q.chunks.iter().filter(|c| c.state == "done").count();
    let eta_seconds = match elapsed {
        Some(e) if done > 0 && q.percent > 5.0 && q.percent < 100.0 => {
            Some(e * (100.0 - q.percent) / q.percent)
        }
        _ => None,
    };
    let chunks: Vec<ChunkState> = q
        .chunks
        .into_iter()
        .map(|c| chunk_state(c.index, c.state, &pending))
        .collect();
    let rendition_percent = if chunks.is_empty() {
        0.0
    } else {
        chunks.iter().map(|c| c.percent).sum::<f64>() / chunks.len() as f64
    };
    let rendition_state = if !chunks.is_empty() && chunks.iter().all(|c| c.state == "done") {
        "done"
    } else if chunks.iter().any(|c| c.state != "queued") {
        "encoding"
    } else {
        "queued"
    };
    Some(Progress {
        step: q.step,
        percent: q.percent,
        renditions: q
            .renditions
            .into_iter()
            .map(|name| RenditionProgress {
                name,
                state: rendition_state.to_owned(),
                percent: rendition_percent,
            })
            .collect(),
        chunks,
        audio: q.audio,
        pending,
        eta_seconds,
    })
}

/// A chunk's state as the workflow knows it (queued/done/failed), refined by its encode activity's
/// last heartbeat while one runs: `{step: encode|upload, percent}`.
fn chunk_state(index: u32, state: String, pending: &[PendingActivity]) -> ChunkState {
    let activity_id = format!("encode-chunk-{index:04}");
    let running = pending
        .iter()
        .find(|p| p.activity_id == activity_id && state == "queued");
    match running {
        Some(p) => {
            let beat = p.heartbeat.as_ref();
            let step = beat.and_then(|h| h["step"].as_str());
            ChunkState {
                index,
                state: match (p.state.as_str(), step) {
                    (_, Some("upload")) => "uploading",
                    ("started", _) => "encoding",
                    _ => "queued",
                }
                .to_owned(),
                percent: beat.and_then(|h| h["percent"].as_f64()).unwrap_or(0.0),
                attempt: Some(p.attempt),
                worker: p.worker.clone(),
            }
        }
        None => ChunkState {
            index,
            percent: if state == "done" { 100.0 } else { 0.0 },
            state,
            attempt: None,
            worker: None,
        },
    }
}

/// Starts a new run of a failed or cancelled video (or a ready one with `force`) under the same
/// workflow id; finished chunks are reused. Returns the updated row.
pub(crate) async fn replay(
    state: &AppState,
    row: VideoRow,
    force: bool,
) -> Result<VideoRow, ApiError> {
    let vid = row.video_id();
    match row.status() {
        VideoStatus::Failed | VideoStatus::Cancelled => {}
        VideoStatus::Ready if force => {
            // Forget finished chunks so everything is encoded again.
            crate::store::delete_prefix(
                &state.s3,
                &state.cfg.s3.bucket,
                &format!("{}.chunks/", layout::hls_prefix(vid)),
            )
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        }
        VideoStatus::Ready => {
            return Err(ApiError::Conflict(format!(
                "video {vid} is ready; pass force=true to encode it again"
            )));
        }
        other => {
            return Err(ApiError::Conflict(format!(
                "video {vid} is {other}: its processing is not finished"
            )));
        }
    }
    let client = temporal(state).await?;
    let run = vodflow_bridge::Run {
        video_id: vid,
        owner: &row.owner,
        bucket: &state.cfg.s3.bucket,
        source_key: &row.source_key,
        size: row.size_bytes as u64,
        sha256: &row.sha256,
        title: &row.title,
        content_type: &row.content_type,
        attempt: row.attempt + 1,
        callback_url: row.callback_url.as_deref(),
    };
    // AllowDuplicate admits a new run only once the previous one has closed. A run that has
    // recorded its failure may still be notifying for a moment: give it that moment.
    let mut tries = 0;
    loop {
        match vodflow_bridge::start_run(
            &state.cfg,
            &client,
            &run,
            WorkflowIdReusePolicy::AllowDuplicate,
        )
        .await
        {
            Ok(()) => break,
            Err(temporalio_client::errors::WorkflowStartError::AlreadyStarted { .. })
                if tries < 20 =>
            {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            Err(temporalio_client::errors::WorkflowStartError::AlreadyStarted { .. }) => {
                return Err(ApiError::Conflict(format!(
                    "video {vid} is being processed already"
                )));
            }
            Err(e) => return Err(ApiError::Unavailable(format!("Temporal: {e}"))),
        }
    }
    repo::set_processing(&state.pool, vid, run.attempt).await?;
    repo::get_video(&state.pool, vid, None)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no video {vid}")))
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
        let vid = row.video_id();
        let client = temporal(&state).await?;
        let wid = vid.workflow_id();
        let d = client
            .get_workflow_handle::<VideoProcessingWorkflow>(wid.clone())
            .describe(WorkflowDescribeOptions::default())
            .await
            .map_err(|_| {
                ApiError::NotFound(format!(
                    "video {vid} has no workflow yet (status {})",
                    row.status
                ))
            })?;
        let mut runs = Vec::new();
        let mut list = client.list_workflows(
            format!("WorkflowId = '{wid}'"),
            WorkflowListOptions::builder().limit(50).build(),
        );
        while let Some(Ok(w)) = list.next().await {
            runs.push(RunInfo {
                run_id: w.run_id().to_owned(),
                status: status_name(w.status()),
                started_at: utc(w.start_time()),
                closed_at: utc(w.close_time()),
            });
        }
        runs.sort_by_key(|r| std::cmp::Reverse(r.started_at));
        let view = WorkflowView {
            temporal_ui: format!(
                "{}/namespaces/{}/workflows/{wid}/{}/history",
                state.cfg.temporal_ui_url,
                state.cfg.temporal_namespace,
                d.run_id()
            ),
            workflow_id: wid,
            run_id: d.run_id().to_owned(),
            status: status_name(d.status()),
            started_at: utc(d.start_time()),
            closed_at: utc(d.close_time()),
            history_length: d.history_length() as u64,
            progress: live_progress(&client, vid).await,
            runs,
        };
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
        let row = visible(&state, &auth.0, &id.0).await?;
        let vid = row.video_id();
        if row.status().is_terminal() {
            return Err(ApiError::Conflict(format!(
                "video {vid} is {}: nothing to cancel",
                row.status
            ))
            .into());
        }
        let client = temporal(&state).await?;
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
