//! `PUT/GET /v1/videos/{id}/chapters`: a video's chapters, which players show as markers and a menu
//! (`playback.chapters`, a WebVTT file under the playback base). Setting them announces
//! `video.updated` on Kafka (through the outbox, with the change) and to the webhooks that ask.

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use vodflow_core::chapters::{self, Chapter};
use vodflow_core::events::VideoUpdated;
use vodflow_core::repo;

use super::updated::Update;
use super::visible;
use crate::ApiTags;
use crate::auth::{BearerAuth, SCOPE_READ, SCOPE_WRITE};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

/// One chapter: where it starts and what it is called.
#[derive(Object, Debug, Clone)]
pub struct ChapterItem {
    /// Seconds from the start of the video; strictly after the previous chapter's, inside the video.
    pub start: f64,
    /// One line, 1 to 200 characters.
    pub title: String,
}

#[derive(Object, Debug, Clone)]
pub struct Chapters {
    pub chapters: Vec<ChapterItem>,
    /// The WebVTT file players read them from (absent while the video cannot be played).
    #[oai(skip_serializing_if_is_none)]
    pub url: Option<String>,
}

#[derive(ApiResponse)]
pub enum ChaptersResponse {
    /// The video's chapters.
    #[oai(status = 200)]
    Ok(Json<Chapters>),
}

#[derive(Default)]
pub struct ChaptersApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Videos")]
impl ChaptersApi {
    /// Replace a video's chapters (`[]` removes them). Needs the video's duration: set them once
    /// it is ready. Announces `video.updated`.
    #[oai(
        path = "/videos/:id/chapters",
        method = "put",
        operation_id = "setChapters"
    )]
    async fn set_chapters(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        body: Json<Vec<ChapterItem>>,
    ) -> ApiResult<ChaptersResponse> {
        auth.0.require(SCOPE_WRITE)?;
        let row = visible(&state, &auth.0, &id.0).await?;
        let vid = row.video_id();
        let duration_ms = row
            .duration_ms
            .and_then(|d| u64::try_from(d).ok())
            .ok_or_else(|| {
                ApiError::Conflict(format!(
                    "video {vid} has no known duration yet: set its chapters once it is ready"
                ))
            })?;
        let list: Vec<Chapter> = body
            .0
            .into_iter()
            .map(|c| Chapter {
                start: c.start,
                title: c.title.trim().to_owned(),
            })
            .collect();
        chapters::validate(&list, duration_ms).map_err(ApiError::BadRequest)?;
        let update = Update::new(VideoUpdated::chapters(vid, &row.owner, list.clone()));
        let topic = Update::topic(&state);
        if !repo::set_chapters(
            &state.pool,
            vid,
            &row.owner,
            &list,
            &topic,
            &update.kafka_event(),
        )
        .await?
        {
            return Err(ApiError::NotFound(format!("no video {vid}")).into());
        }
        update.dispatch_webhooks(&state, &row).await;
        Ok(ChaptersResponse::Ok(Json(view(&state, &row, list))))
    }

    /// A video's chapters.
    #[oai(
        path = "/videos/:id/chapters",
        method = "get",
        operation_id = "getChapters"
    )]
    async fn get_chapters(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<ChaptersResponse> {
        auth.0.require(SCOPE_READ)?;
        let row = visible(&state, &auth.0, &id.0).await?;
        let list = row.chapters.clone().map(|c| c.0).unwrap_or_default();
        Ok(ChaptersResponse::Ok(Json(view(&state, &row, list))))
    }
}

fn view(state: &AppState, row: &repo::VideoRow, list: Vec<Chapter>) -> Chapters {
    let url = super::model::shown_generation(row)
        .filter(|_| !list.is_empty())
        .map(|_| chapters_url(state, row));
    Chapters {
        chapters: list
            .into_iter()
            .map(|c| ChapterItem {
                start: c.start,
                title: c.title,
            })
            .collect(),
        url,
    }
}

/// `…/chapters.vtt` under the video's playback base (signed like the master for `signed` videos).
fn chapters_url(state: &AppState, row: &repo::VideoRow) -> String {
    let (base, _) = vodflow_core::playback::configured_base_url(
        &state.cfg,
        row.video_id(),
        row.visibility(),
        vodflow_core::playback::unix_now(),
    );
    format!("{base}chapters.vtt")
}
