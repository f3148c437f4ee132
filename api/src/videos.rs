//! The video resource: read one, list one's own, delete.

use base64::Engine;
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, param::Query, payload::Json};
use vodflow_core::playback::{self, Visibility};
use vodflow_core::repo::{self, Cursor, VideoRow};
use vodflow_core::{Config, VideoId, VideoStatus, layout};

use crate::ApiTags;
use crate::auth::{BearerAuth, SCOPE_READ, SCOPE_WRITE};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Object, Debug, Clone)]
pub struct Links {
    /// This video.
    #[oai(rename = "self")]
    pub self_: String,
    /// Its processing workflow as Temporal sees it.
    pub workflow: String,
    /// HLS master playlist (playable once the video is `ready`); signed and expiring unless the
    /// video is public.
    pub playback: String,
}

#[derive(Object, Debug, Clone)]
pub struct RenditionUrl {
    /// Rung name (`720p`) or `audio`.
    pub name: String,
    /// The rendition's media playlist.
    pub url: String,
    #[oai(skip_serializing_if_is_none)]
    pub width: Option<i32>,
    #[oai(skip_serializing_if_is_none)]
    pub height: Option<i32>,
    /// Peak bits per second, as in the master playlist.
    pub bandwidth: i32,
    pub codecs: String,
}

/// Where to play a ready video from.
#[derive(Object, Debug, Clone)]
pub struct Playback {
    /// HLS master playlist (all renditions, adaptive).
    pub master: String,
    /// Each rendition's own media playlist.
    pub renditions: Vec<RenditionUrl>,
    /// Poster image (JPEG).
    pub poster: String,
    /// When these URLs stop working (signed videos only); fetch the video again for fresh ones.
    #[oai(skip_serializing_if_is_none)]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Object, Debug, Clone)]
pub struct Failure {
    /// Why processing failed, in words a person can act on.
    pub reason: String,
    /// The step that failed (e.g. `probe_source`).
    #[oai(skip_serializing_if_is_none)]
    pub step: Option<String>,
    /// The failing activity (e.g. `encode-chunk-0003`), from the run's Temporal history.
    #[oai(skip_serializing_if_is_none)]
    pub activity_id: Option<String>,
    /// How many attempts it made before the run gave up.
    #[oai(skip_serializing_if_is_none)]
    pub attempts: Option<i32>,
}

#[derive(Object, Debug, Clone)]
pub struct Video {
    pub id: String,
    pub owner: String,
    pub title: String,
    pub description: String,
    /// uploaded, processing, ready, failed, cancelled or deleted.
    pub status: String,
    /// Size of the uploaded source in bytes.
    pub size: i64,
    /// SHA-256 of the uploaded source, hex.
    pub sha256: String,
    /// Container detected from the source's first bytes.
    pub content_type: String,
    #[oai(skip_serializing_if_is_none)]
    pub duration_seconds: Option<f64>,
    #[oai(skip_serializing_if_is_none)]
    pub width: Option<i32>,
    #[oai(skip_serializing_if_is_none)]
    pub height: Option<i32>,
    #[oai(skip_serializing_if_is_none)]
    pub failure: Option<Failure>,
    /// Processing runs so far (a reprocess adds one).
    pub attempt: i32,
    /// `signed` (playback URLs carry an expiring signature) or `public`.
    pub visibility: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub links: Links,
    /// While processing: per-chunk state, pending activities with attempts and heartbeats, percent, ETA.
    #[oai(skip_serializing_if_is_none)]
    pub progress: Option<crate::workflow::Progress>,
    /// Once ready: master, per-rendition and poster URLs.
    #[oai(skip_serializing_if_is_none)]
    pub playback: Option<Playback>,
}

pub(crate) fn links(cfg: &Config, id: VideoId, visibility: Visibility) -> Links {
    let public_url = &cfg.public_url;
    let (base, _) = playback::configured_base_url(cfg, id, visibility, playback::unix_now());
    Links {
        self_: format!("{public_url}/v1/videos/{id}"),
        workflow: format!("{public_url}/v1/videos/{id}/workflow"),
        playback: format!("{base}master.m3u8"),
    }
}

/// The playback URLs of a ready video, from its recorded renditions.
pub(crate) fn playback_urls(
    cfg: &Config,
    row: &VideoRow,
    renditions: &[repo::RenditionRow],
) -> Playback {
    let id = row.video_id();
    let (base, expires) =
        playback::configured_base_url(cfg, id, row.visibility(), playback::unix_now());
    Playback {
        master: format!("{base}master.m3u8"),
        renditions: renditions
            .iter()
            .filter_map(|r| {
                // playlist_key is videos/{id}/hls/{name}/index.m3u8; the URL mirrors it under base.
                let rel = r.playlist_key.strip_prefix(&layout::hls_prefix(id))?;
                let name = rel.split('/').next()?.to_owned();
                Some(RenditionUrl {
                    url: format!("{base}{rel}"),
                    name,
                    width: Some(r.width).filter(|w| *w > 0),
                    height: Some(r.height).filter(|h| *h > 0),
                    bandwidth: r.bitrate,
                    codecs: r.codecs.clone(),
                })
            })
            .collect(),
        poster: format!("{base}poster.jpg"),
        expires_at: expires.and_then(|e| DateTime::from_timestamp(e as i64, 0)),
    }
}

impl Video {
    pub fn from_row(row: VideoRow, cfg: &Config) -> Self {
        let id = row.video_id();
        Self {
            links: links(cfg, id, row.visibility()),
            visibility: row.visibility.clone(),
            playback: None,
            id: id.to_string(),
            failure: row.failure_reason.clone().map(|reason| Failure {
                reason,
                step: row.failure_step.clone(),
                activity_id: None,
                attempts: None,
            }),
            owner: row.owner,
            title: row.title,
            description: row.description,
            status: row.status,
            size: row.size_bytes,
            sha256: row.sha256,
            content_type: row.content_type,
            duration_seconds: row.duration_ms.map(|ms| ms as f64 / 1000.0),
            width: row.width,
            height: row.height,
            attempt: row.attempt,
            created_at: row.created_at,
            updated_at: row.updated_at,
            progress: None,
        }
    }
}

#[derive(Object, Debug)]
pub struct VideoPage {
    /// Newest first.
    pub items: Vec<Video>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum GetVideoResponse {
    /// The video.
    #[oai(status = 200)]
    Ok(Json<Video>),
}

#[derive(ApiResponse)]
pub enum ListVideosResponse {
    /// One page of the caller's videos.
    #[oai(status = 200)]
    Ok(Json<VideoPage>),
}

#[derive(ApiResponse)]
pub enum DeleteVideoResponse {
    /// Deleted: marked `deleted` and its objects removed from the store.
    #[oai(status = 204)]
    Deleted,
}

/// The video `raw_id` names, if the caller may see it; another owner's video is "not found".
pub(crate) async fn visible(
    state: &AppState,
    caller: &crate::auth::Caller,
    raw_id: &str,
) -> Result<VideoRow, ApiError> {
    let id = parse_id(raw_id)?;
    repo::get_video(&state.pool, id, caller.owner_filter())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no video {id}")))
}

pub(crate) fn parse_id(raw: &str) -> Result<VideoId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::BadRequest(format!("invalid video id {raw:?}: expected a UUID")))
}

