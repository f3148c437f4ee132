//! A run's writes to its video: status transitions and what the run learned (source facts, digest,
//! renditions, DASH, downloads, loudness, storyboard).

use sqlx::postgres::PgPool;

use crate::{Result, VideoId};

/// Marks run `attempt` as processing, fenced by run: a write for a run the row has already seen
/// (the reprocess call's own, arriving after its run finished, or a retried activity) changes
/// nothing, so a finished `ready` is never turned back into `processing`.
pub async fn set_processing(
    db: impl sqlx::PgExecutor<'_>,
    id: VideoId,
    attempt: i32,
) -> Result<()> {
    sqlx::query(
        "UPDATE videos SET status = 'processing', attempt = GREATEST(attempt, $2), failure_reason = NULL,
                failure_step = NULL, failure_activity_id = NULL, failure_attempts = NULL, updated_at = now()
         WHERE id = $1 AND status <> 'deleted' AND (attempt < $2 OR status = 'uploaded')",
    )
    .bind(id.as_uuid())
    .bind(attempt)
    .execute(db)
    .await?;
    Ok(())
}

/// Run `attempt` has its first seconds packaged. Fenced like [`set_processing`]: only the run the
/// row follows, and only while it is processing (a late retry never turns `ready` back).
pub async fn set_playable(pool: &PgPool, id: VideoId, attempt: i32) -> Result<()> {
    sqlx::query(
        "UPDATE videos SET status = 'playable', updated_at = now()
         WHERE id = $1 AND status = 'processing' AND attempt <= $2",
    )
    .bind(id.as_uuid())
    .bind(attempt)
    .execute(pool)
    .await?;
    Ok(())
}

/// What an import found out about the file it stored.
pub async fn set_source_facts(
    pool: &PgPool,
    id: VideoId,
    size: u64,
    content_type: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE videos SET size_bytes = $2, content_type = $3, updated_at = now() WHERE id = $1",
    )
    .bind(id.as_uuid())
    .bind(size as i64)
    .bind(content_type)
    .execute(pool)
    .await?;
    Ok(())
}

/// Whether the video's source digest is still to be computed (false for a video that is gone).
pub async fn source_digest_missing(pool: &PgPool, id: VideoId) -> Result<bool> {
    let missing: Option<bool> = sqlx::query_scalar("SELECT sha256 = '' FROM videos WHERE id = $1")
        .bind(id.as_uuid())
        .fetch_optional(pool)
        .await?;
    Ok(missing.unwrap_or(false))
}

/// Records the digest the worker computed from its copy of the source.
pub async fn set_source_digest(pool: &PgPool, id: VideoId, sha256: &str) -> Result<()> {
    sqlx::query("UPDATE videos SET sha256 = $2, updated_at = now() WHERE id = $1")
        .bind(id.as_uuid())
        .bind(sha256)
        .execute(pool)
        .await?;
    Ok(())
}

/// Starts a new generation of renditions for the next run (a forced re-encode); returns it.
pub async fn next_generation(pool: &PgPool, id: VideoId) -> Result<i32> {
    let (generation,): (i32,) = sqlx::query_as(
        "UPDATE videos SET generation = generation + 1 WHERE id = $1 RETURNING generation",
    )
    .bind(id.as_uuid())
    .fetch_one(pool)
    .await?;
    Ok(generation)
}

pub struct ReadyRendition<'a> {
    pub kind: &'a str,
    pub width: i32,
    pub height: i32,
    pub bitrate: i32,
    pub codecs: &'a str,
    pub playlist_key: &'a str,
    pub segment_count: i32,
    pub bytes: i64,
}

