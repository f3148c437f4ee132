//! The web page: sign in with a token, upload, follow status, watch. Every asset is compiled into
//! the binary (no CDN, no build step at run time). The player is media-chrome 4.19.4 (its published
//! IIFE build) around hls-video-element 1.5.11, bundled with hls.js 1.6.15 (`scripts/vendor-player`
//! rebuilds both); `tus.min.js` is tus-js-client 4.3.1 (resumable uploads). All are vendored with
//! their licences under `api/assets/vendor/`.

use poem::http::{StatusCode, header};
use poem::web::{Data, Path};
use poem::{Response, handler};
use vodflow_core::caching::Caching;

use crate::state::AppState;

const INDEX: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");
const MEDIA_CHROME_JS: &str = include_str!("../assets/vendor/media-chrome.min.js");
const HLS_VIDEO_JS: &str = include_str!("../assets/vendor/hls-video-element.min.js");
const PLAYER_JS: &str = include_str!("../assets/player.js");
const TUS_JS: &str = include_str!("../assets/vendor/tus.min.js");
const EMBED_JS: &str = include_str!("../assets/embed.js");

/// Scripts only from this origin; media, images and playlists may come from a CDN domain; hls.js
/// runs its transmuxer in a blob worker; the player's controls style their shadow trees with
/// `<style>` elements (styles only: no inline script runs).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' http: https: data:; \
                   media-src 'self' http: https: blob:; connect-src 'self' http: https:; worker-src 'self' blob:; \
                   frame-ancestors 'none'";

/// The page itself (for `/`, which the API's routes surround).
pub(crate) fn page() -> Response {
    html(INDEX)
}

fn html(body: impl Into<poem::Body>) -> Response {
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .header(header::CONTENT_SECURITY_POLICY, CSP)
        .header(header::CACHE_CONTROL, Caching::Revalidate.uncapped())
        .header("X-Content-Type-Options", "nosniff")
        .body(body)
}

/// `/watch/{id}`: the same page, which routes on the client; for a public video that plays, with
/// the Open Graph, Twitter and oEmbed tags that make a pasted link unfurl.
#[handler]
pub(crate) async fn watch(state: Data<&AppState>, Path(id): Path<String>) -> Response {
    match crate::embed::watch_meta(&state, &id).await {
        Some(meta) => html(INDEX.replacen("</head>", &format!("{meta}</head>"), 1)),
        None => html(INDEX),
    }
}

#[handler]
pub(crate) fn asset(Path(name): Path<String>) -> Response {
    let (body, content_type) = match name.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "vendor/media-chrome.min.js" => (MEDIA_CHROME_JS, "text/javascript; charset=utf-8"),
        "vendor/hls-video-element.min.js" => (HLS_VIDEO_JS, "text/javascript; charset=utf-8"),
        "player.js" => (PLAYER_JS, "text/javascript; charset=utf-8"),
        "vendor/tus.min.js" => (TUS_JS, "text/javascript; charset=utf-8"),
        "embed.js" => (EMBED_JS, "text/javascript; charset=utf-8"),
        _ => return Response::builder().status(StatusCode::NOT_FOUND).finish(),
    };
    Response::builder()
        .content_type(content_type)
        // Versioned with the binary: revalidate, so an upgrade is picked up at once.
        .header(header::CACHE_CONTROL, Caching::Revalidate.uncapped())
        .header("X-Content-Type-Options", "nosniff")
        .body(body)
}
