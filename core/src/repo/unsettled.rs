//! Reads across videos for the reconciler and the gauges: unsettled rows (keyset pages), deletions
//! not finished, the census.

use super::videos::VideoRow;
use sqlx::postgres::PgPool;
use uuid::Uuid;

use crate::{Result, VideoId};

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