const MAX_PAGE: u32 = 100;

#[derive(Default)]
pub struct VideosApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Videos")]
impl VideosApi {
    /// Upload a video. The body is streamed to the store; the answer comes once it is stored and
    /// queued for processing.
    #[oai(path = "/videos", method = "post", operation_id = "uploadVideo")]
    async fn upload(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        req: &poem::Request,
        form: crate::uploads::VideoUploadForm,
    ) -> ApiResult<crate::uploads::UploadResponse> {
        crate::uploads::upload(&state, &auth.0, req, form).await
    }

    /// Get a video: its status, metadata and links.
    #[oai(path = "/videos/:id", method = "get", operation_id = "getVideo")]
    async fn get_video(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<GetVideoResponse> {
        auth.0.require(SCOPE_READ)?;
        let row = visible(&state, &auth.0, &id.0).await?;
        let id = row.video_id();
        let renditions = if row.status() == VideoStatus::Ready {
            repo::renditions(&state.pool, id).await?
        } else {
            Vec::new()
        };
        let playback = (row.status() == VideoStatus::Ready)
            .then(|| playback_urls(&state.cfg, &row, &renditions));
        let mut video = Video::from_row(row, &state.cfg);
        video.playback = playback;
        if video.status == "processing" {
            // Best effort: the row stays the source of truth when Temporal cannot be asked.
            if let Ok(client) = crate::workflow::temporal(&state).await {
                video.progress = crate::workflow::live_progress(&client, id).await;
            }
        }
        if let Some(failure) = video.failure.as_mut()
            && let Ok(client) = crate::workflow::temporal(&state).await
            && let Some((activity, attempts)) = crate::workflow::failed_attempts(&client, id).await
        {
            failure.activity_id = Some(activity);
            failure.attempts = Some(attempts);
        }
        Ok(GetVideoResponse::Ok(Json(video)))
    }

    /// List the caller's videos, newest first, optionally only those with one status.
    #[oai(path = "/videos", method = "get", operation_id = "listVideos")]
    async fn list_videos(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        /// Only videos with this status.
        status: Query<Option<String>>,
        /// Page size, 1 to 100 (default 20).
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<ListVideosResponse> {
        auth.0.require(SCOPE_READ)?;
        let status = match status.0.as_deref() {
            None => None,
            Some(s) => Some(s.parse::<VideoStatus>().map_err(|_| {
                let known: Vec<_> = VideoStatus::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::BadRequest(format!(
                    "unknown status {s:?}; expected one of {}",
                    known.join(", ")
                ))
            })?),
        };
        let limit = limit.0.unwrap_or(20);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(
                ApiError::BadRequest(format!("limit must be between 1 and {MAX_PAGE}")).into(),
            );
        }
        let after = cursor.0.as_deref().map(decode_cursor).transpose()?;
        let mut rows = repo::list_videos(
            &state.pool,
            auth.0.owner_filter(),
            status,
            after,
            i64::from(limit) + 1,
        )
        .await?;
        let next_cursor = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|r| {
                encode_cursor(Cursor {
                    created_at: r.created_at,
                    id: r.id,
                })
            })
        } else {
            None
        };
        let items = rows
            .into_iter()
            .map(|r| Video::from_row(r, &state.cfg))
            .collect();
        Ok(ListVideosResponse::Ok(Json(VideoPage {
            items,
            next_cursor,
        })))
    }

    /// Delete a video: it disappears from listings and its source and renditions are removed.
    #[oai(path = "/videos/:id", method = "delete", operation_id = "deleteVideo")]
    async fn delete_video(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<DeleteVideoResponse> {
        auth.0.require(SCOPE_WRITE)?;
        let row = visible(&state, &auth.0, &id.0).await?;
        let id = row.video_id();
        if !repo::mark_deleted(&state.pool, id, auth.0.owner_filter()).await? {
            return Err(ApiError::NotFound(format!("no video {id}")).into());
        }
        crate::store::delete_video_objects(&state.s3, &state.cfg.s3.bucket, id)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        tracing::info!(video_id = %id, "video deleted");
        // Cached copies at the CDN go too; the deletion itself stands even if the CDN is away.
        if state.cfg.cloudfront_distribution_id.is_some() {
            match vodflow_core::cdn::invalidate(&state.cfg, id).await {
                Ok(outcome) => tracing::info!(video_id = %id, %outcome, "cdn"),
                Err(e) => tracing::error!(video_id = %id, error = %e, "cdn invalidation failed"),
            }
        }
        announce_deletion(&state, &row).await;
        Ok(DeleteVideoResponse::Deleted)
    }
}

