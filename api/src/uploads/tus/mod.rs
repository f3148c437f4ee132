//! The tus 1.0 server at `/v1/uploads/tus/` (core protocol, creation, creation-with-upload,
//! creation-defer-length, termination, expiration, checksum with sha1 and sha256), and the
//! creation endpoint of direct uploads at `/v1/uploads/direct/{token}`.
//!
//! Creating needs a `videos:write` token (or a direct upload's one-time URL). The upload URL that
//! creation returns is then used with the same token; a direct upload's URL is a capability on its
//! own (a random id nobody else learns), so a browser needs no API token at all.

pub(crate) mod protocol;
pub(crate) mod write;

use chrono::Utc;
use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};
use uuid::Uuid;
use vodflow_core::VideoId;
use vodflow_core::caching::Caching;
use vodflow_core::uploads::{self, NewUpload, UploadMeta, UploadRow, UploadState};

use crate::auth::{Caller, SCOPE_WRITE};
use crate::problem::ApiError;
use crate::state::AppState;
use protocol::{TusError, VERSION};
use write::{Writer, Written};

#[handler]
pub(crate) async fn options(req: &Request, state: Data<&AppState>) -> Response {
    let resp = Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header("Tus-Resumable", VERSION)
        .header("Tus-Version", VERSION)
        .header("Tus-Extension", protocol::EXTENSIONS)
        .header("Tus-Max-Size", state.cfg.max_upload_bytes.to_string())
        .header("Tus-Checksum-Algorithm", protocol::CHECKSUMS)
        .header(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            "POST, HEAD, PATCH, DELETE, OPTIONS",
        )
        .header(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            protocol::ALLOW_HEADERS,
        )
        .header(header::ACCESS_CONTROL_MAX_AGE, "86400")
        .finish();
    cors(req, &state, resp)
}

/// `POST /v1/uploads/tus/`: a new upload owned by the token's subject.
#[handler]
pub(crate) async fn create(req: &Request, state: Data<&AppState>, body: Body) -> Response {
    let result = async {
        protocol::check_version(req.headers())?;
        let caller = bearer(&state, req).await?;
        caller.require(SCOPE_WRITE)?;
        let max = state.cfg.max_upload_bytes as i64;
        let (length, meta) = creation_headers(req, max)?;
        let meta = validated(meta)?;
        let row = super::open_new(
            &state,
            &NewUpload {
                id: Uuid::new_v4(),
                owner: &caller.sub,
                owner_email: caller.email.as_deref(),
                video_id: VideoId::new(),
                state: UploadState::Uploading,
                direct_token: None,
                length,
                max_bytes: max,
                metadata: &meta,
                expires_at: Utc::now() + state.cfg.resumable.expiry,
            },
        )
        .await?;
        created(&state, req, row, body).await
    }
    .await;
    respond(req, &state, result)
}

/// `POST /v1/uploads/direct/{token}`: the one creation a direct upload URL allows.
#[handler]
pub(crate) async fn create_direct(
    req: &Request,
    state: Data<&AppState>,
    Path(token): Path<String>,
    body: Body,
) -> Response {
    let result = async {
        protocol::check_version(req.headers())?;
        let waiting = waiting_direct(&state, &token).await?;
        let (length, said) = creation_headers(req, waiting.max_bytes)?;
        let row = spend_direct(&state, &waiting, length, said).await?;
        created(&state, req, row, body).await
    }
    .await;
    respond(req, &state, result)
}

/// The direct upload a one-time URL names, while it may still be used: 404 when unknown or
/// used, 410 when expired.
pub(crate) async fn waiting_direct(state: &AppState, token: &str) -> Result<UploadRow, TusError> {
    let row = uploads::by_direct_token(&state.pool, token)
        .await?
        .ok_or_else(url_spent)?;
    if row.expires_at <= Utc::now() {
        return Err(TusError::Gone("this upload URL has expired".into()));
    }
    Ok(row)
}

/// Spends `waiting`'s URL on the upload the browser begins, with its length (if known) and what
/// the browser says of the file; 404 if another request spent it first.
pub(crate) async fn spend_direct(
    state: &AppState,
    waiting: &UploadRow,
    length: Option<i64>,
    said: UploadMeta,
) -> Result<UploadRow, TusError> {
    let meta = validated(direct_meta(&waiting.metadata.0, said))?;
    let expires = Utc::now() + state.cfg.resumable.expiry;
    Ok(
        uploads::begin_direct(&state.pool, waiting.id, length, &meta, expires)
            .await?
            .ok_or_else(url_spent)?,
    )
}

