//! Postgres updates of the processing run, through core's repository.

use sqlx::PgPool;
use vodflow_core::repo::{self, ReadyRendition};
use vodflow_core::workflow_types::{MetadataUpdate, UpdateMetadata};

use crate::error::Result;

pub(crate) async fn apply(pool: &PgPool, u: &UpdateMetadata) -> Result<()> {
    match &u.update {
        MetadataUpdate::Processing { attempt } => {
            repo::set_processing(pool, u.video_id, *attempt).await?
        }
        MetadataUpdate::Playable { attempt } => {
            repo::set_playable(pool, u.video_id, *attempt).await?
        }
        MetadataUpdate::Failed { step, reason } => {
            repo::set_failed(pool, u.video_id, step, reason).await?
        }
        MetadataUpdate::Cancelled => repo::set_cancelled(pool, u.video_id).await?,
        MetadataUpdate::Ready { info, renditions } => {
            let rows: Vec<ReadyRendition<'_>> = renditions
                .iter()
                .map(|r| ReadyRendition {
                    kind: &r.kind,
                    width: r.width as i32,
                    height: r.height as i32,
                    bitrate: r.bandwidth as i32,
                    codecs: &r.codecs,
                    playlist_key: &r.playlist_key,
                    segment_count: r.segment_count as i32,
                    bytes: r.bytes as i64,
                })
                .collect();
            repo::set_ready(
                pool,
                u.video_id,
                info.duration_ms as i64,
                info.width as i32,
                info.height as i32,
                &rows,
            )
            .await?;
        }
    }
    tracing::info!(video_id = %u.video_id, update = ?std::mem::discriminant(&u.update), "metadata updated");
    Ok(())
}
