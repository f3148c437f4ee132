//! Delivering one webhook event: a signed POST to the owner's endpoint, every attempt logged.
//! Retries are the workflow's (exponential backoff for up to a day); this is one attempt.

use std::time::{Duration, Instant};

use vodflow_core::{Config, net_guard, webhooks};
use vodflow_workflows::types::{DeliverWebhook, DeliveryStatus, WebhookOutcome};

use crate::error::{Error, Result};

/// A JSON POST of `body` to a guard-checked URL, signed with `secret` (`Vodflow-Signature`). The
/// client connects only to the addresses the guard checked and never follows a redirect (which
/// could lead past the check).
pub(crate) fn signed_post(
    checked: &net_guard::Checked,
    secret: &str,
    body: String,
) -> reqwest::Result<reqwest::RequestBuilder> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .resolve_to_addrs(&checked.host, &checked.addrs)
        .build()?;
    let signature = webhooks::sign(secret, chrono::Utc::now().timestamp(), &body);
    Ok(client
        .post(checked.url.clone())
        .header("content-type", "application/json")
        .header("user-agent", "vodflow-webhooks/1")
        .header(webhooks::SIGNATURE_HEADER, signature)
        .body(body))
}

pub(crate) async fn deliver(
    cfg: &Config,
    pool: &sqlx::PgPool,
    job: &DeliverWebhook,
) -> Result<WebhookOutcome> {
    let outcome = |status: DeliveryStatus| WebhookOutcome {
        delivery_id: job.delivery_id,
        status,
    };
    let Some((delivery, hook)) = webhooks::delivery_with_hook(pool, job.delivery_id).await? else {
        return Err(Error::WebhookRefused(
            "the delivery or its endpoint no longer exists".into(),
        ));
    };
    if delivery.status == DeliveryStatus::Succeeded.as_str() {
        // A retry after a success whose acknowledgement was lost: delivered once is enough.
        return Ok(outcome(DeliveryStatus::Succeeded));
    }
    let started = Instant::now();
    let elapsed = || started.elapsed().as_millis().min(i32::MAX as u128) as i32;
    // Checked again at every attempt: the name may resolve elsewhere than at registration.
    let checked = match net_guard::check_url(&hook.url, cfg.webhooks.allow_private).await {
        Ok(c) => c,
        Err(e) => {
            let msg = e.to_string();
            webhooks::record_attempt(pool, delivery.id, None, Some(&msg), elapsed(), false).await?;
            return Err(Error::WebhookRefused(msg));
        }
    };
    let sent = signed_post(&checked, &hook.secret, delivery.payload.to_string())
        .map_err(|e| Error::Webhook(e.to_string()))?
        .header("Vodflow-Event", &delivery.event)
        .header("Vodflow-Delivery", delivery.id.to_string())
        // The delivery id is created with the event, before any attempt: every retry of it (a
        // lost acknowledgement, a worker killed after the send) carries the same key.
        .header("Vodflow-Idempotency-Key", delivery.id.to_string())
        .send()
        .await;
    match sent {
        Ok(resp) if resp.status().is_success() => {
            let code = i32::from(resp.status().as_u16());
            webhooks::record_attempt(pool, delivery.id, Some(code), None, elapsed(), true).await?;
            tracing::info!(delivery = %delivery.id, url = %hook.url, code, "webhook delivered");
            Ok(outcome(DeliveryStatus::Succeeded))
        }
        Ok(resp) => {
            let code = i32::from(resp.status().as_u16());
            let msg = format!("{} answered {}", hook.url, resp.status());
            webhooks::record_attempt(pool, delivery.id, Some(code), Some(&msg), elapsed(), false)
                .await?;
            Err(Error::Webhook(msg))
        }
        Err(e) => {
            let msg = format!("{}: {e}", hook.url);
            webhooks::record_attempt(pool, delivery.id, None, Some(&msg), elapsed(), false).await?;
            Err(Error::Webhook(msg))
        }
    }
}
