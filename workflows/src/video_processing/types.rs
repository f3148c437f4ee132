//! Inputs and outputs of `VideoProcessingWorkflow` and its activities: the contract between the
//! bridge (which starts the run), the run, its activities and the status api.

use serde::{Deserialize, Serialize};
use vodflow_core::ladder::{Chunk, Rendition};
use vodflow_core::segment::Segment;
use vodflow_core::{VideoId, VideoStatus};

/// The steps of a processing run, as the `progress` query, the failure record and the API name
/// them.
pub mod step {
    pub use crate::contract::{
        CREATE_DOWNLOADS, CREATE_POSTER, CREATE_STORYBOARD, ENCODE_AUDIO, ENCODE_CHUNK,
        IMPORT_SOURCE, INVALIDATE_CDN, NOTIFY, PACKAGE, PROBE_SOURCE, UPDATE_METADATA,
    };
    /// The encode stage as a whole (its chunks and audio), as progress reports it.
    pub const ENCODE: &str = "encode";
    pub const DONE: &str = "done";
}

/// Input of `VideoProcessingWorkflow`. Everything configurable is decided by the starter, so the
/// workflow itself never reads the environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessVideo {
    pub video_id: VideoId,
    pub owner: String,
    pub bucket: String,
    pub source_key: String,
    pub size: u64,
    pub title: String,
    pub chunk_seconds: u32,
    /// Task queue of the encode activities (configurable so deployments and tests can isolate them).
    pub transcode_queue: String,
    /// Retry limit for retryable activity failures.
    pub max_attempts: i32,
    /// Heartbeat timeout of the long activities, in seconds.
    pub heartbeat_timeout_s: u64,
    /// Which processing run of this video this is (1 = first upload, 2+ = reprocess).
    pub attempt: i32,
    /// Signed POST target when processing ends.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Encodes scheduled at once (0: the default of 64). Bounded so a 12-hour source never nears
    /// Temporal's pending-activity limit or floods the transcode queue.
    #[serde(default)]
    pub max_in_flight: u32,
    /// Which set of renditions this run writes (`layout::generation_dir`): 0 unless a forced
    /// re-encode started a new one.
    #[serde(default)]
    pub generation: u32,
    /// A video imported from a URL: the first step streams it into `source_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    /// Task queue of `import_source` (empty in runs started before imports had their own: then
    /// the processing queue, with the heavy activities' timeouts).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub import_queue: String,
    /// Every attempt of `import_source` together, in seconds.
    #[serde(default)]
    pub import_deadline_s: u64,
    /// A forced run that only re-encodes the audio (a loudness backfill): chunks whose encode
    /// would be the same as this generation's are copied from it in the store, not encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse_video_from: Option<u32>,
}

/// Input of `import_source`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportSource {
    pub video_id: VideoId,
    pub bucket: String,
    pub key: String,
    pub url: String,
}

/// What `import_source` stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportedSource {
    pub size: u64,
    pub content_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRef {
    pub video_id: VideoId,
    pub bucket: String,
    pub key: String,
    pub size: u64,
}

/// What `probe_source` learned. Width/height are display dimensions (rotation applied).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    pub duration_ms: u64,
    pub width: u32,
    pub height: u32,
    /// Degrees clockwise the stored picture must be turned for display (0, 90, 180, 270).
    pub rotation: i32,
    pub fps_num: u32,
    pub fps_den: u32,
    pub video_codec: String,
    pub audio_codec: Option<String>,
    pub container: String,
    /// Fields rather than frames (1080i from cameras and broadcast): deinterlaced before scaling.
    #[serde(default)]
    pub interlaced: bool,
    /// `smpte2084` (HDR10/PQ) or `arib-std-b67` (HLG) when the source is HDR: tone-mapped to SDR
    /// BT.709, so it is not washed out on the players the ladder targets.
    #[serde(default)]
    pub hdr_transfer: Option<String>,
    /// Every audio stream, as published (empty in runs probed before: then the first stream only,
    /// as `audio`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audio_tracks: Vec<vodflow_core::audio_tracks::AudioTrack>,
}

impl SourceInfo {
    /// The filters every decode of this source needs before scaling (ends with `,` when not empty).
    pub fn normalize_filters(&self) -> String {
        let mut f = String::new();
        if self.interlaced {
            f.push_str("bwdif=mode=send_frame:parity=auto:deint=all,");
        }
        if let Some(t) = &self.hdr_transfer {
            f.push_str(&format!(
                "zscale=tin={t}:pin=bt2020:min=bt2020nc:t=linear:npl=100,format=gbrpf32le,\
                 zscale=p=bt709,tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv,"
            ));
        }
        f
    }

