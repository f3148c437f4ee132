//! vodflow-workflows: the deterministic orchestration of a video's processing and of webhook
//! deliveries, the typed contract of the activities they call, and how to start each workflow.
//!
//! The workflow code must not do I/O, read clocks or the environment, or use randomness outside the
//! Temporal SDK: everything that touches the world is an activity (`vodflow-activities`). The
//! starters beside each workflow run in clients (the bridge, the API, the activities that dispatch
//! webhooks), never inside a workflow.

pub mod backfill;
pub mod contract;
pub mod delete_video;
pub mod reconcile;
pub mod search_attributes;
pub mod types;
pub mod video_downloads;
pub mod video_processing;
pub mod webhook_delivery;

pub use backfill::BackfillWorkflow;
pub use delete_video::DeleteVideoWorkflow;
pub use reconcile::ReconcileWorkflow;
pub use video_downloads::VideoDownloadsWorkflow;
pub use video_processing::VideoProcessingWorkflow;
pub use webhook_delivery::WebhookDeliveryWorkflow;
