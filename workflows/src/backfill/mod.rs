//! `BackfillWorkflow`: brings the ready videos of a library (one owner's, or everyone's uploaded
//! before a moment) up to date with outputs added since they were made (storyboard, downloads,
//! DASH), from their published segments. Each run takes one page of videos, oldest first, works on
//! `concurrency` of them at a time and continues as new with the cursor and the counts, so its
//! history stays small however large the library. `pause` and `resume` signals hold it between
//! batches; the `progress` query (and `GET /v1/admin/backfill/{id}`) shows the counts.

#![allow(unreachable_pub)] // the macros generate public marker modules next to these impls

mod start;

pub use start::{start, workflow_id};

use std::time::Duration;

use temporalio_common::RetryPolicy;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityOptions, ContinueAsNewOptions, SyncWorkflowContext, WorkflowContext,
    WorkflowContextView, WorkflowResult, workflows::join_all,
};
use vodflow_core::backfill::{After, Backfill, Outcome, Page, Progress, VideoJob};

use crate::contract::{Lifecycle, activity_id as aid};

/// Failures kept in the progress (the counts keep all of them).
const FAILURES_KEPT: usize = 20;

#[workflow]
#[derive(Default)]
pub struct BackfillWorkflow {
    progress: Progress,
}

fn retried(id: String, start_to_close: Duration, attempts: u32) -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(start_to_close)
        .activity_id(id)
        .heartbeat_timeout(Duration::from_secs(60))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_secs(1))
                .backoff_coefficient(2.0)
                .maximum_interval(Duration::from_secs(60))
                .maximum_attempts(attempts)
                .build(),
        )
        .build()
}

#[workflow_methods]
impl BackfillWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: Backfill) -> WorkflowResult<Progress> {
        ctx.state_mut(|s| {
            s.progress = input.progress.clone();
            s.progress.runs += 1;
        });
        let page = ctx
            .execute_activity(
                Lifecycle::backfill_page,
                Page {
                    owner: input.owner.clone(),
                    uploaded_before: input.uploaded_before,
                    after: input.after.clone(),
                    limit: input.page.max(1),
                },
                retried(aid::BACKFILL_PAGE.into(), Duration::from_secs(60), 0),
            )
            .await?;
        let Some(last) = page.last().cloned() else {
            ctx.state_mut(|s| s.progress.finished = true);
            return Ok(ctx.state(|s| s.progress.clone()));
        };
        for batch in page.chunks(input.concurrency.max(1) as usize) {
            ctx.wait_condition(|s| !s.progress.paused).await?;
            let work = batch.iter().map(|After { video_id, .. }| {
                ctx.execute_activity(
                    Lifecycle::backfill_video,
                    VideoJob {
                        video_id: *video_id,
                        bucket: input.bucket.clone(),
                        outputs: input.outputs.clone(),
                    },
                    // A storyboard or a remux reads a whole rendition: minutes for hours of video.
                    retried(
                        aid::backfill_video(*video_id),
                        Duration::from_secs(2 * 60 * 60),
                        3,
                    ),
                )
            });
            let results = join_all(work).await;
            ctx.state_mut(|s| {
                for (item, r) in batch.iter().zip(results) {
                    let p = &mut s.progress;
                    p.examined += 1;
                    match r {
                        Ok(Outcome::Updated(_)) => p.updated += 1,
                        Ok(Outcome::UpToDate) => p.up_to_date += 1,
                        Ok(Outcome::Skipped(_)) => p.skipped += 1,
                        Err(e) => {
                            p.failed += 1;
                            p.failures.push(format!("{}: {e}", item.video_id));
                            let extra = p.failures.len().saturating_sub(FAILURES_KEPT);
                            p.failures.drain(..extra);
                        }
                    }
                }
            });
        }
        let next = Backfill {
            after: Some(last),
            progress: ctx.state(|s| s.progress.clone()),
            ..input
        };
        ctx.continue_as_new(next, ContinueAsNewOptions::default())?;
        unreachable!("continue_as_new always ends the run")
    }

    /// The counts so far, over every run.
    #[query]
    pub fn progress(&self, _ctx: &WorkflowContextView) -> Progress {
        self.progress.clone()
    }

    /// Holds the backfill before its next batch (the batch under way finishes).
    #[signal]
    pub fn pause(&mut self, _ctx: &mut SyncWorkflowContext<Self>) {
        self.progress.paused = true;
    }

    #[signal]
    pub fn resume(&mut self, _ctx: &mut SyncWorkflowContext<Self>) {
        self.progress.paused = false;
    }
}