/// Records the renditions of `generation` (replacing any from an earlier run), publishes that
/// generation and marks the video ready, atomically.
#[allow(clippy::too_many_arguments)]
pub async fn set_ready(
    pool: &PgPool,
    id: VideoId,
    generation: i32,
    duration_ms: i64,
    width: i32,
    height: i32,
    renditions: &[ReadyRendition<'_>],
) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM renditions WHERE video_id = $1")
        .bind(id.as_uuid())
        .execute(&mut *tx)
        .await?;
    for r in renditions {
        sqlx::query(
            "INSERT INTO renditions (video_id, kind, height, width, bitrate, codecs, playlist_key, segment_count, bytes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id.as_uuid())
        .bind(r.kind)
        .bind(r.height)
        .bind(r.width)
        .bind(r.bitrate)
        .bind(r.codecs)
        .bind(r.playlist_key)
        .bind(r.segment_count)
        .bind(r.bytes)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "UPDATE videos SET status = 'ready', duration_ms = $2, width = $3, height = $4, failure_reason = NULL,
                failure_step = NULL, failure_activity_id = NULL, failure_attempts = NULL,
                published_generation = $5, updated_at = now()
         WHERE id = $1 AND status <> 'deleted'",
    )
    .bind(id.as_uuid())
    .bind(duration_ms)
    .bind(width)
    .bind(height)
    .bind(generation)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Marks the video failed at `step`; `activity` is the failing activity and its attempts, when known.
pub async fn set_failed(
    db: impl sqlx::PgExecutor<'_>,
    id: VideoId,
    step: &str,
    reason: &str,
    activity: Option<(&str, i32)>,
) -> Result<()> {
    sqlx::query(
        "UPDATE videos SET status = 'failed', failure_step = $2, failure_reason = $3,
                failure_activity_id = $4, failure_attempts = $5, updated_at = now()
         WHERE id = $1 AND status <> 'deleted'",
    )
    .bind(id.as_uuid())
    .bind(step)
    .bind(reason)
    .bind(activity.map(|a| a.0))
    .bind(activity.map(|a| a.1))
    .execute(db)
    .await?;
    Ok(())
}

/// Records that the stored DASH manifest is `generation`'s.
pub async fn set_dash(pool: &PgPool, id: VideoId, generation: u32) -> Result<()> {
    sqlx::query("UPDATE videos SET dash_generation = $2 WHERE id = $1")
        .bind(id.as_uuid())
        .bind(generation as i32)
        .execute(pool)
        .await?;
    Ok(())
}

/// Records the downloads made for `generation` (replacing any earlier generation's list).
pub async fn record_downloads(
    pool: &PgPool,
    id: VideoId,
    generation: u32,
    made: &[crate::downloads::Download],
) -> Result<()> {
    sqlx::query("UPDATE videos SET downloads_made = $3, downloads_generation = $2 WHERE id = $1")
        .bind(id.as_uuid())
        .bind(generation as i32)
        .bind(sqlx::types::Json(made))
        .execute(pool)
        .await?;
    Ok(())
}

/// Whether the video's next runs even out its loudness (`normalize_audio`).
pub async fn set_normalize_audio(pool: &PgPool, id: VideoId, normalize: bool) -> Result<()> {
    sqlx::query("UPDATE videos SET normalize_audio = $2 WHERE id = $1")
        .bind(id.as_uuid())
        .bind(normalize)
        .execute(pool)
        .await?;
    Ok(())
}

/// Records the loudness measured and the gain applied to the video's audio.
pub async fn set_loudness(
    pool: &PgPool,
    id: VideoId,
    loudness: &crate::loudness::Loudness,
) -> Result<()> {
    sqlx::query("UPDATE videos SET loudness = $2 WHERE id = $1")
        .bind(id.as_uuid())
        .bind(sqlx::types::Json(loudness))
        .execute(pool)
        .await?;
    Ok(())
}

/// Sets what downloads a video is to have.
pub async fn set_downloads_choice(
    pool: &PgPool,
    id: VideoId,
    choice: crate::downloads::Choice,
) -> Result<()> {
    sqlx::query("UPDATE videos SET downloads = $2, updated_at = now() WHERE id = $1")
        .bind(id.as_uuid())
        .bind(choice.as_str())
        .execute(pool)
        .await?;
    Ok(())
}

/// Records that `generation`'s storyboard is in the store.
pub async fn set_storyboard(pool: &PgPool, id: VideoId, generation: u32) -> Result<()> {
    sqlx::query("UPDATE videos SET storyboard_generation = $2 WHERE id = $1")
        .bind(id.as_uuid())
        .bind(generation as i32)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn set_cancelled(db: impl sqlx::PgExecutor<'_>, id: VideoId) -> Result<()> {
    sqlx::query("UPDATE videos SET status = 'cancelled', updated_at = now() WHERE id = $1 AND status <> 'deleted'")
        .bind(id.as_uuid())
        .execute(db)
        .await?;
    Ok(())
}
