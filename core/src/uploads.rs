//! The `uploads` table: a resumable upload's state between requests (offset, parts, pending segments,
//! lease). The api writes it; the reconciler expires what is abandoned.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{Result, VideoId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadState {
    Waiting,
    Uploading,
    Complete,
    Expired,
    Terminated,
}

impl UploadState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Uploading => "uploading",
            Self::Complete => "complete",
            Self::Expired => "expired",
            Self::Terminated => "terminated",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "waiting" => Self::Waiting,
            "uploading" => Self::Uploading,
            "complete" => Self::Complete,
            "expired" => Self::Expired,
            _ => Self::Terminated,
        }
    }
}

/// One finished S3 part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub number: i32,
    pub etag: String,
    pub size: i64,
}

/// Bytes past an upload's last whole part that one request made durable: the store object
/// `layout::pending_segment_key(source, start, lease)` holds `len` of them from offset `start`. The
/// lease is in the name so that a request that lost the upload can never overwrite the segment of
/// the one that took it over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSegment {
    pub start: i64,
    pub len: i64,
    pub lease: Uuid,
}

/// What the uploader said about the file (tus `Upload-Metadata`, or the direct upload's request).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filetype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `none`, `audio`, `highest` or `all` (`downloads::Choice`); the configured default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downloads: Option<String>,
    /// `true` or `false`; the configured default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize_audio: Option<String>,
    /// On a direct upload: the fields (`title`, `description`, `visibility`) its creator lets
    /// the token-less browser set. Everything else is the creator's, or the default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub browser_may_set: Vec<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UploadRow {
    pub id: Uuid,
    pub owner: String,
    pub owner_email: Option<String>,
    pub video_id: Uuid,
    pub state: String,
    pub direct_token: Option<String>,
    pub direct: bool,
    pub length: Option<i64>,
    pub max_bytes: i64,
    pub upload_offset: i64,
    pub flushed: i64,
    pub pending: i64,
    pub s3_upload_id: Option<String>,
    pub parts: sqlx::types::Json<Vec<Part>>,
    pub content_type: Option<String>,
    pub metadata: sqlx::types::Json<UploadMeta>,
    pub failure: Option<String>,
    pub lock_token: Option<Uuid>,
    pub lock_until: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `tus` (bytes through the api) or `s3` (presigned multipart, bytes straight to the store).
    pub kind: String,
    /// Where the `pending` bytes are, in order (empty with `pending > 0`: an upload recorded before
    /// segments, whose pending bytes are one object, `layout::legacy_pending_key`).
    pub pending_segments: sqlx::types::Json<Vec<PendingSegment>>,
}

impl UploadRow {
    pub fn state(&self) -> UploadState {
        UploadState::parse(&self.state)
    }

    pub fn video_id(&self) -> VideoId {
        VideoId(self.video_id)
    }

    /// Expired by the clock even if the sweep has not marked it yet.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.state() == UploadState::Expired
            || (matches!(self.state(), UploadState::Waiting | UploadState::Uploading)
                && self.expires_at <= now)
    }
}

pub struct NewUpload<'a> {
    pub id: Uuid,
    pub owner: &'a str,
    pub owner_email: Option<&'a str>,
    pub video_id: VideoId,
    pub state: UploadState,
    pub direct_token: Option<&'a str>,
    pub length: Option<i64>,
    pub max_bytes: i64,
    pub metadata: &'a UploadMeta,
    pub expires_at: DateTime<Utc>,
}

