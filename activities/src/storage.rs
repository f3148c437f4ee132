//! The object store as the activities use it: uploads of the files they produce, reads of small
//! objects, and scratch space. (Sources are fetched through [`crate::source_cache`].)

use std::path::{Path, PathBuf};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use crate::error::{Error, Result, s3_err};

/// Segments and init never change once written; playlists may be rewritten by a reprocess.
pub const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
pub const CACHE_PLAYLIST: &str = "public, max-age=10";
/// A growing (`EVENT`) playlist changes every few seconds.
pub const CACHE_PLAYLIST_GROWING: &str = "public, max-age=1";

#[derive(Clone)]
pub struct Storage {
    pub s3: Client,
    pub work_dir: PathBuf,
    /// Downloaded sources on this worker's disk.
    pub sources: crate::source_cache::SourceCache,
}

impl Storage {
    pub async fn put_bytes(
        &self,
        bucket: &str,
        key: &str,
        data: Vec<u8>,
        content_type: &str,
        cache: &str,
    ) -> Result<()> {
        self.put(bucket, key, ByteStream::from(data), content_type, cache)
            .await
    }

    pub async fn put_file(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        content_type: &str,
        cache: &str,
    ) -> Result<()> {
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| Error::Storage(e.to_string()))?;
        self.put(bucket, key, body, content_type, cache).await
    }

    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: ByteStream,
        content_type: &str,
        cache: &str,
    ) -> Result<()> {
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .cache_control(cache)
            .body(body)
            .send()
            .await
            .map_err(s3_err)?;
        Ok(())
    }

    pub async fn get_bytes(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
        match self.s3.get_object().bucket(bucket).key(key).send().await {
            Ok(o) => Ok(Some(
                o.body
                    .collect()
                    .await
                    .map_err(|e| Error::Storage(e.to_string()))?
                    .to_vec(),
            )),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(s3_err(e)),
        }
    }

    /// A scratch directory for one activity attempt, removed when dropped.
    pub fn scratch(&self, name: &str) -> Result<Scratch> {
        let dir = self
            .work_dir
            .join("scratch")
            .join(format!("{name}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }
}

pub struct Scratch(pub PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
