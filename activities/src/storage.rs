//! The object store as the activities use it: a per-worker cache of sources (no worker assumes a
//! disk shared with another), and uploads of the files they produce.

use std::path::{Path, PathBuf};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;
use vodflow_core::workflow_types::SourceRef;

use crate::error::{Error, Result, s3_err};

/// Segments and init never change once written; playlists may be rewritten by a reprocess.
pub const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
pub const CACHE_PLAYLIST: &str = "public, max-age=10";

#[derive(Clone)]
pub struct Storage {
    pub s3: Client,
    pub work_dir: PathBuf,
}

impl Storage {
    /// The source on local disk, downloaded once per worker. `on_progress` gets bytes so far.
    pub async fn source_file(
        &self,
        src: &SourceRef,
        mut on_progress: impl FnMut(u64) -> BoxFuture<'static, ()> + Send,
    ) -> Result<PathBuf> {
        let dir = self.work_dir.join("sources").join(src.video_id.to_string());
        let path = dir.join("source");
        if tokio::fs::metadata(&path)
            .await
            .map(|m| m.len() == src.size)
            .unwrap_or(false)
        {
            return Ok(path);
        }
        tokio::fs::create_dir_all(&dir).await?;
        let obj = match self
            .s3
            .get_object()
            .bucket(&src.bucket)
            .key(&src.key)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Err(Error::InvalidMedia(format!(
                    "the source object {} does not exist",
                    src.key
                )));
            }
            Err(e) => return Err(s3_err(e)),
        };
        // Download to a temporary name so a crash never leaves a truncated file that looks complete.
        // Unique per download: two activities of one worker may fetch the same source at once.
        let partial = dir.join(format!("source.partial-{}", uuid::Uuid::new_v4().simple()));
        let mut file = tokio::fs::File::create(&partial).await?;
        let mut body = obj.body;
        let mut done = 0u64;
        let mut last_report = 0u64;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| Error::Storage(e.to_string()))?
        {
            file.write_all(&chunk).await?;
            done += chunk.len() as u64;
            if done - last_report >= 16 * 1024 * 1024 {
                on_progress(done).await;
                last_report = done;
            }
        }
        file.flush().await?;
        drop(file);
        if done != src.size {
            return Err(Error::Storage(format!(
                "downloaded {done} bytes of {} for {}",
                src.size, src.key
            )));
        }
        tokio::fs::rename(&partial, &path).await?;
        Ok(path)
    }

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