/// A direct upload URL that is unknown or used.
fn url_spent() -> ApiError {
    ApiError::NotFound("no such upload URL, or it was used already".into())
}

/// The fields a direct URL's creator may let the browser set.
pub(crate) const BROWSER_SETTABLE: [&str; 3] = ["title", "description", "visibility"];

/// A direct upload's metadata: the URL grants one upload with its creator's settings. The
/// browser names the file; its title, description or visibility count only where the creator
/// listed the field in `browser_may_set` (the creator's value is then a default) and are
/// ignored otherwise, so a token-less page cannot, say, make a signed video public.
fn direct_meta(given: &UploadMeta, said: UploadMeta) -> UploadMeta {
    let may = |field: &str| given.browser_may_set.iter().any(|f| f == field);
    let pick = |field: &str, creator: &Option<String>, browser: Option<String>| match browser {
        Some(b) if may(field) => Some(b),
        _ => creator.clone(),
    };
    UploadMeta {
        title: pick("title", &given.title, said.title),
        filename: said.filename.or_else(|| given.filename.clone()),
        filetype: said.filetype.or_else(|| given.filetype.clone()),
        visibility: pick("visibility", &given.visibility, said.visibility),
        description: pick("description", &given.description, said.description),
        // Never the browser's: what is stored and served is the creator's choice.
        downloads: given.downloads.clone(),
        normalize_audio: given.normalize_audio.clone(),
        browser_may_set: Vec::new(),
    }
}

/// The 201 of a creation, with the body written first when it carries one (creation-with-upload).
async fn created(
    state: &AppState,
    req: &Request,
    row: UploadRow,
    body: Body,
) -> Result<Response, TusError> {
    let mut resp = Response::builder()
        .status(StatusCode::CREATED)
        .header(header::LOCATION, format!("/v1/uploads/tus/{}", row.id))
        .header("Upload-Expires", protocol::http_date(row.expires_at))
        .finish();
    if protocol::header(req.headers(), "content-type") == Some(protocol::OFFSET_CONTENT_TYPE) {
        let written = write_body(state, req, row.id, 0, body).await?;
        set_written(&mut resp, &written);
    }
    Ok(resp)
}

/// `HEAD /v1/uploads/tus/{id}`: the upload's truth (where to resume).
#[handler]
pub(crate) async fn head(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        protocol::check_version(req.headers())?;
        let mut row = open_row(&state, req, &id).await?;
        if row.state() == UploadState::Uploading && row.length == Some(row.upload_offset) {
            // Every byte is here but the finish was interrupted: finish it now.
            let _ = finish_again(&state, &row).await;
            row = uploads::get(&state.pool, row.id).await?.unwrap_or(row);
        }
        let mut resp = Response::builder()
            .status(StatusCode::OK)
            .header(header::CACHE_CONTROL, Caching::Private.uncapped())
            .header("Upload-Offset", row.upload_offset.to_string())
            .finish();
        let h = resp.headers_mut();
        match row.length {
            Some(len) => h.insert("Upload-Length", num(len)),
            None => h.insert("Upload-Defer-Length", HeaderValue::from_static("1")),
        };
        if let Ok(v) = HeaderValue::from_str(&protocol::encode_metadata(&row.metadata.0))
            && !v.is_empty()
        {
            h.insert("Upload-Metadata", v);
        }
        if row.state() == UploadState::Complete {
            h.insert(
                "Video-Id",
                HeaderValue::from_str(&row.video_id.to_string()).expect("uuid"),
            );
        } else if let Ok(v) = HeaderValue::from_str(&protocol::http_date(row.expires_at)) {
            h.insert("Upload-Expires", v);
        }
        Ok(resp)
    }
    .await;
    respond(req, &state, result)
}

/// `PATCH /v1/uploads/tus/{id}`: bytes at `Upload-Offset`.
#[handler]
pub(crate) async fn patch(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let result = patch_inner(&state, req, &id, body).await;
    respond(req, &state, result)
}

async fn patch_inner(
    state: &AppState,
    req: &Request,
    id: &str,
    body: Body,
) -> Result<Response, TusError> {
    protocol::check_version(req.headers())?;
    if protocol::header(req.headers(), "content-type") != Some(protocol::OFFSET_CONTENT_TYPE) {
        return Err(ApiError::UnsupportedMediaType(format!(
            "a PATCH body must be sent as {}",
            protocol::OFFSET_CONTENT_TYPE
        ))
        .into());
    }
    let offset = protocol::number(req.headers(), "upload-offset")?
        .ok_or_else(|| ApiError::BadRequest("Upload-Offset is required".into()))?;
    let row = open_row(state, req, id).await?;
    let written = write_body(state, req, row.id, offset, body).await?;
    let mut resp = Response::builder().status(StatusCode::NO_CONTENT).finish();
    set_written(&mut resp, &written);
    if let Ok(v) = HeaderValue::from_str(&protocol::http_date(row.expires_at)) {
        resp.headers_mut().insert("Upload-Expires", v);
    }
    Ok(resp)
}

