//! `video.updated`: an owner changed something viewers get (chapters, text tracks). Announced on
//! Kafka through the outbox, in the transaction of the change, and to the webhooks that list the
//! event.

use serde_json::{Value, json};
use vodflow_core::{kafka, repo, webhooks};
use vodflow_workflows::webhook_delivery;

use crate::state::AppState;

pub(super) struct Update {
    event_id: uuid::Uuid,
    data: Value,
}

impl Update {
    /// `change` names what changed (`chapters`, `text_tracks`); `detail`'s fields join the event.
    pub(super) fn new(row: &repo::VideoRow, change: &str, detail: Value) -> Self {
        let mut data = json!({
            "video_id": row.video_id(),
            "owner": row.owner,
            "change": change,
        });
        if let (Some(into), Value::Object(from)) = (data.as_object_mut(), detail) {
            into.extend(from);
        }
        Self {
            event_id: uuid::Uuid::now_v7(),
            data,
        }
    }

    /// The Kafka topic the outbox sends it on.
    pub(super) fn topic(state: &AppState) -> String {
        state.cfg.topic(kafka::TOPIC_VIDEO_UPDATED)
    }

    /// The Kafka event: the data, its id and when.
    pub(super) fn kafka_event(&self) -> Value {
        let mut event = self.data.clone();
        event["event_id"] = json!(self.event_id);
        event["updated_at"] = json!(chrono::Utc::now());
        event
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
            key: format!("{}:{vid}:{}", webhooks::EVENT_UPDATED, self.event_id),
            video_id: Some(vid),
            data: self.data,
        };
        if let Err(e) = webhook_delivery::dispatch(&state.cfg, &client, &state.pool, event).await {
            tracing::warn!(video_id = %vid, error = %e, "video.updated: webhooks not dispatched");
        }
    }
}
