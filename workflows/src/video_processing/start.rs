//! Starting `VideoProcessingWorkflow`: the first run of an upload (the bridge) and every replay
//! (the API's reprocess), with the same id, search attributes and memo, so the Temporal UI shows
//! every run of a video alike.

use crate::types::ProcessVideo;
use temporalio_client::errors::{WorkflowInteractionError, WorkflowStartError};
use temporalio_client::{
    Client, WorkflowDescribeOptions, WorkflowExecutionStatus, WorkflowIdReusePolicy,
    WorkflowStartOptions,
};
use temporalio_common::search_attributes::SearchAttributes;
use temporalio_common::{MemoValues, Priority};
use vodflow_core::{Config, VideoId, names};

use super::VideoProcessingWorkflow;
use crate::search_attributes::{OWNER_ID, VIDEO_ID, VIDEO_STATUS};

/// One processing run of a video: the first (from the bridge) or a replay (from the API).
pub struct Run<'a> {
    pub video_id: VideoId,
    pub owner: &'a str,
    pub bucket: &'a str,
    pub source_key: &'a str,
    pub size: u64,
    pub title: &'a str,
    pub content_type: &'a str,
    /// 1 for the upload's own run, one more for each replay.
    pub attempt: i32,
    pub callback_url: Option<&'a str>,
    /// The set of renditions this run writes (a forced re-encode starts a new one).
    pub generation: u32,
    pub source_url: Option<&'a str>,
    /// The generation whose unchanged chunks this run copies instead of encoding.
    pub reuse_video_from: Option<u32>,
}

impl<'a> Run<'a> {
    /// A run of the video `row` records, its `attempt`-th.
    pub fn of_row(row: &'a vodflow_core::repo::VideoRow, bucket: &'a str, attempt: i32) -> Self {
        Self {
            video_id: row.video_id(),
            owner: &row.owner,
            bucket,
            source_key: &row.source_key,
            size: row.size_bytes as u64,
            title: &row.title,
            content_type: &row.content_type,
            attempt,
            callback_url: row.callback_url.as_deref(),
            generation: u32::try_from(row.generation).unwrap_or(0),
            source_url: row.source_url.as_deref(),
            reuse_video_from: None,
        }
    }
}

/// Starts `VideoProcessingWorkflow` under the video's workflow id. `reuse` decides whether a closed
/// earlier run may be followed by this one (`RejectDuplicate` for an upload's event, so a duplicate
/// never starts a second run; `AllowDuplicate` for a replay).
pub async fn start_run(
    cfg: &Config,
    client: &Client,
    run: &Run<'_>,
    reuse: WorkflowIdReusePolicy,
) -> Result<(), WorkflowStartError> {
    let input = ProcessVideo {
        video_id: run.video_id,
        owner: run.owner.to_owned(),
        bucket: run.bucket.to_owned(),
        source_key: run.source_key.to_owned(),
        size: run.size,
        title: run.title.to_owned(),
        chunk_seconds: cfg.chunk_seconds,
        transcode_queue: cfg.task_queue(names::TASK_QUEUE_TRANSCODE),
        max_attempts: cfg.activity_max_attempts,
        heartbeat_timeout_s: cfg.heartbeat_timeout.as_secs().max(1),
        attempt: run.attempt,
        callback_url: run.callback_url.map(str::to_owned),
        max_in_flight: cfg.max_encodes_in_flight,
        generation: run.generation,
        source_url: run.source_url.map(str::to_owned),
        import_queue: cfg.task_queue(names::TASK_QUEUE_IMPORT),
        import_deadline_s: cfg.imports.deadline.as_secs().max(1),
        reuse_video_from: run.reuse_video_from,
    };
    let mut memo = MemoValues::new();
    memo.insert("title", run.title.to_owned());
    memo.insert("size_bytes", run.size);
    memo.insert("content_type", run.content_type.to_owned());
    memo.insert("attempt", run.attempt);
    let opts = WorkflowStartOptions::new(
        cfg.task_queue(names::TASK_QUEUE_PROCESSING),
        run.video_id.workflow_id(),
    )
    .id_reuse_policy(reuse)
    .search_attributes(SearchAttributes::new([
        VIDEO_ID.value_set(run.video_id.to_string()),
        OWNER_ID.value_set(run.owner.to_owned()),
        VIDEO_STATUS.value_set("queued".to_owned()),
    ]))
    .memo(memo)
    .priority(owner_fairness(run.owner))
    .static_summary(format!(
        "{} ({} bytes, run {})",
        run.title, run.size, run.attempt
    ))
    .build();
    let h = client
        .start_workflow(VideoProcessingWorkflow::run, input, opts)
        .await?;
    tracing::info!(video_id = %run.video_id, run_id = ?h.run_id(), attempt = run.attempt, "workflow started");
    Ok(())
}

/// The run's tasks (and so its activities', which inherit it) share dispatch by owner: on a queue
/// with fairness enabled, an owner with a 12-hour source in the transcode queue gets one share of
/// the workers, not all of them, and another owner's clip is dispatched alongside. Fairness keys
/// are limited to 64 bytes: a longer owner id is keyed by its digest.
fn owner_fairness(owner: &str) -> Priority {
    let key = if owner.len() <= 64 {
        owner.to_owned()
    } else {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(owner.as_bytes()))
    };
    let mut p = Priority::default();
    p.fairness_key = Some(key);
    p
}

/// The status of the video's latest run, or `None` when it never had one (the event that would
/// start it has not been handled, or the workflow's history is gone).
pub async fn run_status(
    client: &Client,
    id: VideoId,
) -> Result<Option<WorkflowExecutionStatus>, WorkflowInteractionError> {
    let h = client.get_workflow_handle::<VideoProcessingWorkflow>(id.workflow_id());
    match h.describe(WorkflowDescribeOptions::default()).await {
        Ok(d) => Ok(Some(d.status())),
        Err(e) if e.to_string().to_ascii_lowercase().contains("not found") => Ok(None),
        Err(e) => Err(e),
    }
}
