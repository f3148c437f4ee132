//! Input and output of `DeleteVideoWorkflow`'s removal.

use serde::{Deserialize, Serialize};
use vodflow_core::VideoId;

/// Input of `DeleteVideoWorkflow` and its activities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteVideo {
    pub video_id: VideoId,
    pub bucket: String,
    /// Seconds to wait after stopping a run, before removing objects.
    pub grace_s: u64,
}

/// What a deletion removed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VideoRemoved {
    pub objects: u64,
    pub multipart_uploads: u64,
}