    pub fn fps(&self) -> f64 {
        if self.fps_den == 0 {
            0.0
        } else {
            f64::from(self.fps_num) / f64::from(self.fps_den)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncodeChunk {
    pub source: SourceRef,
    pub info: SourceInfo,
    pub chunk: Chunk,
    pub renditions: Vec<Rendition>,
    #[serde(default)]
    pub generation: u32,
    /// x264's B-frames (runs since `playable-early-v1`); runs started before encode without, so
    /// a run in flight across a deploy never mixes the two under one init segment.
    #[serde(default)]
    pub bframes: bool,
    /// An earlier generation whose same chunk, encoded with the same parameters, is copied
    /// instead of encoded again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse_from: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenditionChunk {
    pub rendition: String,
    pub segments: Vec<Segment>,
    /// RFC 6381 codec string of this rendition (e.g. `avc1.64001f`).
    pub codecs: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkEncoded {
    pub index: u32,
    pub renditions: Vec<RenditionChunk>,
    /// False when every segment was already in the store from an earlier attempt or run.
    pub encoded: bool,
    /// What the segments were encoded from and with (range, ladder, rate, filters, preset), in the
    /// stored manifest only: a replay reuses a chunk only when it would encode it the same way.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub params: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncodeAudio {
    pub source: SourceRef,
    pub info: SourceInfo,
    #[serde(default)]
    pub generation: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioEncoded {
    /// Empty in results of current workers: the list is in the store under
    /// `layout::audio_manifest_key` (a 12-hour source has 10,800 segments; they do not belong in a
    /// workflow payload). Older results carry it here.
    pub segments: Vec<Segment>,
    pub codecs: String,
    pub bitrate_kbps: u32,
    /// Every audio track (the first is `audio`, the one the fields above describe); empty in
    /// results of workers that encoded the first stream only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tracks: Vec<AudioTrackEncoded>,
}

/// One encoded audio track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioTrackEncoded {
    pub track: vodflow_core::audio_tracks::AudioTrack,
    pub codecs: String,
    /// Read by `package` from the track's segment list in the store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Package {
    pub video_id: VideoId,
    pub bucket: String,
    pub info: SourceInfo,
    pub renditions: Vec<Rendition>,
    /// The encodes' results (runs of older code). Empty when `chunk_count` is set: then `package`
    /// reads the chunk manifests from the store, so the input stays small however long the source.
    pub chunks: Vec<ChunkEncoded>,
    pub audio: Option<AudioEncoded>,
    #[serde(default)]
    pub chunk_count: u32,
    #[serde(default)]
    pub generation: u32,
    /// Packaging while encodes go on: `chunk_count` is the finished prefix of the timeline and
    /// the playlists are HLS `EVENT` playlists without an end, cached briefly.
    #[serde(default)]
    pub growing: bool,
}

/// A rendition as recorded in Postgres once packaged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackagedRendition {
    pub name: String,
    pub kind: String,
    pub width: u32,
    pub height: u32,
    pub bandwidth: u32,
    pub codecs: String,
    pub playlist_key: String,
    pub segment_count: u32,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Packaged {
    pub master_key: String,
    pub renditions: Vec<PackagedRendition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatePoster {
    pub source: SourceRef,
    pub info: SourceInfo,
    /// The generation the poster belongs to: a forced re-encode's never replaces the one shown.
    #[serde(default)]
    pub generation: u32,
}

/// Input of `create_storyboard`: the finished renditions of a generation, one of which (the
/// smallest that is still sharp at tile size) is decoded into the storyboard's tiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateStoryboard {
    pub video_id: VideoId,
    pub bucket: String,
    pub generation: u32,
    pub duration_ms: u64,
    pub renditions: Vec<Rendition>,
}

/// What `create_storyboard` made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoryboardMade {
    pub vtt_key: String,
    pub tiles: u32,
    pub sheets: u32,
    /// The rendition its tiles were decoded from.
    pub rendition: String,
}

/// A status change recorded by `update_metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MetadataUpdate {
    Processing {
        attempt: i32,
    },
    /// The first chunk of every rung and the audio are packaged: run `attempt` can be watched.
    Playable {
        attempt: i32,
    },
    Ready {
        info: SourceInfo,
        renditions: Vec<PackagedRendition>,
        /// The generation these renditions are, published by this update.
        #[serde(default)]
        generation: u32,
    },
    Failed {
        step: String,
        reason: String,
    },
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateMetadata {
    pub video_id: VideoId,
    pub update: MetadataUpdate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvalidateCdn {
    pub video_id: VideoId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notify {
    pub video_id: VideoId,
    pub owner: String,
    /// `playable`, `ready` or `failed`.
    pub status: VideoStatus,
    pub reason: Option<String>,
    pub renditions: Vec<String>,
    #[serde(default)]
    pub callback_url: Option<String>,
    /// One channel, each its own activity so a failing one never repeats the others; `None`
    /// (runs of older code): every channel in one activity.
    #[serde(default)]
    pub channel: Option<NotifyChannel>,
    /// Which run this is (the event's identity is status, video and attempt).
    #[serde(default)]
    pub attempt: i32,
}

/// Where a video's ready/failed news goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyChannel {
    /// `video_processed` on Kafka.
    Event,
    /// The owner's registered webhooks.
    Webhooks,
    /// Mail to the uploader.
    Mail,
    /// The upload's callback URL.
    Callback,
}

impl NotifyChannel {
    pub const ALL: [NotifyChannel; 4] = [Self::Event, Self::Webhooks, Self::Mail, Self::Callback];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Webhooks => "webhooks",
            Self::Mail => "mail",
            Self::Callback => "callback",
        }
    }
}

/// The workflow's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessOutcome {
    /// `ready` or `cancelled` (a failed run ends as a workflow failure).
    pub status: VideoStatus,
    pub master_key: Option<String>,
    pub reason: Option<String>,
}

/// Answer of the `progress` query.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Step being run: probe_source, encode, package, create_poster, update_metadata, ...
    pub step: String,
    pub chunks: Vec<ChunkProgress>,
    pub renditions: Vec<String>,
    pub audio: Option<EncodeState>,
    pub percent: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkProgress {
    pub index: u32,
    pub state: EncodeState,
}

/// Where one chunk (or the audio) is, as the workflow knows it (the API refines `queued` with the encode
/// activity's heartbeat into `encoding` or `uploading`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncodeState {
    Queued,
    Encoding,
    Uploading,
    Done,
    Failed,
}

impl EncodeState {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Encoding => "encoding",
            Self::Uploading => "uploading",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }
}
