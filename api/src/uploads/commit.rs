//! The one way a stored source becomes a video: the row and its `video_uploaded` event in one
//! transaction. The POST path, the tus server and the presigned multipart path all end here.

use chrono::Utc;
use vodflow_core::events::{VIDEO_UPLOADED_SCHEMA_VERSION, VideoUploaded};
use vodflow_core::playback::Visibility;
use vodflow_core::{VideoId, kafka, layout, repo};

use crate::problem::ApiError;
use crate::state::AppState;
use crate::videos::Video;

/// A source object that is complete in the store, with what its uploader said about it.
pub(crate) struct Accepted<'a> {
    pub(crate) id: VideoId,
    pub(crate) owner: &'a str,
    pub(crate) owner_email: Option<&'a str>,
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) callback_url: Option<String>,
    pub(crate) visibility: Visibility,
    pub(crate) size: u64,
    pub(crate) content_type: &'a str,
    /// The resumable upload this completes (marked complete in the same transaction).
    pub(crate) completing: Option<uuid::Uuid>,
    /// An import: nothing is stored yet; the workflow fetches this URL first.
    pub(crate) source_url: Option<String>,
    /// What downloads it gets; the configured default when the uploader did not say.
    pub(crate) downloads: Option<vodflow_core::downloads::Choice>,
    /// Whether its loudness is evened out; the configured default when the uploader did not say.
    pub(crate) normalize_audio: Option<bool>,
}

/// Records the video; `None` when `completing` was already complete (a second finisher lost).
pub(crate) async fn commit(state: &AppState, a: Accepted<'_>) -> Result<Option<Video>, ApiError> {
    let key = layout::source_key(a.id);
    let event = VideoUploaded {
        schema_version: VIDEO_UPLOADED_SCHEMA_VERSION,
        video_id: a.id,
        owner: a.owner.to_owned(),
        bucket: state.cfg.s3.bucket.clone(),
        key: key.clone(),
        size: a.size,
        sha256: None,
        content_type: a.content_type.to_owned(),
        title: a.title.clone(),
        uploaded_at: Utc::now(),
        callback_url: a.callback_url.clone(),
        source_url: a.source_url.clone(),
    };
    let payload = serde_json::to_value(&event).map_err(|e| ApiError::Internal(e.to_string()))?;
    let callback_secret = a
        .callback_url
        .as_ref()
        .map(|_| vodflow_core::webhooks::new_secret("cbsec_"));
    let new = repo::NewVideo {
        id: a.id,
        owner: a.owner,
        title: &a.title,
        description: &a.description,
        source_key: &key,
        size_bytes: a.size as i64,
        content_type: a.content_type,
        callback_url: a.callback_url.as_deref(),
        callback_secret: callback_secret.as_deref(),
        visibility: a.visibility,
        owner_email: a.owner_email,
        source_url: a.source_url.as_deref(),
        import_cap: Some(state.cfg.imports.per_owner),
        downloads: a.downloads.unwrap_or(state.cfg.playback.default_downloads),
        normalize_audio: a
            .normalize_audio
            .unwrap_or(state.cfg.playback.default_normalize_audio),
    };
    let topic = state.cfg.topic(kafka::TOPIC_VIDEO_UPLOADED);
    let Some(row) =
        repo::insert_uploaded(&state.pool, &new, &topic, &payload, a.completing).await?
    else {
        return Ok(None);
    };
    tracing::info!(video_id = %a.id, size = a.size, content_type = a.content_type, "upload accepted");
    state.relay_wakeup.notify_one();
    let mut video = Video::from_row(row, &state.cfg);
    // Shown here only: the uploader verifies the callback's signature with it.
    video.callback_secret = callback_secret;
    Ok(Some(video))
}
