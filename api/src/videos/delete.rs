//! Deleting a video: the row is marked (by the caller), the video's delete workflow stops its
//! processing and removes its objects, the CDN is purged and its owner's webhooks told.

use std::time::Duration;

use chrono::Utc;
use temporalio_client::WorkflowGetResultOptions;
use vodflow_core::repo::VideoRow;
use vodflow_workflows::{DeleteVideoWorkflow, delete_video, webhook_delivery};

use crate::problem::ApiError;
use crate::state::AppState;

/// How long the request waits for the deletion to finish before answering 202.
const WAIT: Duration = Duration::from_secs(10);

/// Starts (or starts again) the deletion of a video already marked deleted and waits a moment for
/// it; true when its objects are gone. `first`: this request marked it, so the CDN purge and the
/// `video.deleted` event happen now (once).
pub(super) async fn remove(
    state: &AppState,
    row: &VideoRow,
    first: bool,
) -> Result<bool, ApiError> {
    let id = row.video_id();
    let done = match state.temporal().await {
        Ok(client) => remove_with(state, &client, id).await?,
        Err(e) => {
            // Accepted all the same: what is left now (a run may still write) the reconciler
            // removes once Temporal is back, by starting this video's deletion again.
            tracing::warn!(video_id = %id, error = %e, "deleting without Temporal");
            let _ = crate::store::delete_video_objects(&state.s3, &state.cfg.s3.bucket, id).await;
            false
        }
    };
    tracing::info!(video_id = %id, done, "video deleted");
    if !first {
        return Ok(done);
    }
    // Cached copies at the CDN go too; the deletion itself stands even if the CDN is away.
    if state.cfg.cloudfront_distribution_id.is_some() {
        match vodflow_core::cdn::invalidate(&state.cfg, id).await {
            Ok(outcome) => tracing::info!(video_id = %id, %outcome, "cdn"),
            Err(e) => tracing::error!(video_id = %id, error = %e, "cdn invalidation failed"),
        }
    }
    announce_deletion(state, row).await;
    Ok(done)
}

/// Nothing runs for it: remove now. A run is open, or the store failed: the delete workflow stops
/// it, waits for its encodes to notice, and retries the removal until it is done.
async fn remove_with(
    state: &AppState,
    client: &temporalio_client::Client,
    id: vodflow_core::VideoId,
) -> Result<bool, ApiError> {
    if !crate::progress::run_is_open(client, id).await?
        && crate::store::delete_video_objects(&state.s3, &state.cfg.s3.bucket, id)
            .await
            .inspect_err(|e| tracing::warn!(video_id = %id, error = %e, "inline removal failed"))
            .is_ok()
    {
        return Ok(true);
    }
    delete_video::start(&state.cfg, client, id)
        .await
        .map_err(|e| ApiError::Unavailable(format!("cannot start the deletion: {e}")))?;
    let handle = client.get_workflow_handle::<DeleteVideoWorkflow>(delete_video::workflow_id(id));
    Ok(matches!(
        tokio::time::timeout(WAIT, handle.get_result(WorkflowGetResultOptions::default())).await,
        Ok(Ok(_))
    ))
}

/// `video.deleted` to the owner's webhooks. Best effort: the deliveries are recorded first, so one
/// whose workflow could not be started shows in the delivery log and can be redelivered.
async fn announce_deletion(state: &AppState, row: &VideoRow) {
    let id = row.video_id();
    let data = serde_json::json!({
        "video_id": id,
        "owner": row.owner,
        "title": row.title,
        "status": "deleted",
        "deleted_at": Utc::now(),
    });
    let result = async {
        let client = state.temporal().await?;
        let event = webhook_delivery::Event {
            owner: &row.owner,
            kind: vodflow_core::webhooks::EVENT_DELETED,
            key: format!("video.deleted:{id}"),
            video_id: Some(id),
            data,
        };
        webhook_delivery::dispatch(&state.cfg, &client, &state.pool, event)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))
    }
    .await;
    if let Err(e) = result {
        tracing::error!(video_id = %id, error = %e, "video.deleted webhooks not started");
    }
}
