//! `POST /v1/videos`: a multipart upload streamed straight into the store, hashed on the way,
//! recorded with its `video_uploaded` event in one transaction once the store has the whole object.

use std::time::{Duration, Instant};

use bytes::Bytes;
use poem::web::Multipart;
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, payload::Json,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt};
use tracing::Instrument;
use vodflow_core::playback::Visibility;
use vodflow_core::{VideoId, container, layout};

use super::commit::{Accepted, commit};
use super::model::Video;
use crate::auth::{Caller, SCOPE_WRITE};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::MultipartSink;

pub(crate) const MAX_TITLE_CHARS: usize = 200;
pub(crate) const MAX_DESCRIPTION_CHARS: usize = 5000;
/// Bound on the text fields' size, so a huge "title" cannot be used to exhaust memory.
const MAX_TEXT_FIELD_BYTES: u64 = 64 * 1024;

/// `multipart/form-data` with `file` (binary), `title` and optional `description`, read as a stream:
/// poem-openapi's derived multipart would spool the file to disk before the handler runs.
pub(crate) struct VideoUploadForm(Multipart);

impl<'a> ApiExtractor<'a> for VideoUploadForm {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn request_meta() -> Option<MetaRequest> {
        let mut schema = MetaSchema::new("object");
        schema.required = vec!["file", "title"];
        let mut file = MetaSchema::new_with_format("string", "binary");
        file.description =
            Some("The video (MP4, MOV, Matroska/WebM, MPEG-TS, MPEG-PS, AVI or FLV).");
        let mut title = MetaSchema::new("string");
        title.description = Some("Title, 1 to 200 characters.");
        title.min_length = Some(1);
        title.max_length = Some(MAX_TITLE_CHARS);
        let mut callback = MetaSchema::new_with_format("string", "uri");
        callback.description =
            Some("Optional http(s) URL that receives a signed POST when processing ends.");
        let mut description = MetaSchema::new("string");
        description.max_length = Some(MAX_DESCRIPTION_CHARS);
        let mut visibility = MetaSchema::new("string");
        visibility.description = Some(
            "`signed` (default): playback URLs carry an expiring signature. `public`: plain URLs.",
        );
        visibility.enum_items = vec!["signed".into(), "public".into()];
        schema.properties = vec![
            ("file", MetaSchemaRef::Inline(Box::new(file))),
            ("title", MetaSchemaRef::Inline(Box::new(title))),
            ("description", MetaSchemaRef::Inline(Box::new(description))),
            ("callback_url", MetaSchemaRef::Inline(Box::new(callback))),
            ("visibility", MetaSchemaRef::Inline(Box::new(visibility))),
        ];
        Some(MetaRequest {
            description: Some(
                "The video file and its metadata. Send `title` before `file` to fail fast on a bad title.",
            ),
            content: vec![MetaMediaType {
                content_type: "multipart/form-data",
                schema: MetaSchemaRef::Inline(Box::new(schema)),
            }],
            required: true,
        })
    }

    async fn from_request(
        req: &'a Request,
        body: &mut RequestBody,
        _opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        // Parses only the boundary; the body is read as the handler consumes fields.
        <Multipart as FromRequest>::from_request(req, body)
            .await
            .map(Self)
            .map_err(|e| {
                poem::Error::from_string(
                    format!("expected a multipart/form-data body: {e}"),
                    poem::http::StatusCode::BAD_REQUEST,
                )
            })
    }
}

#[derive(ApiResponse)]
pub(crate) enum UploadResponse {
    /// Accepted: stored and queued for processing. Poll `links.self` for status.
    #[oai(status = 202)]
    Accepted(Json<Video>, #[oai(header = "Location")] String),
}

/// The body of `POST /v1/videos` (declared on `VideosApi`, which owns the `/v1/videos` path).
pub(crate) async fn upload(
    state: &AppState,
    caller: &Caller,
    req: &Request,
    form: VideoUploadForm,
) -> ApiResult<UploadResponse> {
    caller.require(SCOPE_WRITE)?;
    // Held until the upload is answered, whichever way it ends.
    let _slot = state.limits.uploads.acquire(&caller.sub, 5)?;
    let max = state.cfg.max_upload_bytes;
    // Refuse at once what cannot fit (the multipart framing adds a little to the file's size).
    if let Some(len) = req
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok())
        && len > max + 1024 * 1024
    {
        state
            .metrics
            .uploads
            .with_label_values(&["too_large"])
            .inc();
        return Err(ApiError::PayloadTooLarge(format!(
            "the body is {len} bytes; the largest accepted video is {max} bytes"
        ))
        .into());
    }
    let id = VideoId::new();
    let started = Instant::now();
    let result = receive(state, caller, id, form.0)
        .instrument(tracing::info_span!("upload", video_id = %id))
        .await;
    let outcome = match &result {
        Ok(_) => "accepted",
        Err(ApiError::PayloadTooLarge(_)) => "too_large",
        Err(ApiError::UnsupportedMediaType(_)) => "unsupported",
        Err(ApiError::BadRequest(_)) => "bad_request",
        Err(ApiError::Timeout(_)) => "idle_timeout",
        Err(_) => "error",
    };
    state.metrics.uploads.with_label_values(&[outcome]).inc();
    state
        .metrics
        .upload_duration
        .observe(started.elapsed().as_secs_f64());
    let video = result?;
    state.metrics.upload_bytes.inc_by(video.size as u64);
    let location = video.links.self_.clone();
    Ok(UploadResponse::Accepted(Json(video), location))
}

