//! The `videos` table: a video's creation (with its event, in one transaction), reads by owner,
//! deletion marks, and the per-owner import places.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgPool;
use sqlx::{FromRow, Postgres, Transaction};
use uuid::Uuid;

use super::outbox::enqueue;
use super::run::set_processing;
use crate::{Result, VideoId, VideoStatus};

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct VideoRow {
    pub id: Uuid,
    pub owner: String,
    pub title: String,
    pub description: String,
    pub status: String,
    pub source_key: String,
    pub size_bytes: i64,
    /// Computed by the worker from its copy of the source (`set_source_digest`); empty until then.
    pub sha256: String,
    pub content_type: String,
    pub duration_ms: Option<i64>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub failure_reason: Option<String>,
    pub failure_step: Option<String>,
    pub attempt: i32,
    pub callback_url: Option<String>,
    /// Signs this video's callback; shown to the uploader once.
    pub callback_secret: Option<String>,
    pub visibility: String,
    pub owner_email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The set of renditions the next run writes (`layout::generation_dir`).
    pub generation: i32,
    pub source_url: Option<String>,
    /// The generation viewers are shown (the last that became ready); `None` until one did.
    pub published_generation: Option<i32>,
    /// The activity that failed the last run, and its attempts, when the run could tell.
    pub failure_activity_id: Option<String>,
    pub failure_attempts: Option<i32>,
    /// `[{start, title}]`, as the owner last set them (`None`: never set).
    pub chapters: Option<sqlx::types::Json<Vec<crate::chapters::Chapter>>>,
    /// Its subtitles and captions, in the order they were added.
    pub text_tracks: sqlx::types::Json<Vec<crate::text_tracks::TextTrack>>,
    /// The generation whose storyboard is in the store, if any.
    pub storyboard_generation: Option<i32>,
    /// The generation the stored DASH manifest describes, if any.
    pub dash_generation: Option<i32>,
    /// `none`, `audio`, `highest` or `all`: what downloads it is to have.
    pub downloads: String,
    /// The downloads made for `downloads_generation`.
    pub downloads_made: sqlx::types::Json<Vec<crate::downloads::Download>>,
    pub downloads_generation: Option<i32>,
    /// Whether its audio is normalized, and what the measurement found.
    pub normalize_audio: bool,
    pub loudness: Option<sqlx::types::Json<crate::loudness::Loudness>>,
}

impl VideoRow {
    pub fn video_id(&self) -> VideoId {
        VideoId(self.id)
    }

    pub fn visibility(&self) -> crate::playback::Visibility {
        // The column's CHECK constraint admits only known values; unknown means "keep it private".
        self.visibility
            .parse()
            .unwrap_or(crate::playback::Visibility::Signed)
    }

    pub fn status(&self) -> VideoStatus {
        // The column's CHECK constraint admits only known statuses.
        self.status.parse().unwrap_or(VideoStatus::Failed)
    }
}

pub struct NewVideo<'a> {
    pub id: VideoId,
    pub owner: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub source_key: &'a str,
    pub size_bytes: i64,
    pub content_type: &'a str,
    pub callback_url: Option<&'a str>,
    pub callback_secret: Option<&'a str>,
    pub visibility: crate::playback::Visibility,
    pub owner_email: Option<&'a str>,
    /// Imports only: where the workflow fetches the source from.
    pub source_url: Option<&'a str>,
    /// Imports only: refused ([`crate::Error::ImportsInFlight`]) when the owner already has this
    /// many imports whose source is not yet fetched.
    pub import_cap: Option<i64>,
    pub downloads: crate::downloads::Choice,
    pub normalize_audio: bool,
}

/// An owner's imports in flight: created, source not fetched yet, not ended.
const IMPORTS_IN_FLIGHT: &str = "SELECT count(*) FROM videos
     WHERE owner = $1 AND source_url IS NOT NULL AND size_bytes = 0
       AND status IN ('uploaded', 'processing')";

