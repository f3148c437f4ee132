//! `VideoDownloadsWorkflow`: downloads asked for after a video is ready
//! (`POST /v1/videos/{id}/downloads`), made from its published segments by the same
//! `create_downloads` activity a processing run ends with, without encoding anything again.

#![allow(unreachable_pub)] // the macros generate public marker modules next to these impls

pub mod types;

mod start;

pub use start::{start, workflow_id};

use std::time::Duration;

use crate::types::CreateDownloads;
use temporalio_common::RetryPolicy;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{ActivityOptions, WorkflowContext, WorkflowResult};
use vodflow_core::downloads::Download;

use crate::contract::{Media, activity_id as aid};

#[workflow]
#[derive(Default)]
pub struct VideoDownloadsWorkflow;

#[workflow_methods]
impl VideoDownloadsWorkflow {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: CreateDownloads,
    ) -> WorkflowResult<Vec<Download>> {
        // A remux reads every segment of a rung: minutes for hours of video, heartbeating.
        let opts = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(2 * 60 * 60))
            .activity_id(aid::DOWNLOADS.to_owned())
            .heartbeat_timeout(Duration::from_secs(60))
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_secs(1))
                    .backoff_coefficient(2.0)
                    .maximum_interval(Duration::from_secs(60))
                    .maximum_attempts(5)
                    .build(),
            )
            .build();
        let made = ctx
            .execute_activity(Media::create_downloads, input, opts)
            .await?;
        Ok(made)
    }
}