struct Fields {
    title: Option<String>,
    description: String,
    callback_url: Option<String>,
    visibility: Visibility,
    file: Option<Stored>,
}

struct Stored {
    size: u64,
    sha256: String,
    content_type: &'static str,
}

async fn receive(
    state: &AppState,
    caller: &Caller,
    id: VideoId,
    mut form: Multipart,
) -> Result<Video, ApiError> {
    let owner = caller.sub.as_str();
    let key = layout::source_key(id);
    let mut fields = Fields {
        title: None,
        description: String::new(),
        callback_url: None,
        visibility: Visibility::Signed,
        file: None,
    };
    // Held until the row is committed: if anything below fails, the stored object is removed.
    let mut stored_guard = None;
    let idle = state.cfg.edge.upload_idle_timeout;
    let result = async {
        while let Some(field) = tokio::time::timeout(idle, form.next_field())
            .await
            .map_err(|_| idle_error(idle, 0))?
            .map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {e}")))?
        {
            let name = field.name().unwrap_or_default().to_owned();
            match name.as_str() {
                "callback_url" => {
                    let text = read_text(field.into_async_read(), &name, idle).await?;
                    fields.callback_url = Some(validate_callback(&text, state.cfg.webhooks.allow_private).await?);
                }
                "visibility" => {
                    let text = read_text(field.into_async_read(), &name, idle).await?;
                    fields.visibility = text.trim().parse().map_err(ApiError::BadRequest)?;
                }
                "title" | "description" => {
                    let text = read_text(field.into_async_read(), &name, idle).await?;
                    if name == "title" {
                        fields.title = Some(validate_title(&text)?);
                    } else {
                        if text.chars().count() > MAX_DESCRIPTION_CHARS {
                            return Err(ApiError::BadRequest(format!("description is longer than {MAX_DESCRIPTION_CHARS} characters")));
                        }
                        fields.description = text;
                    }
                }
                "file" => {
                    if fields.file.is_some() {
                        return Err(ApiError::BadRequest("more than one `file` field; upload one video per request".into()));
                    }
                    let stored = stream_to_store(state, &key, field.into_async_read()).await?;
                    stored_guard = Some(ObjectGuard::new(state, &key));
                    fields.file = Some(stored);
                }
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "unknown multipart field {other:?}; expected `file`, `title` and optional `description`, `callback_url`, `visibility`"
                    )));
                }
            }
        }
        let title = fields.title.take().ok_or_else(|| ApiError::BadRequest("missing `title` field".into()))?;
        let file = fields.file.take().ok_or_else(|| ApiError::BadRequest("missing `file` field".into()))?;
        let accepted = Accepted {
            id,
            owner,
            owner_email: caller.email.as_deref(),
            title,
            description: std::mem::take(&mut fields.description),
            callback_url: fields.callback_url.take(),
            visibility: fields.visibility,
            size: file.size,
            sha256: file.sha256,
            content_type: file.content_type,
            completing: None,
        };
        commit(state, accepted).await?.ok_or_else(|| ApiError::Internal("the upload was committed twice".into()))
    }
    .await;
    match result {
        Ok(v) => {
            if let Some(g) = stored_guard {
                g.keep();
            }
            Ok(v)
        }
        Err(e) => {
            if let Some(g) = stored_guard {
                g.remove().await;
            }
            tracing::info!(error = %e, "upload refused");
            Err(e)
        }
    }
}

async fn validate_callback(text: &str, allow_private: bool) -> Result<String, ApiError> {
    if text.len() > 2048 {
        return Err(ApiError::BadRequest(
            "callback_url is longer than 2048 characters".into(),
        ));
    }
    vodflow_core::net_guard::check_url(text.trim(), allow_private)
        .await
        .map_err(|e| ApiError::BadRequest(format!("callback_url refused: {e}")))?;
    Ok(text.trim().to_owned())
}

pub(crate) fn validate_title(text: &str) -> Result<String, ApiError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(ApiError::BadRequest("title must not be empty".into()));
    }
    if t.chars().count() > MAX_TITLE_CHARS {
        return Err(ApiError::BadRequest(format!(
            "title is longer than {MAX_TITLE_CHARS} characters"
        )));
    }
    if t.chars().any(|c| c.is_control()) {
        return Err(ApiError::BadRequest(
            "title must not contain control characters".into(),
        ));
    }
    Ok(t.to_owned())
}

