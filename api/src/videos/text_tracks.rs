//! `POST/GET /v1/videos/{id}/text-tracks`, `DELETE /v1/videos/{id}/text-tracks/{track_id}`: a
//! video's subtitles and captions. Players get each as WebVTT (`playback.text_tracks`) and, in the
//! HLS master, as a `SUBTITLES` group; adding or removing one changes the master the origin
//! serves, never the segments. Each change announces `video.updated`.

use poem::web::Data;
use poem_openapi::types::multipart::Upload;
use poem_openapi::{ApiResponse, Multipart, Object, OpenApi, param::Path, payload::Json};
use vodflow_core::events::VideoUpdated;
use vodflow_core::repo::text_tracks::{self as store, Announce, Change};
use vodflow_core::text_tracks::{self as tracks, Kind, TextTrack};
use vodflow_core::{playback, repo};

use super::updated::Update;
use super::visible;
use crate::ApiTags;
use crate::auth::{BearerAuth, SCOPE_READ, SCOPE_WRITE};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

/// A caption file and what it is.
#[derive(Multipart, Debug)]
pub(super) struct TextTrackForm {
    /// A WebVTT or SRT file (UTF-8, at most 1 MiB, at most 5,000 cues, each inside the video).
    pub(super) file: Upload,
    /// BCP 47 language tag (`en`, `pt-BR`).
    pub(super) language: String,
    /// What players show in their caption menu (`English`, `Français (CC)`).
    pub(super) name: String,
    /// `subtitles` (the dialogue, translated) or `captions` (dialogue and sounds); `subtitles`
    /// when omitted.
    pub(super) kind: Option<String>,
    /// Shown unless the viewer picks another; makes any other track not default.
    pub(super) default: Option<bool>,
}

/// One text track and where players read it.
#[derive(Object, Debug, Clone)]
pub struct TextTrackView {
    pub id: String,
    pub language: String,
    pub name: String,
    /// `subtitles` or `captions`.
    pub kind: String,
    pub default: bool,
    /// How many cues it holds.
    pub cues: u32,
    /// The whole track as WebVTT, under the playback base (signed like the master for `signed`
    /// videos).
    pub url: String,
}

#[derive(Object, Debug, Clone)]
pub struct TextTrackList {
    pub text_tracks: Vec<TextTrackView>,
}

#[derive(ApiResponse)]
pub enum AddResponse {
    /// The track, added: it is in the master and the caption menu from now on.
    #[oai(status = 201)]
    Created(Json<TextTrackView>),
}

#[derive(ApiResponse)]
pub enum ListResponse {
    /// The video's text tracks, in the order they were added.
    #[oai(status = 200)]
    Ok(Json<TextTrackList>),
}

#[derive(ApiResponse)]
pub enum DeleteResponse {
    /// Removed from the master and the list; its URLs answer 404.
    #[oai(status = 204)]
    Deleted,
}

