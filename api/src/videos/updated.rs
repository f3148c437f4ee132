//! `video.updated`: an owner changed something viewers get (chapters, text tracks). Announced on
//! Kafka through the outbox, in the transaction of the change, and to the webhooks that list the
//! event.

use serde_json::Value;
use vodflow_core::events::VideoUpdated;
use vodflow_core::{kafka, repo, webhooks};
use vodflow_workflows::webhook_delivery;

use crate::state::AppState;

/// One change, the same body on Kafka and in the webhooks' `data`.
pub(super) struct Update(VideoUpdated);

impl Update {
    pub(super) fn new(event: VideoUpdated) -> Self {
        Self(event)
    }

    /// The Kafka topic the outbox sends it on.
    pub(super) fn topic(state: &AppState) -> String {
        state.cfg.topic(kafka::TOPIC_VIDEO_UPDATED)
    }

    /// The Kafka event.
    pub(super) fn kafka_event(&self) -> Value {
        serde_json::to_value(&self.0).unwrap_or_default()
    }

    /// Starts the deliveries to the owner's webhooks. Recorded deliveries are retried until done;
    /// a crash between the change's commit and this call loses the webhook (Kafka has the event
    /// either way).
    pub(super) async fn dispatch_webhooks(self, state: &AppState, row: &repo::VideoRow) {
        let vid = row.video_id();
        let client = match state.temporal().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(video_id = %vid, error = %e, "video.updated: Temporal unreachable, webhooks not dispatched");
                return;
            }
        };
        let event = webhook_delivery::Event {
            owner: &row.owner,
            kind: webhooks::EVENT_UPDATED,
            key: format!("{}:{vid}:{}", webhooks::EVENT_UPDATED, self.0.event_id),
            video_id: Some(vid),
            data: self.kafka_event(),
        };
        if let Err(e) = webhook_delivery::dispatch(&state.cfg, &client, &state.pool, event).await {
            tracing::warn!(video_id = %vid, error = %e, "video.updated: webhooks not dispatched");
        }
    }
}
