//! The object store as the activities use it: uploads of the files they produce, reads of small
//! objects, and scratch space. (Sources are fetched through [`crate::source::cache`].)

use std::path::{Path, PathBuf};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use vodflow_core::caching::Caching;
use vodflow_core::work_dir::{Gate, Scratch};

use futures::StreamExt;

use crate::error::{Error, Result, s3_err};

/// Objects read at once when a rendition is gathered into one file.
const CONCAT_IN_FLIGHT: usize = 8;

#[derive(Clone)]
pub struct Storage {
    pub s3: Client,
    pub work_dir: PathBuf,
    /// Downloaded sources on this worker's disk.
    pub sources: crate::source::cache::SourceCache,
    /// Free space every scratch directory's work must leave on the work directory's disk.
    pub gate: Gate,
}

impl Storage {
    pub async fn put_bytes(
        &self,
        bucket: &str,
        key: &str,
        data: Vec<u8>,
        content_type: &str,
        cache: Caching,
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
        cache: Caching,
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
        cache: Caching,
    ) -> Result<()> {
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .cache_control(cache.uncapped())
            .body(body)
            .send()
            .await
            .map_err(s3_err)?;
        Ok(())
    }

    pub async fn get_bytes(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
        self.get(bucket, key, None).await
    }

    /// The first `len` bytes of an object (all of it when shorter), or `None` when it is missing.
    pub async fn get_prefix(&self, bucket: &str, key: &str, len: u64) -> Result<Option<Vec<u8>>> {
        let range = format!("bytes=0-{}", len.saturating_sub(1));
        self.get(bucket, key, Some(range)).await
    }

    /// An object whole, or the `range` of it, read into memory; `None` when it is missing.
    async fn get(&self, bucket: &str, key: &str, range: Option<String>) -> Result<Option<Vec<u8>>> {
        let asked = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_range(range);
        match asked.send().await {
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

    /// Writes the objects under `prefix` that `keep` accepts into `out`, one after the other in
    /// key order (`init.mp4` first, then the segments as numbered), streamed.
    pub async fn concat_objects(
        &self,
        bucket: &str,
        prefix: &str,
        out: &Path,
        keep: impl Fn(&str) -> bool,
    ) -> Result<u64> {
        let mut keys = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(s3_err)?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter(|k| keep(k))
                    .map(str::to_owned),
            );
        }
        // The init segment first, whatever the names; then the segments, numbered to sort.
        keys.sort_by_key(|k| (!k.ends_with("/init.mp4"), k.clone()));
        let mut file = tokio::fs::File::create(out).await?;
        let mut written = 0;
        // A few objects in flight, written in order: one GET at a time, a 12-hour rendition's
        // 10,800 segments were minutes of round trips. Memory: at most that many segments.
        let mut bodies = futures::stream::iter(keys.into_iter().map(|key| {
            let s3 = self.s3.clone();
            async move {
                let obj = s3
                    .get_object()
                    .bucket(bucket)
                    .key(&key)
                    .send()
                    .await
                    .map_err(s3_err)?;
                let data = obj
                    .body
                    .collect()
                    .await
                    .map_err(|e| Error::Storage(format!("reading {key}: {e}")))?;
                Ok::<_, Error>(data.into_bytes())
            }
        }))
        .buffered(CONCAT_IN_FLIGHT);
        while let Some(data) = bodies.next().await {
            let data = data?;
            tokio::io::AsyncWriteExt::write_all(&mut file, &data).await?;
            written += data.len() as u64;
        }
        tokio::io::AsyncWriteExt::flush(&mut file).await?;
        Ok(written)
    }

    /// One rendition of a generation (its init segment and media segments, in order) as one
    /// fragmented MP4 at `out`: what a remux or a storyboard reads.
    pub async fn concat_rendition(
        &self,
        bucket: &str,
        id: vodflow_core::VideoId,
        generation: u32,
        rendition: &str,
        only: Option<&std::collections::BTreeSet<u32>>,
        out: &Path,
    ) -> Result<u64> {
        let prefix = format!(
            "{}{}",
            vodflow_core::layout::hls_prefix(id),
            vodflow_core::layout::rendition_dir(generation, rendition)
        );
        let wanted = |key: &str| match only {
            None => true,
            Some(set) => {
                vodflow_core::layout::segment_number(key).is_some_and(|n| set.contains(&n))
            }
        };
        self.concat_objects(bucket, &prefix, out, |key| {
            key.ends_with("/init.mp4") || (key.ends_with(".m4s") && wanted(key))
        })
        .await
    }

    /// Copies an object inside the store (no bytes through the worker), keeping its type and
    /// caching.
    pub async fn copy(&self, bucket: &str, from: &str, to: &str) -> Result<()> {
        self.s3
            .copy_object()
            .bucket(bucket)
            .copy_source(format!("{bucket}/{from}"))
            .key(to)
            .send()
            .await
            .map_err(s3_err)?;
        Ok(())
    }

    /// A scratch directory for one activity attempt, removed when dropped; refused when the disk
    /// is below its minimum free. Run what writes there under [`Scratch::guard`].
    pub fn scratch(&self, name: &str) -> Result<Scratch> {
        Ok(self.gate.scratch("scratch", name)?)
    }
}