/// `DELETE /v1/uploads/tus/{id}` (termination): the parts are aborted in the store.
#[handler]
pub(crate) async fn delete(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> Response {
    let result = delete_inner(&state, req, &id).await;
    respond(req, &state, result)
}

async fn delete_inner(state: &AppState, req: &Request, id: &str) -> Result<Response, TusError> {
    protocol::check_version(req.headers())?;
    let row = open_row(state, req, id).await?;
    if row.state() == UploadState::Complete {
        return Err(ApiError::Conflict(format!(
            "this upload is complete: it is video {}; delete the video instead",
            row.video_id
        ))
        .into());
    }
    let lease = Uuid::new_v4();
    if !write::acquire(state, row.id, lease).await? {
        return Err(TusError::Locked(
            "the upload is being written; try again".into(),
        ));
    }
    write::abandon(
        &state.part_store(&vodflow_core::layout::source_key(row.video_id())),
        row.s3_upload_id.as_deref(),
    )
    .await;
    uploads::close(
        &state.pool,
        row.id,
        UploadState::Terminated,
        Some("terminated by the client"),
    )
    .await?;
    state
        .metrics
        .uploads
        .with_label_values(&["terminated"])
        .inc();
    Ok(Response::builder().status(StatusCode::NO_CONTENT).finish())
}

/// `POST` with `X-HTTP-Method-Override` (for clients behind proxies that drop PATCH/DELETE).
#[handler]
pub(crate) async fn overridden(
    req: &Request,
    state: Data<&AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let method = protocol::header(req.headers(), "x-http-method-override")
        .and_then(|m| m.parse::<Method>().ok());
    let result = match method {
        Some(Method::PATCH) => patch_inner(&state, req, &id, body).await,
        Some(Method::DELETE) => delete_inner(&state, req, &id).await,
        _ => Err(ApiError::BadRequest(
            "POST to an upload URL needs `X-HTTP-Method-Override: PATCH` or `DELETE`".into(),
        )
        .into()),
    };
    respond(req, &state, result)
}

/// Appends `body` under the upload's lease; the lease is released however the write ends.
async fn write_body(
    state: &AppState,
    req: &Request,
    id: Uuid,
    offset: i64,
    body: Body,
) -> Result<Written, TusError> {
    let lease = Uuid::new_v4();
    if !write::acquire(state, id, lease).await? {
        return Err(TusError::Locked(
            "another request is writing to this upload; retry once it has ended".into(),
        ));
    }
    let held = write::HeldLease::renewing(state, id, lease);
    let result = async {
        // Read again under the lease: this is the state no other request can change now.
        let row = uploads::patiently(|| uploads::get(&state.pool, id))
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no upload {id}")))?;
        match row.state() {
            UploadState::Uploading if row.is_expired(Utc::now()) => {
                return Err(TusError::Gone("this upload has expired".into()));
            }
            UploadState::Uploading => {}
            UploadState::Complete if offset == row.upload_offset => {
                return Ok(Written::Complete {
                    offset,
                    video_id: row.video_id.to_string(),
                });
            }
            UploadState::Expired => return Err(TusError::Gone("this upload has expired".into())),
            _ => {
                return Err(ApiError::Conflict(format!(
                    "the upload is {}: it takes no more bytes",
                    row.state
                ))
                .into());
            }
        }
        if offset != row.upload_offset {
            return Err(ApiError::Conflict(format!(
                "Upload-Offset is {offset} but the upload is at {}; HEAD it and resume from there",
                row.upload_offset
            ))
            .into());
        }
        // A PATCH is a byte stream like a POST upload: the same per-owner and total limits.
        let _slot = state.limits.uploads.acquire(&row.owner, 5)?;
        let _stream = state.upload_streams.acquire(&row.owner, 5).await?;
        let mut writer = Writer::resume(state, &row, lease).await?;
        if let Some(len) = protocol::number(req.headers(), "upload-length")? {
            match row.length {
                None if len < row.upload_offset => {
                    return Err(ApiError::BadRequest(format!(
                        "Upload-Length {len} is less than the {} bytes already received",
                        row.upload_offset
                    ))
                    .into());
                }
                None if len > row.max_bytes => {
                    return Err(ApiError::PayloadTooLarge(format!(
                        "Upload-Length {len} is over the maximum of {} bytes",
                        row.max_bytes
                    ))
                    .into());
                }
                None => writer.set_length(len),
                Some(known) if known != len => {
                    return Err(ApiError::BadRequest(format!(
                        "Upload-Length is {known} already; it cannot change"
                    ))
                    .into());
                }
                Some(_) => {}
            }
        }
        let checksum = protocol::checksum(req.headers())?;
        writer
            .append(body.into_bytes_stream(), checksum, &row)
            .await
    }
    .await;
    held.release().await;
    result
}

/// Completes an upload whose bytes are all in but whose finish was interrupted.
async fn finish_again(state: &AppState, row: &UploadRow) -> Result<Written, TusError> {
    let lease = Uuid::new_v4();
    // A HEAD does not wait for a writer: it only finishes what nobody is working on.
    if !uploads::lock(&state.pool, row.id, lease, write::LEASE).await? {
        return Err(TusError::Locked("the upload is being finished".into()));
    }
    let result = async {
        let row = uploads::get(&state.pool, row.id)
            .await?
            .ok_or_else(|| ApiError::NotFound("gone".into()))?;
        Writer::resume(state, &row, lease).await?.finish(&row).await
    }
    .await;
    let _ = uploads::unlock(&state.pool, row.id, lease).await;
    result
}

fn set_written(resp: &mut Response, written: &Written) {
    let h = resp.headers_mut();
    match written {
        Written::Offset(o) => {
            h.insert("Upload-Offset", num(*o));
        }
        Written::Complete { offset, video_id } => {
            h.insert("Upload-Offset", num(*offset));
            if let Ok(v) = HeaderValue::from_str(video_id) {
                h.insert("Video-Id", v);
            }
        }
    }
}

fn num(n: i64) -> HeaderValue {
    HeaderValue::from_str(&n.to_string()).expect("digits")
}

/// The upload `raw` names, if this request may use it: a direct upload's URL is enough on its
/// own; any other needs its owner's token. Someone else's upload is "not found".
async fn open_row(state: &AppState, req: &Request, raw: &str) -> Result<UploadRow, TusError> {
    let not_found = || TusError::Api(ApiError::NotFound(format!("no upload {raw}")));
    let id: Uuid = raw.parse().map_err(|_| not_found())?;
    let row = uploads::get(&state.pool, id).await?.ok_or_else(not_found)?;
    if row.kind != "tus" {
        return Err(not_found());
    }
    if !row.direct {
        let caller = bearer(state, req).await?;
        caller.require(SCOPE_WRITE)?;
        if caller.owner_filter().is_some_and(|o| o != row.owner) {
            return Err(not_found());
        }
    }
    match row.state() {
        UploadState::Waiting | UploadState::Terminated => Err(not_found()),
        _ if row.is_expired(Utc::now()) => Err(TusError::Gone("this upload has expired".into())),
        _ => Ok(row),
    }
}

async fn bearer(state: &AppState, req: &Request) -> Result<Caller, ApiError> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "missing bearer token: send `Authorization: Bearer <JWT>`, or use a direct upload URL".into(),
            )
        })?;
    Ok(state.auth.verify(token.trim()).await?)
}

