//! The Postgres repository shared by the api (uploads, status) and the activities (metadata updates).
//! Queries are checked at run time (`sqlx::query_as`), so building needs no database.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{FromRow, Postgres, Transaction};
use uuid::Uuid;

use crate::{Config, Result, VideoId, VideoStatus};

pub mod backfill;
pub mod text_tracks;

pub async fn connect(cfg: &Config) -> Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(cfg.database_max_connections)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect(&cfg.database_url)
        .await?)
}

/// A pool that connects on first use: a process can start (and report unreadiness) while the
/// database is down.
pub fn connect_lazy(cfg: &Config) -> Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(cfg.database_max_connections)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect_lazy(&cfg.database_url)?)
}

/// Applies `migrations/` (embedded at build time); already applied ones are skipped.
pub async fn migrate(pool: &PgPool) -> Result<()> {
    sqlx::migrate!("../migrations").run(pool).await?;
    Ok(())
}

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

pub async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    topic: &str,
    key: &str,
    payload: &serde_json::Value,
) -> Result<()> {
    sqlx::query("INSERT INTO outbox (topic, key, payload) VALUES ($1, $2, $3)")
        .bind(topic)
        .bind(key)
        .bind(payload)
        .execute(&mut **tx)
        .await?;
    Ok(())
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

#[derive(Debug, Clone, FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub topic: String,
    pub key: String,
    pub payload: serde_json::Value,
    pub attempts: i32,
}

/// Claims the oldest unpublished events for this transaction. Rows locked by another relay replica
/// are skipped, so two replicas never publish the same row.
pub async fn claim_outbox(
    tx: &mut Transaction<'_, Postgres>,
    limit: i64,
) -> Result<Vec<OutboxRow>> {
    Ok(sqlx::query_as::<_, OutboxRow>(
        "SELECT id, topic, key, payload, attempts FROM outbox
         WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?)
}

pub async fn mark_published(tx: &mut Transaction<'_, Postgres>, ids: &[i64]) -> Result<()> {
    sqlx::query("UPDATE outbox SET published_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = ANY($1)")
        .bind(ids)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn record_publish_failure(pool: &PgPool, id: i64, error: &str) -> Result<()> {
    sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1")
        .bind(id)
        .bind(error)
        .execute(pool)
        .await?;
    Ok(())
}

/// Records the intent to send `event_id` on `channel` before the send. `None` when it was already
/// sent (skip it); otherwise the number of this send (1 the first time; more means an earlier
/// attempt may have reached the receiver and died before [`record_notification`]: the receiver
/// sees the same idempotency key again).
pub async fn notification_intent(
    pool: &PgPool,
    event_id: &str,
    channel: &str,
) -> Result<Option<i32>> {
    Ok(sqlx::query_scalar::<_, i32>(
        "INSERT INTO notifications_sent (event_id, channel, sent_at, sends) VALUES ($1, $2, NULL, 1)
         ON CONFLICT (event_id, channel) DO UPDATE SET sends = notifications_sent.sends + 1
             WHERE notifications_sent.sent_at IS NULL
         RETURNING sends",
    )
    .bind(event_id)
    .bind(channel)
    .fetch_optional(pool)
    .await?)
}

/// Records that `channel` sent `event_id` (completes its [`notification_intent`]).
pub async fn record_notification(pool: &PgPool, event_id: &str, channel: &str) -> Result<()> {
    sqlx::query(
        "UPDATE notifications_sent SET sent_at = now()
         WHERE event_id = $1 AND channel = $2 AND sent_at IS NULL",
    )
    .bind(event_id)
    .bind(channel)
    .execute(pool)
    .await?;
    Ok(())
}

/// How many times `channel` sent `event_id`, and whether the last send was recorded.
pub async fn notification_sends(
    pool: &PgPool,
    event_id: &str,
    channel: &str,
) -> Result<Option<(i32, bool)>> {
    Ok(sqlx::query_as::<_, (i32, bool)>(
        "SELECT sends, sent_at IS NOT NULL FROM notifications_sent
         WHERE event_id = $1 AND channel = $2",
    )
    .bind(event_id)
    .bind(channel)
    .fetch_optional(pool)
    .await?)
}

/// Deletes events published more than `retention` ago; returns how many.
pub async fn purge_outbox(pool: &PgPool, retention: std::time::Duration) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM outbox WHERE published_at IS NOT NULL
           AND published_at < now() - make_interval(secs => $1)",
    )
    .bind(retention.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected())
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

/// Counts for the api's gauges.
pub struct Census {
    pub unpublished: i64,
    pub by_status: Vec<(String, i64)>,
    pub oldest_unsettled_s: f64,
}

pub async fn census(pool: &PgPool) -> Result<Census> {
    let unpublished: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(pool)
            .await?;
    let by_status: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM videos GROUP BY status")
            .fetch_all(pool)
            .await?;
    let oldest: Option<f64> = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM now() - min(created_at))::float8 FROM videos WHERE status IN ('uploaded', 'processing', 'playable')",
    )
    .fetch_one(pool)
    .await?;
    Ok(Census {
        unpublished,
        by_status,
        oldest_unsettled_s: oldest.unwrap_or(0.0),
    })
}

