//! Sharing a video outside vodflow: `/embed/{id}` (a bare player meant for an `<iframe>` on any
//! site, no API token in it), Open Graph and Twitter player tags on `/watch/{id}`, and an oEmbed
//! endpoint (`/oembed?url=…`) so a pasted link unfurls. A `public` video is shared by its plain
//! URLs. A `signed` video's embed URL carries the same expiring signature as its playback URLs
//! (`/embed/{id}/sig-…`, from `playback.embed`); it is never unfurled and its title is never shown
//! to a visitor without one.

use poem::http::{StatusCode, header};
use poem::web::{Data, Path, Query};
use poem::{Response, handler};
use serde::Deserialize;
use vodflow_core::caching::Caching;
use vodflow_core::playback::{self, Visibility};
use vodflow_core::{VideoId, layout, repo};

use crate::state::AppState;
use crate::videos::shown_generation;

/// Any site may frame the player; its scripts only from here.
const EMBED_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' http: https: data:; \
                         media-src 'self' http: https: blob:; connect-src 'self' http: https:; worker-src 'self' blob:; \
                         frame-ancestors *";

/// What a shared video shows: its title, where it plays from, and its poster.
struct Shared {
    id: VideoId,
    title: String,
    description: String,
    master: String,
    poster: String,
    storyboard: Option<String>,
    chapters: Option<String>,
    width: i32,
    height: i32,
}

/// The video behind a share link, if it can be played by whoever holds the link: public, or
/// signed with `sig` valid now.
async fn shared(state: &AppState, raw_id: &str, sig: Option<&str>) -> Result<Shared, StatusCode> {
    let id: VideoId = raw_id.parse().map_err(|_| StatusCode::NOT_FOUND)?;
    let row = repo::get_video(&state.pool, id, None)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
        .ok_or(StatusCode::NOT_FOUND)?;
    let generation = shown_generation(&row).ok_or(StatusCode::NOT_FOUND)?;
    let origin = state.cfg.playback_origin();
    let base = match (row.visibility(), sig) {
        (Visibility::Public, None) => format!("{origin}/play/{id}/"),
        (Visibility::Signed, Some(sig)) => {
            playback::verify_segment(
                &state.cfg.playback.signing_secret,
                id,
                Some(sig),
                playback::unix_now(),
            )
            .map_err(|_| StatusCode::FORBIDDEN)?;
            format!("{origin}/play/{id}/{sig}/")
        }
        (Visibility::Signed, None) => return Err(StatusCode::FORBIDDEN),
        // A public video has one embed URL.
        (Visibility::Public, Some(_)) => return Err(StatusCode::NOT_FOUND),
    };
    Ok(Shared {
        id,
        master: format!("{base}master.m3u8"),
        poster: format!("{base}{}poster.jpg", layout::generation_dir(generation)),
        storyboard: (row.storyboard_generation == i32::try_from(generation).ok())
            .then(|| format!("{base}{}storyboard.vtt", layout::generation_dir(generation))),
        chapters: row
            .chapters
            .as_ref()
            .filter(|c| !c.0.is_empty())
            .map(|_| format!("{base}chapters.vtt")),
        width: row.width.unwrap_or(1280).max(1),
        height: row.height.unwrap_or(720).max(1),
        title: row.title,
        description: row.description,
    })
}

/// The embed URL of a video as the API lists it (`playback.embed`): signed like its playback URLs.
pub(crate) fn embed_url(cfg: &vodflow_core::Config, id: VideoId, visibility: Visibility) -> String {
    let public_url = &cfg.public_url;
    match visibility {
        Visibility::Public => format!("{public_url}/embed/{id}"),
        Visibility::Signed => {
            let expires = playback::unix_now() + cfg.playback.url_ttl.as_secs();
            let sig = playback::signature_segment(&cfg.playback.signing_secret, id, expires);
            format!("{public_url}/embed/{id}/{sig}")
        }
    }
}

/// Text for HTML, in content and in quoted attributes.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page_response(status: StatusCode, body: String, private: bool) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header(header::CONTENT_SECURITY_POLICY, EMBED_CSP)
        // A signed page holds an expiring URL: no cache may keep it.
        .header(
            header::CACHE_CONTROL,
            if private {
                Caching::Private
            } else {
                Caching::PublicPage
            }
            .uncapped(),
        )
        .header("Referrer-Policy", "strict-origin-when-cross-origin")
        .body(body)
}

