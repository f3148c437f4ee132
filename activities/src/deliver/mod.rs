//! What leaves vodflow once a video changes: the CDN purge, the owner's notifications (Kafka,
//! callback, mail) and signed webhook deliveries.
#![allow(unreachable_pub)] // the activity macros generate public marker modules

use std::sync::Arc;

use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use vodflow_workflows::contract;
use vodflow_workflows::types::*;

use crate::Deps;
use crate::error::Error;

pub mod cdn;
pub mod mail;
pub mod notify;
pub(crate) mod webhook;

/// The delivering activities of the `video-processing` queue.
pub struct DeliverActivities(pub Arc<Deps>);

#[activities]
impl DeliverActivities {
    #[activity(definition = contract::def::deliver::InvalidateCdn)]
    pub async fn invalidate_cdn(
        self: Arc<Self>,
        _ctx: ActivityContext,
        job: InvalidateCdn,
    ) -> Result<String, ActivityError> {
        async move {
            let outcome = cdn::invalidate(&self.0.cfg, job.video_id)
                .await
                .map_err(|e| Error::Cdn(e.to_string()))?;
            tracing::info!(video_id = %job.video_id, %outcome, "cdn");
            Ok(outcome)
        }
        .await
        .map_err(Error::into_activity)
    }

    #[activity(definition = contract::def::deliver::Notify)]
    pub async fn notify(
        self: Arc<Self>,
        _ctx: ActivityContext,
        n: Notify,
    ) -> Result<(), ActivityError> {
        async move { notify::video_processed(&self.0, &n).await }
            .await
            .map_err(Error::into_activity)
    }

    #[activity(definition = contract::def::deliver::DeliverWebhook)]
    pub async fn deliver_webhook(
        self: Arc<Self>,
        _ctx: ActivityContext,
        job: DeliverWebhook,
    ) -> Result<WebhookOutcome, ActivityError> {
        let result = webhook::deliver(&self.0.cfg, &self.0.pool, &job).await;
        let outcome = match &result {
            Ok(_) => "succeeded",
            Err(Error::WebhookRefused(_)) => "refused",
            Err(_) => "failed",
        };
        self.0
            .metrics
            .webhook_deliveries
            .with_label_values(&[outcome])
            .inc();
        result.map_err(Error::into_activity)
    }

    #[activity(definition = contract::def::deliver::FinishWebhook)]
    pub async fn finish_webhook(
        self: Arc<Self>,
        _ctx: ActivityContext,
        outcome: WebhookOutcome,
    ) -> Result<(), ActivityError> {
        vodflow_core::webhooks::set_status(
            &self.0.pool,
            outcome.delivery_id,
            outcome.status.as_str(),
        )
        .await
        .map_err(|e| Error::from(e).into_activity())
    }
}