/// `Upload-Length` (or `Upload-Defer-Length: 1`) and `Upload-Metadata` of a creation request.
fn creation_headers(req: &Request, max: i64) -> Result<(Option<i64>, UploadMeta), TusError> {
    let h = req.headers();
    let length = protocol::number(h, "upload-length")?;
    let deferred = protocol::header(h, "upload-defer-length");
    let length = match (length, deferred) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "send Upload-Length or Upload-Defer-Length, not both".into(),
            )
            .into());
        }
        (Some(len), None) => Some(len),
        (None, Some("1")) => None,
        (None, Some(_)) => {
            return Err(ApiError::BadRequest("Upload-Defer-Length must be 1".into()).into());
        }
        (None, None) => {
            return Err(ApiError::BadRequest(
                "Upload-Length (or Upload-Defer-Length: 1) is required".into(),
            )
            .into());
        }
    };
    if let Some(len) = length
        && len > max
    {
        return Err(ApiError::PayloadTooLarge(format!(
            "Upload-Length {len} is over the maximum of {max} bytes"
        ))
        .into());
    }
    Ok((length, protocol::metadata(h)?))
}

/// Refuses at creation what the video row would refuse at the end.
pub(crate) fn validated(mut meta: UploadMeta) -> Result<UploadMeta, ApiError> {
    if let Some(t) = &meta.title {
        meta.title = Some(crate::uploads::validate::validate_title(t)?);
    }
    if let Some(v) = &meta.visibility {
        v.parse::<vodflow_core::playback::Visibility>()
            .map_err(ApiError::BadRequest)?;
    }
    if let Some(d) = &meta.description {
        crate::uploads::validate::validate_description(d)?;
    }
    if let Some(d) = &meta.downloads {
        d.parse::<vodflow_core::downloads::Choice>()
            .map_err(ApiError::BadRequest)?;
    }
    if let Some(n) = &meta.normalize_audio {
        crate::uploads::validate::parse_normalize_audio(n)?;
    }
    // Names and types are one line of text; no text Postgres stores may hold NUL.
    for (field, value) in [("filename", &meta.filename), ("type", &meta.filetype)] {
        if let Some(v) = value {
            if v.chars().count() > 255 {
                return Err(ApiError::BadRequest(format!(
                    "{field} is longer than 255 characters"
                )));
            }
            if v.chars().any(char::is_control) {
                return Err(ApiError::BadRequest(format!(
                    "{field} contains control characters"
                )));
            }
        }
    }
    Ok(meta)
}

