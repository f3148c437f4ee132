//! Every event body vodflow publishes or consumes, typed, in one place. Their JSON Schemas are in
//! `schemas/`: `video_uploaded` is written by hand (its constraints are what the bridge checks);
//! the outgoing ones are generated from these types and a test keeps the files equal to them
//! (`VODFLOW_UPDATE_SCHEMAS=1 cargo test -p vodflow-core schemas` rewrites them). Each carries
//! what a consumer needs to refuse what it does not understand instead of misreading it.

mod outgoing;
mod uploaded;

pub use outgoing::{
    UpdateChange, VIDEO_PROCESSED_SCHEMA_VERSION, VideoDeleted, VideoProcessed, VideoUpdated,
    WebhookEnvelope,
};
pub use uploaded::{EventError, VIDEO_UPLOADED_SCHEMA_VERSION, VideoUploaded};
