//! The activity contract: every activity the workflows call, by name and typed input/output,
//! grouped by the system it touches (`Media::probe_source`, `Publish::package`, …). Declared here
//! (not in the activities crate) so the workflows compile against the contract, not the I/O.
//! `vodflow-activities` implements each group as `MediaActivities`, `PublishActivities`, … (one
//! folder per system), each implementation naming its declaration here
//! (`#[activity(definition = contract::def::media::ProbeSource)]`): its name comes from here, and its
//! input and output types must be these (a mismatch does not compile). A new activity is a name
//! and a signature in this file, and its implementation.

#![allow(unreachable_pub)] // the macros generate public marker modules next to these impls

use crate::types::*;
use temporalio_common::ActivityError;
use temporalio_macros::activity_definitions;

// Every activity's name, declared once. The signatures below register under them, a run's
// progress and failure records name their step with them, and the workers' metrics label attempts
// with them: a renamed activity changes everywhere, or nowhere.

pub const IMPORT_SOURCE: &str = "import_source";
pub const PROBE_SOURCE: &str = "probe_source";
pub const ENCODE_CHUNK: &str = "encode_chunk";
pub const ENCODE_AUDIO: &str = "encode_audio";
pub const PACKAGE: &str = "package";
pub const CREATE_POSTER: &str = "create_poster";
pub const CREATE_STORYBOARD: &str = "create_storyboard";
pub const CREATE_DOWNLOADS: &str = "create_downloads";
pub const BACKFILL_PAGE: &str = "backfill_page";
pub const BACKFILL_VIDEO: &str = "backfill_video";
pub const UPDATE_METADATA: &str = "update_metadata";
pub const INVALIDATE_CDN: &str = "invalidate_cdn";
pub const NOTIFY: &str = "notify";
pub const DELIVER_WEBHOOK: &str = "deliver_webhook";
pub const FINISH_WEBHOOK: &str = "finish_webhook";
pub const RECONCILE: &str = "reconcile";
pub const STOP_PROCESSING: &str = "stop_processing";
pub const REMOVE_OBJECTS: &str = "remove_objects";
pub const ANNOUNCE_DELETED: &str = "announce_deleted";

/// The activities whose attempts the workers count (retries, attempts lost): the media work a
/// run is made of, where a retry costs minutes.
pub const COUNTED: &[&str] = &[
    IMPORT_SOURCE,
    PROBE_SOURCE,
    ENCODE_CHUNK,
    ENCODE_AUDIO,
    PACKAGE,
    CREATE_POSTER,
    CREATE_STORYBOARD,
    CREATE_DOWNLOADS,
];

/// The ids the video workflow gives its activities: readable in the Temporal UI and stable, so the
/// API can find a chunk's encode among the pending activities.
pub mod activity_id {
    pub const IMPORT: &str = "import";
    pub const PROBE: &str = "probe";
    pub const ENCODE_AUDIO: &str = "encode-audio";
    pub const PACKAGE: &str = "package";
    pub const POSTER: &str = "poster";
    pub const STORYBOARD: &str = "storyboard";
    pub const DOWNLOADS: &str = "downloads";
    /// The backfill's page of videos.
    pub const BACKFILL_PAGE: &str = "backfill-page";

    /// `backfill-<video id>`: one video brought up to date.
    pub fn backfill_video(id: vodflow_core::VideoId) -> String {
        format!("backfill-{id}")
    }
    pub const METADATA_PROCESSING: &str = "metadata-processing";
    pub const METADATA_READY: &str = "metadata-ready";
    pub const METADATA_PLAYABLE: &str = "metadata-playable";
    pub const METADATA_FAILED: &str = "metadata-failed";
    pub const METADATA_CANCELLED: &str = "metadata-cancelled";
    pub const INVALIDATE_CDN: &str = "invalidate-cdn";
    pub const NOTIFY: &str = "notify";
    /// The webhook delivery workflow's two activities.
    pub const DELIVER: &str = "deliver";
    pub const FINISH: &str = "finish";
    /// The reconciler's one activity.
    pub const RECONCILE: &str = "reconcile";
    /// The delete workflow's activities (and [`INVALIDATE_CDN`]).
    pub const STOP_PROCESSING: &str = "stop-processing";
    pub const REMOVE_OBJECTS: &str = "remove-objects";
    pub const ANNOUNCE_DELETED: &str = "announce-deleted";

