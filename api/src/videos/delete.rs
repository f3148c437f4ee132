//! Deleting a video: the row is marked, its objects removed, the CDN purged and its owner's
//! webhooks told.

use chrono::Utc;
use vodflow_core::repo::VideoRow;
use vodflow_workflows::webhook_delivery;

use crate::problem::ApiError;
use crate::state::AppState;

/// Removes the objects of a video already marked deleted, purges the CDN and announces it.
pub(super) async fn remove(state: &AppState, row: &VideoRow) -> Result<(), ApiError> {
    let id = row.video_id();
    crate::store::delete_video_objects(&state.s3, &state.cfg.s3.bucket, id)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    tracing::info!(video_id = %id, "video deleted");
    // Cached copies at the CDN go too; the deletion itself stands even if the CDN is away.
    if state.cfg.cloudfront_distribution_id.is_some() {
        match vodflow_core::cdn::invalidate(&state.cfg, id).await {
            Ok(outcome) => tracing::info!(video_id = %id, %outcome, "cdn"),
            Err(e) => tracing::error!(video_id = %id, error = %e, "cdn invalidation failed"),
        }
    }
    announce_deletion(state, row).await;
    Ok(())
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
