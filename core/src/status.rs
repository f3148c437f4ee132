use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Where a video is in its life. Stored as text in `videos.status` (checked by a constraint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VideoStatus {
    Uploaded,
    Processing,
    /// Still processing, but its first seconds are packaged: the playlists grow as chunks finish.
    Playable,
    Ready,
    Failed,
    Cancelled,
    Deleted,
}

impl VideoStatus {
    pub const ALL: [VideoStatus; 7] = [
        Self::Uploaded,
        Self::Processing,
        Self::Playable,
        Self::Ready,
        Self::Failed,
        Self::Cancelled,
        Self::Deleted,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Uploaded => "uploaded",
            Self::Processing => "processing",
            Self::Playable => "playable",
            Self::Ready => "ready",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Deleted => "deleted",
        }
    }

    /// No further processing will happen without someone asking for it.
    /// A run is working on it (with or without its first seconds watchable).
    pub fn is_processing(&self) -> bool {
        matches!(self, Self::Processing | Self::Playable)
    }

    /// Its playlists can be played (growing or finished).
    pub fn is_playable(&self) -> bool {
        matches!(self, Self::Playable | Self::Ready)
    }

    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Ready | Self::Failed | Self::Cancelled | Self::Deleted
        )
    }
}

impl fmt::Display for VideoStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for VideoStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| Error::InvalidStatus(s.to_owned()))
    }
}
