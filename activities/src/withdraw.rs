//! Withdrawing the growing playlists of a run that ended without a video. A first encode publishes
//! its master and media playlists while it runs (playable early); when it then fails or is
//! cancelled, those `EVENT` playlists would stay in the store, naming a video that never finished.
//! The segments stay (a replay reuses its finished chunks); the playlists that list them go.

use vodflow_core::{VideoId, VideoStatus, layout, repo};

use crate::Deps;
use crate::error::{Error, Result, s3_err};

/// Removes the master and the media playlists of the video's current generation when the video
/// ended `failed` or `cancelled` and no generation was ever published. Called after the status is
/// recorded and again by a growing package after it wrote: whichever comes last removes them, so a
/// package still in flight when the run stopped cannot leave its playlists behind.
pub(crate) async fn growing_playlists(deps: &Deps, id: VideoId) -> Result<u64> {
    let Some(row) = repo::get_video(&deps.pool, id, None).await? else {
        // Deleted: the delete workflow removes everything.
        return Ok(0);
    };
    let ended = matches!(row.status(), VideoStatus::Failed | VideoStatus::Cancelled);
    // A published generation's master is the one in place (a forced re-encode never grows), and
    // it plays on.
    if !ended || row.published_generation.is_some() {
        return Ok(0);
    }
    let bucket = &deps.cfg.s3.bucket;
    let generation = u32::try_from(row.generation).unwrap_or(0);
    let dir = format!(
        "{}{}",
        layout::hls_prefix(id),
        layout::generation_dir(generation)
    );
    let listed = deps
        .storage
        .s3
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
    vodflow_core::storage::delete_keys(&deps.storage.s3, bucket, &keys)
        .await
        .map_err(|e| Error::Storage(e.to_string()))?;
    tracing::info!(video_id = %id, playlists = keys.len(), "growing playlists withdrawn");
    Ok(keys.len() as u64)
}
