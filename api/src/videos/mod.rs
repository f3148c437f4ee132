//! The video resource: upload, read one, list one's own, delete.

mod chapters;
mod cursor;
mod delete;
mod downloads;
mod model;
mod text_tracks;
mod updated;

use poem::web::Data;
use poem_openapi::{ApiResponse, OpenApi, param::Path, param::Query, payload::Json};
use vodflow_core::repo::{self, Cursor, VideoRow};
use vodflow_core::{VideoId, VideoStatus};

pub(crate) use chapters::ChaptersApi;
pub(crate) use downloads::DownloadsApi;
pub(crate) use model::Video;
use model::VideoPage;
pub(crate) use text_tracks::TextTracksApi;

use crate::ApiTags;
use crate::auth::{BearerAuth, Caller, SCOPE_READ, SCOPE_WRITE};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;
use cursor::{decode_cursor, encode_cursor};
use model::playback_urls;
pub(crate) use model::shown_generation;

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
    /// Deleted: marked `deleted`, and its delete workflow has finished: processing stopped,
    /// objects and multipart uploads removed, the CDN purged, `video.deleted` delivered to the
    /// owner's webhooks. Deleting it again answers the same.
    #[oai(status = 204)]
    Deleted,
    /// Marked `deleted`; the video's delete workflow (`delete-{id}` in the Temporal UI) is still
    /// at work (stopping its run, removing objects, purging the CDN, announcing it), each step
    /// retried until done.
    #[oai(status = 202)]
    Accepted,
}

/// The video `raw_id` names, if the caller may see it; another owner's video is "not found".
pub(crate) async fn visible(
    state: &AppState,
    caller: &Caller,
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
        form: crate::uploads::post::VideoUploadForm,
    ) -> ApiResult<crate::uploads::post::UploadResponse> {
        crate::uploads::post::upload(&state, &auth.0, req, form).await
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
        // What plays: the growing master of a playable run, the ready generation, or, while a
        // forced re-encode runs (and if it fails), the generation published before it.
        let shown = shown_generation(&row);
        let renditions = if shown.is_some() && row.status() != VideoStatus::Playable {
            repo::renditions(&state.pool, id).await?
        } else {
            Vec::new()
        };
        let playback = shown.map(|g| playback_urls(&state.cfg, &row, &renditions, g));
        let processing = row.status().is_processing();
        let mut video = Video::from_row(row, &state.cfg);
        video.playback = playback;
        if processing {
            // Best effort: the row stays the source of truth when Temporal cannot be asked.
            video.progress = crate::progress::progress_for_status(&state, id).await;
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
        let id = parse_id(&id.0)?;
        repo::get_video_any(&state.pool, id, auth.0.owner_filter())
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no video {id}")))?;
        // Marked first: from now on the video is gone for every reader; the workflow does the rest.
        repo::mark_deleted(&state.pool, id, auth.0.owner_filter()).await?;
        Ok(if delete::remove(&state, id).await? {
            DeleteVideoResponse::Deleted
        } else {
            DeleteVideoResponse::Accepted
        })
    }
}
