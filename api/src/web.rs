//! The web page: sign in with a token, upload, follow status, watch. Every asset is compiled into
//! the binary (no CDN, no build step at run time); `hls.min.js` is hls.js 1.6.15 and `tus.min.js`
//! tus-js-client 4.3.1 (resumable uploads), vendored with their licences under `api/assets/vendor/`.

use poem::http::{StatusCode, header};
use poem::web::Path;
use poem::{Response, handler};

const INDEX: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");
const HLS_JS: &str = include_str!("../assets/vendor/hls.min.js");
const TUS_JS: &str = include_str!("../assets/vendor/tus.min.js");

/// Scripts only from this origin; media, images and playlists may come from a CDN domain; hls.js
/// runs its transmuxer in a blob worker.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' http: https: data:; \
                   media-src 'self' http: https: blob:; connect-src 'self' http: https:; worker-src 'self' blob:; \
                   frame-ancestors 'none'";

/// The page itself (for `/`, which the API's routes surround).
pub(crate) fn page() -> Response {
    html(INDEX)
}

fn html(body: &'static str) -> Response {
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .header(header::CONTENT_SECURITY_POLICY, CSP)
        .header(header::CACHE_CONTROL, "no-cache")
        .header("X-Content-Type-Options", "nosniff")
        .body(body)
}

/// `/watch/{id}`: the same page, which routes on the client.
#[handler]
pub(crate) fn watch(Path(_id): Path<String>) -> Response {
    html(INDEX)
}

#[handler]
pub(crate) fn asset(Path(name): Path<String>) -> Response {
    let (body, content_type) = match name.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "vendor/hls.min.js" => (HLS_JS, "text/javascript; charset=utf-8"),
        "vendor/tus.min.js" => (TUS_JS, "text/javascript; charset=utf-8"),
        _ => return Response::builder().status(StatusCode::NOT_FOUND).finish(),
    };
    Response::builder()
        .content_type(content_type)
        // Versioned with the binary: revalidate, so an upgrade is picked up at once.
        .header(header::CACHE_CONTROL, "no-cache")
        .header("X-Content-Type-Options", "nosniff")
        .body(body)
}
