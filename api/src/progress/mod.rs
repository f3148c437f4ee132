//! Live progress of a processing run, for the video resource, its events and the workflow view:
//! the workflow's `progress` query refined by its pending activities' heartbeats, and the failing
//! activity of a failed run.

mod live;
mod shared_answers;
mod status;

pub(crate) use live::{live_progress, run_is_open};
pub(crate) use shared_answers::SharedAnswers;
pub(crate) use status::{Breaker, progress_for_status};

/// How long one progress answer from Temporal serves every read of a video's status.
pub(crate) const PROGRESS_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(1);

use chrono::{DateTime, Utc};
use poem_openapi::Object;

#[derive(Object, Debug, Clone)]
pub struct ChunkState {
    pub index: u32,
    /// queued, encoding, uploading, done or failed.
    pub state: String,
    /// 0 to 100; every rendition of a chunk is encoded by one FFmpeg process, so they move together.
    pub percent: f64,
    /// Attempt of the encode activity, while it runs.
    #[oai(skip_serializing_if_is_none)]
    pub attempt: Option<i32>,
    /// Worker running the encode.
    #[oai(skip_serializing_if_is_none)]
    pub worker: Option<String>,
}

#[derive(Object, Debug, Clone)]
pub struct RenditionProgress {
    /// Rung name, e.g. `720p`.
    pub name: String,
    /// queued, encoding or done (its segments of every chunk are in the store).
    pub state: String,
    /// Mean of its chunks' percent.
    pub percent: f64,
}

#[derive(Object, Debug, Clone)]
pub struct PendingActivity {
    /// Readable id, e.g. `encode-chunk-0003`.
    pub activity_id: String,
    /// Activity type, e.g. `encode_chunk`.
    pub activity_type: String,
    /// scheduled, started or cancel_requested.
    pub state: String,
    /// Attempt number (1 = first try).
    pub attempt: i32,
    /// Worker running it.
    #[oai(skip_serializing_if_is_none)]
    pub worker: Option<String>,
    /// Why the previous attempt failed.
    #[oai(skip_serializing_if_is_none)]
    pub last_failure: Option<String>,
    /// Last heartbeat: `{step, out_time_s, percent}`.
    #[oai(skip_serializing_if_is_none)]
    pub heartbeat: Option<serde_json::Value>,
    #[oai(skip_serializing_if_is_none)]
    pub last_heartbeat_at: Option<DateTime<Utc>>,
}

#[derive(Object, Debug, Clone)]
pub struct Progress {
    /// Step being run: probe_source, encode, package, create_poster, update_metadata, ...
    pub step: String,
    /// Overall percent, 0 to 100.
    pub percent: f64,
    pub renditions: Vec<RenditionProgress>,
    pub chunks: Vec<ChunkState>,
    #[oai(skip_serializing_if_is_none)]
    pub audio: Option<String>,
    /// Activities running or waiting right now, with attempt and heartbeat.
    pub pending: Vec<PendingActivity>,
    /// Seconds to completion, once enough chunks finished to estimate.
    #[oai(skip_serializing_if_is_none)]
    pub eta_seconds: Option<f64>,
}
