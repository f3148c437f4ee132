//! The work directory's free-space gate, for every writer of the work directory: the source cache,
//! the transcode worker's polling, and every scratch directory (chunk encodes, audio, poster,
//! storyboard, downloads, thumbnails and animated previews). A disk shared with other tenants can
//! fill at any moment, so the gate is checked when a scratch directory is made and again while its
//! work runs: work that would eat the last `VODFLOW_WORK_DIR_MIN_FREE_BYTES` stops with
//! [`WorkDirFull`] (its attempt is retried, maybe on a worker with room) and leaves nothing behind.
//!
//! A process killed mid-work (SIGKILL, the OOM killer, a lost node whose volume is reattached)
//! cannot clean up, so each process writes its scratch directories under an owner directory of
//! its own, `{dir}/{area}/owner-{uuid}/`, and holds an exclusive `flock` on its `.lock` for as long
//! as it lives. The kernel drops the lock with the process: the next process to make scratch space
//! in that area removes every owner directory whose lock it can take. The lock, not a pid, says
//! who is alive: pids repeat across container restarts, and several processes may share a disk.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

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

    /// A scratch directory `{dir}/{area}/owner-…/{name}-{uuid}` for one piece of work, refused
    /// when the disk is already below the minimum.
    pub fn scratch(&self, area: &str, name: &str) -> Result<Scratch, ScratchError> {
        self.room_for(0)?;
        let path = owner_dir(&self.dir.join(area))?
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

/// This process's owner directory in one area, with the open file holding its lock.
struct Owner {
    area: PathBuf,
    dir: PathBuf,
    _lock: std::fs::File,
}

static OWNERS: Mutex<Vec<Owner>> = Mutex::new(Vec::new());

/// Scratch directories from before owner directories (`{name}-{uuid}` right under the area) are
/// removed once this old: no piece of work runs for a day.
const UNOWNED_AFTER: Duration = Duration::from_secs(24 * 3600);

/// This process's owner directory in `area`, made (after sweeping the area of the dead's) on first
/// use.
fn owner_dir(area: &Path) -> std::io::Result<PathBuf> {
    let mut owners = OWNERS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(o) = owners.iter().find(|o| o.area == area) {
        // Made again if something removed it meanwhile (an operator clearing the disk).
        std::fs::create_dir_all(&o.dir)?;
        return Ok(o.dir.clone());
    }
    std::fs::create_dir_all(area)?;
    sweep(area);
    let id = uuid::Uuid::new_v4().simple().to_string();
    // Locked before it is named as an owner's: a sweeper never sees an owner without its lock.
    let pending = area.join(format!(".lock-{id}"));
    let lock = std::fs::File::create(&pending)?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive)?;
    let dir = area.join(format!("owner-{id}"));
    std::fs::create_dir(&dir)?;
    std::fs::rename(&pending, dir.join(".lock"))?;
    owners.push(Owner {
        area: area.to_owned(),
        dir: dir.clone(),
        _lock: lock,
    });
    Ok(dir)
}

/// Removes what dead processes left in `area`: owner directories (and pending lock files) whose
/// lock nobody holds, and pre-owner scratch directories older than [`UNOWNED_AFTER`].
fn sweep(area: &Path) {
    let Ok(entries) = std::fs::read_dir(area) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let dead = if name.starts_with("owner-") {
            unlocked(&path.join(".lock")).unwrap_or_else(|| older_than(&path, UNOWNED_AFTER))
        } else if name.starts_with(".lock-") {
            unlocked(&path).unwrap_or(false)
        } else {
            older_than(&path, UNOWNED_AFTER)
        };
        if !dead {
            continue;
        }
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match removed {
            Ok(()) => {
                tracing::info!(path = %path.display(), "removed scratch space a dead process left")
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "could not remove scratch space a dead process left")
            }
        }
    }
}

/// Whether nobody holds the lock file at `path` (`None` when there is no such file).
fn unlocked(path: &Path) -> Option<bool> {
    let file = std::fs::File::open(path).ok()?;
    Some(rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok())
}

fn older_than(path: &Path, age: Duration) -> bool {
    std::fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|d| d > age)
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

    #[tokio::test]
    async fn a_dead_process_s_scratch_space_is_removed_and_a_live_one_s_kept() {
        let root = std::env::temp_dir().join(format!("vodflow-sweep-{}", uuid::Uuid::new_v4()));
        let area = root.join("scratch");
        // What a SIGKILLed process leaves: its owner directory, unlocked, with work in it.
        let dead = area.join("owner-dead");
        std::fs::create_dir_all(dead.join("chunk-3-abc")).unwrap();
        std::fs::write(dead.join(".lock"), b"").unwrap();
        std::fs::write(dead.join("chunk-3-abc/seg.m4s"), vec![0u8; 4096]).unwrap();
        // A live process's: its lock is held (by another open file, as another process's would be).
        let live = area.join("owner-live");
        std::fs::create_dir_all(live.join("audio-def")).unwrap();
        let held = std::fs::File::create(live.join(".lock")).unwrap();
        rustix::fs::flock(&held, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
        // A fresh directory of the layout before owners: may be a live older process's.
        std::fs::create_dir_all(area.join("poster-123")).unwrap();

        let gate = Gate::new(&root, 0);
        let s = gate.scratch("scratch", "poster").unwrap();
        assert!(!dead.exists(), "the dead process's scratch space was left");
        assert!(
            live.join("audio-def").exists(),
            "a live process's scratch space was removed"
        );
        assert!(area.join("poster-123").exists());
        // This process's own is locked: a second sweeper (another process) leaves it alone.
        let own = s.path().parent().unwrap().to_owned();
        assert_eq!(unlocked(&own.join(".lock")), Some(false));
        drop(s);
        assert!(
            own.exists(),
            "the owner directory lives as long as the process"
        );
        drop(held);
        assert_eq!(unlocked(&live.join(".lock")), Some(true));
        let _ = std::fs::remove_dir_all(&root);
    }
}
