//! Starting a ready video's downloads (the API's `POST /v1/videos/{id}/downloads`).

use crate::types::CreateDownloads;
use temporalio_client::errors::WorkflowStartError;
use temporalio_client::{
    Client, WorkflowIdConflictPolicy, WorkflowIdReusePolicy, WorkflowStartOptions,
};
use vodflow_core::{Config, VideoId, names};

use super::VideoDownloadsWorkflow;

pub fn workflow_id(id: VideoId) -> String {
    format!("downloads-{id}")
}

/// Starts making `input`'s downloads. A run still going for the video is replaced (terminated,
/// then started again): it may have read the video's earlier choice already, and the last request
/// is the one the video keeps. Its objects are rewritten with the same bytes, and its record with
/// the newer run's list.
pub async fn start(
    cfg: &Config,
    client: &Client,
    input: CreateDownloads,
) -> Result<(), WorkflowStartError> {
    let opts = WorkflowStartOptions::new(
        cfg.task_queue(names::TASK_QUEUE_PROCESSING),
        workflow_id(input.video_id),
    )
    .id_reuse_policy(WorkflowIdReusePolicy::AllowDuplicate)
    .id_conflict_policy(WorkflowIdConflictPolicy::TerminateExisting)
    .build();
    client
        .start_workflow(VideoDownloadsWorkflow::run, input, opts)
        .await?;
    Ok(())
}
