//! Free space of the work directory's file system, which decides whether a transcode worker may
//! take encode tasks: a worker that keeps polling with a full disk only fails every chunk it
//! takes (and takes them away from workers that could encode them).

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often the gate looks at the disk.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct DiskGate {
    dir: PathBuf,
    min_free: u64,
}

impl DiskGate {
    pub fn new(dir: impl Into<PathBuf>, min_free: u64) -> Self {
        Self {
            dir: dir.into(),
            min_free,
        }
    }

    /// Bytes an unprivileged process may still write where the work directory lives (`None` when
    /// it cannot be measured, e.g. the directory does not exist yet).
    pub fn free_bytes(&self) -> Option<u64> {
        free_bytes(&self.dir)
    }

    /// Whether there is room to take work. An unmeasurable disk does not stop a worker: the
    /// encode itself then reports the real error.
    pub fn open(&self) -> bool {
        self.min_free == 0 || self.free_bytes().is_none_or(|free| free >= self.min_free)
    }

    /// Resolves once the disk is below the threshold.
    pub async fn closed(&self) {
        while self.open() {
            tokio::time::sleep(CHECK_EVERY).await;
        }
    }

    /// Resolves once the disk has room again.
    pub async fn opened(&self) {
        while !self.open() {
            tokio::time::sleep(CHECK_EVERY).await;
        }
    }

    pub fn min_free(&self) -> u64 {
        self.min_free
    }
}

pub fn free_bytes(dir: &Path) -> Option<u64> {
    // The directory may not exist yet on a fresh worker: measure the nearest existing ancestor.
    let existing = dir.ancestors().find(|p| p.exists())?;
    let st = rustix::fs::statvfs(existing).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_the_nearest_existing_directory() {
        let free = free_bytes(Path::new("/tmp/does/not/exist/yet")).unwrap();
        assert!(free > 0);
        assert!(DiskGate::new("/tmp", 1).open());
        assert!(!DiskGate::new("/tmp", u64::MAX).open());
        assert!(DiskGate::new("/tmp", 0).open());
    }
}
