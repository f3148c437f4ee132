//! What the processing run publishes: its status in Postgres (through core's repository), and,
//! when a run ends without a video, the withdrawal of the growing playlists it had published.

use std::time::Duration;

use vodflow_core::repo::{self, ReadyRendition};
use vodflow_workflows::types::{MetadataUpdate, UpdateMetadata};

use crate::Deps;
use crate::error::Result;
use crate::publish::withdraw::{self, Ending};

/// How long the run's history may take to read for the failing activity; past it the failure is
/// recorded without it (the step and the reason are what matter).
const HISTORY_READ_WITHIN: Duration = Duration::from_secs(10);

pub(crate) async fn apply(deps: &Deps, u: &UpdateMetadata) -> Result<()> {
    let pool = &deps.pool;
    let (s3, bucket) = (&deps.storage.s3, &deps.cfg.s3.bucket);
    match &u.update {
        MetadataUpdate::Processing { attempt } => {
            repo::set_processing(pool, u.video_id, *attempt).await?
        }
        MetadataUpdate::Playable { attempt } => {
            repo::set_playable(pool, u.video_id, *attempt).await?
        }
        MetadataUpdate::Failed { step, reason } => {
            let failed = tokio::time::timeout(
                HISTORY_READ_WITHIN,
                vodflow_workflows::video_processing::failed_activity(&deps.temporal, u.video_id),
            )
            .await
            .ok()
            .flatten();
            let activity = failed
                .as_ref()
                .map(|(id, attempts)| (id.as_str(), *attempts));
            let ending = Ending::Failed {
                step,
                reason,
                activity,
            };
            withdraw::record_ending(pool, s3, bucket, u.video_id, ending).await?;
        }
        MetadataUpdate::Cancelled => {
            withdraw::record_ending(pool, s3, bucket, u.video_id, Ending::Cancelled).await?;
        }
        MetadataUpdate::Ready {
            info,
            renditions,
            generation,
        } => {
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
                *generation as i32,
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