fn embed_page(v: &Shared) -> String {
    let optional = |name: &str, url: &Option<String>| {
        url.as_ref()
            .map(|u| format!(" data-{name}=\"{}\"", escape(u)))
            .unwrap_or_default()
    };
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n\
         <style>html,body{{margin:0;height:100%;background:#000}}#player-slot,.vodflow-player{{display:block;width:100%;height:100%}}\
         hls-video{{display:block;width:100%;height:100%}}media-settings-menu{{position:absolute}}.vodflow-player .spacer{{flex-grow:1}}</style>\n\
         </head>\n<body>\n\
         <div id=\"player-slot\" data-master=\"{master}\" data-poster=\"{poster}\" data-title=\"{title}\"{storyboard}{chapters}></div>\n\
         <script src=\"/assets/vendor/media-chrome.min.js\"></script>\n\
         <script src=\"/assets/vendor/hls-video-element.min.js\"></script>\n\
         <script src=\"/assets/player.js\"></script>\n<script src=\"/assets/embed.js\"></script>\n\
         </body>\n</html>\n",
        title = escape(&v.title),
        poster = escape(&v.poster),
        master = escape(&v.master),
        storyboard = optional("storyboard", &v.storyboard),
        chapters = optional("chapters", &v.chapters),
    )
}

fn problem_page(status: StatusCode) -> Response {
    let what = match status {
        StatusCode::FORBIDDEN => "This link has expired or is not valid.",
        StatusCode::NOT_FOUND => "There is no video to play here.",
        _ => "The video cannot be shown right now.",
    };
    page_response(
        status,
        format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>vodflow</title></head><body><p>{what}</p></body></html>\n"
        ),
        true,
    )
}

/// `/embed/{id}`: a public video's player.
#[handler]
pub(crate) async fn public_embed(state: Data<&AppState>, Path(id): Path<String>) -> Response {
    match shared(&state, &id, None).await {
        Ok(v) => page_response(StatusCode::OK, embed_page(&v), false),
        Err(status) => problem_page(status),
    }
}

/// `/embed/{id}/{sig}`: a signed video's player, while its signature holds.
#[handler]
pub(crate) async fn signed_embed(
    state: Data<&AppState>,
    Path((id, sig)): Path<(String, String)>,
) -> Response {
    if !playback::is_signature_segment(&sig) {
        return problem_page(StatusCode::NOT_FOUND);
    }
    match shared(&state, &id, Some(&sig)).await {
        Ok(v) => page_response(StatusCode::OK, embed_page(&v), true),
        Err(status) => problem_page(status),
    }
}

/// The tags that make a pasted `/watch/{id}` link unfurl: only for a public video that plays.
pub(crate) async fn watch_meta(state: &AppState, raw_id: &str) -> Option<String> {
    let v = shared(state, raw_id, None).await.ok()?;
    let public_url = &state.cfg.public_url;
    let watch = format!("{public_url}/watch/{}", v.id);
    let embed = format!("{public_url}/embed/{}", v.id);
    let oembed = format!(
        "{public_url}/oembed?format=json&url={}",
        url::form_urlencoded::byte_serialize(watch.as_bytes()).collect::<String>()
    );
    let (w, h) = fit(v.width, v.height, 1280, 720);
    let tags = [
        ("property", "og:type", "video.other".to_owned()),
        ("property", "og:site_name", "vodflow".to_owned()),
        ("property", "og:title", v.title.clone()),
        ("property", "og:description", v.description.clone()),
        ("property", "og:url", watch.clone()),
        ("property", "og:image", v.poster.clone()),
        ("property", "og:video:url", embed.clone()),
        ("property", "og:video:secure_url", embed.clone()),
        ("property", "og:video:type", "text/html".to_owned()),
        ("property", "og:video:width", w.to_string()),
        ("property", "og:video:height", h.to_string()),
        ("name", "twitter:card", "player".to_owned()),
        ("name", "twitter:title", v.title.clone()),
        ("name", "twitter:image", v.poster.clone()),
        ("name", "twitter:player", embed),
        ("name", "twitter:player:width", w.to_string()),
        ("name", "twitter:player:height", h.to_string()),
    ];
    let mut out = String::new();
    for (attr, name, content) in tags {
        out.push_str(&format!(
            "  <meta {attr}=\"{name}\" content=\"{}\">\n",
            escape(&content)
        ));
    }
    out.push_str(&format!(
        "  <link rel=\"alternate\" type=\"application/json+oembed\" href=\"{}\" title=\"{}\">\n",
        escape(&oembed),
        escape(&v.title)
    ));
    Some(out)
}

