//! `video_uploaded`: the one event vodflow consumes (the bridge turns it into a run), so it is
//! validated on the way in; its schema is written by hand with the constraints the parser checks.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::VideoId;

pub const VIDEO_UPLOADED_SCHEMA_VERSION: u32 = 1;

/// Published once per accepted upload (through the outbox), consumed by the bridge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoUploaded {
    pub schema_version: u32,
    pub video_id: VideoId,
    pub owner: String,
    pub bucket: String,
    pub key: String,
    pub size: u64,
    /// Absent from events this version publishes: the digest is computed by the worker from its
    /// copy of the source, off the upload path (read it from the video). Older events carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub content_type: String,
    pub title: String,
    pub uploaded_at: DateTime<Utc>,
    /// Where the owner wants a signed POST when processing ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// An import: the file is still at this URL (its `size` is unknown until fetched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EventError {
    #[error("not a video_uploaded event: {0}")]
    Malformed(String),
    #[error(
        "unsupported schema_version {0} (this build understands {VIDEO_UPLOADED_SCHEMA_VERSION})"
    )]
    UnsupportedVersion(u32),
    #[error("invalid field {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl VideoUploaded {
    /// Parses and validates an event from the wire; the error says why, for the DLQ header.
    pub fn from_json(bytes: &[u8]) -> Result<Self, EventError> {
        let ev: Self =
            serde_json::from_slice(bytes).map_err(|e| EventError::Malformed(e.to_string()))?;
        if ev.schema_version != VIDEO_UPLOADED_SCHEMA_VERSION {
            return Err(EventError::UnsupportedVersion(ev.schema_version));
        }
        let invalid = |field, reason: &str| {
            Err(EventError::Invalid {
                field,
                reason: reason.into(),
            })
        };
        if ev.owner.is_empty() {
            return invalid("owner", "empty");
        }
        if ev.bucket.is_empty() || ev.key.is_empty() {
            return invalid("key", "empty bucket or key");
        }
        if ev
            .sha256
            .as_deref()
            .is_some_and(|d| d.len() != 64 || !d.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return invalid("sha256", "expected 64 hex digits");
        }
        // An import's size is known only once the workflow has fetched it.
        if ev.source_url.is_none() {
            if ev.size == 0 {
                return invalid("size", "zero");
            }
        } else if ev
            .source_url
            .as_deref()
            .is_some_and(|u| !(u.starts_with("http://") || u.starts_with("https://")))
        {
            return invalid("source_url", "expected an http(s) URL");
        }
        Ok(ev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> VideoUploaded {
        VideoUploaded {
            schema_version: 1,
            video_id: VideoId::new(),
            owner: "alice".into(),
            bucket: "vodflow".into(),
            key: "uploads/x/source".into(),
            size: 10,
            sha256: None,
            content_type: "video/mp4".into(),
            title: "t".into(),
            uploaded_at: Utc::now(),
            callback_url: None,
            source_url: None,
        }
    }

    #[test]
    fn round_trips() {
        let ev = sample();
        let bytes = serde_json::to_vec(&ev).unwrap();
        assert_eq!(VideoUploaded::from_json(&bytes).unwrap(), ev);
    }

    /// Events published before the digest moved to the worker still parse; a digest that is
    /// there must be one.
    #[test]
    fn an_older_event_with_its_digest_still_parses() {
        let mut ev = sample();
        ev.sha256 = Some("a".repeat(64));
        let bytes = serde_json::to_vec(&ev).unwrap();
        assert_eq!(VideoUploaded::from_json(&bytes).unwrap(), ev);
        ev.sha256 = Some("zz".into());
        let bytes = serde_json::to_vec(&ev).unwrap();
        assert!(matches!(
            VideoUploaded::from_json(&bytes),
            Err(EventError::Invalid {
                field: "sha256",
                ..
            })
        ));
    }

    #[test]
    fn refuses_garbage_and_future_versions() {
        assert!(matches!(
            VideoUploaded::from_json(b"garbage"),
            Err(EventError::Malformed(_))
        ));
        let mut ev = sample();
        ev.schema_version = 2;
        let bytes = serde_json::to_vec(&ev).unwrap();
        assert_eq!(
            VideoUploaded::from_json(&bytes),
            Err(EventError::UnsupportedVersion(2))
        );
    }
}
