//! The source's SHA-256, recorded on the video by the probe step from the worker's copy (see
//! `vodflow_core::source_digest` for why not at ingest).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use temporalio_sdk::activities::ActivityContext;
use vodflow_core::repo;
use vodflow_core::workflow_types::SourceRef;

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
    let hashing = vodflow_core::source_digest::sha256_of_file(path, done.clone());
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
