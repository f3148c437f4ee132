//! Telling the world a video is done, one channel per activity (so a failing callback never
//! repeats the event or the mail): a `video_processed` event on Kafka for downstream systems, the
//! owner's registered webhooks, a mail to the uploader and the upload's callback URL (a signed
//! POST).
//!
//! What is guaranteed, on every channel: **at-least-once delivery with a stable idempotency key**
//! (the event's id: status, video, run attempt). Not exactly once: a worker that dies after a send
//! and before recording it leaves the send unrecorded, and the retry sends again with the same
//! key, which receivers dedupe on: the Kafka header `vodflow-event-id` (and `event_id` in the
//! payload), the callback's `Vodflow-Idempotency-Key`, a webhook's `Vodflow-Idempotency-Key` (its
//! delivery id), a mail's `Message-ID`. Mail and callback record their intent before sending and
//! the send after, so a recorded send is never repeated and a resend is counted
//! (`vodflow_notification_resends_total`).

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use vodflow_core::events::{self, VideoProcessed};
use vodflow_core::{VideoStatus, kafka, net_guard, playback, repo, webhooks};
use vodflow_workflows::types::{Notify, NotifyChannel};
use vodflow_workflows::webhook_delivery;

use crate::Deps;
use crate::deliver::mail;
use crate::error::{Error, Result};

pub async fn video_processed(deps: &Deps, n: &Notify) -> Result<()> {
    let cfg = &deps.cfg;
    let row = repo::get_video(&deps.pool, n.video_id, None).await?;
    // The event's identity: a retry, or a replay of the same run, carries the same one.
    let attempt = if n.attempt > 0 {
        n.attempt
    } else {
        row.as_ref().map_or(0, |r| r.attempt)
    };
    let event_id = format!("video.{}:{}:{attempt}", n.status, n.video_id);
    let playback_url = row.as_ref().map(|r| {
        let (base, _) =
            playback::configured_base_url(cfg, n.video_id, r.visibility(), playback::unix_now());
        format!("{base}master.m3u8")
    });
    let data = serde_json::to_value(VideoProcessed {
        schema_version: events::VIDEO_PROCESSED_SCHEMA_VERSION,
        event_id: event_id.clone(),
        video_id: n.video_id,
        owner: n.owner.clone(),
        status: n.status,
        reason: n.reason.clone(),
        renditions: n.renditions.clone(),
        title: row.as_ref().map(|r| r.title.clone()),
        attempt,
        playback_url: n.status.is_playable().then_some(playback_url).flatten(),
        processed_at: chrono::Utc::now(),
    })?;
    let channels: &[NotifyChannel] = match &n.channel {
        Some(c) => std::slice::from_ref(c),
        None => &NotifyChannel::ALL,
    };
    for channel in channels {
        match channel {
            NotifyChannel::Event => event(deps, n, &event_id, &data).await?,
            NotifyChannel::Webhooks => {
                if let Some(r) = &row {
                    hooks(deps, n, r, attempt, data.clone()).await?;
                }
            }
            NotifyChannel::Mail => {
                if let Some(r) = &row {
                    mail_once(deps, n, r, &event_id).await?;
                }
            }
            NotifyChannel::Callback => {
                if let Some(url) = &n.callback_url {
                    callback_once(deps, row.as_ref(), url, &event_id, &data.to_string()).await?;
                }
            }
        }
    }
    Ok(())
}

/// `video_processed` (or `video_playable`) on Kafka (idempotent producer; consumers dedupe by
/// `event_id`).
async fn event(deps: &Deps, n: &Notify, event_id: &str, data: &serde_json::Value) -> Result<()> {
    let topic = deps.cfg.topic(if n.status == VideoStatus::Playable {
        kafka::TOPIC_VIDEO_PLAYABLE
    } else {
        kafka::TOPIC_VIDEO_PROCESSED
    });
    let key = n.video_id.to_string();
    let payload = data.to_string();
    let headers = OwnedHeaders::new().insert(Header {
        key: "vodflow-event-id",
        value: Some(event_id),
    });
    deps.producer
        .send(
            FutureRecord::to(&topic)
                .key(&key)
                .payload(&payload)
                .headers(headers),
            Duration::from_secs(5),
        )
        .await
        .map(|_| ())
        .map_err(|(e, _)| Error::Kafka(e.to_string()))
}

