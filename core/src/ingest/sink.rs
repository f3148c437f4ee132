//! Streams an upload into an S3 multipart upload with a few parts in flight: memory stays at
//! `parts_in_flight × part_size` whatever the file size. Dropped without `finish`, it aborts the
//! multipart upload, so a failed or disconnected upload leaves no parts behind.

use bytes::Bytes;
use tokio::task::JoinSet;

use super::{PartStore, S3PartStore};
use crate::storage::StoreError;
use crate::uploads::Part;

/// Parts uploaded concurrently: enough to overlap the next read with the store's latency.
pub const PARTS_IN_FLIGHT: usize = 3;

pub struct MultipartSink<S: PartStore = S3PartStore> {
    store: S,
    upload_id: Option<String>,
    next_part: i32,
    in_flight: JoinSet<Result<Part, StoreError>>,
    done: Vec<Part>,
}

impl<S: PartStore> MultipartSink<S> {
    pub async fn start(store: S, content_type: &str) -> Result<Self, StoreError> {
        let upload_id = store.create(Some(content_type)).await?;
        Ok(Self {
            store,
            upload_id: Some(upload_id),
            next_part: 1,
            in_flight: JoinSet::new(),
            done: Vec::new(),
        })
    }

    /// Queues one part (every part but the last must be at least 5 MiB); waits while the pipeline is full.
    pub async fn push(&mut self, data: Bytes) -> Result<(), StoreError> {
        while self.in_flight.len() >= PARTS_IN_FLIGHT {
            self.reap_one().await?;
        }
        let store = self.store.clone();
        let upload_id = self.upload_id.clone().unwrap_or_default();
        let n = self.next_part;
        self.next_part += 1;
        self.in_flight
            .spawn(async move { store.upload_part(&upload_id, n, data).await });
        Ok(())
    }

    async fn reap_one(&mut self) -> Result<(), StoreError> {
        match self.in_flight.join_next().await {
            Some(Ok(Ok(part))) => {
                self.done.push(part);
                Ok(())
            }
            Some(Ok(Err(e))) => Err(e),
            Some(Err(join)) => Err(StoreError(format!("part upload task failed: {join}"))),
            None => Ok(()),
        }
    }

    pub async fn finish(mut self) -> Result<(), StoreError> {
        while !self.in_flight.is_empty() {
            self.reap_one().await?;
        }
        let mut parts = std::mem::take(&mut self.done);
        parts.sort_by_key(|p| p.number);
        let upload_id = self.upload_id.clone().unwrap_or_default();
        self.store.complete(&upload_id, &parts).await?;
        self.upload_id = None; // completed: nothing to abort on drop
        Ok(())
    }

    /// Aborts now and waits for the store to confirm.
    pub async fn abort(mut self) {
        self.in_flight.abort_all();
        if let Some(id) = self.upload_id.take() {
            abort_upload(&self.store, &id).await;
        }
    }
}

async fn abort_upload<S: PartStore>(store: &S, upload_id: &str) {
    match store.abort(upload_id).await {
        Ok(()) => tracing::info!(key = %store.key(), "multipart upload aborted"),
        Err(e) => {
            tracing::warn!(key = %store.key(), error = %e, "abort of multipart upload failed")
        }
    }
}

impl<S: PartStore> Drop for MultipartSink<S> {
    fn drop(&mut self) {
        // Reached when the request future is dropped mid-stream (client gone): abort in the background.
        if let Some(id) = self.upload_id.take() {
            self.in_flight.abort_all();
            let store = self.store.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { abort_upload(&store, &id).await });
            }
        }
    }
}
