//! Presigned S3 multipart uploads, for clients that would rather send the bytes to the store
//! themselves. The routes have the shape Uppy's `@uppy/aws-s3` plugin expects from a Companion
//! server (`endpoint: <api>/v1/uploads`): create → a presigned URL per part → list → complete
//! (or abort). The api never sees the bytes until completion, where it checks what the client
//! claims: every listed part exists in the store with that ETag, sizes are valid, the total is
//! within the limit, and the file's first bytes are a video. Only then does it become a video.

pub(crate) mod direct;

use chrono::Utc;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use uuid::Uuid;
use vodflow_core::uploads::{self, NewUpload, Part, UploadMeta, UploadRow, UploadState};
use vodflow_core::{VideoId, container, layout};

use crate::ApiTags;
use crate::auth::{BearerAuth, Caller, SCOPE_WRITE};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{PartStore, err as sdk_err};

/// How long a presigned part URL works.
const PART_URL_TTL: std::time::Duration = std::time::Duration::from_secs(3600);
/// S3's minimum size of every part but the last.
const MIN_PART: i64 = 5 * 1024 * 1024;

#[derive(Object, Debug, serde::Deserialize)]
pub(crate) struct CreateMultipart {
    pub filename: Option<String>,
    /// The file's MIME type, as the browser reports it (informational: the bytes decide).
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `title` (else `name`), `visibility`, `description` (Uppy's file meta); other fields, and
    /// values that are not strings, are ignored.
    pub metadata: Option<std::collections::BTreeMap<String, serde_json::Value>>,
}

#[derive(Object, Debug, serde::Serialize)]
pub(crate) struct MultipartCreated {
    pub key: String,
    #[oai(rename = "uploadId")]
    #[serde(rename = "uploadId")]
    pub upload_id: String,
}

#[derive(Object, Debug, serde::Serialize)]
pub(crate) struct SignedPart {
    pub url: String,
    /// Seconds the URL stays valid.
    pub expires: u64,
}

#[derive(Object, Debug, serde::Serialize)]
pub(crate) struct StoredPart {
    #[oai(rename = "PartNumber")]
    #[serde(rename = "PartNumber")]
    pub part_number: i32,
    #[oai(rename = "Size")]
    #[serde(rename = "Size")]
    pub size: i64,
    #[oai(rename = "ETag")]
    #[serde(rename = "ETag")]
    pub etag: String,
}

#[derive(Object, Debug, serde::Deserialize)]
pub(crate) struct ClaimedPart {
    #[oai(rename = "PartNumber")]
    #[serde(rename = "PartNumber")]
    pub part_number: i32,
    #[oai(rename = "ETag")]
    #[serde(rename = "ETag")]
    pub etag: String,
}

#[derive(Object, Debug, serde::Deserialize)]
pub(crate) struct CompleteMultipart {
    pub parts: Vec<ClaimedPart>,
}

#[derive(Object, Debug, serde::Serialize)]
pub(crate) struct MultipartCompleted {
    /// The video's URL in this API.
    pub location: String,
    pub video_id: String,
}

#[derive(ApiResponse)]
pub(crate) enum CreatedResponse {
    #[oai(status = 200)]
    Ok(Json<MultipartCreated>),
}

#[derive(ApiResponse)]
pub(crate) enum SignResponse {
    #[oai(status = 200)]
    Ok(Json<SignedPart>),
}

#[derive(ApiResponse)]
pub(crate) enum PartsResponse {
    #[oai(status = 200)]
    Ok(Json<Vec<StoredPart>>),
}

#[derive(ApiResponse)]
pub(crate) enum CompleteResponse {
    #[oai(status = 200)]
    Ok(Json<MultipartCompleted>),
}

#[derive(ApiResponse)]
pub(crate) enum AbortResponse {
    #[oai(status = 204)]
    Aborted,
}

#[derive(Default)]
pub struct S3MultipartApi;

/// Who asks about a presigned upload: its owner (by token), or whoever holds a direct upload's
/// URL (the upload id and key it was given are then the credential, as a tus upload's id is).
pub(crate) enum Access<'a> {
    Owner(&'a Caller),
    Direct,
}

/// An open presigned upload that whoever asked may use. [`open_upload`] is the only way to get
/// one and every operation (sign, list, complete, abort) is a method of it, so both route sets
/// (the owner's and a direct URL's) do the same thing after the one place that says who may.
pub(crate) struct OpenUpload {
    row: UploadRow,
    upload_id: String,
    key: String,
}

impl OpenUpload {
    /// Uppy's `signPart`.
    pub(crate) async fn sign(
        &self,
        state: &AppState,
        part: i32,
        size: Option<i64>,
    ) -> Result<SignedPart, ApiError> {
        sign_part(state, &self.row, &self.key, &self.upload_id, part, size).await
    }

