//! The presigned multipart mode behind a direct upload's one-time URL. Uppy's `@uppy/aws-s3`
//! (6.x) talks to its `companionEndpoint` with plain `fetch`, no headers of the page's choosing, so
//! a browser holding only the URL must be enough: `<upload_url>/s3/multipart…` has the routes of
//! [`super`] without a token. Creating spends the URL, as a tus creation does; from
//! then on the upload id and key the browser was given are its credential (as a tus upload's id
//! is), and only for this upload. The bytes go to the store, so the bucket needs a CORS rule for
//! the page's origin that exposes `ETag` (README, "Presigned multipart uploads").

use poem::http::{HeaderValue, StatusCode, header};
use poem::web::{Data, Path, Query};
use poem::{Body, Request, Response, handler};
use serde::Deserialize;
use vodflow_core::caching::Caching;
use vodflow_core::uploads;

use super::{self as s3, Access, CompleteMultipart, CreateMultipart};
use crate::problem::ApiError;
use crate::state::AppState;
use crate::uploads::tus::protocol::TusError;
use crate::uploads::tus::{answer, cors, spend_direct, waiting_direct};

/// `?key=`: missing, it is a 400 with a problem like every other mistake here, not the router's.
#[derive(Deserialize)]
pub(crate) struct KeyQuery {
    key: Option<String>,
    /// The part's size in bytes, when the client says it (signed into the part's URL).
    size: Option<i64>,
}

impl KeyQuery {
    fn key(&self) -> Result<&str, ApiError> {
        self.key
            .as_deref()
            .ok_or_else(|| ApiError::BadRequest("the `key` query parameter is required".into()))
    }
}

/// `POST <upload_url>/s3/multipart` (Uppy: `createMultipartUpload`).
#[handler]
pub(crate) async fn create(
    req: &Request,
    state: Data<&AppState>,
    Path(token): Path<String>,
    body: Body,
) -> Response {
    let result = async {
        // The URL is the credential: an unknown or spent one is refused before a body is read.
        let waiting = waiting_direct(&state, &token).await?;
        let said: CreateMultipart = json_body(body).await?;
        // The store's upload comes first: a store that refuses leaves the URL unspent for the
        // browser's retry.
        let created = s3::create_in_store(&state, waiting.video_id()).await?;
        let row = match spend_direct(&state, &waiting, None, s3::said_meta(&said)).await {
            Ok(row) => row,
            Err(e) => {
                s3::abort_in_store(&state, &created.key, &created.upload_id).await;
                return Err(e);
            }
        };
        uploads::set_s3_upload(&state.pool, row.id, &created.upload_id).await?;
        Ok(json(&created))
    }
    .await;
    answer(req, &state, result)
}

/// `GET <upload_url>/s3/multipart/{upload_id}/{part}?key=` (Uppy: `signPart`).
#[handler]
pub(crate) async fn sign(
    req: &Request,
    state: Data<&AppState>,
    Path((_token, upload_id, part)): Path<(String, String, String)>,
    Query(q): Query<KeyQuery>,
) -> Response {
    let result = async {
        let key = q.key()?;
        let part = part.parse().map_err(|_| {
            ApiError::BadRequest(format!("the part number must be a number, not {part:?}"))
        })?;
        let upload = s3::open_upload(&state, &Access::Direct, &upload_id, key).await?;
        Ok(json(&upload.sign(&state, part, q.size).await?))
    }
    .await;
    answer(req, &state, result)
}

/// `GET <upload_url>/s3/multipart/{upload_id}?key=` (Uppy: `listParts`).
#[handler]
pub(crate) async fn list(
    req: &Request,
    state: Data<&AppState>,
    Path((_token, upload_id)): Path<(String, String)>,
    Query(q): Query<KeyQuery>,
) -> Response {
    let result = async {
        let key = q.key()?;
        let upload = s3::open_upload(&state, &Access::Direct, &upload_id, key).await?;
        Ok(json(&upload.parts(&state).await?))
    }
    .await;
    answer(req, &state, result)
}

/// `POST <upload_url>/s3/multipart/{upload_id}/complete?key=` (Uppy: `completeMultipartUpload`).
#[handler]
pub(crate) async fn complete(
    req: &Request,
    state: Data<&AppState>,
    Path((_token, upload_id)): Path<(String, String)>,
    Query(q): Query<KeyQuery>,
    body: Body,
) -> Response {
    let result = async {
        let key = q.key()?;
        let upload = s3::open_upload(&state, &Access::Direct, &upload_id, key).await?;
        let claimed: CompleteMultipart = json_body(body).await?;
        let done = upload.complete(&state, &claimed.parts).await?;
        Ok(json(&done))
    }
    .await;
    answer(req, &state, result)
}

/// `DELETE <upload_url>/s3/multipart/{upload_id}?key=` (Uppy: `abortMultipartUpload`).
#[handler]
pub(crate) async fn abort(
    req: &Request,
    state: Data<&AppState>,
    Path((_token, upload_id)): Path<(String, String)>,
    Query(q): Query<KeyQuery>,
) -> Response {
    let result = async {
        let key = q.key()?;
        let upload = s3::open_upload(&state, &Access::Direct, &upload_id, key).await?;
        upload.abort(&state).await;
        Ok(Response::builder().status(StatusCode::NO_CONTENT).finish())
    }
    .await;
    answer(req, &state, result)
}

/// The CORS preflight of any of these routes (a JSON body or a DELETE is not a simple request).
#[handler]
pub(crate) async fn preflight(req: &Request, state: Data<&AppState>) -> Response {
    let resp = Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            "GET, POST, DELETE, OPTIONS",
        )
        .header(header::ACCESS_CONTROL_ALLOW_HEADERS, "Content-Type")
        .header(header::ACCESS_CONTROL_MAX_AGE, "86400")
        .finish();
    cors(req, &state, resp)
}

/// The largest JSON body these routes read: a complete of 10,000 parts is ~600 KiB.
const MAX_JSON: usize = 1024 * 1024;

async fn json_body<T: serde::de::DeserializeOwned>(body: Body) -> Result<T, TusError> {
    // The time limit every JSON body has (`limit_json_body`): these routes are outside the
    // OpenAPI nest that applies it.
    let bytes = tokio::time::timeout(crate::JSON_BODY_TIMEOUT, body.into_bytes_limit(MAX_JSON))
        .await
        .map_err(|_| {
            ApiError::Timeout(format!(
                "the body did not arrive within {} s",
                crate::JSON_BODY_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| ApiError::BadRequest(format!("the body could not be read: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("the body is not the JSON expected: {e}")).into())
}

fn json(value: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => Response::builder()
            .status(StatusCode::OK)
            .header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )
            .header(header::CACHE_CONTROL, Caching::Private.uncapped())
            .body(body),
        Err(e) => TusError::from(ApiError::Internal(e.to_string())).into_response(""),
    }
}
