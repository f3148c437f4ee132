//! One S3 multipart upload driven part by part across requests (a resumable upload's PATCHes may
//! land on different api replicas), and the object that holds an incomplete last part between
//! requests.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use vodflow_core::uploads::Part;

use super::{StoreError, err};

#[derive(Clone)]
pub struct PartStore {
    pub s3: Client,
    pub bucket: String,
    pub key: String,
}

impl PartStore {
    pub async fn create(&self, content_type: &str) -> Result<String, StoreError> {
        let out = self
            .s3
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .content_type(content_type)
            .send()
            .await
            .map_err(err)?;
        out.upload_id()
            .map(str::to_owned)
            .ok_or_else(|| StoreError("store returned no upload id".into()))
    }

    pub async fn upload_part(
        &self,
        upload_id: &str,
        number: i32,
        data: Bytes,
    ) -> Result<Part, StoreError> {
        let size = data.len() as i64;
        let out = self
            .s3
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .part_number(number)
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

    pub async fn complete(&self, upload_id: &str, parts: &[Part]) -> Result<(), StoreError> {
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

    pub async fn abort(&self, upload_id: &str) -> Result<(), StoreError> {
        self.s3
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(err)?;
        Ok(())
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

    /// Where the bytes past the last whole part wait for the next request.
    fn pending_key(&self) -> String {
        format!("{}.pending", self.key)
    }

    pub async fn put_pending(&self, data: Bytes) -> Result<(), StoreError> {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(self.pending_key())
            .content_length(data.len() as i64)
            .body(ByteStream::from(data))
            .send()
            .await
            .map_err(err)?;
        Ok(())
    }

    /// The pending bytes; exactly `expected` of them, or an error (the row and the store disagree).
    pub async fn get_pending(&self, expected: usize) -> Result<Vec<u8>, StoreError> {
        let out = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(self.pending_key())
            .send()
            .await
            .map_err(err)?;
        let data = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError(format!("reading the pending part: {e}")))?
            .into_bytes()
            .to_vec();
        if data.len() != expected {
            return Err(StoreError(format!(
                "the pending part has {} bytes, the upload recorded {expected}",
                data.len()
            )));
        }
        Ok(data)
    }

    pub async fn delete_pending(&self) -> Result<(), StoreError> {
        self.s3
            .delete_object()
            .bucket(&self.bucket)
            .key(self.pending_key())
            .send()
            .await
            .map_err(err)?;
        Ok(())
    }
}