    /// Uppy's `listParts`: what the store holds, to resume.
    pub(crate) async fn parts(&self, state: &AppState) -> Result<Vec<StoredPart>, ApiError> {
        stored_parts(state, &self.key, &self.upload_id).await
    }

    /// Uppy's `completeMultipartUpload`.
    pub(crate) async fn complete(
        &self,
        state: &AppState,
        claimed: &[ClaimedPart],
    ) -> Result<MultipartCompleted, ApiError> {
        complete_upload(state, &self.row, &self.key, &self.upload_id, claimed).await
    }

    /// Uppy's `abortMultipartUpload`.
    pub(crate) async fn abort(&self, state: &AppState) {
        abandon(
            state,
            &self.row,
            &self.key,
            &self.upload_id,
            "aborted by the client",
        )
        .await;
    }
}

/// The open presigned upload `upload_id` for `key`, if `access` may use it; anything else is
/// "not found".
pub(crate) async fn open_upload(
    state: &AppState,
    access: &Access<'_>,
    upload_id: &str,
    key: &str,
) -> Result<OpenUpload, ApiError> {
    let not_found = || ApiError::NotFound(format!("no multipart upload {upload_id} for {key}"));
    let row = uploads::by_s3_upload_id(&state.pool, upload_id)
        .await?
        .ok_or_else(not_found)?;
    let allowed = match access {
        Access::Owner(caller) => caller.owner_filter().is_none_or(|o| o == row.owner),
        Access::Direct => row.direct,
    };
    if row.kind != "s3" || layout::source_key(row.video_id()) != key || !allowed {
        return Err(not_found());
    }
    match row.state() {
        UploadState::Uploading if row.is_expired(Utc::now()) => {
            Err(ApiError::Conflict("this upload has expired".into()))
        }
        UploadState::Uploading => Ok(OpenUpload {
            row,
            upload_id: upload_id.to_owned(),
            key: key.to_owned(),
        }),
        other => Err(ApiError::Conflict(format!(
            "this upload is {}",
            other.as_str()
        ))),
    }
}

/// What Uppy says about the file: `title`, `name`, `visibility`, `description`.
pub(crate) fn said_meta(body: &CreateMultipart) -> UploadMeta {
    let m = body.metadata.as_ref();
    let text = |k: &str| {
        m.and_then(|m| m.get(k))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    // Uppy always sends the file's `name`: it is the file's name (the title only when nobody
    // gave one), not a title the browser chose, which a direct URL may not let it set.
    UploadMeta {
        title: text("title"),
        filename: body.filename.clone().or_else(|| text("name")),
        filetype: body.kind.clone(),
        visibility: text("visibility"),
        description: text("description"),
        ..UploadMeta::default()
    }
}

/// The store's multipart upload for `video`'s source (recorded on its upload row by the caller).
pub(crate) async fn create_in_store(
    state: &AppState,
    video: VideoId,
) -> Result<MultipartCreated, ApiError> {
    let key = layout::source_key(video);
    let upload_id = state
        .part_store(&key)
        .create(None)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(MultipartCreated { key, upload_id })
}

/// Removes a multipart upload and its parts from the store (logged, not returned: the caller is
/// already giving up).
pub(crate) async fn abort_in_store(state: &AppState, key: &str, upload_id: &str) {
    if let Err(e) = state.part_store(key).abort(upload_id).await {
        tracing::warn!(key, error = %e, "could not abort the multipart upload");
    }
}

/// The most parts an upload of at most `max_bytes` needs: every part but the last is at least
/// [`MIN_PART`], so a part number past this can only carry bytes the upload may not have.
fn parts_needed(max_bytes: i64) -> i32 {
    let n = (max_bytes.max(1) + MIN_PART - 1) / MIN_PART;
    n.clamp(1, 10_000) as i32
}

/// A presigned URL for part `n` of the open upload `row`. The store refuses what the API did
/// not allow: part numbers past what the upload's `max_bytes` needs are not signed, and when
/// the client says the part's `size` (with what the store holds, at most `max_bytes`) the URL
/// takes exactly that many bytes.
async fn sign_part(
    state: &AppState,
    row: &UploadRow,
    key: &str,
    upload_id: &str,
    n: i32,
    size: Option<i64>,
) -> Result<SignedPart, ApiError> {
    let n = part_number(n)?;
    let most = parts_needed(row.max_bytes);
    if n > most {
        return Err(ApiError::BadRequest(format!(
            "this upload takes at most {most} parts (its maximum is {} bytes)",
            row.max_bytes
        )));
    }
    if let Some(size) = size {
        if size < 1 {
            return Err(ApiError::BadRequest("size must be positive".into()));
        }
        if size > row.max_bytes {
            return Err(ApiError::PayloadTooLarge(format!(
                "a part of {size} bytes is over this upload's maximum of {} bytes",
                row.max_bytes
            )));
        }
    }
    // What the store already holds, this part's earlier bytes aside (signing it again replaces
    // them). A URL signed without a size can take more than the upload may hold: once the store
    // holds more, the upload is over, not signed on (and the reconciler aborts such uploads of
    // clients that stop asking).
    let held: i64 = stored_parts(state, key, upload_id)
        .await?
        .iter()
        .filter(|p| p.part_number != n)
        .map(|p| p.size)
        .sum();
    if held > row.max_bytes {
        let why = format!(
            "its parts held {held} bytes, more than its maximum of {} bytes",
            row.max_bytes
        );
        abandon(state, row, key, upload_id, &why).await;
        return Err(ApiError::PayloadTooLarge(format!(
            "this upload is over: {why}"
        )));
    }
    if let Some(size) = size
        && held + size > row.max_bytes
    {
        return Err(ApiError::PayloadTooLarge(format!(
            "the store holds {held} bytes of this upload already: {size} more would pass its maximum of {} bytes",
            row.max_bytes
        )));
    }
    let url = state
        .part_store(key)
        .presign_part(upload_id, n, size, PART_URL_TTL)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(SignedPart {
        url,
        expires: PART_URL_TTL.as_secs(),
    })
}

/// Completes an open upload (see [`finish`]) and says where its video is.
async fn complete_upload(
    state: &AppState,
    row: &UploadRow,
    key: &str,
    upload_id: &str,
    claimed: &[ClaimedPart],
) -> Result<MultipartCompleted, ApiError> {
    let video_id = finish(state, row, key, upload_id, claimed).await?;
    Ok(MultipartCompleted {
        location: format!("{}/v1/videos/{video_id}", state.cfg.public_url),
        video_id,
    })
}

fn part_number(n: i32) -> Result<i32, ApiError> {
    if (1..=10_000).contains(&n) {
        Ok(n)
    } else {
        Err(ApiError::BadRequest(format!(
            "part numbers go from 1 to 10000, not {n}"
        )))
    }
}

fn unquote(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

#[OpenApi(prefix_path = "/v1/uploads/s3/multipart", tag = "ApiTags::Videos")]
impl S3MultipartApi {
    /// Start a presigned multipart upload (Uppy `@uppy/aws-s3`: `createMultipartUpload`).
    #[oai(path = "/", method = "post", operation_id = "createS3Multipart")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<CreateMultipart>,
    ) -> ApiResult<CreatedResponse> {
        auth.0.require(SCOPE_WRITE)?;
        let meta = super::tus::validated(said_meta(&body.0))?;
        let row = super::open_new(
            &state,
            &NewUpload {
                id: Uuid::new_v4(),
                owner: &auth.0.sub,
                owner_email: auth.0.email.as_deref(),
                video_id: VideoId::new(),
                state: UploadState::Uploading,
                direct_token: None,
                length: None,
                max_bytes: state.cfg.max_upload_bytes as i64,
                metadata: &meta,
                expires_at: Utc::now() + state.cfg.resumable.expiry,
            },
        )
        .await?;
        let created = create_in_store(&state, row.video_id()).await?;
        uploads::set_s3_upload(&state.pool, row.id, &created.upload_id).await?;
        Ok(CreatedResponse::Ok(Json(created)))
    }

    /// A presigned URL for one part (Uppy: `signPart`); PUT the part's bytes to it.
    #[oai(
        path = "/:upload_id/:part",
        method = "get",
        operation_id = "signS3Part"
    )]
    async fn sign(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        upload_id: Path<String>,
        part: Path<i32>,
        key: Query<String>,
        /// The part's size in bytes: when given, the URL accepts exactly that many.
        size: Query<Option<i64>>,
    ) -> ApiResult<SignResponse> {
        auth.0.require(SCOPE_WRITE)?;
        let upload = open_upload(&state, &Access::Owner(&auth.0), &upload_id.0, &key.0).await?;
        Ok(SignResponse::Ok(Json(
            upload.sign(&state, part.0, size.0).await?,
        )))
    }

