//! `ReconcileWorkflow`: started by the `vodflow-reconciler` Temporal Schedule (visible in the UI),
//! one pass of the `reconcile` activity, which finds videos whose status disagrees with Temporal
//! (`uploaded` with no run, `processing` with no open run, runs closed without a final status) and
//! restarts them or records why they failed. Nothing stays `processing` forever, whatever died.

#![allow(unreachable_pub)] // the macros generate public marker modules next to these impls

pub mod types;

mod start;

pub use start::{Ensured, SCHEDULE_ID, ensure_schedule};

use std::time::Duration;

use crate::types::{Reconcile, Reconciled};
use temporalio_common::RetryPolicy;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{ActivityCloseTimeouts, ActivityOptions, WorkflowContext, WorkflowResult};

use crate::contract::{Lifecycle, activity_id as aid};

#[workflow]
#[derive(Default)]
pub struct ReconcileWorkflow;

#[workflow_methods]
impl ReconcileWorkflow {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: Reconcile,
    ) -> WorkflowResult<Reconciled> {
        // A database or Temporal blip is retried for minutes, not a fixed count; the next
        // scheduled pass picks up whatever this one could not finish.
        let opts =
            ActivityOptions::with_close_timeouts(ActivityCloseTimeouts::ScheduleAndStartToClose {
                schedule_to_close: Duration::from_secs(15 * 60),
                start_to_close: Duration::from_secs(5 * 60),
            })
            .activity_id(aid::RECONCILE.to_owned())
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_secs(1))
                    .maximum_interval(Duration::from_secs(60))
                    .build(),
            )
            .build();
        Ok(ctx
            .execute_activity(Lifecycle::reconcile, input, opts)
            .await?)
    }
}
