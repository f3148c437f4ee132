//! Telling the world a video is done: a `video_processed` event on Kafka for downstream systems,
//! the upload's callback URL (a signed POST), and the owner's registered webhooks.

use std::time::Duration;

use rdkafka::producer::FutureRecord;
use vodflow_core::workflow_types::Notify;
use vodflow_core::{VideoStatus, kafka, net_guard, playback, repo, webhooks};
use vodflow_workflows::webhook_delivery;

use crate::error::{Error, Result};
use crate::{Deps, mail};

pub async fn video_processed(deps: &Deps, n: &Notify) -> Result<()> {
    let cfg = &deps.cfg;
    let row = repo::get_video(&deps.pool, n.video_id, None).await?;
    let playback_url = row.as_ref().map(|r| {
        let (base, _) =
            playback::configured_base_url(cfg, n.video_id, r.visibility(), playback::unix_now());
        format!("{base}master.m3u8")
    });
    let data = serde_json::json!({
        "schema_version": 1,
        "video_id": n.video_id,
        "owner": n.owner,
        "status": n.status,
        "reason": n.reason,
        "renditions": n.renditions,
        "title": row.as_ref().map(|r| r.title.clone()),
        "attempt": row.as_ref().map(|r| r.attempt),
        "playback_url": (n.status == VideoStatus::Ready).then_some(playback_url).flatten(),
        "processed_at": chrono::Utc::now(),
    });
    let event = data.to_string();
    let topic = cfg.topic(kafka::TOPIC_VIDEO_PROCESSED);
    let key = n.video_id.to_string();
    deps.producer
        .send(
            FutureRecord::to(&topic).key(&key).payload(&event),
            Duration::from_secs(5),
        )
        .await
        .map(|_| ())
        .map_err(|(e, _)| Error::Kafka(e.to_string()))?;
    let hook = match (n.status, &row) {
        (VideoStatus::Ready, Some(r)) => Some((webhooks::EVENT_READY, r.attempt)),
        (_, Some(r)) => Some((webhooks::EVENT_FAILED, r.attempt)),
        // Deleted meanwhile: its deletion was (or will be) announced instead.
        (_, None) => None,
    };
    if let Some((hook_event, attempt)) = hook {
        // One delivery per endpoint per run: a retried notify enqueues nothing twice.
        let key = format!("{hook_event}:{}:{attempt}", n.video_id);
        let event = webhook_delivery::Event {
            owner: &n.owner,
            kind: hook_event,
            key,
            video_id: Some(n.video_id),
            data,
        };
        webhook_delivery::dispatch(cfg, &deps.temporal, &deps.pool, event)
            .await
            .map_err(|e| Error::Webhook(e.to_string()))?;
    }
    if let Some(r) = &row
        && let Some(to) = &r.owner_email
    {
        let outcome = mail::Outcome {
            status: n.status,
            reason: n.reason.as_deref(),
            watch_url: format!("{}/watch/{}", cfg.public_url, n.video_id),
        };
        match mail::send(cfg, r, to, &outcome).await {
            Err(Error::MailRefused(why)) => tracing::warn!(video_id = %n.video_id, %why, "no mail"),
            other => other?,
        }
    }
    // Last: a callback that cannot be delivered must not hold back the event or the webhooks.
    if let Some(url) = &n.callback_url {
        // Videos uploaded before per-video secrets were signed with the deployment's secret.
        let secret = row
            .as_ref()
            .and_then(|r| r.callback_secret.as_deref())
            .unwrap_or(&cfg.webhook_secret);
        callback(url, secret, cfg.webhooks.allow_private, &event).await?;
    }
    Ok(())
}

async fn callback(url: &str, secret: &str, allow_private: bool, body: &str) -> Result<()> {
    let checked = net_guard::check_url(url, allow_private)
        .await
        .map_err(|e| Error::WebhookRefused(format!("callback_url: {e}")))?;
    let resp = crate::webhook::signed_post(&checked, secret, body.to_owned())
        .map_err(|e| Error::Callback(e.to_string()))?
        .send()
        .await
        .map_err(|e| Error::Callback(format!("{url}: {e}")))?;
    if !resp.status().is_success() {
        // The activity's retry policy tries again with backoff.
        return Err(Error::Callback(format!("{url} answered {}", resp.status())));
    }
    Ok(())
}
