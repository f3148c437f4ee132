//! `DeleteVideoWorkflow`: deleting a video is durable work, not a request handler's best effort.
//! Every DELETE only marks the row and starts this workflow. It stops the video's processing run
//! (and waits until it has closed), gives encodes still running on workers a heartbeat's time to
//! notice, removes every object and open multipart upload of the video, purges the CDN, delivers
//! `video.deleted` to the owner's webhooks and records the deletion finished: each step retried
//! until done, each idempotent, so a run started again (a second DELETE, or the reconciler for a
//! deletion whose workflow could not be started or ran out of retries) repeats nothing a receiver
//! sees twice.

#![allow(unreachable_pub)] // the macros generate public marker modules next to these impls

pub mod types;

mod start;

pub use start::{start, workflow_id};

use std::time::Duration;

use crate::types::{DeleteVideo, InvalidateCdn, VideoRemoved};
use temporalio_common::RetryPolicy;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{ActivityCloseTimeouts, ActivityOptions, WorkflowContext, WorkflowResult};

use crate::contract::{Deliver, Lifecycle, activity_id as aid};

/// Runs of older code ended after the removal (the API purged the CDN and announced the deletion).
const PATCH_EFFECTS: &str = "delete-effects-v1";

#[workflow]
#[derive(Default)]
pub struct DeleteVideoWorkflow;

/// Retried with backoff for a day: a store or Temporal outage delays a deletion, never loses it.
fn patient(id: &str) -> ActivityOptions {
    ActivityOptions::with_close_timeouts(ActivityCloseTimeouts::ScheduleAndStartToClose {
        schedule_to_close: Duration::from_secs(24 * 60 * 60),
        start_to_close: Duration::from_secs(10 * 60),
    })
    .activity_id(id.to_owned())
    .retry_policy(
        RetryPolicy::builder()
            .initial_interval(Duration::from_secs(1))
            .backoff_coefficient(2.0)
            .maximum_interval(Duration::from_secs(5 * 60))
            .build(),
    )
    .build()
}

#[workflow_methods]
impl DeleteVideoWorkflow {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: DeleteVideo,
    ) -> WorkflowResult<VideoRemoved> {
        let stopped = ctx
            .execute_activity(
                Lifecycle::stop_processing,
                input.clone(),
                patient(aid::STOP_PROCESSING),
            )
            .await?;
        if stopped {
            // An encode of the stopped run learns it at its next heartbeat; until then it may
            // still write a segment. Remove only after that.
            ctx.timer(Duration::from_secs(input.grace_s.max(1))).await;
        }
        let removed = ctx
            .execute_activity(
                Lifecycle::remove_objects,
                input.clone(),
                patient(aid::REMOVE_OBJECTS),
            )
            .await?;
        if ctx.patched(PATCH_EFFECTS) {
            // After the removal, so an edge that refetches finds nothing.
            ctx.execute_activity(
                Deliver::invalidate_cdn,
                InvalidateCdn {
                    video_id: input.video_id,
                },
                patient(aid::INVALIDATE_CDN),
            )
            .await?;
            ctx.execute_activity(
                Lifecycle::announce_deleted,
                input,
                patient(aid::ANNOUNCE_DELETED),
            )
            .await?;
        }
        Ok(removed)
    }
}
