//! `DeleteVideoWorkflow`: deleting a video is durable work, not a request handler's best effort.
//! It stops the video's processing run (and waits until it has closed), gives encodes still
//! running on workers a heartbeat's time to notice, then removes every object of the video,
//! retrying until the store has done it. Started (again) by every DELETE of the video, so a second
//! DELETE finishes what the first could not, and nothing leaks.

#![allow(unreachable_pub)] // the macros generate public marker modules next to these impls

mod start;

pub use start::{start, workflow_id};

use std::time::Duration;

use temporalio_common::RetryPolicy;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{ActivityCloseTimeouts, ActivityOptions, WorkflowContext, WorkflowResult};
use vodflow_core::workflow_types::{DeleteVideo, VideoRemoved};

use crate::contract::{ProcessingActivities, activity_id as aid};

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
                ProcessingActivities::stop_processing,
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
                ProcessingActivities::remove_objects,
                input,
                patient(aid::REMOVE_OBJECTS),
            )
            .await?;
        Ok(removed)
    }
}
