//! The api's own object-store work: streaming uploads into multipart uploads, and removing a
//! video's objects.

mod parts;

pub use parts::PartStore;
pub use vodflow_core::multipart_sink::MultipartSink;

pub use vodflow_core::storage::{StoreError, delete_prefix, delete_video_objects};

pub(crate) fn err<E: std::error::Error + 'static>(e: aws_sdk_s3::error::SdkError<E>) -> StoreError {
    vodflow_core::storage::sdk_error(e)
}
