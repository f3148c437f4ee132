//! `POST /v1/videos`: a multipart upload streamed straight into the store (sniffed at its first bytes),
//! recorded with its `video_uploaded` event in one transaction once the store has the whole object.

use std::time::{Duration, Instant};

use bytes::Bytes;
use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, payload::Json,
};
use tracing::Instrument;
use vodflow_core::ingest::{SourceWriteError, SourceWriter, StoredSource};
use vodflow_core::playback::Visibility;
use vodflow_core::{VideoId, layout};

use super::commit::{Accepted, commit};
use super::validate::{
    MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS, idle_error, parse_normalize_audio, validate_callback,
    validate_description, validate_title,
};
use crate::auth::{Caller, SCOPE_WRITE};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;
use crate::videos::Video;

/// Bound on the text fields' size, so a huge "title" cannot be used to exhaust memory.
const MAX_TEXT_FIELD_BYTES: u64 = 64 * 1024;

/// `multipart/form-data` with `file` (binary), `title` and optional `description`, read as a stream:
/// poem-openapi's derived multipart would spool the file to disk before the handler runs, and
/// poem's `Multipart` re-chunks the body into 4 KiB pieces; multer reads hyper's frames directly.
pub(crate) enum VideoUploadForm {
    Multipart(multer::Multipart<'static>),
    /// `application/json`: an import from a URL.
    Import(super::import::ImportRequest),
}

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
        let mut downloads = MetaSchema::new("string");
        downloads.description = Some(
            "Downloads to make after the encode (remuxed, never re-encoded): `none`, `audio` (audio.m4a), `highest` (highest.mp4) or `all` (every rung, highest.mp4, audio.m4a). Default: the server's VODFLOW_DEFAULT_DOWNLOADS.",
        );
        downloads.enum_items = vec![
            "none".into(),
            "audio".into(),
            "highest".into(),
            "all".into(),
        ];
        let mut normalize = MetaSchema::new("string");
        normalize.description = Some(
            "`true`: measure the programme's loudness (EBU R128) and even it out with one linear gain to the server's VODFLOW_LOUDNESS_TARGET, true peak under -1 dBTP. Default: VODFLOW_NORMALIZE_AUDIO.",
        );
        normalize.enum_items = vec!["true".into(), "false".into()];
        let mut import = MetaSchema::new("object");
        import.required = vec!["title", "source_url"];
        let mut source_url = MetaSchema::new_with_format("string", "uri");
        source_url.description = Some(
            "http(s) URL of the video file (public addresses only); the workflow fetches it first.",
        );
        source_url.max_length = Some(2048);
        import.properties = vec![
            ("title", MetaSchemaRef::Inline(Box::new(title.clone()))),
            ("source_url", MetaSchemaRef::Inline(Box::new(source_url))),
            (
                "description",
                MetaSchemaRef::Inline(Box::new(description.clone())),
            ),
            (
                "callback_url",
                MetaSchemaRef::Inline(Box::new(callback.clone())),
            ),
            (
                "visibility",
                MetaSchemaRef::Inline(Box::new(visibility.clone())),
            ),
            (
                "downloads",
                MetaSchemaRef::Inline(Box::new(downloads.clone())),
            ),
            (
                "normalize_audio",
                MetaSchemaRef::Inline(Box::new(MetaSchema::new("boolean"))),
            ),
        ];
        schema.properties = vec![
            ("file", MetaSchemaRef::Inline(Box::new(file))),
            ("title", MetaSchemaRef::Inline(Box::new(title))),
            ("description", MetaSchemaRef::Inline(Box::new(description))),
            ("callback_url", MetaSchemaRef::Inline(Box::new(callback))),
            ("visibility", MetaSchemaRef::Inline(Box::new(visibility))),
            ("downloads", MetaSchemaRef::Inline(Box::new(downloads))),
            (
                "normalize_audio",
                MetaSchemaRef::Inline(Box::new(normalize)),
            ),
        ];
        Some(MetaRequest {
            description: Some(
                "The video file and its metadata (multipart; send `title` before `file` to fail fast on a bad title), or an import: a JSON `{title, source_url}` the workflow fetches first.",
            ),
            content: vec![
                MetaMediaType {
                    content_type: "multipart/form-data",
                    schema: MetaSchemaRef::Inline(Box::new(schema)),
                },
                MetaMediaType {
                    content_type: "application/json",
                    schema: MetaSchemaRef::Inline(Box::new(import)),
                },
            ],
            required: true,
        })
    }

    async fn from_request(
        req: &'a Request,
        body: &mut RequestBody,
        _opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        // Parses only the boundary; the body is read as the handler consumes fields.
        let bad = |e: &dyn std::fmt::Display| {
            poem::Error::from_string(
                format!("expected a multipart/form-data body: {e}"),
                poem::http::StatusCode::BAD_REQUEST,
            )
        };
        let content_type = req.header("content-type").unwrap_or_default();
        let lower = content_type.to_ascii_lowercase();
        if lower.starts_with("application/json") {
            // Already read (and capped at VODFLOW_MAX_JSON_BYTES) by the JSON limit.
            let bytes = body.take()?.into_bytes().await?;
            return serde_json::from_slice(&bytes)
                .map(Self::Import)
                .map_err(|e| {
                    poem::Error::from_string(
                        format!("expected {{title, source_url, description?, visibility?, callback_url?}}: {e}"),
                        poem::http::StatusCode::BAD_REQUEST,
                    )
                });
        }
        if !lower.starts_with("multipart/form-data") {
            return Err(bad(&format!("the content type is {content_type:?}")));
        }
        let boundary = multer::parse_boundary(content_type).map_err(|e| bad(&e))?;
        let stream = body.take()?.into_bytes_stream();
        Ok(Self::Multipart(multer::Multipart::new(stream, boundary)))
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
    let _stream = state.upload_streams.acquire(&caller.sub, 5).await?;
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
    let form = match form {
        VideoUploadForm::Multipart(m) => m,
        VideoUploadForm::Import(req) => {
            let video = super::import::import(state, caller, req).await?;
            state.metrics.uploads.with_label_values(&["imported"]).inc();
            let location = video.links.self_.clone();
            return Ok(UploadResponse::Accepted(Json(video), location));
        }
    };
    let id = VideoId::new();
    let started = Instant::now();
    let result = receive(state, caller, id, form)
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
    downloads: Option<vodflow_core::downloads::Choice>,
    normalize_audio: Option<bool>,
    file: Option<StoredSource>,
}

