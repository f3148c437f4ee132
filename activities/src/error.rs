use temporalio_sdk::ApplicationFailure;
use temporalio_sdk::activities::ActivityError;
use vodflow_workflows::contract::{ENCODE_UNUSABLE, INVALID_MEDIA, WEBHOOK_REFUSED};

impl From<vodflow_core::contain::ChildError> for Error {
    fn from(e: vodflow_core::contain::ChildError) -> Self {
        match e {
            vodflow_core::contain::ChildError::Permanent(m) => Error::InvalidMedia(m),
            vodflow_core::contain::ChildError::Transient(m) => Error::Ffmpeg(m),
        }
    }
}

/// What can go wrong in an activity, split by whether a retry can help.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input itself is unusable (not a video, no video stream, undecodable, object missing):
    /// retrying cannot fix it, so the workflow fails at once with this message.
    #[error("{0}")]
    InvalidMedia(String),
    #[error("object store: {0}")]
    Storage(String),
    #[error("database: {0}")]
    Database(#[from] vodflow_core::Error),
    #[error("ffmpeg: {0}")]
    Ffmpeg(String),
    /// FFmpeg finished but what it wrote is not the fragmented MP4 we asked for.
    #[error("encoded output unreadable: {0}")]
    EncodedOutput(String),
    /// FFmpeg exited cleanly but its output cannot be published (no fragment, too many): ffmpeg
    /// is deterministic for the same source and arguments, so this fails the run at once instead
    /// of ten identical attempts later.
    #[error("ffmpeg: {0}")]
    EncodeUnusable(String),
    /// The playlists cannot be built from what the encodes reported.
    #[error("packaging: {0}")]
    Package(String),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A blocking task of the worker died (a panic in libav, say).
    #[error("worker task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("kafka: {0}")]
    Kafka(String),
    #[error("temporal: {0}")]
    Temporal(String),
    #[error("cdn: {0}")]
    Cdn(String),
    #[error("callback: {0}")]
    Callback(String),
    /// Fetching an imported source failed in a way a retry may fix (network, 5xx).
    #[error("import: {0}")]
    Import(String),
    /// The SMTP server refused or could not be reached: retried.
    #[error("mail: {0}")]
    Mail(String),
    /// The mail can never be sent (malformed recipient).
    #[error("mail refused: {0}")]
    MailRefused(String),
    /// The endpoint answered badly or not at all: retried with backoff.
    #[error("webhook: {0}")]
    Webhook(String),
    /// The delivery cannot succeed by retrying (endpoint gone, URL now refused by the SSRF guard).
    #[error("webhook refused: {0}")]
    WebhookRefused(String),
    /// The work directory lacks room for a download: retried (the disk may be freed, or another
    /// worker has room).
    #[error("work directory full: {0}")]
    WorkDirFull(String),
    #[error("cancelled")]
    Cancelled,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The Temporal failure for this error. (Not a `From` impl: the SDK's blanket conversion
    /// would make every error retryable.)
    pub fn into_activity(self) -> ActivityError {
        match self {
            Error::InvalidMedia(msg) => ActivityError::application(
                ApplicationFailure::builder(msg)
                    .type_name(INVALID_MEDIA.to_owned())
                    .non_retryable(true)
                    .build(),
            ),
            Error::WebhookRefused(msg) => ActivityError::application(
                ApplicationFailure::builder(format!("webhook refused: {msg}"))
                    .type_name(WEBHOOK_REFUSED.to_owned())
                    .non_retryable(true)
                    .build(),
            ),
            Error::EncodeUnusable(msg) => ActivityError::application(
                ApplicationFailure::builder(format!("ffmpeg: {msg}"))
                    .type_name(ENCODE_UNUSABLE.to_owned())
                    .non_retryable(true)
                    .build(),
            ),
            Error::Cancelled => ActivityError::cancelled(),
            other => ActivityError::application(ApplicationFailure::new(other.to_string())),
        }
    }
}

impl From<vodflow_core::work_dir::WorkDirFull> for Error {
    fn from(full: vodflow_core::work_dir::WorkDirFull) -> Self {
        Error::WorkDirFull(full.to_string())
    }
}

impl From<vodflow_core::work_dir::ScratchError> for Error {
    fn from(e: vodflow_core::work_dir::ScratchError) -> Self {
        match e {
            vodflow_core::work_dir::ScratchError::Full(full) => full.into(),
            vodflow_core::work_dir::ScratchError::Io(io) => Error::Io(io),
        }
    }
}

pub(crate) fn s3_err<E: std::error::Error + 'static>(e: aws_sdk_s3::error::SdkError<E>) -> Error {
    Error::Storage(aws_sdk_s3::error::DisplayErrorContext(e).to_string())
}
