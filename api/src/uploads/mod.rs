//! Every way a video's source arrives, each ending in one commit (`commit.rs`: the video and its
//! `video_uploaded` event in one transaction): `post.rs` (`POST /v1/videos`, a creation with its
//! upload in one request), `tus/` (resumable uploads), `presigned/` (presigned multipart for
//! Uppy, with an owner's token or behind a direct upload's URL) and, here, direct uploads: the
//! Mux/Cloudflare shape where a server with a token asks for a one-time URL that a browser then
//! uploads to without any token. `validate.rs` checks what every path is told about the video.
//! The bytes go through the ingest engine (`vodflow_core::ingest`). `GET /v1/uploads/{id}`
//! follows any kind to its video.

pub(crate) mod commit;
pub(crate) mod import;
pub(crate) mod post;
pub(crate) mod presigned;
pub(crate) mod tus;
pub(crate) mod validate;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use uuid::Uuid;
use vodflow_core::VideoId;
use vodflow_core::uploads::{self, NewUpload, UploadMeta, UploadRow, UploadState};

use crate::ApiTags;
use crate::auth::{BearerAuth, SCOPE_READ, SCOPE_WRITE};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Object, Debug, Default)]
pub(crate) struct NewDirectUpload {
    /// The video's title (1 to 200 characters); the uploaded file's name when omitted.
    pub title: Option<String>,
    pub description: Option<String>,
    /// `signed` (default) or `public`.
    pub visibility: Option<String>,
    /// Largest file this URL accepts, bytes (at most the server's maximum, which is the default).
    pub max_bytes: Option<u64>,
    /// What the token-less browser may set of `title`, `description` and `visibility` (the
    /// values above are then defaults). None by default: the upload gets exactly the settings
    /// given here, and what the browser says of them is ignored.
    pub browser_may_set: Option<Vec<String>>,
    /// Downloads the video gets: `none`, `audio`, `highest` or `all` (default from
    /// `VODFLOW_DEFAULT_DOWNLOADS`). The creator's alone: a browser cannot set it.
    pub downloads: Option<String>,
    /// Even out the audio's loudness (default from `VODFLOW_NORMALIZE_AUDIO`). The creator's
    /// alone: a browser cannot set it.
    pub normalize_audio: Option<bool>,
}

#[derive(Object, Debug)]
pub(crate) struct Upload {
    pub id: String,
    /// `waiting` (direct URL not used yet), `uploading`, `complete`, `expired` or `terminated`.
    pub status: String,
    /// Bytes received so far.
    pub offset: i64,
    /// The file's size, once the client has said it.
    #[oai(skip_serializing_if_is_none)]
    pub length: Option<i64>,
    pub max_bytes: i64,
    /// The video this upload became (once `complete`).
    #[oai(skip_serializing_if_is_none)]
    pub video_id: Option<String>,
    /// Where a tus client creates the upload, with no token (direct uploads; in the answer to
    /// the creation only: the URL is the credential).
    #[oai(skip_serializing_if_is_none)]
    pub upload_url: Option<String>,
    /// The tus upload URL (once the upload has begun).
    #[oai(skip_serializing_if_is_none)]
    pub tus_url: Option<String>,
    pub expires_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub failure: Option<String>,
}

#[derive(ApiResponse)]
pub(crate) enum CreatedResponse {
    /// The one-time upload URL, valid until `expires_at`.
    #[oai(status = 201)]
    Created(Json<Upload>),
}

#[derive(ApiResponse)]
pub(crate) enum GetResponse {
    #[oai(status = 200)]
    Ok(Json<Upload>),
}

/// Open uploads one owner may have at once, however they were created (tus, a direct URL not
/// spent yet, presigned multipart): each holds a multipart upload in the store, or may.
pub(crate) const OPEN_UPLOADS_PER_OWNER: i64 = 100;

/// A new upload row, counted against its owner's open uploads (429 at the cap).
pub(crate) async fn open_new(state: &AppState, new: &NewUpload<'_>) -> Result<UploadRow, ApiError> {
    uploads::insert_within(&state.pool, new, OPEN_UPLOADS_PER_OWNER)
        .await?
        .ok_or_else(|| ApiError::TooManyRequests {
            detail: format!(
                "{OPEN_UPLOADS_PER_OWNER} uploads are open already; finish or terminate one"
            ),
            retry_after: 60,
        })
}

