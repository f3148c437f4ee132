//! The backfill's `loudness` output: a ready video made without `normalize_audio` gets it. Its
//! published segments are immutable in players' and CDNs' caches, so the audio cannot be replaced
//! in place: a forced run makes a new generation, in which the audio is measured and encoded with
//! one gain, and every video chunk is copied in the store from the generation shown (same
//! parameters, same bytes: `encode_chunk`'s reuse), not encoded. The old generation plays until
//! the new master replaces it. One attempt of this activity starts at most one run and waits for
//! it; a retry finds the run it started (open: waited for; ended ready: done).

use std::time::Duration;

use temporalio_client::{WorkflowExecutionStatus, WorkflowIdReusePolicy};
use temporalio_sdk::activities::ActivityContext;
use vodflow_core::{VideoId, VideoStatus, repo};
use vodflow_workflows::video_processing::{Run, run_status, start_run};

use crate::Deps;
use crate::error::{Error, Result};

/// How often a wait for the run looks at it again (and heartbeats).
const POLL: Duration = Duration::from_secs(2);

pub(crate) enum Evened {
    /// A run made the video's loudness even.
    Done,
    /// Measured and evened already, or nothing to even (no audio).
    AlreadyEven,
    Skipped(String),
}

pub(crate) async fn even_out(
    deps: &Deps,
    ctx: &ActivityContext,
    bucket: &str,
    id: VideoId,
) -> Result<Evened> {
    let mut started: Option<i32> = None;
    loop {
        let Some(row) = repo::get_video(&deps.pool, id, None).await? else {
            return Ok(Evened::Skipped("deleted".into()));
        };
        let open = run_status(&deps.temporal, id)
            .await
            .map_err(|e| Error::Temporal(e.to_string()))?
            == Some(WorkflowExecutionStatus::Running);
        if open {
            // This backfill's run (started by this attempt or an earlier one), or another
            // (an upload's or a user's re-encode): either way, what it ends with decides.
            let _ = ctx
                .record_heartbeat(
                    serde_json::json!({ "step": "loudness", "waiting_for_run": row.attempt }),
                )
                .await;
            tokio::time::sleep(POLL).await;
            continue;
        }
        let ended = started.is_some_and(|a| row.attempt >= a);
        match row.status() {
            VideoStatus::Ready if row.loudness.is_some() => {
                return Ok(if ended {
                    Evened::Done
                } else {
                    Evened::AlreadyEven
                });
            }
            VideoStatus::Ready if !has_audio(deps, id).await? => return Ok(Evened::AlreadyEven),
            // Ended ready without a measurement although asked for one: not retried in a loop.
            VideoStatus::Ready if ended => {
                return Err(Error::EncodedOutput(format!(
                    "run {} of {id} ended ready without measuring its loudness",
                    row.attempt
                )));
            }
            VideoStatus::Ready => {}
            VideoStatus::Failed | VideoStatus::Cancelled if ended => {
                return Err(Error::EncodedOutput(format!(
                    "the loudness run of {id} ended {}: {}",
                    row.status,
                    row.failure_reason
                        .as_deref()
                        .unwrap_or("no reason recorded")
                )));
            }
            other => return Ok(Evened::Skipped(format!("{other}, not ready"))),
        }
        let shown = u32::try_from(row.published_generation.unwrap_or(row.generation)).unwrap_or(0);
        repo::set_normalize_audio(&deps.pool, id, true).await?;
        let mut run = Run::of_row(&row, bucket, row.attempt + 1);
        run.generation = u32::try_from(repo::next_generation(&deps.pool, id).await?).unwrap_or(0);
        run.reuse_video_from = Some(shown);
        match start_run(
            &deps.cfg,
            &deps.temporal,
            &run,
            WorkflowIdReusePolicy::AllowDuplicate,
        )
        .await
        {
            Ok(()) => {}
            // Someone else's run started meanwhile: wait for it like any other.
            Err(temporalio_client::errors::WorkflowStartError::AlreadyStarted { .. }) => {}
            Err(e) => return Err(Error::Temporal(e.to_string())),
        }
        tracing::info!(video_id = %id, generation = run.generation, from = shown, "loudness run started");
        started = Some(run.attempt);
    }
}

async fn has_audio(deps: &Deps, id: VideoId) -> Result<bool> {
    Ok(repo::renditions(&deps.pool, id)
        .await?
        .iter()
        .any(|r| r.kind == "audio"))
}