/// Refuses ([`crate::Error::ImportsInFlight`]) when `owner` has `cap` imports in flight. Counted
/// under a per-owner lock held to the end of `tx`, so concurrent callers that then record an
/// import in flight in `tx` cannot all see room for one more.
async fn take_import_place(
    tx: &mut Transaction<'_, Postgres>,
    owner: &str,
    cap: i64,
) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('imports:' || $1, 0))")
        .bind(owner)
        .execute(&mut **tx)
        .await?;
    let n: i64 = sqlx::query_scalar(IMPORTS_IN_FLIGHT)
        .bind(owner)
        .fetch_one(&mut **tx)
        .await?;
    if n >= cap {
        return Err(crate::Error::ImportsInFlight { cap });
    }
    Ok(())
}

/// Takes one of `owner`'s import places for a replay of an import whose source was never fetched:
/// counted under the same per-owner lock as new imports, and marked `processing` for run `attempt`
/// in the same transaction, so replays cannot carry an owner past `cap` either. Refused with
/// [`crate::Error::ImportsInFlight`] when the owner has no place left.
pub async fn claim_import_replay(
    pool: &PgPool,
    id: VideoId,
    owner: &str,
    attempt: i32,
    cap: i64,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    take_import_place(&mut tx, owner, cap).await?;
    set_processing(&mut *tx, id, attempt).await?;
    tx.commit().await?;
    Ok(())
}

/// Records an accepted upload and its event in one transaction: either both exist or neither.
/// Inserts the video and its `video_uploaded` event in one transaction. With `completing`, the
/// same transaction marks that resumable upload complete, and nothing is inserted unless it was
/// still uploading: a finished upload becomes a video exactly once.
pub async fn insert_uploaded(
    pool: &PgPool,
    video: &NewVideo<'_>,
    topic: &str,
    event: &serde_json::Value,
    completing: Option<uuid::Uuid>,
) -> Result<Option<VideoRow>> {
    let mut tx = pool.begin().await?;
    if let (Some(_), Some(cap)) = (video.source_url, video.import_cap) {
        take_import_place(&mut tx, video.owner, cap).await?;
    }
    if let Some(upload) = completing {
        let done = sqlx::query(
            "UPDATE uploads SET state = 'complete', lock_token = NULL, lock_until = NULL, updated_at = now()
             WHERE id = $1 AND state = 'uploading'",
        )
        .bind(upload)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
    }
    let row = sqlx::query_as::<_, VideoRow>(
        "INSERT INTO videos (id, owner, title, description, status, source_key, size_bytes, content_type, callback_url, visibility, owner_email, callback_secret, source_url, downloads, normalize_audio)
         VALUES ($1, $2, $3, $4, 'uploaded', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING *",
    )
    .bind(video.id.as_uuid())
    .bind(video.owner)
    .bind(video.title)
    .bind(video.description)
    .bind(video.source_key)
    .bind(video.size_bytes)
    .bind(video.content_type)
    .bind(video.callback_url)
    .bind(video.visibility.as_str())
    .bind(video.owner_email)
    .bind(video.callback_secret)
    .bind(video.source_url)
    .bind(video.downloads.as_str())
    .bind(video.normalize_audio)
    .fetch_one(&mut *tx)
    .await?;
    enqueue(&mut tx, topic, &video.id.to_string(), event).await?;
    tx.commit().await?;
    Ok(Some(row))
}

/// Replaces the chapters of the owner's video and queues `event` on `topic`, in one transaction;
/// false when the owner has no such video.
pub async fn set_chapters(
    pool: &PgPool,
    id: VideoId,
    owner: &str,
    chapters: &[crate::chapters::Chapter],
    topic: &str,
    event: &serde_json::Value,
) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let updated = sqlx::query(
        "UPDATE videos SET chapters = $3, updated_at = now()
         WHERE id = $1 AND owner = $2 AND status <> 'deleted'",
    )
    .bind(id.as_uuid())
    .bind(owner)
    .bind(sqlx::types::Json(chapters))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Ok(false);
    }
    enqueue(&mut tx, topic, &id.to_string(), event).await?;
    tx.commit().await?;
    Ok(true)
}

/// Who holds a video's playlist lock: a growing package writing its playlists shares it; the end
/// of a run that leaves no video (failed, cancelled) takes it alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaylistLock {
    Writer,
    Ender,
}

