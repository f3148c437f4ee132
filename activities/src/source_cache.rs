//! Sources on this worker's disk (no worker assumes a disk shared with another). One download per
//! source at a time however many activities want it (single flight); a download that fails leaves
//! no partial file; the cache stays under `VODFLOW_WORK_DIR_MAX_BYTES` by evicting the least
//! recently used sources that no activity is reading; a finished or deleted video's source is
//! removed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use aws_sdk_s3::Client;
use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;
use vodflow_core::VideoId;
use vodflow_core::workflow_types::SourceRef;

use crate::error::{Error, Result, s3_err};

type Locks = Arc<Mutex<HashMap<VideoId, Arc<tokio::sync::RwLock<()>>>>>;

#[derive(Clone)]
pub struct SourceCache {
    dir: PathBuf,
    max_bytes: u64,
    locks: Locks,
}

/// A source file held for reading: it is not evicted or removed while this lives.
pub struct HeldSource {
    pub path: PathBuf,
    _guard: tokio::sync::OwnedRwLockReadGuard<()>,
}

impl SourceCache {
    pub fn new(work_dir: &Path, max_bytes: u64) -> Self {
        Self {
            dir: work_dir.join("sources"),
            max_bytes,
            locks: Arc::default(),
        }
    }

    fn lock_of(&self, id: VideoId) -> Arc<tokio::sync::RwLock<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(id).or_default().clone()
    }

    fn path_of(&self, id: VideoId) -> PathBuf {
        self.dir.join(id.to_string()).join("source")
    }

    /// The source on local disk, downloaded if missing. `on_progress` gets bytes so far.
    ///
    /// Readers share the source; one download at a time per source on this worker (the others
    /// wait for it instead of fetching the same bytes again); the returned hold keeps the
    /// eviction from removing the file while it is read.
    pub async fn get(
        &self,
        s3: &Client,
        src: &SourceRef,
        on_progress: impl FnMut(u64) -> BoxFuture<'static, ()> + Send,
    ) -> Result<HeldSource> {
        let lock = self.lock_of(src.video_id);
        let path = self.path_of(src.video_id);
        let read = lock.clone().read_owned().await;
        if complete(&path, src.size).await {
            return Ok(HeldSource { path, _guard: read });
        }
        drop(read);
        let write = lock.write_owned().await;
        // Another activity may have downloaded it while this one waited.
        if !complete(&path, src.size).await {
            self.download(s3, src, &path, on_progress).await?;
        }
        Ok(HeldSource {
            path,
            _guard: write.downgrade(),
        })
    }

    async fn download(
        &self,
        s3: &Client,
        src: &SourceRef,
        path: &Path,
        mut on_progress: impl FnMut(u64) -> BoxFuture<'static, ()> + Send,
    ) -> Result<()> {
        self.make_room(src.video_id, src.size).await;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        tokio::fs::create_dir_all(&dir).await?;
        let obj = match s3
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
        // Download to a temporary name so a crash never leaves a truncated file that looks
        // complete, and remove it whatever goes wrong.
        let partial =
            Partial(dir.join(format!("source.partial-{}", uuid::Uuid::new_v4().simple())));
        let mut file = tokio::fs::File::create(&partial.0).await?;
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
        tokio::fs::rename(&partial.0, path).await?;
        Ok(())
    }

    /// Removes the cached source of `id` (its run is over) unless an activity still reads it
    /// (an encode a failed run has not cancelled yet): then the cache budget takes it later.
    pub async fn remove(&self, id: VideoId) {
        let Ok(_guard) = self.lock_of(id).try_write_owned() else {
            return;
        };
        let _ = tokio::fs::remove_dir_all(self.dir.join(id.to_string())).await;
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.remove(&id);
    }

    /// Bytes of every cached source (what `VODFLOW_WORK_DIR_MAX_BYTES` bounds).
    pub async fn used_bytes(&self) -> u64 {
        let mut total = 0;
        let Ok(mut dirs) = tokio::fs::read_dir(&self.dir).await else {
            return 0;
        };
        while let Ok(Some(d)) = dirs.next_entry().await {
            if let Ok(mut files) = tokio::fs::read_dir(d.path()).await {
                while let Ok(Some(f)) = files.next_entry().await {
                    total += f.metadata().await.map_or(0, |m| m.len());
                }
            }
        }
        total
    }

    /// Evicts least-recently-used sources nobody holds until `incoming` more bytes fit the budget.
    async fn make_room(&self, incoming_id: VideoId, incoming: u64) {
        if self.max_bytes == 0 {
            return;
        }
        let mut entries = Vec::new();
        let mut total = 0u64;
        let Ok(mut dirs) = tokio::fs::read_dir(&self.dir).await else {
            return;
        };
        while let Ok(Some(d)) = dirs.next_entry().await {
            let Ok(id) = d.file_name().to_string_lossy().parse::<VideoId>() else {
                continue;
            };
            let mut size = 0;
            let mut newest = SystemTime::UNIX_EPOCH;
            if let Ok(mut files) = tokio::fs::read_dir(d.path()).await {
                while let Ok(Some(f)) = files.next_entry().await {
                    if let Ok(m) = f.metadata().await {
                        size += m.len();
                        newest = newest.max(m.modified().unwrap_or(SystemTime::UNIX_EPOCH));
                    }
                }
            }
            total += size;
            if id != incoming_id {
                entries.push((newest, id, size));
            }
        }
        entries.sort();
        for (_, id, size) in entries {
            if total + incoming <= self.max_bytes {
                break;
            }
            let lock = self.lock_of(id);
            // Held: an activity is reading it; leave it.
            let Ok(_guard) = lock.try_write() else {
                continue;
            };
            if tokio::fs::remove_dir_all(self.dir.join(id.to_string()))
                .await
                .is_ok()
            {
                tracing::info!(video_id = %id, bytes = size, "evicted cached source");
                total = total.saturating_sub(size);
            }
        }
    }
}

