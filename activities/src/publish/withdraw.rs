//! Ending a run without a video. A first encode publishes its master and media playlists while it
//! runs (playable early); when it then fails or is cancelled, those `EVENT` playlists would stay in
//! the store, naming a video that never finished. The segments stay (a replay reuses its finished
//! chunks); the playlists that list them go, in the same step that records the ending, under the
//! video's playlist lock: once `failed` or `cancelled` can be read, no growing playlist is in the
//! store, and a growing package still in flight finds the ending and writes nothing.

use sqlx::{PgPool, Postgres, Transaction};
use vodflow_core::repo::{self, PlaylistLock};
use vodflow_core::{VideoId, VideoStatus, layout};

use crate::error::{Error, Result, s3_err};

/// How a run ended without a video.
pub(crate) enum Ending<'a> {
    Failed {
        step: &'a str,
        reason: &'a str,
        /// The failing activity and its attempts, when known.
        activity: Option<(&'a str, i32)>,
    },
    Cancelled,
}

/// Records `ending` and withdraws the growing playlists of a video that never published a
/// generation, both under the playlist lock. A failed withdrawal leaves the status unrecorded, so
/// the retried activity does both again.
pub(crate) async fn record_ending(
    pool: &PgPool,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    id: VideoId,
    ending: Ending<'_>,
) -> Result<()> {
    let mut tx = repo::playlist_lock(pool, id, PlaylistLock::Ender).await?;
    match ending {
        Ending::Failed {
            step,
            reason,
            activity,
        } => repo::set_failed(&mut *tx, id, step, reason, activity).await?,
        Ending::Cancelled => repo::set_cancelled(&mut *tx, id).await?,
    }
    // Deleted meanwhile: the delete workflow removes everything. A published generation's master
    // is the one in place (a forced re-encode never grows), and it plays on.
    if let Some(row) = repo::get_video(&mut *tx, id, None).await?
        && row.published_generation.is_none()
    {
        let generation = u32::try_from(row.generation).unwrap_or(0);
        let n = growing_playlists(s3, bucket, id, generation).await?;
        tracing::info!(video_id = %id, playlists = n, "growing playlists withdrawn");
    }
    tx.commit().await.map_err(vodflow_core::Error::from)?;
    Ok(())
}

/// The lock a growing package writes its playlists under, or `None` when the run has already
/// ended without a video (or the video is gone): then nothing may be written. Held until dropped.
pub(crate) async fn growing_writer(
    pool: &PgPool,
    id: VideoId,
) -> Result<Option<Transaction<'static, Postgres>>> {
    let mut tx = repo::playlist_lock(pool, id, PlaylistLock::Writer).await?;
    let open = repo::get_video(&mut *tx, id, None)
        .await?
        .is_some_and(|row| !matches!(row.status(), VideoStatus::Failed | VideoStatus::Cancelled));
    Ok(open.then_some(tx))
}

/// Deletes the master and the media playlists of `generation`; returns how many keys it named.
async fn growing_playlists(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    id: VideoId,
    generation: u32,
) -> Result<usize> {
    let dir = format!(
        "{}{}",
        layout::hls_prefix(id),
        layout::generation_dir(generation)
    );
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&dir)
        .delimiter("/")
        .send()
        .await
        .map_err(s3_err)?;
    let mut keys = vec![layout::master_playlist_key(id)];
    for p in listed.common_prefixes() {
        let Some(rendition) = p.prefix().and_then(|p| p.strip_prefix(&dir)) else {
            continue;
        };
        let rendition = rendition.trim_end_matches('/');
        // Skip the chunk manifests (`.chunks/`) and later generations (`g1/`…).
        if rendition.starts_with('.') || layout::generation_of_dir(rendition).is_some() {
            continue;
        }
        keys.push(layout::playlist_key(id, generation, rendition));
    }
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    vodflow_core::storage::delete_keys(s3, bucket, &keys)
        .await
        .map_err(|e| Error::Storage(e.to_string()))?;
    Ok(keys.len())
}
