//! The work directory's free-space gate, for every writer of the work directory: the source cache,
//! the transcode worker's polling, and every scratch directory (chunk encodes, audio, poster,
//! storyboard, downloads, thumbnails and animated previews). A disk shared with other tenants can
//! fill at any moment, so the gate is checked when a scratch directory is made and again while its
//! work runs: work that would eat the last `VODFLOW_WORK_DIR_MIN_FREE_BYTES` stops with
//! [`WorkDirFull`] (its attempt is retried, maybe on a worker with room) and leaves nothing behind.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often running work looks at the disk again. `statvfs` is one cheap syscall, and a second
/// is shorter than any encode can fill gigabytes.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Free bytes of the file system holding a directory (`None` when it cannot be measured).
pub type FreeBytes = fn(&Path) -> Option<u64>;

#[derive(Debug, thiserror::Error)]
#[error(
    "the work directory has {free} bytes free and {min_free} must stay free (VODFLOW_WORK_DIR_MIN_FREE_BYTES)"
)]
pub struct WorkDirFull {
    pub free: u64,
    pub min_free: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    #[error(transparent)]
    Full(#[from] WorkDirFull),
    #[error("cannot create a scratch directory: {0}")]
    Io(#[from] std::io::Error),
}

/// Bytes an unprivileged process may still write where `dir` lives. A fresh worker's directory
/// may not exist yet: the nearest existing ancestor is measured.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let existing = dir.ancestors().find(|p| p.exists())?;
    let st = rustix::fs::statvfs(existing).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

#[derive(Debug, Clone)]
pub struct Gate {
    dir: PathBuf,
    min_free: u64,
    free_bytes: FreeBytes,
}

impl Gate {
    pub fn new(dir: impl Into<PathBuf>, min_free: u64) -> Self {
        Self {
            dir: dir.into(),
            min_free,
            free_bytes,
        }
    }

    /// The same gate reading the disk through `f` (tests fill a pretend disk).
    pub fn measured_by(mut self, f: FreeBytes) -> Self {
        self.free_bytes = f;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn min_free(&self) -> u64 {
        self.min_free
    }

    pub fn free_bytes(&self) -> Option<u64> {
        (self.free_bytes)(&self.dir)
    }

    /// Refuses when writing `more` bytes would leave less than the minimum free. An unmeasurable
    /// disk does not stop anyone: the write then reports the real error.
    pub fn room_for(&self, more: u64) -> Result<(), WorkDirFull> {
        if self.min_free == 0 {
            return Ok(());
        }
        match self.free_bytes() {
            Some(free) if free < more.saturating_add(self.min_free) => Err(WorkDirFull {
                free,
                min_free: self.min_free,
            }),
            _ => Ok(()),
        }
    }

    pub fn open(&self) -> bool {
        self.room_for(0).is_ok()
    }

    /// Resolves once the disk is below the minimum, with what was measured.
    pub async fn closed(&self) -> WorkDirFull {
        loop {
            if let Err(full) = self.room_for(0) {
                return full;
            }
            tokio::time::sleep(CHECK_EVERY).await;
        }
    }

    /// Resolves once the disk has room again.
    pub async fn opened(&self) {
        while !self.open() {
            tokio::time::sleep(CHECK_EVERY).await;
        }
    }

    /// Runs `work` (which writes to this disk) while the disk keeps its minimum free; if the disk
    /// falls below it meanwhile (this work's writes or anyone else's), `work` is dropped (children
    /// spawned with `kill_on_drop` die with it) and the answer is [`WorkDirFull`].
    pub async fn guard<T, E: From<WorkDirFull>>(
        &self,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        self.room_for(0)?;
        tokio::select! {
            done = work => done,
            full = self.closed() => {
                tracing::warn!(dir = %self.dir.display(), %full, "work stopped: the disk filled while it ran");
                Err(full.into())
            }
        }
    }

    /// A scratch directory `{dir}/{area}/{name}-{uuid}` for one piece of work, refused when the
    /// disk is already below the minimum.
    pub fn scratch(&self, area: &str, name: &str) -> Result<Scratch, ScratchError> {
        self.room_for(0)?;
        let path = self
            .dir
            .join(area)
            .join(format!("{name}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path)?;
        Ok(Scratch {
            path,
            gate: self.clone(),
        })
    }
}

/// A directory for one piece of work, removed with everything in it when dropped.
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
    gate: Gate,
}

impl Scratch {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }

    /// Runs `work` (which writes here) under the gate: see [`Gate::guard`].
    pub async fn guard<T, E: From<WorkDirFull>>(
        &self,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        self.gate.guard(work).await
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    static FREE: AtomicU64 = AtomicU64::new(0);

    fn pretend(_: &Path) -> Option<u64> {
        Some(FREE.load(Ordering::SeqCst))
    }

    #[test]
    fn measures_the_nearest_existing_directory() {
        assert!(free_bytes(Path::new("/tmp/does/not/exist/yet")).unwrap() > 0);
        assert!(Gate::new("/tmp", 1).open());
        assert!(!Gate::new("/tmp", u64::MAX).open());
        assert!(Gate::new("/tmp", 0).open());
    }

    #[tokio::test]
    async fn work_stops_when_the_disk_fills_while_it_runs_and_leaves_nothing_behind() {
        let root = std::env::temp_dir().join(format!("vodflow-gate-{}", uuid::Uuid::new_v4()));
        let gate = Gate::new(&root, 100).measured_by(pretend);
        FREE.store(50, Ordering::SeqCst);
        assert!(matches!(
            gate.scratch("scratch", "full"),
            Err(ScratchError::Full(WorkDirFull {
                free: 50,
                min_free: 100
            }))
        ));
        FREE.store(1000, Ordering::SeqCst);
        let scratch = gate.scratch("scratch", "fills").expect("room at the start");
        let path = scratch.path().to_path_buf();
        std::fs::write(scratch.join("partial"), b"x").unwrap();
        // Another writer takes the disk below the minimum a moment into a thirty-second job.
        let filler = tokio::spawn(async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            FREE.store(99, Ordering::SeqCst);
        });
        let started = tokio::time::Instant::now();
        let out: Result<(), ScratchError> = scratch
            .guard(async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(())
            })
            .await;
        filler.await.unwrap();
        let err = out.unwrap_err();
        assert!(
            err.to_string().contains("VODFLOW_WORK_DIR_MIN_FREE_BYTES"),
            "{err}"
        );
        assert!(
            started.elapsed() < CHECK_EVERY * 3,
            "stopped within a check: {:?}",
            started.elapsed()
        );
        drop(scratch);
        assert!(!path.exists(), "the scratch directory is removed");
        // With room all along the work finishes; a gate of 0 never stops anything.
        FREE.store(1000, Ordering::SeqCst);
        let s = gate.scratch("scratch", "fits").unwrap();
        let fine: Result<u8, ScratchError> = s.guard(async { Ok(7) }).await;
        assert_eq!(fine.unwrap(), 7);
        FREE.store(0, Ordering::SeqCst);
        assert!(
            Gate::new(&root, 0)
                .measured_by(pretend)
                .room_for(u64::MAX)
                .is_ok()
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}