async fn receive(
    state: &AppState,
    caller: &Caller,
    id: VideoId,
    mut form: multer::Multipart<'static>,
) -> Result<Video, ApiError> {
    let owner = caller.sub.as_str();
    let key = layout::source_key(id);
    let mut fields = Fields {
        title: None,
        description: String::new(),
        callback_url: None,
        visibility: Visibility::Signed,
        downloads: None,
        normalize_audio: None,
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
                    let text = read_text(field, &name, idle).await?;
                    fields.callback_url = Some(validate_callback(&text, state.cfg.webhooks.allow_private).await?);
                }
                "visibility" => {
                    let text = read_text(field, &name, idle).await?;
                    fields.visibility = text.trim().parse().map_err(ApiError::BadRequest)?;
                }
                "downloads" => {
                    let text = read_text(field, &name, idle).await?;
                    fields.downloads = Some(text.trim().parse().map_err(ApiError::BadRequest)?);
                }
                "normalize_audio" => {
                    let text = read_text(field, &name, idle).await?;
                    fields.normalize_audio = Some(parse_normalize_audio(&text)?);
                }
                "title" | "description" => {
                    let text = read_text(field, &name, idle).await?;
                    if name == "title" {
                        fields.title = Some(validate_title(&text)?);
                    } else {
                        validate_description(&text)?;
                        fields.description = text;
                    }
                }
                "file" => {
                    if fields.file.is_some() {
                        return Err(ApiError::BadRequest("more than one `file` field; upload one video per request".into()));
                    }
                    let stored = stream_to_store(state, &key, field).await?;
                    stored_guard = Some(ObjectGuard::new(state, &key));
                    fields.file = Some(stored);
                }
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "unknown multipart field {other:?}; expected `file`, `title` and optional `description`, `callback_url`, `visibility`, `downloads`, `normalize_audio`"
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
            content_type: file.content_type,
            completing: None,
            source_url: None,
            downloads: fields.downloads,
            normalize_audio: fields.normalize_audio,
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

async fn read_text(
    mut field: multer::Field<'static>,
    name: &str,
    idle: Duration,
) -> Result<String, ApiError> {
    let mut buf = Vec::new();
    while let Some(chunk) = next_chunk(&mut field, idle, 0).await? {
        buf.extend_from_slice(&chunk);
        if buf.len() as u64 > MAX_TEXT_FIELD_BYTES {
            return Err(ApiError::BadRequest(format!("`{name}` is too long")));
        }
    }
    String::from_utf8(buf).map_err(|_| ApiError::BadRequest(format!("`{name}` is not valid UTF-8")))
}

/// The next piece of a field as hyper received it; each must arrive within `idle`, so a client
/// that stalls is cut off instead of holding a multipart upload open.
async fn next_chunk(
    field: &mut multer::Field<'static>,
    idle: Duration,
    before: u64,
) -> Result<Option<Bytes>, ApiError> {
    tokio::time::timeout(idle, field.chunk())
        .await
        .map_err(|_| idle_error(idle, before))?
        .map_err(|e| ApiError::BadRequest(format!("upload interrupted after {before} bytes: {e}")))
}

/// Reads the file into the store a part at a time (one copy: hyper's frames into the part).
/// Nothing is stored for a file refused by its first bytes.
async fn stream_to_store(
    state: &AppState,
    key: &str,
    mut field: multer::Field<'static>,
) -> Result<StoredSource, ApiError> {
    let max = state.cfg.max_upload_bytes;
    let idle = state.cfg.edge.upload_idle_timeout;
    let mut writer = SourceWriter::new(
        &state.s3,
        &state.cfg.s3.bucket,
        key,
        max,
        state.cfg.upload_part_bytes,
    );
    let refused = |e: SourceWriteError| match e {
        SourceWriteError::TooLarge { max } => ApiError::PayloadTooLarge(format!(
            "the file is larger than the maximum of {max} bytes"
        )),
        SourceWriteError::NotAVideo(why) => ApiError::UnsupportedMediaType(why),
        SourceWriteError::Empty => ApiError::BadRequest("the file is empty".into()),
        SourceWriteError::Store(e) => ApiError::Unavailable(e.to_string()),
    };
    loop {
        match next_chunk(&mut field, idle, writer.size()).await {
            Ok(Some(chunk)) => {
                if let Err(e) = writer.push(&chunk).await {
                    writer.abort().await;
                    return Err(refused(e));
                }
            }
            Ok(None) => break,
            Err(e) => {
                writer.abort().await;
                return Err(e);
            }
        }
    }
    writer.finish().await.map_err(refused)
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
