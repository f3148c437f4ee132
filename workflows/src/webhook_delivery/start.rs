//! Dispatching a webhook event: one delivery row per subscribed endpoint of its owner, and one
//! `WebhookDeliveryWorkflow` per delivery (the workflow retries; this only records and starts).

use crate::types::DeliverWebhook;
use temporalio_client::errors::WorkflowStartError;
use temporalio_client::{Client, WorkflowIdReusePolicy, WorkflowStartOptions};
use uuid::Uuid;
use vodflow_core::{Config, VideoId, names, webhooks};

use super::WebhookDeliveryWorkflow;

pub fn workflow_id(delivery: Uuid) -> String {
    format!("webhook-delivery-{delivery}")
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Store(#[from] vodflow_core::Error),
    #[error("cannot start the delivery workflow: {0}")]
    Start(#[from] WorkflowStartError),
}

/// One event for an owner's webhooks. `key` makes it idempotent: dispatching the same key again
/// delivers nothing twice.
pub struct Event<'a> {
    pub owner: &'a str,
    /// `video.ready`, `video.failed` or `video.deleted`.
    pub kind: &'a str,
    pub key: String,
    pub video_id: Option<VideoId>,
    pub data: serde_json::Value,
}

/// Records the event for each of its owner's subscribed endpoints and starts the delivery workflow
/// of each of its pending deliveries (one already started is left alone); returns how many.
pub async fn dispatch(
    cfg: &Config,
    client: &Client,
    pool: &sqlx::PgPool,
    event: Event<'_>,
) -> Result<usize, DispatchError> {
    let payload = webhooks::event_body(event.kind, event.data);
    let pending = webhooks::enqueue(
        pool,
        event.owner,
        event.kind,
        &event.key,
        event.video_id,
        &payload,
    )
    .await?;
    for delivery in &pending {
        start(
            cfg,
            client,
            *delivery,
            WorkflowIdReusePolicy::RejectDuplicate,
        )
        .await?;
    }
    Ok(pending.len())
}

/// Starts (or, for a redelivery, starts again) the workflow delivering `delivery`.
pub async fn start(
    cfg: &Config,
    client: &Client,
    delivery: Uuid,
    reuse: WorkflowIdReusePolicy,
) -> Result<(), WorkflowStartError> {
    let input = DeliverWebhook {
        delivery_id: delivery,
        retry_initial_ms: cfg.webhooks.retry_initial.as_millis() as u64,
        retry_window_s: cfg.webhooks.retry_window.as_secs(),
    };
    let opts = WorkflowStartOptions::new(
        cfg.task_queue(names::TASK_QUEUE_PROCESSING),
        workflow_id(delivery),
    )
    .id_reuse_policy(reuse)
    .build();
    match client
        .start_workflow(WebhookDeliveryWorkflow::run, input, opts)
        .await
    {
        Ok(_) | Err(WorkflowStartError::AlreadyStarted { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