/// `video.deleted` to the owner's webhooks. Best effort: the deliveries are recorded first, so one
/// whose workflow could not be started shows in the delivery log and can be redelivered.
async fn announce_deletion(state: &AppState, row: &VideoRow) {
    let id = row.video_id();
    let data = serde_json::json!({
        "video_id": id,
        "owner": row.owner,
        "title": row.title,
        "status": "deleted",
        "deleted_at": Utc::now(),
    });
    let result = async {
        let client = crate::workflow::temporal(state).await?;
        let event = vodflow_bridge::webhooks::Event {
            owner: &row.owner,
            kind: vodflow_core::webhooks::EVENT_DELETED,
            key: format!("video.deleted:{id}"),
            video_id: Some(id),
            data,
        };
        vodflow_bridge::webhooks::dispatch(&state.cfg, &client, &state.pool, event)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))
    }
    .await;
    if let Err(e) = result {
        tracing::error!(video_id = %id, error = %e, "video.deleted webhooks not started");
    }
}

fn encode_cursor(c: Cursor) -> String {
    let raw = format!("{}:{}", c.created_at.timestamp_micros(), c.id);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_cursor(s: &str) -> Result<Cursor, ApiError> {
    let bad = || {
        ApiError::BadRequest(format!(
            "invalid cursor {s:?}: pass next_cursor from a previous page"
        ))
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (micros, id) = raw.split_once(':').ok_or_else(bad)?;
    let micros: i64 = micros.parse().map_err(|_| bad())?;
    Ok(Cursor {
        created_at: DateTime::from_timestamp_micros(micros).ok_or_else(bad)?,
        id: id.parse().map_err(|_| bad())?,
    })
}

/// Keys under which a video's objects live (source and everything derived).
pub(crate) fn object_prefixes(id: VideoId) -> [String; 2] {
    [format!("uploads/{id}/"), layout::video_prefix(id)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor {
            created_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: uuid::Uuid::now_v7(),
        };
        assert_eq!(decode_cursor(&encode_cursor(c)).unwrap(), c);
        assert!(decode_cursor("!!!").is_err());
        assert!(
            decode_cursor(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("12:nope"))
                .is_err()
        );
    }
}