    const ENCODE_CHUNK_PREFIX: &str = "encode-chunk-";

    /// `notify-callback`: one channel's notification.
    pub fn notify(channel: crate::types::NotifyChannel) -> String {
        format!("{NOTIFY}-{}", channel.as_str())
    }

    /// `notify-playable-webhooks`: one channel's `playable` news.
    pub fn notify_playable(channel: crate::types::NotifyChannel) -> String {
        format!("{NOTIFY}-playable-{}", channel.as_str())
    }

    /// `package-growing-0003`: the playlists of the first 3 chunks, while the rest encode.
    pub fn package_growing(chunks: u32) -> String {
        format!("{PACKAGE}-growing-{chunks:04}")
    }

    /// `encode-chunk-0003`.
    pub fn encode_chunk(index: u32) -> String {
        format!("{ENCODE_CHUNK_PREFIX}{index:04}")
    }

    /// The chunk index of an `encode-chunk-NNNN` id.
    pub fn encode_chunk_index(id: &str) -> Option<u32> {
        id.strip_prefix(ENCODE_CHUNK_PREFIX)?.parse().ok()
    }
}

/// Each group's declarations as its implementation names them
/// (`#[activity(definition = contract::def::media::ProbeSource)]`); the macros keep the marker
/// types in private modules, re-exported here whole, one line per group.
pub mod def {
    pub mod import {
        pub use super::super::import::*;
    }
    pub mod media {
        pub use super::super::media::*;
    }
    pub mod publish {
        pub use super::super::publish::*;
    }
    pub mod deliver {
        pub use super::super::deliver::*;
    }
    pub mod lifecycle {
        pub use super::super::lifecycle::*;
    }
    pub mod transcode {
        pub use super::super::transcode::*;
    }
}

/// Type name of webhook failures retrying cannot fix (the URL now resolves to a private address,
/// the endpoint was deleted).
pub const WEBHOOK_REFUSED: &str = "WebhookRefused";

/// Type name of failures that retrying cannot fix (not a video, unsupported codec, missing object).
pub const INVALID_MEDIA: &str = "InvalidMedia";

/// Type name of encodes that ran to the end and wrote something unusable: the same source and
/// arguments give the same output, so another attempt would only repeat it.
pub const ENCODE_UNUSABLE: &str = "EncodeUnusable";

/// Activities on the `video-import` queue: downloads of a source that may be slow or large, on
/// slots of their own.
pub struct Import;

#[activity_definitions]
impl Import {
    /// Streams a video at a URL into the store (SSRF-guarded, size-capped, range-resumed, above a
    /// minimum throughput).
    #[activity(name = IMPORT_SOURCE)]
    pub fn import_source(_: ImportSource) -> Result<ImportedSource, ActivityError> {
        unimplemented!()
    }
}

/// Media activities on the `video-processing` queue: a probe, a poster, a storyboard and the
/// downloads, each one contained FFmpeg child.
pub struct Media;

#[activity_definitions]
impl Media {
    #[activity(name = PROBE_SOURCE)]
    pub fn probe_source(_: SourceRef) -> Result<SourceInfo, ActivityError> {
        unimplemented!()
    }

    #[activity(name = CREATE_POSTER)]
    pub fn create_poster(_: CreatePoster) -> Result<String, ActivityError> {
        unimplemented!()
    }

    /// Decodes one finished rendition into the storyboard's sprite sheets and WebVTT.
    #[activity(name = CREATE_STORYBOARD)]
    pub fn create_storyboard(_: CreateStoryboard) -> Result<StoryboardMade, ActivityError> {
        unimplemented!()
    }

    /// Remuxes finished renditions into the downloads the video asks for (none: nothing).
    #[activity(name = CREATE_DOWNLOADS)]
    pub fn create_downloads(
        _: CreateDownloads,
    ) -> Result<Vec<vodflow_core::downloads::Download>, ActivityError> {
        unimplemented!()
    }
}

