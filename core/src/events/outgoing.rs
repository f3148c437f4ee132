//! What vodflow tells the outside world: on Kafka (`video_processed`, `video_playable`,
//! `video_updated`), in webhook deliveries (inside a [`WebhookEnvelope`]) and in an upload's
//! callback. Fields are only ever added; a removal or a change of meaning is a new
//! `schema_version`.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::VideoId;
use crate::chapters::Chapter;
use crate::status::VideoStatus;
use crate::text_tracks::TextTrack;

pub const VIDEO_PROCESSED_SCHEMA_VERSION: u32 = 1;

/// A run reached `playable`, `ready` or `failed`: the Kafka event (`video_playable` for the first,
/// `video_processed` for the others), the `video.*` webhooks' `data` and the callback's body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VideoProcessed {
    pub schema_version: u32,
    /// `video.{status}:{video_id}:{attempt}`: the same for every retry of one run's notice, so a
    /// receiver dedupes on it (also the Kafka header `vodflow-event-id`).
    pub event_id: String,
    pub video_id: VideoId,
    pub owner: String,
    pub status: VideoStatus,
    /// Why a run failed; `null` otherwise.
    pub reason: Option<String>,
    /// The renditions published (`144p`…`1080p`), in ladder order.
    pub renditions: Vec<String>,
    pub title: Option<String>,
    /// Which run of the video this is (0 for the upload's own).
    pub attempt: i32,
    /// The master playlist (signed and expiring for `signed` videos) once the video plays.
    pub playback_url: Option<String>,
    pub processed_at: DateTime<Utc>,
}

/// A video's deletion finished (its objects are gone): the `video.deleted` webhooks' `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VideoDeleted {
    pub video_id: VideoId,
    pub owner: String,
    pub title: String,
    /// Always `deleted`.
    pub status: VideoStatus,
    /// When the delete was asked for.
    pub deleted_at: DateTime<Utc>,
}

/// What an owner changed of what viewers get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpdateChange {
    Chapters,
    TextTracks,
}

/// An owner changed chapters or text tracks: the `video_updated` Kafka event and the
/// `video.updated` webhooks' `data`. Exactly one of `chapters`, `added` and `removed` is present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VideoUpdated {
    /// Unique per change: what a receiver dedupes on.
    pub event_id: Uuid,
    pub video_id: VideoId,
    pub owner: String,
    pub change: UpdateChange,
    /// The whole new list, for `chapters`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chapters: Option<Vec<Chapter>>,
    /// The track added, for `text_tracks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added: Option<TextTrack>,
    /// The id of the track removed, for `text_tracks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<Uuid>,
    pub updated_at: DateTime<Utc>,
}

impl VideoUpdated {
    fn new(video_id: VideoId, owner: &str, change: UpdateChange) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            video_id,
            owner: owner.to_owned(),
            change,
            chapters: None,
            added: None,
            removed: None,
            updated_at: Utc::now(),
        }
    }

    pub fn chapters(video_id: VideoId, owner: &str, chapters: Vec<Chapter>) -> Self {
        Self {
            chapters: Some(chapters),
            ..Self::new(video_id, owner, UpdateChange::Chapters)
        }
    }

    pub fn track_added(video_id: VideoId, owner: &str, track: TextTrack) -> Self {
        Self {
            added: Some(track),
            ..Self::new(video_id, owner, UpdateChange::TextTracks)
        }
    }

    pub fn track_removed(video_id: VideoId, owner: &str, track: Uuid) -> Self {
        Self {
            removed: Some(track),
            ..Self::new(video_id, owner, UpdateChange::TextTracks)
        }
    }
}

/// The body of every webhook delivery; `data` is the event's own body ([`VideoProcessed`] for
/// `video.playable`/`video.ready`/`video.failed`, [`VideoDeleted`], [`VideoUpdated`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookEnvelope {
    /// Unique per delivery.
    pub id: Uuid,
    /// `video.ready`, `video.failed`, `video.playable`, `video.deleted`, `video.updated`.
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: DateTime<Utc>,
    pub data: serde_json::Value,
}

impl WebhookEnvelope {
    pub fn new(kind: &str, data: serde_json::Value) -> Self {
        Self {
            id: Uuid::now_v7(),
            kind: kind.to_owned(),
            created_at: Utc::now(),
            data,
        }
    }
}

#[cfg(test)]
mod schemas {
    use super::*;

    /// Each schema file in `schemas/` is what its type says: a field added to a type without its
    /// schema (or the reverse) fails here.
    #[test]
    fn schema_files_match_the_types() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
        let update = std::env::var_os("VODFLOW_UPDATE_SCHEMAS").is_some();
        let generated = [
            ("video_processed", schemars::schema_for!(VideoProcessed)),
            ("video_deleted", schemars::schema_for!(VideoDeleted)),
            ("video_updated", schemars::schema_for!(VideoUpdated)),
            ("webhook_envelope", schemars::schema_for!(WebhookEnvelope)),
        ];
        for (name, schema) in generated {
            let path = dir.join(format!("{name}.schema.json"));
            let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
            if update {
                std::fs::write(&path, &text).unwrap();
            }
            let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                on_disk == text,
                "{} is not what {name}'s type says; rerun with VODFLOW_UPDATE_SCHEMAS=1",
                path.display()
            );
        }
    }

    /// What is published parses back as its type, field for field (`deny_unknown_fields`): the
    /// builders cannot drift from the schema.
    #[test]
    fn published_bodies_round_trip() {
        let id = VideoId::new();
        let track = TextTrack {
            id: Uuid::now_v7(),
            language: "en".into(),
            name: "English".into(),
            kind: crate::text_tracks::Kind::Captions,
            default: true,
            cues: 3,
        };
        for ev in [
            VideoUpdated::chapters(id, "alice", vec![]),
            VideoUpdated::track_added(id, "alice", track.clone()),
            VideoUpdated::track_removed(id, "alice", track.id),
        ] {
            let json = serde_json::to_value(&ev).unwrap();
            assert_eq!(serde_json::from_value::<VideoUpdated>(json).unwrap(), ev);
        }
        let envelope = WebhookEnvelope::new("video.updated", serde_json::json!({"x": 1}));
        let json = serde_json::to_value(&envelope).unwrap();
        assert_eq!(json["type"], "video.updated");
        assert_eq!(
            serde_json::from_value::<WebhookEnvelope>(json).unwrap(),
            envelope
        );
    }
}
