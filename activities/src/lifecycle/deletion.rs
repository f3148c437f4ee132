//! The delete workflow's activities: stop the video's processing run, remove everything of the
//! video from the store (objects and any multipart upload still open under its prefixes), and
//! announce the deletion. (Its CDN purge is the processing run's `invalidate_cdn`.)

use temporalio_client::{Client, WorkflowExecutionStatus, WorkflowTerminateOptions};
use vodflow_core::events::VideoDeleted;
use vodflow_core::storage::{abort_multipart_uploads, delete_video_objects};
use vodflow_core::{VideoStatus, layout, repo, webhooks};
use vodflow_workflows::VideoProcessingWorkflow;
use vodflow_workflows::types::{DeleteVideo, VideoRemoved};
use vodflow_workflows::video_processing::run_status;
use vodflow_workflows::webhook_delivery;

use crate::Deps;
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

/// `video.deleted` to the owner's webhooks, then the deletion recorded finished. The deliveries
/// are keyed by the video (`video.deleted:{id}`), so a retry or a second run of the deletion
/// starts none twice.
pub(crate) async fn announce_deleted(deps: &Deps, job: &DeleteVideo) -> Result<u32> {
    let id = job.video_id;
    let Some(row) = repo::get_video_any(&deps.pool, id, None).await? else {
        return Ok(0);
    };
    let data = serde_json::to_value(VideoDeleted {
        video_id: id,
        owner: row.owner.clone(),
        title: row.title.clone(),
        status: VideoStatus::Deleted,
        // Marking the row deleted was its last update.
        deleted_at: row.updated_at,
    })?;
    let event = webhook_delivery::Event {
        owner: &row.owner,
        kind: webhooks::EVENT_DELETED,
        key: format!("{}:{id}", webhooks::EVENT_DELETED),
        video_id: Some(id),
        data,
    };
    let started = webhook_delivery::dispatch(&deps.cfg, &deps.temporal, &deps.pool, event)
        .await
        .map_err(|e| Error::Webhook(e.to_string()))?;
    repo::mark_removed(&deps.pool, id).await?;
    tracing::info!(video_id = %id, deliveries = started, "deletion finished");
    Ok(u32::try_from(started).unwrap_or(u32::MAX))
}