/// `width`×`height` scaled to fit `max_w`×`max_h`, never up.
fn fit(width: i32, height: i32, max_w: i32, max_h: i32) -> (i32, i32) {
    let scale = (max_w as f64 / width as f64)
        .min(max_h as f64 / height as f64)
        .min(1.0);
    (
        ((width as f64 * scale).round() as i32).max(1),
        ((height as f64 * scale).round() as i32).max(1),
    )
}

#[derive(Deserialize)]
pub(crate) struct OembedQuery {
    url: Option<String>,
    maxwidth: Option<String>,
    maxheight: Option<String>,
    format: Option<String>,
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        .header(header::CACHE_CONTROL, Caching::Card.uncapped())
        .body(body.to_string())
}

/// `/oembed?url=…[&maxwidth=&maxheight=&format=json]` (oembed.com): a public video's `video`
/// response with an `<iframe>` of its embed page. 404 for a URL that is not a video page of this
/// instance, 401 for a signed video, 501 for a format other than JSON, 400 for a bad size.
#[handler]
pub(crate) async fn oembed_answer(
    state: Data<&AppState>,
    Query(q): Query<OembedQuery>,
) -> Response {
    let error = |status: StatusCode, detail: &str| {
        json_response(
            status,
            serde_json::json!({ "status": status.as_u16(), "detail": detail }),
        )
    };
    if q.format.as_deref().is_some_and(|f| f != "json") {
        return error(StatusCode::NOT_IMPLEMENTED, "only format=json is served");
    }
    let size = |v: &Option<String>, default: i32| -> Option<i32> {
        match v {
            None => Some(default),
            Some(s) => s.parse::<i32>().ok().filter(|n| (1..=8192).contains(n)),
        }
    };
    let (Some(max_w), Some(max_h)) = (size(&q.maxwidth, 1280), size(&q.maxheight, 720)) else {
        return error(
            StatusCode::BAD_REQUEST,
            "maxwidth and maxheight are whole numbers of pixels from 1 to 8192",
        );
    };
    let public_url = &state.cfg.public_url;
    let raw_id = q.url.as_deref().and_then(|u| {
        ["/watch/", "/embed/"]
            .iter()
            .find_map(|p| u.strip_prefix(&format!("{public_url}{p}")))
            .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default())
    });
    let Some(raw_id) = raw_id else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("url must be a {public_url}/watch/{{id}} or /embed/{{id}} link"),
        );
    };
    let v = match shared(&state, raw_id, None).await {
        Ok(v) => v,
        Err(StatusCode::FORBIDDEN) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "this video is not public: share its signed embed URL instead",
            );
        }
        Err(status) => return error(status, "no public video plays at this url"),
    };
    let (w, h) = fit(v.width, v.height, max_w, max_h);
    let embed = format!("{public_url}/embed/{}", v.id);
    let html = format!(
        "<iframe src=\"{}\" width=\"{w}\" height=\"{h}\" frameborder=\"0\" allow=\"autoplay; fullscreen; picture-in-picture\" allowfullscreen title=\"{}\"></iframe>",
        escape(&embed),
        escape(&v.title)
    );
    json_response(
        StatusCode::OK,
        serde_json::json!({
            "version": "1.0",
            "type": "video",
            "provider_name": "vodflow",
            "provider_url": public_url,
            "title": v.title,
            "thumbnail_url": v.poster,
            "thumbnail_width": w,
            "thumbnail_height": h,
            "html": html,
            "width": w,
            "height": h,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_fit_the_box_without_growing() {
        assert_eq!(fit(1920, 1080, 1280, 720), (1280, 720));
        assert_eq!(fit(1920, 1080, 640, 10_000), (640, 360));
        assert_eq!(fit(320, 180, 1280, 720), (320, 180));
        assert_eq!(fit(1080, 1920, 1280, 720), (405, 720));
    }

    #[test]
    fn text_is_escaped_for_attributes_and_content() {
        assert_eq!(
            escape("a<b>\"c\"&'d'"),
            "a&lt;b&gt;&quot;c&quot;&amp;&#39;d&#39;"
        );
    }
}