/// Publishing activities on the `video-processing` queue: playlists over the encoded segments,
/// and the catalog row.
pub struct Publish;

#[activity_definitions]
impl Publish {
    #[activity(name = PACKAGE)]
    pub fn package(_: Package) -> Result<Packaged, ActivityError> {
        unimplemented!()
    }

    #[activity(name = UPDATE_METADATA)]
    pub fn update_metadata(_: UpdateMetadata) -> Result<(), ActivityError> {
        unimplemented!()
    }
}

/// Delivering activities on the `video-processing` queue: CDN purge, notifications, webhooks.
pub struct Deliver;

#[activity_definitions]
impl Deliver {
    #[activity(name = INVALIDATE_CDN)]
    pub fn invalidate_cdn(_: InvalidateCdn) -> Result<String, ActivityError> {
        unimplemented!()
    }

    #[activity(name = NOTIFY)]
    pub fn notify(_: Notify) -> Result<(), ActivityError> {
        unimplemented!()
    }

    /// One signed POST of a delivery; a non-2xx answer fails the attempt (retried with backoff).
    #[activity(name = DELIVER_WEBHOOK)]
    pub fn deliver_webhook(_: DeliverWebhook) -> Result<WebhookOutcome, ActivityError> {
        unimplemented!()
    }

    /// Records the final status of a delivery whose retries ran out.
    #[activity(name = FINISH_WEBHOOK)]
    pub fn finish_webhook(_: WebhookOutcome) -> Result<(), ActivityError> {
        unimplemented!()
    }
}

/// Lifecycle activities on the `video-processing` queue: deletion, reconciliation, backfills.
pub struct Lifecycle;

#[activity_definitions]
impl Lifecycle {
    /// Stops the video's processing run if one is open and waits until it has closed; true if it
    /// stopped one.
    #[activity(name = STOP_PROCESSING)]
    pub fn stop_processing(_: DeleteVideo) -> Result<bool, ActivityError> {
        unimplemented!()
    }

    /// Removes every object and open multipart upload of the video.
    #[activity(name = REMOVE_OBJECTS)]
    pub fn remove_objects(_: DeleteVideo) -> Result<VideoRemoved, ActivityError> {
        unimplemented!()
    }

    /// `video.deleted` to the owner's webhooks (once per video, by its key), then records the
    /// deletion finished; the number of deliveries started.
    #[activity(name = ANNOUNCE_DELETED)]
    pub fn announce_deleted(_: DeleteVideo) -> Result<u32, ActivityError> {
        unimplemented!()
    }

    /// One pass comparing unsettled videos with Temporal, repairing what disagrees.
    #[activity(name = RECONCILE)]
    pub fn reconcile(_: Reconcile) -> Result<Reconciled, ActivityError> {
        unimplemented!()
    }

    /// The next ready videos of a backfill, oldest first.
    #[activity(name = BACKFILL_PAGE)]
    pub fn backfill_page(
        _: vodflow_core::backfill::Page,
    ) -> Result<Vec<vodflow_core::backfill::After>, ActivityError> {
        unimplemented!()
    }

    /// One video brought up to date with the backfill's outputs.
    #[activity(name = BACKFILL_VIDEO)]
    pub fn backfill_video(
        _: vodflow_core::backfill::VideoJob,
    ) -> Result<vodflow_core::backfill::Outcome, ActivityError> {
        unimplemented!()
    }
}

/// Activities on the `transcode` queue: the CPU-heavy encodes, scaled on their own workers.
pub struct Transcode;

#[activity_definitions]
impl Transcode {
    #[activity(name = ENCODE_CHUNK)]
    pub fn encode_chunk(_: EncodeChunk) -> Result<ChunkEncoded, ActivityError> {
        unimplemented!()
    }

    #[activity(name = ENCODE_AUDIO)]
    pub fn encode_audio(_: EncodeAudio) -> Result<Option<AudioEncoded>, ActivityError> {
        unimplemented!()
    }
}
