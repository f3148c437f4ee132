//! `WebhookDeliveryWorkflow`: one event to one endpoint, retried with exponential backoff for up to
//! the configured window (24 h by default), independent of the video's own workflow so a receiver
//! that is down never holds a video's processing open. [`dispatch`] records and starts them.

#![allow(unreachable_pub)] // the macros generate public marker modules next to these impls

pub mod types;

mod start;

pub use start::{DispatchError, Event, dispatch, start, workflow_id};

use std::time::Duration;

use crate::types::{DeliverWebhook, DeliveryStatus, WebhookOutcome};
use temporalio_common::RetryPolicy;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{ActivityCloseTimeouts, ActivityOptions, WorkflowContext, WorkflowResult};

use crate::contract::{Deliver, WEBHOOK_REFUSED, activity_id as aid};

#[workflow]
#[derive(Default)]
pub struct WebhookDeliveryWorkflow;

#[workflow_methods]
impl WebhookDeliveryWorkflow {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: DeliverWebhook,
    ) -> WorkflowResult<WebhookOutcome> {
        let retry = RetryPolicy::builder()
            .initial_interval(Duration::from_millis(input.retry_initial_ms.max(100)))
            .backoff_coefficient(2.0)
            .maximum_interval(Duration::from_secs(60 * 60))
            .non_retryable_error_types([WEBHOOK_REFUSED])
            .build();
        let opts =
            ActivityOptions::with_close_timeouts(ActivityCloseTimeouts::ScheduleAndStartToClose {
                schedule_to_close: Duration::from_secs(input.retry_window_s.max(1)),
                start_to_close: Duration::from_secs(60),
            })
            .activity_id(aid::DELIVER.to_owned())
            .retry_policy(retry)
            .build();
        let outcome = ctx
            .execute_activity(Deliver::deliver_webhook, input.clone(), opts)
            .await;
        match outcome {
            Ok(o) => Ok(o),
            Err(_) => {
                let failed = WebhookOutcome {
                    delivery_id: input.delivery_id,
                    status: DeliveryStatus::Failed,
                };
                let opts = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(60))
                    .activity_id(aid::FINISH.to_owned())
                    .retry_policy(
                        RetryPolicy::builder()
                            .initial_interval(Duration::from_secs(1))
                            .maximum_interval(Duration::from_secs(60))
                            .build(),
                    )
                    .build();
                ctx.execute_activity(Deliver::finish_webhook, failed.clone(), opts)
                    .await?;
                Ok(failed)
            }
        }
    }
}
