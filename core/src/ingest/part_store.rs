//! The one interface to a store's multipart uploads, for every way a source arrives: a POST's
//! or an import's stream ([`super::MultipartSink`] through [`super::SourceWriter`]), tus PATCHes
//! that may land on different api replicas, and presigned parts a browser PUTs straight to the
//! store. As tusd's `DataStore`: the engine is written against these operations, and the store
//! behind them is one implementation ([`super::S3PartStore`]); the writer's tests run it over
//! memory.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

use crate::storage::StoreError;
use crate::uploads::Part;

/// The multipart uploads of one object. Parts are numbered from 1; every part but the last is at
/// least the store's minimum (5 MiB on S3).
pub trait PartStore: Clone + Send + Sync + 'static {
    /// The object's key (for logs).
    fn key(&self) -> &str;

    /// Opens a multipart upload of the object; its id.
    fn create(
        &self,
        content_type: Option<&str>,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    /// Stores part `number` (replacing an earlier one of that number).
    fn upload_part(
        &self,
        upload_id: &str,
        number: i32,
        data: Bytes,
    ) -> impl Future<Output = Result<Part, StoreError>> + Send;

    /// Every part the store holds for the upload, in part-number order.
    fn list_parts(
        &self,
        upload_id: &str,
    ) -> impl Future<Output = Result<Vec<Part>, StoreError>> + Send;

    /// A URL that stores part `number` when a client PUTs to it, until `ttl` has passed; with
    /// `length`, the store takes exactly that many bytes.
    fn presign_part(
        &self,
        upload_id: &str,
        number: i32,
        length: Option<i64>,
        ttl: Duration,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    /// Makes the object of `parts`, in order.
    fn complete(
        &self,
        upload_id: &str,
        parts: &[Part],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes the upload and every part of it; an upload already gone is removed.
    fn abort(&self, upload_id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}
