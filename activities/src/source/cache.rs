//! Sources on this worker's disk (no worker assumes a disk shared with another). One download per
//! source at a time however many activities want it (single flight); a download that fails leaves
//! no partial file; the cache stays under `VODFLOW_WORK_DIR_MAX_BYTES` by evicting the least
//! recently used sources that no activity is reading; a finished or deleted video's source is
//! removed. Every download passes the work directory's free-space gate
//! (`VODFLOW_WORK_DIR_MIN_FREE_BYTES`) before it starts and as it goes: a download that would
//! leave less than that free fails its attempt (retryable: another attempt, maybe on another
//! worker, may find room) and leaves nothing behind, whether the disk was full already or filled
//! while it ran.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use aws_sdk_s3::Client;
use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;
use vodflow_core::VideoId;
use vodflow_workflows::types::SourceRef;

use vodflow_core::work_dir::Gate;

use crate::error::{Error, Result, s3_err};

type Locks = Arc<Mutex<HashMap<VideoId, Arc<tokio::sync::RwLock<()>>>>>;

/// How often, in bytes written, a download looks at the disk again.
const ROOM_CHECK_EVERY: u64 = 4 * 1024 * 1024;

#[derive(Clone)]
pub struct SourceCache {
    dir: PathBuf,
    max_bytes: u64,
    /// The work directory's free-space gate (a minimum of 0 never stops a download).
    gate: Gate,
    locks: Locks,
}

/// A source file held for reading: it is not evicted or removed while this lives.
pub struct HeldSource {
    pub path: PathBuf,
    _guard: tokio::sync::OwnedRwLockReadGuard<()>,
}

impl SourceCache {
    pub fn new(work_dir: &Path, max_bytes: u64, min_free: u64) -> Self {
        Self {
            dir: work_dir.join("sources"),
            max_bytes,
            gate: Gate::new(work_dir, min_free),
            locks: Arc::default(),
        }
    }

    /// Refuses to go on when writing `remaining` more bytes would leave less than the minimum
    /// free. An unmeasurable disk does not stop a download: the write then reports the real error.
    fn room_for(&self, remaining: u64) -> Result<()> {
        self.gate.room_for(remaining).map_err(|full| {
            Error::WorkDirFull(format!("{full}; the source needs {remaining} more bytes"))
        })
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
        self.room_for(src.size)?;
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
        let body = futures::stream::unfold(obj.body, |mut body| async move {
            let next = body
                .try_next()
                .await
                .map_err(|e| Error::Storage(e.to_string()))
                .transpose()?;
            Some((next, body))
        });
        let done = self
            .write_body(&partial.0, src.size, body, &mut on_progress)
            .await?;
        if done != src.size {
            return Err(Error::Storage(format!(
                "downloaded {done} bytes of {} for {}",
                src.size, src.key
            )));
        }
        tokio::fs::rename(&partial.0, path).await?;
        Ok(())
    }

    /// Writes `body` to `path`, checking the disk's room as it goes; returns the bytes written.
    async fn write_body(
        &self,
        path: &Path,
        size: u64,
        body: impl futures::Stream<Item = Result<bytes::Bytes>>,
        on_progress: &mut (impl FnMut(u64) -> BoxFuture<'static, ()> + Send),
    ) -> Result<u64> {
        use futures::StreamExt;
        let mut body = std::pin::pin!(body);
        let mut file = tokio::fs::File::create(path).await?;
        let mut done = 0u64;
        let mut last_report = 0u64;
        let mut last_check = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            file.write_all(&chunk).await?;
            done += chunk.len() as u64;
            if done - last_check >= ROOM_CHECK_EVERY {
                // Other downloads and encodes share the disk: it may fill while this one runs.
                self.room_for(size.saturating_sub(done))?;
                last_check = done;
            }
            if done - last_report >= 16 * 1024 * 1024 {
                on_progress(done).await;
                last_report = done;
            }
        }
        file.flush().await?;
        Ok(done)
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
        SourceCache::new(dir, max, 0)
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

    /// Free space the tests decide: what the disk "has" before the download, less what it wrote
    /// and what someone else wrote meanwhile.
    static FREE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

    fn test_free(_: &Path) -> Option<u64> {
        Some(FREE.load(std::sync::atomic::Ordering::SeqCst))
    }

    fn chunks(n: usize, each: usize) -> impl futures::Stream<Item = Result<bytes::Bytes>> {
        futures::stream::iter((0..n).map(move |_| {
            // Every chunk written takes its bytes off the disk, and another writer twice as many.
            let _ = FREE.fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |f| Some(f.saturating_sub(3 * each as u64)),
            );
            Ok(bytes::Bytes::from(vec![0u8; each]))
        }))
    }

    #[tokio::test]
    async fn a_download_stops_when_the_disk_fills_while_it_runs_and_one_too_big_never_starts() {
        let dir = std::env::temp_dir().join(format!("vodflow-cache-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mib = 1024 * 1024;
        let mut c = SourceCache::new(&dir, 0, 10 * mib);
        c.gate = Gate::new(&dir, 10 * mib).measured_by(test_free);
        let mut progress = |_: u64| -> BoxFuture<'static, ()> { Box::pin(async {}) };
        // 100 MiB free, a 40 MiB source, 10 MiB to keep: there is room at the start, but the
        // other writer fills the disk before this download can finish.
        FREE.store(100 * mib, std::sync::atomic::Ordering::SeqCst);
        c.room_for(40 * mib).expect("room at the start");
        let partial = dir.join("partial");
        let err = c
            .write_body(&partial, 40 * mib, chunks(40, mib as usize), &mut progress)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::WorkDirFull(_)), "{err}");
        assert!(err.to_string().contains("VODFLOW_WORK_DIR_MIN_FREE_BYTES"));
        let left = FREE.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            left >= 10 * mib,
            "stopped before the minimum was eaten: {left}"
        );
        // Without anyone else writing it fits.
        FREE.store(100 * mib, std::sync::atomic::Ordering::SeqCst);
        let alone =
            futures::stream::iter((0..40).map(|_| Ok(bytes::Bytes::from(vec![0u8; 1024 * 1024]))));
        let done = c
            .write_body(&partial, 40 * mib, alone, &mut progress)
            .await
            .unwrap();
        assert_eq!(done, 40 * mib);
        // One that cannot fit is refused before a byte is written.
        FREE.store(45 * mib, std::sync::atomic::Ordering::SeqCst);
        assert!(matches!(c.room_for(40 * mib), Err(Error::WorkDirFull(_))));
        // A gate of 0 never stops a download.
        c.gate = Gate::new(&dir, 0).measured_by(test_free);
        FREE.store(0, std::sync::atomic::Ordering::SeqCst);
        c.room_for(40 * mib).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