    /// The parts the store has (Uppy: `listParts`, to resume).
    #[oai(path = "/:upload_id", method = "get", operation_id = "listS3Parts")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        upload_id: Path<String>,
        key: Query<String>,
    ) -> ApiResult<PartsResponse> {
        auth.0.require(SCOPE_WRITE)?;
        let upload = open_upload(&state, &Access::Owner(&auth.0), &upload_id.0, &key.0).await?;
        let parts = upload.parts(&state).await?;
        Ok(PartsResponse::Ok(Json(parts)))
    }

    /// Finish (Uppy: `completeMultipartUpload`): the claimed parts are checked against the
    /// store, the first bytes sniffed, and the video recorded. A refused upload is aborted.
    #[oai(
        path = "/:upload_id/complete",
        method = "post",
        operation_id = "completeS3Multipart"
    )]
    async fn complete(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        upload_id: Path<String>,
        key: Query<String>,
        body: Json<CompleteMultipart>,
    ) -> ApiResult<CompleteResponse> {
        auth.0.require(SCOPE_WRITE)?;
        let upload = open_upload(&state, &Access::Owner(&auth.0), &upload_id.0, &key.0).await?;
        let done = upload.complete(&state, &body.0.parts).await?;
        Ok(CompleteResponse::Ok(Json(done)))
    }

    /// Give up (Uppy: `abortMultipartUpload`): the parts are removed from the store.
    #[oai(
        path = "/:upload_id",
        method = "delete",
        operation_id = "abortS3Multipart"
    )]
    async fn abort(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        upload_id: Path<String>,
        key: Query<String>,
    ) -> ApiResult<AbortResponse> {
        auth.0.require(SCOPE_WRITE)?;
        let upload = open_upload(&state, &Access::Owner(&auth.0), &upload_id.0, &key.0).await?;
        upload.abort(&state).await;
        Ok(AbortResponse::Aborted)
    }
}

