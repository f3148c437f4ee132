//! Every activity's name, declared once. The workflows' contract registers activities under these
//! names, a run's progress and failure records name their step with them, and the workers' metrics
//! label attempts with them: a renamed activity changes everywhere, or nowhere.

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
