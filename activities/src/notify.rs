//! Telling the world a video is done: a `video_processed` event on Kafka for downstream systems.

use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use vodflow_core::workflow_types::Notify;
use vodflow_core::{Config, names};

use crate::error::{Error, Result};

pub fn producer(cfg: &Config) -> Result<FutureProducer> {
    let mut c = rdkafka::ClientConfig::new();
    for (k, v) in cfg.kafka_properties() {
        c.set(k, v);
    }
    c.set("enable.idempotence", "true")
        .set("message.timeout.ms", "15000")
        .create()
        .map_err(|e| Error::Kafka(e.to_string()))
}

pub async fn video_processed(cfg: &Config, producer: &FutureProducer, n: &Notify) -> Result<()> {
    let event = serde_json::json!({
        "schema_version": 1,
        "video_id": n.video_id,
        "owner": n.owner,
        "status": n.status,
        "reason": n.reason,
        "renditions": n.renditions,
        "playback_url": format!("{}/play/{}/master.m3u8", cfg.public_url, n.video_id),
        "processed_at": chrono::Utc::now(),
    })
    .to_string();
    let topic = cfg.topic(names::TOPIC_VIDEO_PROCESSED);
    let key = n.video_id.to_string();
    producer
        .send(
            FutureRecord::to(&topic).key(&key).payload(&event),
            Duration::from_secs(5),
        )
        .await
        .map(|_| ())
        .map_err(|(e, _)| Error::Kafka(e.to_string()))
}
