//! Streams an upload into an S3 multipart upload with a few parts in flight: memory stays at
//! `parts_in_flight × part_size` whatever the file size. Dropped without `finish`, it aborts the
//! multipart upload, so a failed or disconnected upload leaves no parts behind.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use tokio::task::JoinSet;

/// Parts uploaded concurrently: enough to overlap the next read with the store's latency.
pub const PARTS_IN_FLIGHT: usize = 3;

use crate::storage::{StoreError, sdk_error as sdk_err};

pub struct MultipartSink {
    s3: Client,
    bucket: String,
    key: String,
    upload_id: Option<String>,
    next_part: i32,
    in_flight: JoinSet<Result<CompletedPart, StoreError>>,
    done: Vec<CompletedPart>,
}

impl MultipartSink {
    pub async fn start(
        s3: &Client,
        bucket: &str,
        key: &str,
        content_type: &str,
    ) -> Result<Self, StoreError> {
        let out = s3
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(sdk_err)?;
        let upload_id = out
            .upload_id()
            .ok_or_else(|| StoreError("store returned no upload id".into()))?
            .to_owned();
        Ok(Self {
            s3: s3.clone(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
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
        let (s3, bucket, key) = (self.s3.clone(), self.bucket.clone(), self.key.clone());
        let upload_id = self.upload_id.clone().unwrap_or_default();
        let n = self.next_part;
        self.next_part += 1;
        self.in_flight.spawn(async move {
            let out = s3
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(n)
                .content_length(data.len() as i64)
                .body(ByteStream::from(data))
                .customize()
                // No second hash of the part for SigV4 (the store is reached over TLS in
                // deployments; the file's SHA-256 is computed on the way in).
                .disable_payload_signing()
                .send()
                .await
                .map_err(sdk_err)?;
            Ok(CompletedPart::builder()
                .set_e_tag(out.e_tag().map(str::to_owned))
                .part_number(n)
                .build())
        });
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
        parts.sort_by_key(|p| p.part_number());
        let upload_id = self.upload_id.clone().unwrap_or_default();
        self.s3
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(sdk_err)?;
        self.upload_id = None; // completed: nothing to abort on drop
        Ok(())
    }

    /// Aborts now and waits for the store to confirm.
    pub async fn abort(mut self) {
        self.in_flight.abort_all();
        if let Some(id) = self.upload_id.take() {
            abort_upload(&self.s3, &self.bucket, &self.key, &id).await;
        }
    }
}

async fn abort_upload(s3: &Client, bucket: &str, key: &str, upload_id: &str) {
    match s3
        .abort_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .send()
        .await
    {
        Ok(_) => tracing::info!(key, "multipart upload aborted"),
        Err(e) => {
            tracing::warn!(key, error = %aws_sdk_s3::error::DisplayErrorContext(e), "abort of multipart upload failed")
        }
    }
}

impl Drop for MultipartSink {
    fn drop(&mut self) {
        // Reached when the request future is dropped mid-stream (client gone): abort in the background.
        if let Some(id) = self.upload_id.take() {
            self.in_flight.abort_all();
            let (s3, bucket, key) = (self.s3.clone(), self.bucket.clone(), self.key.clone());
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { abort_upload(&s3, &bucket, &key, &id).await });
            }
        }
    }
}
