//! Telling the world a video is done: a `video_processed` event on Kafka for downstream systems,
//! and the owner's callback URL, if any, as a signed POST.

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
    let event = event(cfg, n);
    let topic = cfg.topic(names::TOPIC_VIDEO_PROCESSED);
    let key = n.video_id.to_string();
    producer
        .send(
            FutureRecord::to(&topic).key(&key).payload(&event),
            Duration::from_secs(5),
        )
        .await
        .map(|_| ())
        .map_err(|(e, _)| Error::Kafka(e.to_string()))?;
    if let Some(url) = &n.callback_url {
        callback(cfg, url, &event).await?;
    }
    Ok(())
}

/// Header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` (Stripe's scheme):
/// the receiver recomputes it and refuses stale timestamps.
pub const SIGNATURE_HEADER: &str = "Vodflow-Signature";

pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

async fn callback(cfg: &Config, url: &str, body: &str) -> Result<()> {
    let signature = sign(&cfg.webhook_secret, chrono::Utc::now().timestamp(), body);
    let resp = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| Error::Callback(e.to_string()))?
        .post(url)
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, signature)
        .body(body.to_owned())
        .send()
        .await
        .map_err(|e| Error::Callback(format!("{url}: {e}")))?;
    if !resp.status().is_success() {
        // The activity's retry policy tries again with backoff.
        return Err(Error::Callback(format!("{url} answered {}", resp.status())));
    }
    Ok(())
}

fn event(cfg: &Config, n: &Notify) -> String {
    serde_json::json!({
        "schema_version": 1,
        "video_id": n.video_id,
        "owner": n.owner,
        "status": n.status,
        "reason": n.reason,
        "renditions": n.renditions,
        "playback_url": format!("{}/play/{}/master.m3u8", cfg.public_url, n.video_id),
        "processed_at": chrono::Utc::now(),
    })
    .to_string()
}
