//! The api's own object-store work: the ingest engine's part store (`vodflow_core::ingest`), and
//! removing a video's objects.

pub use vodflow_core::ingest::{PartStore, S3PartStore};

pub use vodflow_core::storage::{StoreError, delete_prefix, delete_video_objects};

pub(crate) fn err<E: std::error::Error + 'static>(e: aws_sdk_s3::error::SdkError<E>) -> StoreError {
    vodflow_core::storage::sdk_error(e)
}
