//! What the origin writes from the database: the chapters, the text tracks (whole, and cut into
//! the segments of their HLS playlists), the master with the tracks' `SUBTITLES` group and the
//! DASH manifest with their text adaptation sets. Each
//! answer carries an ETag of its bytes, so players and a CDN revalidate instead of reloading.

use poem::Response;
use poem::http::{StatusCode, header};
use sha2::{Digest, Sha256};
use vodflow_core::repo::{self, text_tracks as track_store};
use vodflow_core::text_tracks;

use super::object::{Conditional, cache_control};
use super::path::{Generated, PlayPath};
use crate::problem::ApiError;
use crate::state::AppState;

/// How the response is to be made: cache bound, HEAD, and the request's `If-None-Match`.
pub(super) struct Answer<'a> {
    pub(super) max_age_cap: Option<u64>,
    pub(super) head: bool,
    pub(super) cond: &'a Conditional,
}

/// `Ok(None)` when there is nothing there (no chapters, no such track or segment).
pub(super) async fn serve(
    state: &AppState,
    video: &repo::VideoRow,
    what: Generated,
    target: &PlayPath<'_>,
    answer: &Answer<'_>,
) -> Result<Option<Response>, ApiError> {
    let duration_ms = video.duration_ms.and_then(|d| u64::try_from(d).ok());
    let body = match what {
        Generated::Chapters => {
            let list = video
                .chapters
                .as_ref()
                .map(|c| &c.0)
                .filter(|c| !c.is_empty());
            match (list, duration_ms) {
                (Some(list), Some(d)) => Some(vodflow_core::chapters::webvtt(list, d)),
                _ => None,
            }
        }
        Generated::TrackPlaylist(track) => duration_ms
            .filter(|_| video.text_tracks.0.iter().any(|t| t.id == track))
            .map(text_tracks::playlist),
        Generated::Track(track) => track_store::cues(&state.pool, video.video_id(), track)
            .await?
            .map(|cues| text_tracks::webvtt(&cues)),
        Generated::TrackSegment(track, n) => match duration_ms {
            Some(d) if n < text_tracks::segment_count(d) => {
                track_store::cues(&state.pool, video.video_id(), track)
                    .await?
                    .and_then(|cues| text_tracks::segment(&cues, n, d))
            }
            _ => None,
        },
        // Served by `images`, never here.
        Generated::Image(_) => None,
    };
    Ok(body.map(|b| respond(b, target.content_type, answer)))
}

/// The stored master with the video's text tracks as a `SUBTITLES` group. `Ok(None)` when the
/// store has no master.
pub(super) async fn master_with_tracks(
    state: &AppState,
    video: &repo::VideoRow,
    target: &PlayPath<'_>,
    answer: &Answer<'_>,
) -> Result<Option<Response>, ApiError> {
    let Some(master) = super::object::playlist_text(state, &target.key).await? else {
        return Ok(None);
    };
    let body = text_tracks::master_with_tracks(&master, &video.text_tracks.0);
    Ok(Some(respond(body, target.content_type, answer)))
}

/// The stored DASH manifest with the video's text tracks as text adaptation sets. `Ok(None)`
/// when the store has none.
pub(super) async fn dash_with_tracks(
    state: &AppState,
    video: &repo::VideoRow,
    target: &PlayPath<'_>,
    answer: &Answer<'_>,
) -> Result<Option<Response>, ApiError> {
    let Some(mpd) = super::object::playlist_text(state, &target.key).await? else {
        return Ok(None);
    };
    let body = vodflow_core::dash::with_text_tracks(&mpd, &video.text_tracks.0);
    Ok(Some(respond(body, target.content_type, answer)))
}

fn respond(body: String, content_type: &str, answer: &Answer<'_>) -> Response {
    let etag = format!(
        "\"{}\"",
        &hex::encode(Sha256::digest(body.as_bytes()))[..32]
    );
    let cache = cache_control(false, answer.max_age_cap);
    if answer.cond.matches(&etag) {
        return Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header(header::CACHE_CONTROL, cache)
            .header(header::ETAG, etag)
            .finish();
    }
    let resp = Response::builder()
        .status(StatusCode::OK)
        .content_type(content_type)
        .header(header::CACHE_CONTROL, cache)
        .header(header::ETAG, etag)
        .header(header::CONTENT_LENGTH, body.len());
    if answer.head {
        resp.finish()
    } else {
        resp.body(body)
    }
}
