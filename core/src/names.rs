//! Names shared by a producer and its consumer, defined once so the two cannot drift apart.

pub const WORKFLOW_ID_PREFIX: &str = "video-";
pub const WORKFLOW_TYPE: &str = "VideoProcessingWorkflow";
/// Workflows and the light activities.
pub const TASK_QUEUE_PROCESSING: &str = "video-processing";
/// The encode activities, so transcode-only workers can scale on their own machines.
pub const TASK_QUEUE_TRANSCODE: &str = "transcode";
pub const TOPIC_VIDEO_UPLOADED: &str = "video_uploaded";
pub const TOPIC_VIDEO_UPLOADED_DLQ: &str = "video_uploaded.dlq";
pub const TOPIC_VIDEO_PROCESSED: &str = "video_processed";
pub const BRIDGE_CONSUMER_GROUP: &str = "vodflow-bridge";
pub const QUERY_PROGRESS: &str = "progress";
pub const SIGNAL_CANCEL: &str = "cancel";
pub const SEARCH_ATTR_VIDEO_ID: &str = "VideoId";
pub const SEARCH_ATTR_OWNER_ID: &str = "OwnerId";
pub const SEARCH_ATTR_VIDEO_STATUS: &str = "VideoStatus";
