//! `POST /v1/videos` with a JSON body naming a `source_url`: the video is recorded at once and its
//! workflow's first step (`import_source`) fetches the file into the store.

use vodflow_core::VideoId;
use vodflow_core::playback::Visibility;

use crate::auth::Caller;
use crate::problem::ApiError;
use crate::state::AppState;
use crate::uploads::commit::{Accepted, commit};
use crate::uploads::validate::{validate_callback, validate_description, validate_title};
use crate::videos::Video;

/// An import request (`application/json`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportRequest {
    pub(crate) title: String,
    /// http(s) URL of the video file; it must resolve to public addresses.
    pub(crate) source_url: String,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) visibility: Option<String>,
    #[serde(default)]
    pub(crate) callback_url: Option<String>,
    #[serde(default)]
    pub(crate) downloads: Option<String>,
    #[serde(default)]
    pub(crate) normalize_audio: Option<bool>,
}

pub(crate) async fn import(
    state: &AppState,
    caller: &Caller,
    req: ImportRequest,
) -> Result<Video, ApiError> {
    let title = validate_title(&req.title)?;
    let description = req.description.unwrap_or_default();
    validate_description(&description)?;
    let visibility: Visibility = match req.visibility.as_deref() {
        Some(v) => v.trim().parse().map_err(ApiError::BadRequest)?,
        None => Visibility::Signed,
    };
    let callback_url = match req.callback_url.as_deref() {
        Some(u) => Some(validate_callback(u, state.cfg.webhooks.allow_private).await?),
        None => None,
    };
    if req.source_url.len() > 2048 {
        return Err(ApiError::BadRequest(
            "source_url is longer than 2048 characters".into(),
        ));
    }
    // Checked here for a clear 400; the worker checks again (with the addresses it connects to)
    // before it fetches, and at every redirect.
    let checked =
        vodflow_core::net_guard::check_url(req.source_url.trim(), state.cfg.import_allow_private)
            .await
            .map_err(|e| ApiError::BadRequest(format!("source_url refused: {e}")))?;
    let accepted = Accepted {
        id: VideoId::new(),
        owner: &caller.sub,
        owner_email: caller.email.as_deref(),
        title,
        description,
        callback_url,
        visibility,
        size: 0,
        content_type: "application/octet-stream",
        completing: None,
        source_url: Some(checked.url.to_string()),
        downloads: req
            .downloads
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(ApiError::BadRequest)?,
        normalize_audio: req.normalize_audio,
    };
    commit(state, accepted)
        .await?
        .ok_or_else(|| ApiError::Internal("the import was committed twice".into()))
}
