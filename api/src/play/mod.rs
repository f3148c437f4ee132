//! The playback origin, `GET /play/{id}/...`: what HLS players (and a CDN in front) pull. Public
//! playback needs no bearer token; a `signed` video's paths carry an expiring signature instead.
//! Objects are streamed from the store, never buffered whole.

mod download;
mod generated;
mod images;
mod object;
mod path;
mod recent_images;

pub(crate) use images::ImageMaker;

use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::web::{Data, Path};
use poem::{Request, Response, handler};
use vodflow_core::caching::Caching;
use vodflow_core::{VideoId, playback, repo};

use crate::problem::{ApiError, problem_response_for};
use crate::state::AppState;

#[handler]
pub(crate) async fn play(
    req: &Request,
    state: Data<&AppState>,
    Path((id, rest)): Path<(String, String)>,
) -> Response {
    let resp = match serve(req, &state, &id, &rest).await {
        Ok(r) => r,
        Err(e) => {
            if let ApiError::Internal(msg) = &e {
                tracing::error!(error = %msg, "playback failed");
            }
            problem_response_for(&e, req.uri().path())
        }
    };
    with_cors(resp)
}

/// CORS preflight: players on other origins send `Range` and `If-None-Match`.
#[handler]
pub(crate) fn preflight() -> Response {
    let mut resp = Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header(header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD, OPTIONS")
        .header(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Range, If-None-Match, If-Modified-Since",
        )
        .header(header::ACCESS_CONTROL_MAX_AGE, "86400")
        .finish();
    resp.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    resp
}

/// A wildcard origin (no credentials are involved), so a CDN can cache one copy for every site.
fn with_cors(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Content-Length, Content-Range, ETag, Accept-Ranges"),
    );
    resp
}

async fn serve(
    req: &Request,
    state: &AppState,
    id: &str,
    rest: &str,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound(format!("nothing to play at {}", req.uri().path()));
    // One URL per object: a UUID has other spellings (upper case, no hyphens, braces, `urn:`),
    // and a CDN would cache each as another object. Only the one vodflow writes is served.
    let id: VideoId = id
        .parse()
        .ok()
        .filter(|parsed: &VideoId| parsed.to_string() == id)
        .ok_or_else(not_found)?;
    let target = path::parse(id, rest).ok_or_else(not_found)?;
    let video = repo::get_video(&state.pool, id, None)
        .await?
        .ok_or_else(not_found)?;
    // A cache (browser or CDN) must not keep serving a signed URL past its expiry.
    let mut max_age_cap = None;
    if video.visibility() == playback::Visibility::Signed {
        let now = playback::unix_now();
        let expires = playback::verify_segment(
            &state.cfg.playback.signing_secret,
            id,
            target.signature,
            now,
        )
        .map_err(|e| ApiError::Forbidden(e.to_string()))?;
        max_age_cap = Some(expires - now);
    } else if let Some(sig) = target.signature {
        // A public video has one URL per object: an invented `sig-…` segment in front would make
        // every name a new cache key (a CDN made to miss forever). A link signed while the video
        // was `signed`, still valid, is sent to the one URL; anything else is not found.
        playback::verify_segment(
            &state.cfg.playback.signing_secret,
            id,
            Some(sig),
            playback::unix_now(),
        )
        .map_err(|_| not_found())?;
        let mut canonical = req.uri().path().replacen(&format!("/{sig}/"), "/", 1);
        if let Some(q) = req.uri().query() {
            canonical = format!("{canonical}?{q}");
        }
        return Ok(Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, canonical)
            .header(header::CACHE_CONTROL, Caching::Private.uncapped())
            .finish());
    }
    // The growing playlists of a first encode that then failed or was cancelled are not a video:
    // nothing finished exists to play (the run withdraws them; this covers the moment before).
    // A forced re-encode's failure leaves the published generation's master, which plays on.
    if !target.immutable
        && video.published_generation.is_none()
        && matches!(
            video.status(),
            vodflow_core::VideoStatus::Failed | vodflow_core::VideoStatus::Cancelled
        )
    {
        return Err(not_found());
    }
    // A playlist of a video still being encoded grows every few seconds: no cache may keep it
    // longer than one.
    if !target.immutable && video.status().is_processing() {
        let growing = Caching::Growing.max_age();
        max_age_cap = max_age_cap.map_or(growing, |c| growing.map(|g| c.min(g)));
    }
    let conditional = object::Conditional::from_request(req);
    let head = req.method() == Method::HEAD;
    let answer = generated::Answer {
        max_age_cap,
        head,
        cond: &conditional,
    };
    let resp = if let Some(file) = target.download {
        download::serve(
            state,
            &video,
            &target,
            file,
            &conditional,
            max_age_cap,
            head,
        )
        .await?
    } else if let Some(path::Generated::Image(image)) = target.generated {
        let asked = images::Asked {
            image,
            query: req.uri().query().unwrap_or_default(),
            cond: &conditional,
            max_age_cap,
            head,
        };
        images::serve(state, &video, asked).await?
    } else if let Some(what) = target.generated {
        generated::serve(state, &video, what, &target, &answer).await?
    } else if target.key == vodflow_core::layout::dash_manifest_key(id) {
        // The stored manifest is the last finished generation's: listed, and served, only while
        // that is the generation shown (a forced re-encode's manifest waits for its publication).
        let shown = crate::videos::shown_generation(&video).and_then(|g| i32::try_from(g).ok());
        if shown.is_none() || video.dash_generation != shown {
            return Err(not_found());
        }
        if video.text_tracks.0.is_empty() {
            object::fetch(state, &target, &conditional, max_age_cap, head).await?
        } else {
            generated::dash_with_tracks(state, &video, &target, &answer).await?
        }
    } else if target.key == vodflow_core::layout::master_playlist_key(id)
        && !video.text_tracks.0.is_empty()
    {
        generated::master_with_tracks(state, &video, &target, &answer).await?
    } else {
        object::fetch(state, &target, &conditional, max_age_cap, head).await?
    }
    .ok_or_else(not_found)?;
    count(state, &target, &resp, head);
    Ok(resp)
}

/// Origin traffic by kind, and how much of it was revalidation (304) rather than bytes.
fn count(state: &AppState, target: &path::PlayPath<'_>, resp: &Response, head: bool) {
    let m = &state.metrics;
    let result = match resp.status() {
        StatusCode::OK => "full",
        StatusCode::PARTIAL_CONTENT => "partial",
        StatusCode::NOT_MODIFIED => "not_modified",
        _ => "other",
    };
    m.playback_responses.with_label_values(&[result]).inc();
    let kind = match target.content_type {
        _ if target.download.is_some() => "download",
        "application/vnd.apple.mpegurl" | "application/dash+xml" => "playlist",
        "video/iso.segment" | "audio/iso.segment" => "segment",
        "image/jpeg" if target.generated.is_none() => "poster",
        "image/jpeg" | "image/png" | "image/webp" | "image/gif" => "image",
        "text/vtt; charset=utf-8" => "text",
        _ => "init",
    };
    let bytes = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if !head && matches!(result, "full" | "partial") {
        m.playback_bytes.with_label_values(&[kind]).inc_by(bytes);
    }
}
