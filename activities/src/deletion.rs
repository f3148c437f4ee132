//! The delete workflow's activities: stop the video's processing run, then remove everything of
//! the video from the store (objects and any multipart upload still open under its prefixes).

use temporalio_client::{Client, WorkflowExecutionStatus, WorkflowTerminateOptions};
use vodflow_core::layout;
use vodflow_core::storage::{abort_multipart_uploads, delete_video_objects};
use vodflow_core::workflow_types::{DeleteVideo, VideoRemoved};
use vodflow_workflows::VideoProcessingWorkflow;
use vodflow_workflows::video_processing::run_status;

use crate::error::{Error, Result};

/// Terminates the processing run if it is open; true if it did. Terminate (not cancel): a deleted
/// video must not finish a step, publish a playlist or notify anyone.
pub(crate) async fn stop_processing(client: &Client, job: &DeleteVideo) -> Result<bool> {
    let status = run_status(client, job.video_id)
        .await
        .map_err(|e| Error::Temporal(e.to_string()))?;
    if status != Some(WorkflowExecutionStatus::Running) {
        return Ok(false);
    }
    let h = client.get_workflow_handle::<VideoProcessingWorkflow>(job.video_id.workflow_id());
    match h
        .terminate(
            WorkflowTerminateOptions::builder()
                .reason("video deleted".to_owned())
                .build(),
        )
        .await
    {
        Ok(()) => {}
        // Closed on its own meanwhile.
        Err(e)
            if e.to_string()
                .to_ascii_lowercase()
                .contains("already completed") => {}
        Err(e) => return Err(Error::Temporal(e.to_string())),
    }
    tracing::info!(video_id = %job.video_id, "processing run terminated for deletion");
    Ok(true)
}

pub(crate) async fn remove_objects(
    s3: &aws_sdk_s3::Client,
    job: &DeleteVideo,
) -> Result<VideoRemoved> {
    let mut aborted = 0;
    for prefix in layout::video_object_prefixes(job.video_id) {
        aborted += abort_multipart_uploads(s3, &job.bucket, &prefix, None, |_| false)
            .await
            .map_err(|e| Error::Storage(e.to_string()))?;
    }
    let objects = delete_video_objects(s3, &job.bucket, job.video_id)
        .await
        .map_err(|e| Error::Storage(e.to_string()))?;
    tracing::info!(video_id = %job.video_id, objects, aborted, "video objects removed");
    Ok(VideoRemoved {
        objects,
        multipart_uploads: aborted,
    })
}
