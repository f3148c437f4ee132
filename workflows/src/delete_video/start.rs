//! Starting a video's deletion (the API's DELETE, every time it is called).

use crate::types::DeleteVideo;
use temporalio_client::errors::WorkflowStartError;
use temporalio_client::{Client, WorkflowIdReusePolicy, WorkflowStartOptions};
use vodflow_core::{Config, VideoId, names};

use super::DeleteVideoWorkflow;

pub fn workflow_id(id: VideoId) -> String {
    format!("delete-{id}")
}

/// Starts the deletion of `id` unless one is running (then that one is the answer); true when
/// this call started it.
pub async fn start(cfg: &Config, client: &Client, id: VideoId) -> Result<bool, WorkflowStartError> {
    let input = DeleteVideo {
        video_id: id,
        bucket: cfg.s3.bucket.clone(),
        // Twice the heartbeat timeout: a stopped encode has certainly noticed by then.
        grace_s: cfg.heartbeat_timeout.as_secs().max(1) * 2,
    };
    let opts = WorkflowStartOptions::new(
        cfg.task_queue(names::TASK_QUEUE_PROCESSING),
        workflow_id(id),
    )
    // A finished deletion may run again: removing what is already gone is harmless, and a
    // second DELETE must not answer differently from the first.
    .id_reuse_policy(WorkflowIdReusePolicy::AllowDuplicate)
    .build();
    match client
        .start_workflow(DeleteVideoWorkflow::run, input, opts)
        .await
    {
        Ok(_) => Ok(true),
        Err(WorkflowStartError::AlreadyStarted { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}
