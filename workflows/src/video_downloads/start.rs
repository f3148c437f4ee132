//! Starting a ready video's downloads (the API's `POST /v1/videos/{id}/downloads`).

use temporalio_client::errors::WorkflowStartError;
use temporalio_client::{Client, WorkflowIdReusePolicy, WorkflowStartOptions};
use vodflow_core::workflow_types::CreateDownloads;
use vodflow_core::{Config, VideoId, names};

use super::VideoDownloadsWorkflow;

pub fn workflow_id(id: VideoId) -> String {
    format!("downloads-{id}")
}

/// Starts making `input`'s downloads; `Ok(false)` when a run for the video is still going (it
/// reads the video's choice when its activity runs, so it may already make what was asked).
pub async fn start(
    cfg: &Config,
    client: &Client,
    input: CreateDownloads,
) -> Result<bool, WorkflowStartError> {
    let opts = WorkflowStartOptions::new(
        cfg.task_queue(names::TASK_QUEUE_PROCESSING),
        workflow_id(input.video_id),
    )
    .id_reuse_policy(WorkflowIdReusePolicy::AllowDuplicate)
    .build();
    match client
        .start_workflow(VideoDownloadsWorkflow::run, input, opts)
        .await
    {
        Ok(_) => Ok(true),
        Err(WorkflowStartError::AlreadyStarted { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}