/// Inserts `u` unless its owner already has `open_cap` open uploads (then `None`). Counting and
/// inserting happen under a per-owner transaction lock, so concurrent creations cannot all see
/// room for one more and overshoot the cap together.
pub async fn insert_within(
    pool: &PgPool,
    u: &NewUpload<'_>,
    open_cap: i64,
) -> Result<Option<UploadRow>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('uploads:' || $1, 0))")
        .bind(u.owner)
        .execute(&mut *tx)
        .await?;
    let open: i64 = sqlx::query_scalar(OPEN_COUNT)
        .bind(u.owner)
        .fetch_one(&mut *tx)
        .await?;
    if open >= open_cap {
        return Ok(None);
    }
    let row = sqlx::query_as::<_, UploadRow>(
        "INSERT INTO uploads (id, owner, owner_email, video_id, state, direct_token, direct, length, max_bytes, metadata, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *",
    )
    .bind(u.id)
    .bind(u.owner)
    .bind(u.owner_email)
    .bind(u.video_id.as_uuid())
    .bind(u.state.as_str())
    .bind(u.direct_token)
    .bind(u.direct_token.is_some())
    .bind(u.length)
    .bind(u.max_bytes)
    .bind(sqlx::types::Json(u.metadata))
    .bind(u.expires_at)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(row))
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<UploadRow>> {
    Ok(
        sqlx::query_as::<_, UploadRow>("SELECT * FROM uploads WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}

/// A presigned multipart upload by its S3 upload id.
pub async fn by_s3_upload_id(pool: &PgPool, upload_id: &str) -> Result<Option<UploadRow>> {
    Ok(sqlx::query_as::<_, UploadRow>(
        "SELECT * FROM uploads WHERE kind = 's3' AND s3_upload_id = $1",
    )
    .bind(upload_id)
    .fetch_optional(pool)
    .await?)
}

/// Marks an upload as a presigned multipart one with this S3 upload id.
pub async fn set_s3_upload(pool: &PgPool, id: Uuid, upload_id: &str) -> Result<()> {
    sqlx::query("UPDATE uploads SET kind = 's3', s3_upload_id = $2 WHERE id = $1")
        .bind(id)
        .bind(upload_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Records the store's multipart upload of a tus upload whose lease `token` holds (`false` if
/// the lease was lost).
pub async fn record_store_upload(
    pool: &PgPool,
    id: Uuid,
    token: Uuid,
    upload_id: &str,
) -> Result<bool> {
    let r = sqlx::query("UPDATE uploads SET s3_upload_id = $3 WHERE id = $1 AND lock_token = $2")
        .bind(id)
        .bind(token)
        .bind(upload_id)
        .execute(pool)
        .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn by_direct_token(pool: &PgPool, token: &str) -> Result<Option<UploadRow>> {
    Ok(
        sqlx::query_as::<_, UploadRow>("SELECT * FROM uploads WHERE direct_token = $1")
            .bind(token)
            .fetch_optional(pool)
            .await?,
    )
}

/// A direct upload's creation: the one-time token is spent here, exactly once.
pub async fn begin_direct(
    pool: &PgPool,
    id: Uuid,
    length: Option<i64>,
    metadata: &UploadMeta,
    expires_at: DateTime<Utc>,
) -> Result<Option<UploadRow>> {
    Ok(sqlx::query_as::<_, UploadRow>(
        "UPDATE uploads SET state = 'uploading', direct_token = NULL, length = $2, metadata = $3,
                expires_at = $4, updated_at = now()
         WHERE id = $1 AND state = 'waiting' AND direct_token IS NOT NULL AND expires_at > now()
         RETURNING *",
    )
    .bind(id)
    .bind(length)
    .bind(sqlx::types::Json(metadata))
    .bind(expires_at)
    .fetch_optional(pool)
    .await?)
}

/// An owner's open uploads: waiting direct URLs and unfinished uploads of every kind.
const OPEN_COUNT: &str = "SELECT count(*) FROM uploads WHERE owner = $1 AND state IN ('waiting', 'uploading') AND expires_at > now()";

/// How long a write lease lasts unless renewed: also how long a crashed writer blocks the upload.
pub const LEASE_SECONDS: u64 = 10;

/// How long a request that is in the middle of an upload waits out a database pool with no free
/// connection before it gives up with 503.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// `op`, tried again while the pool has no free connection, for up to [`PATIENCE`]. An upload's
/// request already carries (part of) its body: answering 503 because a burst of other requests
/// holds the pool for a few seconds throws that away, and the client sends it again into the same
/// burst. Any other error, or a pool still exhausted after that long, is returned.
pub async fn patiently<T, F, Fut>(mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        match op().await {
            Err(crate::Error::Database(sqlx::Error::PoolTimedOut))
                if std::time::Instant::now() < deadline =>
            {
                tracing::warn!("database pool exhausted mid-upload; waiting for a connection");
            }
            other => return other,
        }
    }
}

/// Takes the upload's write lease for `lease`; `false` while another request holds it.
pub async fn lock(
    pool: &PgPool,
    id: Uuid,
    token: Uuid,
    lease: std::time::Duration,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE uploads SET lock_token = $2, lock_until = now() + make_interval(secs => $3)
         WHERE id = $1 AND (lock_token IS NULL OR lock_token = $2 OR lock_until < now())",
    )
    .bind(id)
    .bind(token)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Extends the lease of a request that is still writing (by [`LEASE_SECONDS`]).
pub async fn renew(pool: &PgPool, id: Uuid, token: Uuid) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE uploads SET lock_until = now() + interval '10 seconds' WHERE id = $1 AND lock_token = $2",
    )
    .bind(id)
    .bind(token)
    .execute(pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn unlock(pool: &PgPool, id: Uuid, token: Uuid) -> Result<()> {
    sqlx::query(
        "UPDATE uploads SET lock_token = NULL, lock_until = NULL WHERE id = $1 AND lock_token = $2",
    )
    .bind(id)
    .bind(token)
    .execute(pool)
    .await?;
    Ok(())
}

/// What a PATCH has made durable so far.
pub struct Progress<'a> {
    pub length: Option<i64>,
    pub upload_offset: i64,
    pub flushed: i64,
    pub pending: i64,
    pub pending_segments: &'a [PendingSegment],
    pub s3_upload_id: Option<&'a str>,
    pub parts: &'a [Part],
    pub content_type: Option<&'a str>,
}

/// Records progress, only while `token` holds the lease (a request that lost it writes nothing).
pub async fn save_progress(pool: &PgPool, id: Uuid, token: Uuid, p: &Progress<'_>) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE uploads SET length = $3, upload_offset = $4, flushed = $5, pending = $6, s3_upload_id = $7,
                parts = $8, content_type = $9, pending_segments = $10, updated_at = now(),
                lock_until = now() + interval '10 seconds'
         WHERE id = $1 AND lock_token = $2 AND state = 'uploading'",
    )
    .bind(id)
    .bind(token)
    .bind(p.length)
    .bind(p.upload_offset)
    .bind(p.flushed)
    .bind(p.pending)
    .bind(p.s3_upload_id)
    .bind(sqlx::types::Json(p.parts))
    .bind(p.content_type)
    .bind(sqlx::types::Json(p.pending_segments))
    .execute(pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Ends an upload that will never complete (terminated by its owner, refused, expired).
pub async fn close(
    pool: &PgPool,
    id: Uuid,
    state: UploadState,
    failure: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "UPDATE uploads SET state = $2, failure = $3, lock_token = NULL, lock_until = NULL, updated_at = now()
         WHERE id = $1 AND state IN ('waiting', 'uploading')",
    )
    .bind(id)
    .bind(state.as_str())
    .bind(failure)
    .execute(pool)
    .await?;
    Ok(())
}

/// The videos that open uploads will become: their objects are not orphans.
pub async fn open_video_ids(pool: &PgPool) -> Result<Vec<Uuid>> {
    Ok(
        sqlx::query_scalar("SELECT video_id FROM uploads WHERE state IN ('waiting', 'uploading')")
            .fetch_all(pool)
            .await?,
    )
}

/// Open presigned uploads (bytes straight to the store) after `after` in id order, `limit` at a
/// time: the sweep pages through all of them to find any whose parts hold more than its maximum.
pub async fn open_presigned(
    pool: &PgPool,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<UploadRow>> {
    Ok(sqlx::query_as::<_, UploadRow>(
        "SELECT * FROM uploads WHERE kind = 's3' AND s3_upload_id IS NOT NULL
           AND state IN ('waiting', 'uploading') AND ($1::uuid IS NULL OR id > $1)
         ORDER BY id LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Open uploads past their expiry, oldest first: what the sweep aborts.
pub async fn expired(pool: &PgPool, limit: i64) -> Result<Vec<UploadRow>> {
    Ok(sqlx::query_as::<_, UploadRow>(
        "SELECT * FROM uploads WHERE state IN ('waiting', 'uploading') AND expires_at <= now()
         ORDER BY expires_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?)
}