/// A transaction holding the video's playlist lock until it ends. The end of a run records its
/// status and withdraws the growing playlists under [`PlaylistLock::Ender`]; a growing package
/// checks the status and writes under [`PlaylistLock::Writer`]. So once `failed` or `cancelled`
/// is visible, no growing playlist is in the store and none is written after.
pub async fn playlist_lock(
    pool: &PgPool,
    id: VideoId,
    lock: PlaylistLock,
) -> Result<Transaction<'static, Postgres>> {
    let mut tx = pool.begin().await?;
    let sql = match lock {
        PlaylistLock::Writer => {
            "SELECT pg_advisory_xact_lock_shared(hashtextextended('playlists:' || $1::text, 0))"
        }
        PlaylistLock::Ender => {
            "SELECT pg_advisory_xact_lock(hashtextextended('playlists:' || $1::text, 0))"
        }
    };
    sqlx::query(sql)
        .bind(id.as_uuid())
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// `owner = None` is an operator's view (any owner).
pub async fn get_video(
    db: impl sqlx::PgExecutor<'_>,
    id: VideoId,
    owner: Option<&str>,
) -> Result<Option<VideoRow>> {
    Ok(sqlx::query_as::<_, VideoRow>(
        "SELECT * FROM videos WHERE id = $1 AND ($2::text IS NULL OR owner = $2) AND status <> 'deleted'",
    )
    .bind(id.as_uuid())
    .bind(owner)
    .fetch_optional(db)
    .await?)
}

/// Keyset position of the last row of a page: newest first, ties broken by id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

pub async fn list_videos(
    pool: &PgPool,
    owner: Option<&str>,
    status: Option<VideoStatus>,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<VideoRow>> {
    Ok(sqlx::query_as::<_, VideoRow>(
        "SELECT * FROM videos
         WHERE ($1::text IS NULL OR owner = $1)
           AND (CASE WHEN $2::text IS NULL THEN status <> 'deleted' ELSE status = $2 END)
           AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
         ORDER BY created_at DESC, id DESC
         LIMIT $5",
    )
    .bind(owner)
    .bind(status.map(|s| s.as_str()))
    .bind(after.map(|c| c.created_at))
    .bind(after.map(|c| c.id))
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// The video, deleted or not (a repeated DELETE must find it to answer the same).
pub async fn get_video_any(
    pool: &PgPool,
    id: VideoId,
    owner: Option<&str>,
) -> Result<Option<VideoRow>> {
    Ok(sqlx::query_as::<_, VideoRow>(
        "SELECT * FROM videos WHERE id = $1 AND ($2::text IS NULL OR owner = $2)",
    )
    .bind(id.as_uuid())
    .bind(owner)
    .fetch_optional(pool)
    .await?)
}

/// Marks a video deleted; returns false when there was no such (visible) video.
pub async fn mark_deleted(pool: &PgPool, id: VideoId, owner: Option<&str>) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE videos SET status = 'deleted', updated_at = now()
         WHERE id = $1 AND ($2::text IS NULL OR owner = $2) AND status <> 'deleted'",
    )
    .bind(id.as_uuid())
    .bind(owner)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Of `ids`, the ones that have a row (deleted or not).
pub async fn existing_ids(pool: &PgPool, ids: &[uuid::Uuid]) -> Result<Vec<uuid::Uuid>> {
    Ok(
        sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM videos WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(pool)
            .await?,
    )
}

/// Marks a video being looked at again (the reconciler restarted it), so it is not picked up
/// again before its new run had a chance.
pub async fn touch(pool: &PgPool, id: VideoId) -> Result<()> {
    sqlx::query("UPDATE videos SET updated_at = now() WHERE id = $1")
        .bind(id.as_uuid())
        .execute(pool)
        .await?;
    Ok(())
}

/// Failed (or cancelled) videos for a bulk replay after an outage: any owner, oldest first.
pub async fn replayable_videos(
    pool: &PgPool,
    status: VideoStatus,
    since: Option<DateTime<Utc>>,
    reason_contains: Option<&str>,
    limit: i64,
) -> Result<Vec<VideoRow>> {
    Ok(sqlx::query_as::<_, VideoRow>(
        "SELECT * FROM videos
         WHERE status = $1
           AND ($2::timestamptz IS NULL OR updated_at >= $2)
           AND ($3::text IS NULL OR failure_reason ILIKE '%' || $3 || '%')
         ORDER BY updated_at LIMIT $4",
    )
    .bind(status.as_str())
    .bind(since)
    .bind(reason_contains)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}
