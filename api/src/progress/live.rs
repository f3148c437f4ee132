use std::time::SystemTime;

use chrono::DateTime;
use temporalio_client::{
    Client, WorkflowDescribeOptions, WorkflowExecutionStatus, WorkflowQueryOptions,
};
use vodflow_core::VideoId;
use vodflow_workflows::VideoProcessingWorkflow;
use vodflow_workflows::contract::activity_id;
use vodflow_workflows::types::EncodeState;

use super::{ChunkState, PendingActivity, Progress, RenditionProgress};

/// How long a status read waits for Temporal. A query needs a workflow worker: while every
/// processing worker is down or restarting it would block for ~10 s, and the row in Postgres is
/// the status anyway, so progress is left out rather than waited for.
const TEMPORAL_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Live progress of a running workflow: the `progress` query plus pending activities.
pub(crate) async fn live_progress(client: &Client, id: VideoId) -> Option<Progress> {
    let h = client.get_workflow_handle::<VideoProcessingWorkflow>(id.workflow_id());
    let d = tokio::time::timeout(
        TEMPORAL_WAIT,
        h.describe(WorkflowDescribeOptions::default()),
    )
    .await
    .ok()?
    .ok()?;
    if d.status() != WorkflowExecutionStatus::Running {
        return None;
    }
    let query = h.query(
        VideoProcessingWorkflow::progress,
        (),
        WorkflowQueryOptions::default(),
    );
    let q = tokio::time::timeout(TEMPORAL_WAIT, query)
        .await
        .ok()?
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
    let done = q
        .chunks
        .iter()
        .filter(|c| c.state == EncodeState::Done)
        .count();
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
        audio: q.audio.map(|a| a.as_str().to_owned()),
        pending,
        eta_seconds,
    })
}

/// A chunk's state as the workflow knows it (queued/done/failed), refined by its encode activity's
/// last heartbeat while one runs: `{step: encode|upload, percent}`.
fn chunk_state(index: u32, state: EncodeState, pending: &[PendingActivity]) -> ChunkState {
    let running = pending.iter().find(|p| {
        activity_id::encode_chunk_index(&p.activity_id) == Some(index)
            && state == EncodeState::Queued
    });
    match running {
        Some(p) => {
            let beat = p.heartbeat.as_ref();
            let step = beat.and_then(|h| h["step"].as_str());
            ChunkState {
                index,
                state: match (p.state.as_str(), step) {
                    (_, Some("upload")) => EncodeState::Uploading,
                    ("started", _) => EncodeState::Encoding,
                    _ => EncodeState::Queued,
                }
                .as_str()
                .to_owned(),
                percent: beat.and_then(|h| h["percent"].as_f64()).unwrap_or(0.0),
                attempt: Some(p.attempt),
                worker: p.worker.clone(),
            }
        }
        None => ChunkState {
            index,
            percent: if state == EncodeState::Done {
                100.0
            } else {
                0.0
            },
            state: state.as_str().to_owned(),
            attempt: None,
            worker: None,
        },
    }
}

/// Whether the video's workflow has a run that has not closed (a missing workflow has none).
pub(crate) async fn run_is_open(
    client: &temporalio_client::Client,
    vid: vodflow_core::VideoId,
) -> Result<bool, crate::problem::ApiError> {
    vodflow_workflows::video_processing::run_status(client, vid)
        .await
        .map(|s| s == Some(WorkflowExecutionStatus::Running))
        .map_err(|e| crate::problem::ApiError::Unavailable(format!("Temporal: {e}")))
}
