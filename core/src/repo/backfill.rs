//! The pages a backfill walks: ready videos, oldest first, after a keyset cursor.

use sqlx::PgPool;

use crate::backfill::{After, Page};
use crate::{Result, VideoId};

/// The next `page.limit` ready videos after `page.after` (owner and upload time filtered).
pub async fn ready_after(pool: &PgPool, page: &Page) -> Result<Vec<After>> {
    let (after_at, after_id) = match &page.after {
        Some(a) => (Some(a.created_at), Some(a.video_id.0)),
        None => (None, None),
    };
    let rows: Vec<(uuid::Uuid, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT id, created_at FROM videos
          WHERE status = 'ready'
            AND ($1::text IS NULL OR owner = $1)
            AND ($2::timestamptz IS NULL OR created_at < $2)
            AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4::uuid))
          ORDER BY created_at, id
          LIMIT $5",
    )
    .bind(page.owner.as_deref())
    .bind(page.uploaded_before)
    .bind(after_at)
    .bind(after_id)
    .bind(i64::from(page.limit.clamp(1, 1000)))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, created_at)| After {
            created_at,
            video_id: VideoId(id),
        })
        .collect())
}
