//! Temporal names shared by a producer and its consumer, defined once so the two cannot drift
//! apart. (Kafka's topic and group names live in [`crate::kafka`].)

pub const WORKFLOW_ID_PREFIX: &str = "video-";
/// Workflows and the light activities.
pub const TASK_QUEUE_PROCESSING: &str = "video-processing";
/// The encode activities, so transcode-only workers can scale on their own machines.
pub const TASK_QUEUE_TRANSCODE: &str = "transcode";
/// Imports from a URL: their own slots, so slow sources cannot hold the processing queue's.
pub const TASK_QUEUE_IMPORT: &str = "video-import";
