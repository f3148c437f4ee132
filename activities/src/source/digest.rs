//! The source's SHA-256, computed by the worker from its local copy and recorded on the video by
//! the probe step. Not at ingest: there it cost the api 0.6 CPU-s per GiB on every upload's
//! critical path (half of all it spent), and the presigned multipart path had to read the whole
//! object back through the api to get it.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use temporalio_sdk::activities::ActivityContext;
use vodflow_core::repo;
use vodflow_workflows::types::SourceRef;

use crate::Deps;
use crate::error::Error;
use crate::heartbeat::{beat, heartbeat_every};

/// Hashes the file at `path` and records it, unless the video has its digest already (a retried
/// probe, a replay); heartbeats while hashing, which takes ~0.6 s per GiB.
pub(crate) async fn record_if_missing(
    deps: &Deps,
    ctx: &ActivityContext,
    src: &SourceRef,
    path: &Path,
) -> Result<(), Error> {
    if !repo::source_digest_missing(&deps.pool, src.video_id).await? {
        return Ok(());
    }
    let done = Arc::new(AtomicU64::new(0));
    let hashing = sha256_of_file(path, done.clone());
    let mut hashing = std::pin::pin!(hashing);
    let every = heartbeat_every(ctx);
    let size = src.size.max(1) as f64;
    let digest = loop {
        tokio::select! {
            r = &mut hashing => break r?,
            () = tokio::time::sleep(every) => {
                let hashed = done.load(Ordering::Relaxed) as f64;
                beat(ctx, "digest", 0.0, hashed * 100.0 / size).await;
            }
        }
    };
    repo::set_source_digest(&deps.pool, src.video_id, &digest).await?;
    tracing::info!(video_id = %src.video_id, sha256 = %digest, "source digest recorded");
    Ok(())
}

/// Hashes the file at `path` on a blocking thread, in lowercase hex; `done` counts the bytes
/// hashed so far, for progress reports.
async fn sha256_of_file(path: &Path, done: Arc<AtomicU64>) -> std::io::Result<String> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
            done.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(hex::encode(hasher.finalize()))
    })
    .await
    .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_digest_is_sha256sum_s_and_progress_counts_every_byte() {
        let path = std::env::temp_dir().join(format!(
            "vodflow-digest-test-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        // Longer than one read, not a multiple of it.
        let data: Vec<u8> = (0..(3 << 20) + 12345)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        std::fs::write(&path, &data).unwrap();
        let done = Arc::new(AtomicU64::new(0));
        let digest = sha256_of_file(&path, done.clone()).await.unwrap();
        assert_eq!(digest, hex::encode(Sha256::digest(&data)));
        assert_eq!(done.load(Ordering::Relaxed), data.len() as u64);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            sha256_of_file(Path::new("/nonexistent/source"), done)
                .await
                .unwrap_err()
                .kind(),
            std::io::ErrorKind::NotFound
        );
    }
}