/// A download in progress: removed unless renamed into place.
struct Partial(PathBuf);

impl Drop for Partial {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Whether `path` holds the whole source; touching it marks it recently used for the eviction.
async fn complete(path: &Path, size: u64) -> bool {
    let whole = tokio::fs::metadata(path)
        .await
        .map(|m| m.len() == size)
        .unwrap_or(false);
    if whole {
        let _ = std::fs::File::options()
            .append(true)
            .open(path)
            .and_then(|f| f.set_modified(SystemTime::now()));
    }
    whole
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(dir: &Path, max: u64) -> SourceCache {
        SourceCache::new(dir, max)
    }

    async fn put(c: &SourceCache, id: VideoId, bytes: usize) {
        let p = c.path_of(id);
        tokio::fs::create_dir_all(p.parent().unwrap())
            .await
            .unwrap();
        tokio::fs::write(&p, vec![0u8; bytes]).await.unwrap();
    }

    #[tokio::test]
    async fn eviction_takes_the_least_recently_used_that_nobody_reads() {
        let dir = std::env::temp_dir().join(format!("vodflow-cache-{}", uuid::Uuid::new_v4()));
        let c = cache(&dir, 250);
        let (old, held, new) = (VideoId::new(), VideoId::new(), VideoId::new());
        put(&c, old, 100).await;
        std::thread::sleep(std::time::Duration::from_millis(20));
        put(&c, held, 100).await;
        // `held` is older than `new` but being read: it must survive.
        let reading = c.lock_of(held).read_owned().await;
        std::thread::sleep(std::time::Duration::from_millis(20));
        put(&c, new, 10).await;
        c.make_room(VideoId::new(), 100).await;
        assert!(!c.path_of(old).exists(), "least recently used goes first");
        assert!(c.path_of(held).exists(), "a source being read stays");
        assert!(c.path_of(new).exists());
        drop(reading);
        c.remove(held).await;
        assert!(!c.path_of(held).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
