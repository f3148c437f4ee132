//! [`PartStore`] over an S3-compatible store's multipart uploads, and the objects that hold a tus
//! upload's bytes past its last whole part between requests (the store side of tus's deferred
//! part, which only the api's tus path uses).

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;

use super::PartStore;
use crate::layout;
use crate::storage::{StoreError, sdk_error as err};
use crate::uploads::{Part, PendingSegment};

/// The multipart uploads of one object, `key` in `bucket`.
#[derive(Clone)]
pub struct S3PartStore {
    pub s3: Client,
    pub bucket: String,
    pub key: String,
}

impl S3PartStore {
    pub fn new(s3: &Client, bucket: &str, key: &str) -> Self {
        Self {
            s3: s3.clone(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        }
    }

    /// The request that stores part `number` of the upload, sent here or signed for a client.
    fn part(
        &self,
        upload_id: &str,
        number: i32,
    ) -> aws_sdk_s3::operation::upload_part::builders::UploadPartFluentBuilder {
        self.s3
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .part_number(number)
    }

    /// Size of the completed object, if it exists (a finish interrupted after the store
    /// completed the upload).
    pub async fn object_size(&self) -> Result<Option<u64>, StoreError> {
        match self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .send()
            .await
        {
            Ok(h) => Ok(Some(h.content_length().unwrap_or(0).max(0) as u64)),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(err(e)),
        }
    }

    /// Stores one request's bytes past the last whole part.
    pub async fn put_segment(&self, seg: &PendingSegment, data: Bytes) -> Result<(), StoreError> {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(layout::pending_segment_key(&self.key, seg.start, seg.lease))
            .content_length(data.len() as i64)
            .body(ByteStream::from(data))
            .send()
            .await
            .map_err(err)?;
        Ok(())
    }

    /// Appends the bytes of `segs` to `out`, in order; each exactly as long as recorded, or an
    /// error (the row and the store disagree).
    pub async fn read_segments(
        &self,
        segs: &[PendingSegment],
        out: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        for seg in segs {
            let key = layout::pending_segment_key(&self.key, seg.start, seg.lease);
            let before = out.len();
            self.read_into(&key, out).await?;
            if (out.len() - before) as i64 != seg.len {
                return Err(StoreError(format!(
                    "the pending segment at {} has {} bytes, the upload recorded {}",
                    seg.start,
                    out.len() - before,
                    seg.len
                )));
            }
        }
        Ok(())
    }

    /// The pending bytes of an upload recorded before segments: exactly `expected` of them.
    pub async fn get_legacy_pending(&self, expected: usize) -> Result<Vec<u8>, StoreError> {
        let mut data = Vec::with_capacity(expected);
        self.read_into(&layout::legacy_pending_key(&self.key), &mut data)
            .await?;
        if data.len() != expected {
            return Err(StoreError(format!(
                "the pending part has {} bytes, the upload recorded {expected}",
                data.len()
            )));
        }
        Ok(data)
    }

    async fn read_into(&self, key: &str, out: &mut Vec<u8>) -> Result<(), StoreError> {
        let mut body = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(err)?
            .body;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| StoreError(format!("reading {key}: {e}")))?
        {
            out.extend_from_slice(&chunk);
        }
        Ok(())
    }

    /// Removes segments whose bytes are now in stored parts (best effort: whatever stays is
    /// removed with the rest when the upload ends).
    pub async fn delete_segments(&self, segs: &[PendingSegment]) {
        let keys: Vec<String> = segs
            .iter()
            .map(|seg| layout::pending_segment_key(&self.key, seg.start, seg.lease))
            .collect();
        // One request per 1,000 (a part of 64 KiB PATCHes is ~80 segments: one request).
        for batch in keys.chunks(1000) {
            let batch: Vec<&str> = batch.iter().map(String::as_str).collect();
            if let Err(e) = crate::storage::delete_keys(&self.s3, &self.bucket, &batch).await {
                tracing::warn!(segments = batch.len(), error = %e, "could not remove pending segments");
            }
        }
    }

    /// Removes every pending byte of the upload (segments, and the single object of older ones).
    pub async fn delete_pending(&self) -> Result<(), StoreError> {
        crate::storage::delete_prefix(&self.s3, &self.bucket, &layout::pending_prefix(&self.key))
            .await?;
        Ok(())
    }
}

impl PartStore for S3PartStore {
    fn key(&self) -> &str {
        &self.key
    }

    /// Opens a multipart upload for the key; its id.
    async fn create(&self, content_type: Option<&str>) -> Result<String, StoreError> {
        let out = self
            .s3
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .set_content_type(content_type.map(str::to_owned))
            .send()
            .await
            .map_err(err)?;
        out.upload_id()
            .map(str::to_owned)
            .ok_or_else(|| StoreError("store returned no upload id".into()))
    }

    async fn upload_part(
        &self,
        upload_id: &str,
        number: i32,
        data: Bytes,
    ) -> Result<Part, StoreError> {
        let size = data.len() as i64;
        let out = self
            .part(upload_id, number)
            .content_length(size)
            .body(ByteStream::from(data))
            .customize()
            // The part's bytes are not hashed for SigV4 (deployments reach the store over TLS,
            // which protects them); the whole file's SHA-256 is the worker's, from its copy.
            .disable_payload_signing()
            .send()
            .await
            .map_err(err)?;
        Ok(Part {
            number,
            etag: out.e_tag().unwrap_or_default().to_owned(),
            size,
        })
    }

    /// Every part the store holds for the upload, in part-number order.
    async fn list_parts(&self, upload_id: &str) -> Result<Vec<Part>, StoreError> {
        let mut parts = Vec::new();
        let mut marker = None::<String>;
        loop {
            let page = self
                .s3
                .list_parts()
                .bucket(&self.bucket)
                .key(&self.key)
                .upload_id(upload_id)
                .set_part_number_marker(marker.take())
                .send()
                .await
                .map_err(err)?;
            parts.extend(page.parts().iter().map(|p| Part {
                number: p.part_number().unwrap_or_default(),
                etag: p.e_tag().unwrap_or_default().to_owned(),
                size: p.size().unwrap_or_default(),
            }));
            if !page.is_truncated().unwrap_or(false) {
                break;
            }
            marker = page.next_part_number_marker().map(str::to_owned);
            if marker.is_none() {
                break;
            }
        }
        Ok(parts)
    }

    /// A URL that PUTs part `number` of the upload straight to the store until `ttl` has passed;
    /// with `length`, the store takes exactly that many bytes (it is signed).
    async fn presign_part(
        &self,
        upload_id: &str,
        number: i32,
        length: Option<i64>,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(ttl)
            .map_err(|e| StoreError(e.to_string()))?;
        let presigned = self
            .part(upload_id, number)
            .set_content_length(length)
            .presigned(config)
            .await
            .map_err(err)?;
        Ok(presigned.uri().to_owned())
    }

    async fn complete(&self, upload_id: &str, parts: &[Part]) -> Result<(), StoreError> {
        let parts = parts
            .iter()
            .map(|p| {
                CompletedPart::builder()
                    .part_number(p.number)
                    .e_tag(&p.etag)
                    .build()
            })
            .collect();
        self.s3
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn abort(&self, upload_id: &str) -> Result<(), StoreError> {
        match self
            .s3
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .send()
            .await
        {
            // Completed or aborted already: nothing of it is left, as an abort wants.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_upload()) => Ok(()),
            Err(e) => Err(err(e)),
            Ok(_) => Ok(()),
        }
    }
}