/// A finished upload becomes its video: the row and event committed with the upload marked
/// complete, once (`false` when another request completed it first). The title is what the
/// uploader gave (checked at creation), else the file's name, else "Untitled".
pub(crate) async fn commit_upload(
    state: &AppState,
    row: &UploadRow,
    size: u64,
    content_type: &str,
) -> Result<bool, ApiError> {
    let meta = &row.metadata.0;
    let title = meta
        .title
        .clone()
        .or_else(|| meta.filename.clone())
        .unwrap_or_else(|| "Untitled".into());
    let accepted = commit::Accepted {
        id: row.video_id(),
        owner: &row.owner,
        owner_email: row.owner_email.as_deref(),
        title: validate::validate_title(&title).unwrap_or_else(|_| "Untitled".into()),
        description: meta.description.clone().unwrap_or_default(),
        callback_url: None,
        visibility: meta
            .visibility
            .as_deref()
            .unwrap_or("signed")
            .parse()
            .unwrap_or(vodflow_core::playback::Visibility::Signed),
        size,
        content_type,
        completing: Some(row.id),
        source_url: None,
        // Validated when the upload was created.
        downloads: meta.downloads.as_deref().and_then(|d| d.parse().ok()),
        normalize_audio: meta
            .normalize_audio
            .as_deref()
            .and_then(|n| crate::uploads::validate::parse_normalize_audio(n).ok()),
    };
    let committed = commit::commit(state, accepted).await?.is_some();
    if committed {
        state.metrics.uploads.with_label_values(&["accepted"]).inc();
        state.metrics.upload_bytes.inc_by(size);
    }
    Ok(committed)
}

fn view(state: &AppState, row: &UploadRow, upload_url: Option<String>) -> Upload {
    let status = if row.is_expired(Utc::now()) {
        UploadState::Expired
    } else {
        row.state()
    };
    Upload {
        id: row.id.to_string(),
        status: status.as_str().to_owned(),
        offset: row.upload_offset,
        length: row.length,
        max_bytes: row.max_bytes,
        video_id: (status == UploadState::Complete).then(|| row.video_id.to_string()),
        upload_url,
        tus_url: matches!(status, UploadState::Uploading | UploadState::Complete)
            .then(|| format!("{}/v1/uploads/tus/{}", state.cfg.public_url, row.id)),
        expires_at: row.expires_at,
        failure: row.failure.clone(),
    }
}

#[derive(Default)]
pub struct UploadsApi;

#[OpenApi(prefix_path = "/v1/uploads", tag = "ApiTags::Videos")]
impl UploadsApi {
    /// Create a direct upload: a one-time tus creation URL that a browser (or any tus client)
    /// can use without an API token, once, before `expires_at`. The video belongs to the caller.
    #[oai(path = "/", method = "post", operation_id = "createDirectUpload")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<NewDirectUpload>,
    ) -> ApiResult<CreatedResponse> {
        auth.0.require(SCOPE_WRITE)?;
        let server_max = state.cfg.max_upload_bytes;
        let max_bytes = match body.max_bytes {
            Some(0) => return Err(ApiError::BadRequest("max_bytes must be positive".into()).into()),
            Some(m) if m > server_max => {
                return Err(ApiError::BadRequest(format!(
                    "max_bytes is over the server's maximum of {server_max} bytes"
                ))
                .into());
            }
            Some(m) => m,
            None => server_max,
        };
        let browser_may_set = body.browser_may_set.clone().unwrap_or_default();
        if browser_may_set
            .iter()
            .any(|f| !tus::BROWSER_SETTABLE.contains(&f.as_str()))
        {
            return Err(ApiError::BadRequest(format!(
                "browser_may_set may only list {}",
                tus::BROWSER_SETTABLE.join(", ")
            ))
            .into());
        }
        let meta = tus::validated(UploadMeta {
            title: body.title.clone(),
            description: body.description.clone(),
            visibility: body.visibility.clone(),
            browser_may_set,
            downloads: body.downloads.clone(),
            normalize_audio: body.normalize_audio.map(|n| n.to_string()),
            ..UploadMeta::default()
        })?;
        let token = vodflow_core::webhooks::new_secret("du_");
        let row = open_new(
            &state,
            &NewUpload {
                id: Uuid::new_v4(),
                owner: &auth.0.sub,
                owner_email: auth.0.email.as_deref(),
                video_id: VideoId::new(),
                state: UploadState::Waiting,
                direct_token: Some(&token),
                length: None,
                max_bytes: max_bytes as i64,
                metadata: &meta,
                expires_at: Utc::now() + state.cfg.resumable.direct_expiry,
            },
        )
        .await?;
        let url = format!("{}/v1/uploads/direct/{token}", state.cfg.public_url);
        Ok(CreatedResponse::Created(Json(view(
            &state,
            &row,
            Some(url),
        ))))
    }

    /// An upload's state, and its video once complete (direct and tus uploads alike).
    #[oai(path = "/:id", method = "get", operation_id = "getUpload")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> ApiResult<GetResponse> {
        auth.0.require(SCOPE_READ)?;
        let not_found = || ApiError::NotFound(format!("no upload {}", id.0));
        let uuid: Uuid = id.0.parse().map_err(|_| {
            ApiError::BadRequest(format!("invalid upload id {:?}: expected a UUID", id.0))
        })?;
        let row = uploads::get(&state.pool, uuid)
            .await?
            .ok_or_else(not_found)?;
        if auth.0.owner_filter().is_some_and(|o| o != row.owner) {
            return Err(not_found().into());
        }
        Ok(GetResponse::Ok(Json(view(&state, &row, None))))
    }
}
