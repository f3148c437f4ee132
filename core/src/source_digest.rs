//! A source's SHA-256, computed by the worker from its local copy. Not at ingest: there it cost
//! the api 0.6 CPU-s per GiB on every upload's critical path (half of all it spent), and the
//! presigned multipart path had to read the whole object back through the api to get it.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

/// Hashes the file at `path` on a blocking thread, in lowercase hex; `done` counts the bytes
/// hashed so far, for progress reports.
pub async fn sha256_of_file(path: &Path, done: Arc<AtomicU64>) -> std::io::Result<String> {
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
