//! One store object as an HTTP response: streamed body, byte ranges, ETag revalidation, caching.

use aws_sdk_s3::error::SdkError;
use poem::http::{StatusCode, header};
use poem::{Body, Request, Response};
use vodflow_core::caching::Caching;

use super::path::PlayPath;
use crate::problem::ApiError;
use crate::state::AppState;

/// The table's value for a served object (a growing playlist is capped at 1 s by the caller).
pub(super) fn cache_control(immutable: bool, cap: Option<u64>) -> String {
    if immutable {
        Caching::Immutable.header(cap)
    } else {
        Caching::Mutable.header(cap)
    }
}

/// The request's conditional and range headers, passed through to the store, which answers them.
pub(super) struct Conditional {
    range: Option<String>,
    if_none_match: Option<String>,
}

impl Conditional {
    /// Whether `If-None-Match` names `etag` (or is `*`).
    pub(super) fn matches(&self, etag: &str) -> bool {
        self.if_none_match.as_deref().is_some_and(|h| {
            h.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == "*" || t == etag)
        })
    }

    pub(super) fn has_range(&self) -> bool {
        self.range.is_some()
    }

    pub(super) fn from_request(req: &Request) -> Self {
        let get = |h: header::HeaderName| {
            req.headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Self {
            range: get(header::RANGE),
            if_none_match: get(header::IF_NONE_MATCH),
        }
    }
}

/// `Ok(None)` when the object does not exist.
pub(super) async fn fetch(
    state: &AppState,
    target: &PlayPath<'_>,
    cond: &Conditional,
    max_age_cap: Option<u64>,
    head_only: bool,
) -> Result<Option<Response>, ApiError> {
    let cache_control = cache_control(target.immutable, max_age_cap);
    let out = state
        .s3
        .get_object()
        .bucket(&state.cfg.s3.bucket)
        .key(&target.key)
        .set_range(cond.range.clone())
        .set_if_none_match(cond.if_none_match.clone())
        .send()
        .await;
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            let status = match &e {
                SdkError::ServiceError(se) => Some(se.raw().status().as_u16()),
                _ => None,
            };
            return match status {
                Some(404) => Ok(None),
                Some(304) => {
                    let mut b = Response::builder()
                        .status(StatusCode::NOT_MODIFIED)
                        .header(header::CACHE_CONTROL, cache_control.as_str());
                    if let Some(tag) = &cond.if_none_match {
                        b = b.header(header::ETAG, tag.as_str());
                    }
                    Ok(Some(b.finish()))
                }
                Some(416) => Ok(Some(
                    Response::builder()
                        .status(StatusCode::RANGE_NOT_SATISFIABLE)
                        .header(header::ACCEPT_RANGES, "bytes")
                        .finish(),
                )),
                _ => Err(ApiError::Unavailable(format!(
                    "the object store did not answer: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                ))),
            };
        }
    };
    let mut b = Response::builder()
        .status(if out.content_range().is_some() {
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        })
        .content_type(target.content_type)
        .header(header::CACHE_CONTROL, cache_control.as_str())
        .header(header::ACCEPT_RANGES, "bytes");
    if let Some(len) = out.content_length() {
        b = b.header(header::CONTENT_LENGTH, len);
    }
    if let Some(range) = out.content_range() {
        b = b.header(header::CONTENT_RANGE, range);
    }
    if let Some(tag) = out.e_tag() {
        b = b.header(header::ETAG, tag);
    }
    if let Some(modified) = out
        .last_modified()
        .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::HttpDate).ok())
    {
        b = b.header(header::LAST_MODIFIED, modified);
    }
    if head_only {
        return Ok(Some(b.finish()));
    }
    Ok(Some(
        b.body(Body::from_async_read(out.body.into_async_read())),
    ))
}

/// A small object read whole from the store, with the validators an answer needs.
pub(super) enum Whole {
    Missing,
    /// Larger than the caller reads whole: not read.
    TooLarge,
    Read {
        bytes: bytes::Bytes,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

/// The object at `key` whole, when it is at most `max` bytes.
pub(super) async fn read_whole(state: &AppState, key: &str, max: usize) -> Result<Whole, ApiError> {
    let got = state
        .s3
        .get_object()
        .bucket(&state.cfg.s3.bucket)
        .key(key)
        .send()
        .await;
    let out = match got {
        Ok(o) => o,
        Err(SdkError::ServiceError(se)) if se.raw().status().as_u16() == 404 => {
            return Ok(Whole::Missing);
        }
        Err(e) => return Err(store_error(&e)),
    };
    if out.content_length().unwrap_or(i64::MAX) as u64 > max as u64 {
        return Ok(Whole::TooLarge);
    }
    let etag = out.e_tag().map(str::to_owned);
    let last_modified = out
        .last_modified()
        .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::HttpDate).ok());
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| ApiError::Unavailable(format!("reading {key} from the store: {e}")))?
        .into_bytes();
    Ok(Whole::Read {
        bytes,
        etag,
        last_modified,
    })
}

/// Largest playlist read whole (the master, a rendition's).
const MAX_PLAYLIST_BYTES: usize = 4 << 20;

/// A playlist from the store as text (`None` when absent); one larger than any vodflow writes is
/// an error, never read whole.
pub(super) async fn playlist_text(state: &AppState, key: &str) -> Result<Option<String>, ApiError> {
    match read_whole(state, key, MAX_PLAYLIST_BYTES).await? {
        Whole::Missing => Ok(None),
        Whole::TooLarge => Err(ApiError::Internal(format!(
            "{key} is too large to be a playlist"
        ))),
        Whole::Read { bytes, .. } => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
    }
}

pub(super) fn store_error<E: std::error::Error + 'static>(
    e: &aws_sdk_s3::error::SdkError<E>,
) -> ApiError {
    ApiError::Unavailable(format!(
        "the object store did not answer: {}",
        aws_sdk_s3::error::DisplayErrorContext(e)
    ))
}
