//! Deleting a video: the caller marks the row (the request is recorded: the video is gone for
//! every reader from then on), this starts the video's delete workflow, which does everything
//! else (stop the run, remove objects and multipart uploads, purge the CDN, announce
//! `video.deleted`), and waits a moment for it. When Temporal cannot be reached the request
//! still stands: the reconciler starts the workflow for every deletion not finished.

use std::time::Duration;

use temporalio_client::WorkflowGetResultOptions;
use vodflow_core::VideoId;
use vodflow_workflows::{DeleteVideoWorkflow, delete_video};

use crate::problem::ApiError;
use crate::state::AppState;

/// How long the request waits for the deletion to finish before answering 202.
const WAIT: Duration = Duration::from_secs(10);

/// Starts (or joins, or starts again) the deletion of a video already marked deleted and waits a
/// moment for it; true when it has finished.
pub(super) async fn remove(state: &AppState, id: VideoId) -> Result<bool, ApiError> {
    let client = match state.temporal().await {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(video_id = %id, error = %e, "deletion recorded; the reconciler starts it once Temporal is back");
            return Ok(false);
        }
    };
    if let Err(e) = delete_video::start(&state.cfg, &client, id).await {
        tracing::warn!(video_id = %id, error = %e, "deletion recorded; the reconciler starts it");
        return Ok(false);
    }
    let handle = client.get_workflow_handle::<DeleteVideoWorkflow>(delete_video::workflow_id(id));
    let done = matches!(
        tokio::time::timeout(WAIT, handle.get_result(WorkflowGetResultOptions::default())).await,
        Ok(Ok(_))
    );
    tracing::info!(video_id = %id, done, "video deleted");
    Ok(done)
}
