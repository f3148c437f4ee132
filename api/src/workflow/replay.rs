//! Replaying a video's processing: a new run under the same workflow id.

use std::time::Duration;

use temporalio_client::WorkflowIdReusePolicy;
use temporalio_client::errors::WorkflowStartError;
use vodflow_core::VideoStatus;
use vodflow_core::repo::{self, VideoRow};
use vodflow_workflows::video_processing::{Run, start_run};

use crate::problem::ApiError;
use crate::state::AppState;

/// Starts a new run of a failed or cancelled video (or a ready one with `force`, or one stranded
/// in `uploaded`/`processing` with no open run) under the same workflow id; finished chunks are
/// reused. Returns the updated row.
pub(crate) async fn replay(
    state: &AppState,
    row: VideoRow,
    force: bool,
) -> Result<VideoRow, ApiError> {
    let vid = row.video_id();
    match row.status() {
        VideoStatus::Failed | VideoStatus::Cancelled => {}
        VideoStatus::Ready if force => {}
        VideoStatus::Ready => {
            return Err(ApiError::Conflict(format!(
                "video {vid} is ready; pass force=true to encode it again"
            )));
        }
        other => {
            // Stranded (its run died without recording a result) is replayable; running is not.
            let client = state.temporal().await?;
            if crate::progress::run_is_open(&client, vid).await? {
                return Err(ApiError::Conflict(format!(
                    "video {vid} is {other}: its processing is not finished"
                )));
            }
        }
    }
    let client = state.temporal().await?;
    let mut run = Run::of_row(&row, &state.cfg.s3.bucket, row.attempt + 1);
    // An import whose source was never fetched takes an import place again, like a new import:
    // replaying failed imports must not carry an owner past VODFLOW_MAX_IMPORTS_PER_OWNER.
    if row.source_url.is_some() && row.size_bytes == 0 {
        repo::claim_import_replay(
            &state.pool,
            vid,
            &row.owner,
            run.attempt,
            state.cfg.imports.per_owner,
        )
        .await?;
    }
    if force && row.status() == VideoStatus::Ready {
        // Everything is encoded again into a new generation of keys: the segments players have
        // cached as immutable stay as they are until the new master replaces the old one.
        run.generation = u32::try_from(repo::next_generation(&state.pool, vid).await?).unwrap_or(0);
    }
    // AllowDuplicate admits a new run only once the previous one has closed. A run that has
    // recorded its failure may still be notifying for a moment: give it that moment.
    let mut tries = 0;
    loop {
        match start_run(
            &state.cfg,
            &client,
            &run,
            WorkflowIdReusePolicy::AllowDuplicate,
        )
        .await
        {
            Ok(()) => break,
            Err(WorkflowStartError::AlreadyStarted { .. }) if tries < 20 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(WorkflowStartError::AlreadyStarted { .. }) => {
                return Err(ApiError::Conflict(format!(
                    "video {vid} is being processed already"
                )));
            }
            Err(e) => return Err(ApiError::Unavailable(format!("Temporal: {e}"))),
        }
    }
    // This replica's remembered progress is the previous run's: a status read or event stream
    // would otherwise show its percent (stale answers are served for up to 10 s) before the new
    // run's 0. Other replicas' answers age out the same way, within those 10 s.
    state.progress_answers.forget(vid);
    repo::set_processing(&state.pool, vid, run.attempt).await?;
    repo::get_video(&state.pool, vid, None)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no video {vid}")))
}