#[derive(Default)]
pub struct TextTracksApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Videos")]
impl TextTracksApi {
    /// Add a subtitle or caption track from a WebVTT or SRT file (SRT is converted to WebVTT). The
    /// video's duration must be known (once it is ready): every cue must fall inside it. A fault in
    /// the file is a 400 naming its line. Announces `video.updated`.
    #[oai(
        path = "/videos/:id/text-tracks",
        method = "post",
        operation_id = "addTextTrack"
    )]
    async fn add_text_track(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        form: TextTrackForm,
    ) -> ApiResult<AddResponse> {
        auth.0.require(SCOPE_WRITE)?;
        let row = visible(&state, &auth.0, &id.0).await?;
        let vid = row.video_id();
        let duration_ms = row
            .duration_ms
            .and_then(|d| u64::try_from(d).ok())
            .filter(|d| *d > 0)
            .ok_or_else(|| {
                ApiError::Conflict(format!(
                    "video {vid} has no known duration yet: add text tracks once it is ready"
                ))
            })?;
        tracks::validate_language(&form.language).map_err(ApiError::BadRequest)?;
        let name = form.name.trim().to_owned();
        tracks::validate_name(&name).map_err(ApiError::BadRequest)?;
        let kind = Kind::parse(form.kind.as_deref().unwrap_or("subtitles"))
            .map_err(ApiError::BadRequest)?;
        let bytes = form
            .file
            .into_vec()
            .await
            .map_err(|e| ApiError::BadRequest(format!("cannot read the file: {e}")))?;
        let cues = tracks::parse(&bytes, duration_ms)
            .map_err(|e| ApiError::BadRequest(format!("the text track file: {e}")))?;
        let track = TextTrack {
            id: uuid::Uuid::now_v7(),
            language: form.language,
            name,
            kind,
            default: form.default.unwrap_or(false),
            cues: cues.len() as u32,
        };
        let update = Update::new(VideoUpdated::track_added(
            row.video_id(),
            &row.owner,
            track.clone(),
        ));
        let topic = Update::topic(&state);
        let event = update.kafka_event();
        let announce = Announce {
            topic: &topic,
            event: &event,
        };
        match store::add(&state.pool, vid, &row.owner, &track, &cues, announce).await? {
            Change::Done(_) => {}
            Change::Full => {
                return Err(ApiError::Conflict(format!(
                    "video {vid} has {} text tracks already, the most it may have; delete one first",
                    tracks::MAX_TRACKS
                ))
                .into());
            }
            Change::NoVideo | Change::NoTrack => {
                return Err(ApiError::NotFound(format!("no video {vid}")).into());
            }
        }
        tracing::info!(video_id = %vid, track = %track.id, cues = track.cues, "text track added");
        update.dispatch_webhooks(&state, &row).await;
        Ok(AddResponse::Created(Json(view(&state, &row, &track))))
    }

    /// A video's text tracks.
    #[oai(
        path = "/videos/:id/text-tracks",
        method = "get",
        operation_id = "listTextTracks"
    )]
    async fn list_text_tracks(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<ListResponse> {
        auth.0.require(SCOPE_READ)?;
        let row = visible(&state, &auth.0, &id.0).await?;
        let text_tracks = row
            .text_tracks
            .0
            .iter()
            .map(|t| view(&state, &row, t))
            .collect();
        Ok(ListResponse::Ok(Json(TextTrackList { text_tracks })))
    }

    /// Remove a text track: it leaves the master and the caption menu. Announces `video.updated`.
    #[oai(
        path = "/videos/:id/text-tracks/:track_id",
        method = "delete",
        operation_id = "deleteTextTrack"
    )]
    async fn delete_text_track(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        track_id: Path<String>,
    ) -> ApiResult<DeleteResponse> {
        auth.0.require(SCOPE_WRITE)?;
        let row = visible(&state, &auth.0, &id.0).await?;
        let vid = row.video_id();
        let no_track =
            || ApiError::NotFound(format!("video {vid} has no text track {}", track_id.0));
        let track: uuid::Uuid = track_id.0.parse().map_err(|_| no_track())?;
        let update = Update::new(VideoUpdated::track_removed(vid, &row.owner, track));
        let topic = Update::topic(&state);
        let event = update.kafka_event();
        let announce = Announce {
            topic: &topic,
            event: &event,
        };
        match store::remove(&state.pool, vid, &row.owner, track, announce).await? {
            Change::Done(_) => {}
            Change::NoTrack | Change::Full => return Err(no_track().into()),
            Change::NoVideo => return Err(ApiError::NotFound(format!("no video {vid}")).into()),
        }
        tracing::info!(video_id = %vid, %track, "text track removed");
        update.dispatch_webhooks(&state, &row).await;
        Ok(DeleteResponse::Deleted)
    }
}

fn view(state: &AppState, row: &repo::VideoRow, t: &TextTrack) -> TextTrackView {
    let (base, _) = playback::configured_base_url(
        &state.cfg,
        row.video_id(),
        row.visibility(),
        playback::unix_now(),
    );
    text_track_view(&base, t)
}

/// A track as the API shows it, its URL under the playback `base`.
pub(super) fn text_track_view(base: &str, t: &TextTrack) -> TextTrackView {
    TextTrackView {
        id: t.id.to_string(),
        language: t.language.clone(),
        name: t.name.clone(),
        kind: t.kind.as_str().to_owned(),
        default: t.default,
        cues: t.cues,
        url: format!("{base}{}", tracks::whole_path(t.id)),
    }
}
