//! A video's text tracks in Postgres: the list on the video row, each track's cues in
//! `text_track_cues`. A change locks the video's row, so two uploads at once cannot both find
//! room for the last track or both become the default, and queues its event in the same
//! transaction.

use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

use super::enqueue;
use crate::text_tracks::{Cue, MAX_TRACKS, TextTrack};
use crate::{Result, VideoId};

/// What a change did.
#[derive(Debug)]
pub enum Change {
    /// The video's tracks after it.
    Done(Vec<TextTrack>),
    /// No such video of this owner.
    NoVideo,
    /// No such track on the video.
    NoTrack,
    /// The video has [`MAX_TRACKS`] already.
    Full,
}

/// An event to queue with the change: its topic and payload.
pub struct Announce<'a> {
    pub topic: &'a str,
    pub event: &'a serde_json::Value,
}

/// The owner's video's track list, its row locked to the end of `tx`.
async fn locked_list(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    id: VideoId,
    owner: &str,
) -> Result<Option<Vec<TextTrack>>> {
    let list: Option<Json<Vec<TextTrack>>> = sqlx::query_scalar(
        "SELECT text_tracks FROM videos WHERE id = $1 AND owner = $2 AND status <> 'deleted' FOR UPDATE",
    )
    .bind(id.as_uuid())
    .bind(owner)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(list.map(|l| l.0))
}

async fn store_list(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    id: VideoId,
    list: &[TextTrack],
) -> Result<()> {
    sqlx::query("UPDATE videos SET text_tracks = $2, updated_at = now() WHERE id = $1")
        .bind(id.as_uuid())
        .bind(Json(list))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Adds `track` with its `cues`; a default track makes the others not default.
pub async fn add(
    pool: &PgPool,
    id: VideoId,
    owner: &str,
    track: &TextTrack,
    cues: &[Cue],
    announce: Announce<'_>,
) -> Result<Change> {
    let mut tx = pool.begin().await?;
    let Some(mut list) = locked_list(&mut tx, id, owner).await? else {
        return Ok(Change::NoVideo);
    };
    if list.len() >= MAX_TRACKS {
        return Ok(Change::Full);
    }
    if track.default {
        list.iter_mut().for_each(|t| t.default = false);
    }
    list.push(track.clone());
    store_list(&mut tx, id, &list).await?;
    sqlx::query("INSERT INTO text_track_cues (id, video_id, cues) VALUES ($1, $2, $3)")
        .bind(track.id)
        .bind(id.as_uuid())
        .bind(Json(cues))
        .execute(&mut *tx)
        .await?;
    enqueue(&mut tx, announce.topic, &id.to_string(), announce.event).await?;
    tx.commit().await?;
    Ok(Change::Done(list))
}

/// Removes track `track` and its cues.
pub async fn remove(
    pool: &PgPool,
    id: VideoId,
    owner: &str,
    track: Uuid,
    announce: Announce<'_>,
) -> Result<Change> {
    let mut tx = pool.begin().await?;
    let Some(mut list) = locked_list(&mut tx, id, owner).await? else {
        return Ok(Change::NoVideo);
    };
    let before = list.len();
    list.retain(|t| t.id != track);
    if list.len() == before {
        return Ok(Change::NoTrack);
    }
    store_list(&mut tx, id, &list).await?;
    sqlx::query("DELETE FROM text_track_cues WHERE id = $1 AND video_id = $2")
        .bind(track)
        .bind(id.as_uuid())
        .execute(&mut *tx)
        .await?;
    enqueue(&mut tx, announce.topic, &id.to_string(), announce.event).await?;
    tx.commit().await?;
    Ok(Change::Done(list))
}

/// The cues of `track` of video `id`, if it has that track.
pub async fn cues(pool: &PgPool, id: VideoId, track: Uuid) -> Result<Option<Vec<Cue>>> {
    let cues: Option<Json<Vec<Cue>>> =
        sqlx::query_scalar("SELECT cues FROM text_track_cues WHERE id = $1 AND video_id = $2")
            .bind(track)
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await?;
    Ok(cues.map(|c| c.0))
}
