//! Input of the downloads activity, run by `VideoDownloadsWorkflow` and by a processing run.

use serde::{Deserialize, Serialize};
use vodflow_core::VideoId;
use vodflow_core::ladder::Rendition;

/// Input of `create_downloads`: the finished renditions of a generation, remuxed into the
/// downloads the video's row asks for (`downloads`) when the activity runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateDownloads {
    pub video_id: VideoId,
    pub bucket: String,
    pub generation: u32,
    pub duration_ms: u64,
    pub renditions: Vec<Rendition>,
}