async fn stored_parts(
    state: &AppState,
    key: &str,
    upload_id: &str,
) -> Result<Vec<StoredPart>, ApiError> {
    let parts = state
        .part_store(key)
        .list_parts(upload_id)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(parts
        .into_iter()
        .map(|p| StoredPart {
            part_number: p.number,
            size: p.size,
            etag: p.etag,
        })
        .collect())
}

async fn abandon(state: &AppState, row: &UploadRow, key: &str, upload_id: &str, why: &str) {
    abort_in_store(state, key, upload_id).await;
    if let Err(e) = uploads::close(&state.pool, row.id, UploadState::Terminated, Some(why)).await {
        tracing::warn!(upload = %row.id, error = %e, "could not close the upload");
    }
}

/// Checks the claimed parts, completes, sniffs and commits; returns the video id.
async fn finish(
    state: &AppState,
    row: &UploadRow,
    key: &str,
    upload_id: &str,
    claimed: &[ClaimedPart],
) -> Result<String, ApiError> {
    if claimed.is_empty() {
        return Err(ApiError::BadRequest("no parts: upload at least one".into()));
    }
    // The file is parts 1..n, all of them: a gap (or a part left out) would store a file that is
    // not the one uploaded.
    if claimed
        .iter()
        .enumerate()
        .any(|(i, c)| c.part_number != i as i32 + 1)
    {
        return Err(ApiError::BadRequest(
            "parts must be 1, 2, 3, … with none missing, listed once each in order".into(),
        ));
    }
    let stored = stored_parts(state, key, upload_id).await?;
    if let Some(extra) = stored
        .iter()
        .find(|s| s.part_number as usize > claimed.len())
    {
        return Err(ApiError::BadRequest(format!(
            "part {} is in the store but not in the list",
            extra.part_number
        )));
    }
    let mut total = 0i64;
    for (i, c) in claimed.iter().enumerate() {
        let s = stored
            .iter()
            .find(|s| s.part_number == c.part_number)
            .ok_or_else(|| {
                ApiError::BadRequest(format!("part {} is not in the store", c.part_number))
            })?;
        if unquote(&s.etag) != unquote(&c.etag) {
            return Err(ApiError::BadRequest(format!(
                "part {}'s ETag does not match what the store has",
                c.part_number
            )));
        }
        if i + 1 < claimed.len() && s.size < MIN_PART {
            return Err(ApiError::BadRequest(format!(
                "part {} is {} bytes; every part but the last must be at least 5 MiB",
                c.part_number, s.size
            )));
        }
        total += s.size;
    }
    if total > row.max_bytes {
        abandon(state, row, key, upload_id, "larger than the maximum").await;
        return Err(ApiError::PayloadTooLarge(format!(
            "the file is {total} bytes; the largest accepted video is {} bytes",
            row.max_bytes
        )));
    }
    let parts: Vec<Part> = claimed
        .iter()
        .map(|c| Part {
            number: c.part_number,
            etag: c.etag.clone(),
            size: 0,
        })
        .collect();
    state
        .part_store(key)
        .complete(upload_id, &parts)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    // Only the first bytes are read back: they decide whether it is a video. The digest is the
    // worker's, from its own copy; reading the whole object here would hold this request for as
    // long as the store takes to send it all.
    let refuse = |why: String| async move {
        let _ = state
            .s3
            .delete_object()
            .bucket(&state.cfg.s3.bucket)
            .key(key)
            .send()
            .await;
        let _ = uploads::close(&state.pool, row.id, UploadState::Terminated, Some(&why)).await;
        ApiError::UnsupportedMediaType(why)
    };
    // An empty object has no range to read (the store answers 416): nothing to sniff, refused.
    let head = if total == 0 {
        bytes::Bytes::new()
    } else {
        state
            .s3
            .get_object()
            .bucket(&state.cfg.s3.bucket)
            .key(key)
            .range(format!("bytes=0-{}", container::SNIFF_BYTES - 1))
            .send()
            .await
            .map_err(|e| ApiError::Unavailable(sdk_err(e).to_string()))?
            .body
            .collect()
            .await
            .map_err(|e| ApiError::Unavailable(format!("reading the stored file: {e}")))?
            .into_bytes()
    };
    let whole = (head.len() as i64) >= total;
    let content_type = match container::sniff(&head, whole) {
        Ok(kind) => kind.mime(),
        Err(e) => return Err(refuse(e.to_string()).await),
    };
    let size = total as u64;
    if !crate::uploads::commit_upload(state, row, size, content_type).await? {
        return Err(ApiError::Conflict(
            "this upload was completed already".into(),
        ));
    }
    Ok(row.video_id.to_string())
}
