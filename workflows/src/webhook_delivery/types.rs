//! Input and outcome of one webhook delivery attempt.

use serde::{Deserialize, Serialize};

/// Input of `WebhookDeliveryWorkflow`: which delivery, and its retry schedule (from configuration,
/// so the workflow stays deterministic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliverWebhook {
    pub delivery_id: uuid::Uuid,
    pub retry_initial_ms: u64,
    pub retry_window_s: u64,
}

/// One attempt's result, as the delivery activity reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookOutcome {
    pub delivery_id: uuid::Uuid,
    pub status: DeliveryStatus,
}

/// Final state of a webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Succeeded,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}
