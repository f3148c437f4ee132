//! How a source gets into the store, whatever path it takes (a POST's body, an import's download,
//! tus PATCHes, presigned parts): one part store over the store's multipart uploads, one streaming
//! sink with a few parts in flight, and one writer that caps, sniffs and cuts a stream into parts.

pub mod part_buffers;
mod part_store;
mod s3_part_store;
mod sink;
mod source_writer;

pub use part_store::PartStore;
pub use s3_part_store::S3PartStore;
pub use sink::{MultipartSink, PARTS_IN_FLIGHT};
pub use source_writer::{SourceWriteError, SourceWriter, StoredSource};
