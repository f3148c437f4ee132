//! `POST /v1/videos/{id}/downloads`: downloads asked for after the upload. The choice is recorded
//! on the video and a `VideoDownloadsWorkflow` remuxes them from the published segments (nothing
//! is encoded again); `playback.downloads` lists them once made.

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use vodflow_core::downloads::Choice;
use vodflow_core::ladder::Rendition;
use vodflow_core::{VideoStatus, repo};
use vodflow_workflows::types::CreateDownloads;
use vodflow_workflows::video_downloads;

use super::model::Video;
use super::{shown_generation, visible};
use crate::ApiTags;
use crate::auth::{BearerAuth, SCOPE_WRITE};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Object, Debug)]
pub(crate) struct DownloadsRequest {
    /// `audio` (audio.m4a), `highest` (highest.mp4) or `all` (every rung, highest.mp4,
    /// audio.m4a); `none` withdraws them from `playback`.
    pub downloads: String,
}

#[derive(ApiResponse)]
pub enum DownloadsResponse {
    /// Recorded; the downloads are being made (`playback.downloads` lists them when done).
    #[oai(status = 202)]
    Accepted(Json<Video>),
}

#[derive(Default)]
pub struct DownloadsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Videos")]
impl DownloadsApi {
    /// Add (or change) a ready video's downloads, remuxed from its published segments.
    #[oai(
        path = "/videos/:id/downloads",
        method = "post",
        operation_id = "setDownloads"
    )]
    async fn set_downloads(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        body: Json<DownloadsRequest>,
    ) -> ApiResult<DownloadsResponse> {
        auth.0.require(SCOPE_WRITE)?;
        state.limits.reprocess.check(&auth.0.sub)?;
        let choice: Choice = body.0.downloads.parse().map_err(ApiError::BadRequest)?;
        let row = visible(&state, &auth.0, &id.0).await?;
        let vid = row.video_id();
        let generation = shown_generation(&row)
            .filter(|_| row.status() == VideoStatus::Ready)
            .ok_or_else(|| {
                ApiError::Conflict(format!(
                    "video {vid} is {}: downloads are made from a ready video's segments",
                    row.status
                ))
            })?;
        let renditions = repo::renditions(&state.pool, vid)
            .await?
            .into_iter()
            .filter(|r| r.kind == "video")
            .filter_map(|r| {
                let name = r.playlist_key.rsplit('/').nth(1)?.to_owned();
                Some(Rendition {
                    name,
                    width: u32::try_from(r.width).ok()?,
                    height: u32::try_from(r.height).ok()?,
                    video_kbps: 0,
                    profile: String::new(),
                })
            })
            .collect();
        repo::set_downloads_choice(&state.pool, vid, choice).await?;
        let input = CreateDownloads {
            video_id: vid,
            bucket: state.cfg.s3.bucket.clone(),
            generation,
            duration_ms: row
                .duration_ms
                .and_then(|d| u64::try_from(d).ok())
                .unwrap_or(0),
            renditions,
        };
        let client = state.temporal().await?;
        video_downloads::start(&state.cfg, &client, input)
            .await
            .map_err(|e| ApiError::Unavailable(format!("Temporal: {e}")))?;
        let row = repo::get_video(&state.pool, vid, None)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no video {vid}")))?;
        Ok(DownloadsResponse::Accepted(Json(Video::from_row(
            row, &state.cfg,
        ))))
    }
}
