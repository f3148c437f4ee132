//! Backfill: one workflow brings ready videos made before an output existed up to date with it,
//! from their published segments (no video is encoded again), a few videos at a time, pausable,
//! continuing as new after each page so its history stays small. `loudness` is the one output
//! that encodes: the audio, in a new generation whose video segments are copied in the store.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::VideoId;

/// What a backfill can bring a video up to date with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// `storyboard.vtt` and its sheets.
    Storyboard,
    /// The downloads the video asks for (`downloads`).
    Downloads,
    /// `manifest.mpd`, from the segments' own times.
    Dash,
    /// The masters with the text tracks: made when served, so always up to date.
    TextTrackMasters,
    /// Even loudness (`normalize_audio`) for a video made without it: its audio is measured and
    /// encoded again with one gain, in a new generation (the published segments are immutable in
    /// players' caches); its video segments are copied, not encoded. Only when asked for.
    Loudness,
}

impl Output {
    pub const ALL: [Output; 5] = [
        Output::Storyboard,
        Output::Downloads,
        Output::Dash,
        Output::TextTrackMasters,
        Output::Loudness,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Storyboard => "storyboard",
            Self::Downloads => "downloads",
            Self::Dash => "dash",
            Self::TextTrackMasters => "text_track_masters",
            Self::Loudness => "loudness",
        }
    }
}

impl std::str::FromStr for Output {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| {
                let shown: String = s.chars().take(40).collect();
                format!(
                    "unknown output {shown:?} (expected storyboard, downloads, dash, text_track_masters or loudness)"
                )
            })
    }
}

/// Where a backfill is in the library: after this video, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct After {
    pub created_at: DateTime<Utc>,
    pub video_id: VideoId,
}

/// Input of `BackfillWorkflow` (and of each run it continues as).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backfill {
    pub bucket: String,
    pub outputs: Vec<Output>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub uploaded_before: Option<DateTime<Utc>>,
    /// Videos worked on at once.
    pub concurrency: u32,
    /// Videos per run before continuing as new.
    pub page: u32,
    #[serde(default)]
    pub after: Option<After>,
    #[serde(default)]
    pub progress: Progress,
}

/// Counts so far, over every run of the backfill.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub examined: u64,
    /// Videos that got at least one output.
    pub updated: u64,
    pub up_to_date: u64,
    /// Deleted (or no longer ready) by the time their turn came.
    pub skipped: u64,
    pub failed: u64,
    /// The last few failures, `video: reason`.
    #[serde(default)]
    pub failures: Vec<String>,
    pub paused: bool,
    pub finished: bool,
    /// Runs so far (one per page: the workflow continues as new after each).
    pub runs: u32,
}

/// Input of `backfill_page`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    pub owner: Option<String>,
    pub uploaded_before: Option<DateTime<Utc>>,
    pub after: Option<After>,
    pub limit: u32,
}

/// Input of `backfill_video`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoJob {
    pub video_id: VideoId,
    pub bucket: String,
    pub outputs: Vec<Output>,
}

/// What `backfill_video` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Updated(Vec<Output>),
    UpToDate,
    Skipped(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_parse_by_their_public_names_only() {
        for o in Output::ALL {
            assert_eq!(o.as_str().parse::<Output>(), Ok(o));
        }
        assert!("DASH".parse::<Output>().is_err());
        assert!(
            "posters"
                .parse::<Output>()
                .unwrap_err()
                .contains("loudness")
        );
    }
}