/// The owner's webhooks: one delivery per endpoint per run, whatever retries.
async fn hooks(
    deps: &Deps,
    n: &Notify,
    row: &repo::VideoRow,
    attempt: i32,
    data: serde_json::Value,
) -> Result<()> {
    let hook_event = match n.status {
        VideoStatus::Ready => webhooks::EVENT_READY,
        VideoStatus::Playable => webhooks::EVENT_PLAYABLE,
        _ => webhooks::EVENT_FAILED,
    };
    let event = webhook_delivery::Event {
        owner: &row.owner,
        kind: hook_event,
        key: format!("{hook_event}:{}:{attempt}", n.video_id),
        video_id: Some(n.video_id),
        data,
    };
    webhook_delivery::dispatch(&deps.cfg, &deps.temporal, &deps.pool, event)
        .await
        .map(|_| ())
        .map_err(|e| Error::Webhook(e.to_string()))
}

/// Records the intent to send `event_id` on `channel`; `false` when it was already sent.
async fn intend(deps: &Deps, event_id: &str, channel: NotifyChannel) -> Result<bool> {
    let Some(sends) = repo::notification_intent(&deps.pool, event_id, channel.as_str()).await?
    else {
        return Ok(false);
    };
    if sends > 1 {
        // An earlier send may have reached the receiver: this one carries the same key.
        tracing::warn!(
            event_id,
            channel = channel.as_str(),
            sends,
            "sending again an unrecorded notification"
        );
        deps.metrics
            .notification_resends
            .with_label_values(&[channel.as_str()])
            .inc();
    }
    Ok(true)
}

/// Mail to the uploader, at least once per event, with a `Message-ID` derived from it.
async fn mail_once(deps: &Deps, n: &Notify, row: &repo::VideoRow, event_id: &str) -> Result<()> {
    let Some(to) = &row.owner_email else {
        return Ok(());
    };
    if deps.cfg.smtp_url.is_none() || !intend(deps, event_id, NotifyChannel::Mail).await? {
        return Ok(());
    }
    let outcome = mail::Outcome {
        status: n.status,
        reason: n.reason.as_deref(),
        watch_url: format!("{}/watch/{}", deps.cfg.public_url, n.video_id),
    };
    match mail::send(&deps.cfg, row, to, &outcome, event_id).await {
        Err(Error::MailRefused(why)) => {
            tracing::warn!(video_id = %n.video_id, %why, "no mail");
        }
        other => other?,
    }
    repo::record_notification(&deps.pool, event_id, NotifyChannel::Mail.as_str()).await?;
    Ok(())
}

/// The upload's callback, at least once per event, with the event id as its idempotency key.
async fn callback_once(
    deps: &Deps,
    row: Option<&repo::VideoRow>,
    url: &str,
    event_id: &str,
    body: &str,
) -> Result<()> {
    let cfg = &deps.cfg;
    if !intend(deps, event_id, NotifyChannel::Callback).await? {
        return Ok(());
    }
    // Videos uploaded before per-video secrets were signed with the deployment's secret.
    let secret = row
        .and_then(|r| r.callback_secret.as_deref())
        .unwrap_or(&cfg.webhook_secret);
    callback(url, secret, cfg.webhooks.allow_private, event_id, body).await?;
    repo::record_notification(&deps.pool, event_id, NotifyChannel::Callback.as_str()).await?;
    Ok(())
}

async fn callback(
    url: &str,
    secret: &str,
    allow_private: bool,
    event_id: &str,
    body: &str,
) -> Result<()> {
    let checked = net_guard::check_url(url, allow_private)
        .await
        .map_err(|e| Error::WebhookRefused(format!("callback_url: {e}")))?;
    let resp = crate::deliver::webhook::signed_post(&checked, secret, body.to_owned())
        .map_err(|e| Error::Callback(e.to_string()))?
        .header("Vodflow-Idempotency-Key", event_id)
        .send()
        .await
        .map_err(|e| Error::Callback(format!("{url}: {e}")))?;
    if !resp.status().is_success() {
        // The activity's retry policy tries again with backoff.
        return Err(Error::Callback(format!("{url} answered {}", resp.status())));
    }
    Ok(())
}