/// Age in seconds of the oldest unpublished event (0 when none): the relay's lag.
pub async fn outbox_lag_seconds(pool: &PgPool) -> Result<f64> {
    let lag: Option<f64> = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM now() - min(created_at))::float8 FROM outbox WHERE published_at IS NULL",
    )
    .fetch_one(pool)
    .await?;
    Ok(lag.unwrap_or(0.0))
}

/// Videos still `uploaded`, `processing` or `playable` whose row has not changed for `idle`: the
/// ones the reconciler compares with Temporal. Oldest first, a page of at most `limit` after the
/// row `after` (`(updated_at, id)` of the previous page's last row).
pub async fn unsettled(
    pool: &PgPool,
    idle: std::time::Duration,
    after: Option<(chrono::DateTime<chrono::Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<VideoRow>> {
    // Keyset pagination on (updated_at, id): each page starts after the last row of the one
    // before, so a pass reaches every unsettled video however many open runs come first.
    let (at, id) = after.map_or((None, None), |(at, id)| (Some(at), Some(id)));
    Ok(sqlx::query_as::<_, VideoRow>(
        "SELECT * FROM videos WHERE status IN ('uploaded', 'processing', 'playable')
           AND updated_at < now() - make_interval(secs => $1)
           AND ($2::timestamptz IS NULL OR (updated_at, id) > ($2, $3))
         ORDER BY updated_at, id LIMIT $4",
    )
    .bind(idle.as_secs_f64())
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Records that a deleted video's deletion finished all its effects.
pub async fn mark_removed(pool: &PgPool, id: VideoId) -> Result<()> {
    sqlx::query(
        "UPDATE videos SET removed_at = now()
         WHERE id = $1 AND status = 'deleted' AND removed_at IS NULL",
    )
    .bind(id.as_uuid())
    .execute(pool)
    .await?;
    Ok(())
}

/// Videos deleted within `within` whose deletion has not finished, newest first: the reconciler
/// starts their deletion workflows (again).
pub async fn unfinished_deletions(
    pool: &PgPool,
    within: std::time::Duration,
    limit: i64,
) -> Result<Vec<VideoId>> {
    Ok(sqlx::query_scalar::<_, uuid::Uuid>(
        "SELECT id FROM videos WHERE status = 'deleted' AND removed_at IS NULL
           AND updated_at > now() - make_interval(secs => $1)
         ORDER BY updated_at DESC LIMIT $2",
    )
    .bind(within.as_secs_f64())
    .bind(limit)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(VideoId)
    .collect())
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

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct RenditionRow {
    pub kind: String,
    pub height: i32,
    pub width: i32,
    pub bitrate: i32,
    pub codecs: String,
    pub playlist_key: String,
    pub segment_count: i32,
    pub bytes: i64,
}

pub async fn renditions(pool: &PgPool, id: VideoId) -> Result<Vec<RenditionRow>> {
    Ok(sqlx::query_as::<_, RenditionRow>(
        "SELECT kind, height, width, bitrate, codecs, playlist_key, segment_count, bytes
         FROM renditions WHERE video_id = $1 ORDER BY kind DESC, height",
    )
    .bind(id.as_uuid())
    .fetch_all(pool)
    .await?)
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
