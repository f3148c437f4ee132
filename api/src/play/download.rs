//! `download/{file}`: a download the video lists (`playback.downloads`), streamed from the store
//! like any object, with `Content-Disposition: attachment` and a file name made from the title.

use poem::Response;
use poem::http::{HeaderValue, header};
use vodflow_core::{downloads, layout, repo};

use super::object::{self, Conditional};
use super::path::PlayPath;
use crate::problem::ApiError;
use crate::state::AppState;

/// `Ok(None)` when the video lists no such download for the generation it shows.
pub(super) async fn serve(
    state: &AppState,
    video: &repo::VideoRow,
    target: &PlayPath<'_>,
    file: &str,
    cond: &Conditional,
    max_age_cap: Option<u64>,
    head: bool,
) -> Result<Option<Response>, ApiError> {
    let Some(generation) = crate::videos::shown_generation(video) else {
        return Ok(None);
    };
    if video.downloads_generation != i32::try_from(generation).ok() {
        return Ok(None);
    }
    let Some(d) = video
        .downloads_made
        .0
        .iter()
        .find(|d| d.file_name() == file)
    else {
        return Ok(None);
    };
    let stored = PlayPath {
        signature: target.signature,
        key: layout::download_key(video.video_id(), generation, &d.object),
        content_type: target.content_type,
        immutable: false,
        generated: None,
        download: None,
    };
    let Some(mut resp) = object::fetch(state, &stored, cond, max_age_cap, head).await? else {
        return Ok(None);
    };
    if let Ok(v) = HeaderValue::from_str(&downloads::content_disposition(&video.title, d)) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(Some(resp))
}