pub(crate) fn idle_error(idle: Duration, received: u64) -> ApiError {
    ApiError::Timeout(format!(
        "the upload sent nothing for {} s after {received} bytes (VODFLOW_UPLOAD_IDLE_TIMEOUT); it was aborted",
        idle.as_secs()
    ))
}

async fn read_text(
    reader: impl AsyncRead + Send,
    name: &str,
    idle: Duration,
) -> Result<String, ApiError> {
    let mut buf = Vec::new();
    let mut limited = std::pin::pin!(reader.take(MAX_TEXT_FIELD_BYTES + 1));
    tokio::time::timeout(idle, limited.read_to_end(&mut buf))
        .await
        .map_err(|_| idle_error(idle, 0))?
        .map_err(|e| ApiError::BadRequest(format!("reading `{name}`: {e}")))?;
    if buf.len() as u64 > MAX_TEXT_FIELD_BYTES {
        return Err(ApiError::BadRequest(format!("`{name}` is too long")));
    }
    String::from_utf8(buf).map_err(|_| ApiError::BadRequest(format!("`{name}` is not valid UTF-8")))
}

/// Reads the file part by part into the store. Nothing is stored for a file refused by its first bytes.
async fn stream_to_store(
    state: &AppState,
    key: &str,
    reader: impl AsyncRead + Send,
) -> Result<Stored, ApiError> {
    let max = state.cfg.max_upload_bytes;
    let part_size = state.cfg.upload_part_bytes;
    let idle = state.cfg.edge.upload_idle_timeout;
    let mut reader = std::pin::pin!(reader);
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut sink: Option<MultipartSink> = None;
    let mut content_type = "";
    let outcome = async {
        loop {
            // One byte more than allowed tells "exactly at the limit" from "over it".
            let want = (part_size as u64).min(max - size.min(max) + 1);
            let buf = read_part(&mut reader, want as usize, idle, size).await?;
            if buf.is_empty() {
                break;
            }
            size += buf.len() as u64;
            if size > max {
                return Err(ApiError::PayloadTooLarge(format!(
                    "the file is larger than the maximum of {max} bytes"
                )));
            }
            hasher.update(&buf);
            if sink.is_none() {
                // Fewer bytes than asked for: this first read is the whole file.
                let complete = (buf.len() as u64) < want;
                let head = &buf[..buf.len().min(container::SNIFF_BYTES)];
                content_type = container::sniff(head, complete)
                    .map_err(|e| ApiError::UnsupportedMediaType(e.to_string()))?
                    .mime();
                sink = Some(
                    MultipartSink::start(&state.s3, &state.cfg.s3.bucket, key, content_type)
                        .await
                        .map_err(|e| ApiError::Unavailable(e.to_string()))?,
                );
            }
            if let Some(s) = sink.as_mut() {
                s.push(Bytes::from(buf))
                    .await
                    .map_err(|e| ApiError::Unavailable(e.to_string()))?;
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        if let Some(s) = sink {
            s.abort().await;
        }
        return Err(e);
    }
    let Some(sink) = sink else {
        return Err(ApiError::BadRequest("the file is empty".into()));
    };
    sink.finish()
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Stored {
        size,
        sha256: hex::encode(hasher.finalize()),
        content_type,
    })
}

/// Reads up to `want` bytes (fewer only at the end of the file). Each read must bring something
/// within `idle`, so a client that stalls is cut off instead of holding a multipart upload open.
async fn read_part(
    reader: &mut (impl AsyncRead + Unpin),
    want: usize,
    idle: Duration,
    before: u64,
) -> Result<Vec<u8>, ApiError> {
    let mut buf = vec![0u8; want];
    let mut filled = 0;
    while filled < want {
        let n = tokio::time::timeout(idle, reader.read(&mut buf[filled..]))
            .await
            .map_err(|_| idle_error(idle, before + filled as u64))?
            .map_err(|e| {
                ApiError::BadRequest(format!(
                    "upload interrupted after {} bytes: {e}",
                    before + filled as u64
                ))
            })?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    Ok(buf)
}

/// Removes a completed source object unless the upload is committed.
struct ObjectGuard {
    s3: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    armed: bool,
}

impl ObjectGuard {
    fn new(state: &AppState, key: &str) -> Self {
        Self {
            s3: state.s3.clone(),
            bucket: state.cfg.s3.bucket.clone(),
            key: key.to_owned(),
            armed: true,
        }
    }

    fn keep(mut self) {
        self.armed = false;
    }

    async fn remove(mut self) {
        self.armed = false;
        if let Err(e) = self
            .s3
            .delete_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .send()
            .await
        {
            tracing::warn!(key = %self.key, error = %aws_sdk_s3::error::DisplayErrorContext(e), "could not remove refused upload");
        }
    }
}

impl Drop for ObjectGuard {
    fn drop(&mut self) {
        if self.armed {
            let (s3, bucket, key) = (self.s3.clone(), self.bucket.clone(), self.key.clone());
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = s3.delete_object().bucket(bucket).key(key).send().await;
                });
            }
        }
    }
}
