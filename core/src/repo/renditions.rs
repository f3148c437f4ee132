//! The `renditions` table: what a ready video's master lists.

use serde::Serialize;
use sqlx::FromRow;
use sqlx::postgres::PgPool;

use crate::{Result, VideoId};

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
