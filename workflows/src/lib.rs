//! vodflow-workflows: the deterministic orchestration of a video's processing, and the typed
//! contract of the activities it calls.
//!
//! It must not do I/O, read clocks or the environment, or use randomness outside the Temporal SDK:
//! everything that touches the world is an activity (`vodflow-activities`).

pub mod contract;
pub mod video_processing;
pub mod webhook_delivery;

pub use video_processing::VideoProcessingWorkflow;
pub use webhook_delivery::WebhookDeliveryWorkflow;