fn respond(req: &Request, state: &AppState, result: Result<Response, TusError>) -> Response {
    let mut resp = answer(req, state, result);
    resp.headers_mut()
        .insert("Tus-Resumable", HeaderValue::from_static(VERSION));
    resp
}

/// The answer of an upload route a browser may call: the response, or the error as a problem,
/// with CORS.
pub(crate) fn answer(
    req: &Request,
    state: &AppState,
    result: Result<Response, TusError>,
) -> Response {
    let resp = match result {
        Ok(r) => r,
        Err(e) => e.into_response(req.uri().path()),
    };
    cors(req, state, resp)
}

/// CORS for the configured origins (any when none are configured: no cookies are involved).
pub(crate) fn cors(req: &Request, state: &AppState, mut resp: Response) -> Response {
    let allowed = &state.cfg.resumable.cors_origins;
    let origin = req.headers().get(header::ORIGIN).cloned();
    let h = resp.headers_mut();
    if allowed.is_empty() {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    } else if let Some(o) = origin
        && o.to_str().is_ok_and(|o| allowed.iter().any(|a| a == o))
    {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(protocol::EXPOSE_HEADERS),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_direct_urls_browser_sets_only_what_its_creator_allowed() {
        let said = UploadMeta {
            title: Some("page".into()),
            visibility: Some("public".into()),
            description: Some("page text".into()),
            filename: Some("clip.mp4".into()),
            downloads: Some("all".into()),
            ..UploadMeta::default()
        };
        let creator = UploadMeta {
            description: Some("server text".into()),
            ..UploadMeta::default()
        };
        let m = direct_meta(&creator, said.clone());
        assert_eq!(
            (m.title, m.visibility, m.description, m.filename.as_deref()),
            (None, None, Some("server text".into()), Some("clip.mp4"))
        );
        assert_eq!(
            m.downloads, None,
            "stored files are the creator's choice, never the page's"
        );
        let allowing = UploadMeta {
            browser_may_set: vec!["visibility".into()],
            ..creator
        };
        let m = direct_meta(&allowing, said);
        assert_eq!(m.visibility.as_deref(), Some("public"));
        assert_eq!(m.title, None);
        assert!(m.browser_may_set.is_empty(), "not carried into the upload");
    }

    #[test]
    fn metadata_postgres_cannot_store_is_refused_not_a_500() {
        let meta = |filename: &str, filetype: &str, description: &str| UploadMeta {
            title: Some("t".into()),
            filename: Some(filename.into()),
            filetype: Some(filetype.into()),
            visibility: None,
            description: Some(description.into()),
            downloads: None,
            normalize_audio: None,
            browser_may_set: Vec::new(),
        };
        assert!(validated(meta("clip.mp4", "video/mp4", "two\nlines")).is_ok());
        for bad in [
            meta("clip\0.mp4", "video/mp4", ""),
            meta("clip.mp4", "\u{4}o\0[", ""),
            meta("clip.mp4", "video/mp4", "nul \0 inside"),
            meta("clip.mp4", &"x".repeat(256), ""),
        ] {
            assert!(
                matches!(validated(bad), Err(ApiError::BadRequest(_))),
                "refused with 400"
            );
        }
    }
}
