//! Webhooks: owners' endpoints, the deliveries of events to them and every attempt, in Postgres;
//! and the signature every delivery carries.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use crate::{Result, VideoId};

pub const EVENT_READY: &str = "video.ready";
pub const EVENT_FAILED: &str = "video.failed";
pub const EVENT_DELETED: &str = "video.deleted";
/// The first seconds can be watched while the rest is encoded. Only for endpoints that ask for it.
pub const EVENT_PLAYABLE: &str = "video.playable";
/// What viewers see of the video changed (its chapters or text tracks). Only for endpoints that ask
/// for it.
pub const EVENT_UPDATED: &str = "video.updated";
/// Every event an endpoint may subscribe to.
pub const EVENTS: [&str; 5] = [
    EVENT_READY,
    EVENT_FAILED,
    EVENT_DELETED,
    EVENT_PLAYABLE,
    EVENT_UPDATED,
];
/// What an endpoint registered without a list receives: a video's outcomes (an integration written
/// before `video.playable` existed is not sent an event it does not know).
pub const DEFAULT_EVENTS: [&str; 3] = [EVENT_READY, EVENT_FAILED, EVENT_DELETED];

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

#[derive(Debug, Clone, FromRow)]
pub struct WebhookRow {
    pub id: Uuid,
    pub owner: String,
    pub url: String,
    pub secret: String,
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub event: String,
    pub video_id: Option<Uuid>,
    pub payload: serde_json::Value,
    pub status: String,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct AttemptRow {
    pub delivery_id: Uuid,
    pub attempt: i32,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
    pub at: DateTime<Utc>,
}

pub async fn insert(
    pool: &PgPool,
    owner: &str,
    url: &str,
    secret: &str,
    events: &[String],
) -> Result<WebhookRow> {
    Ok(sqlx::query_as::<_, WebhookRow>(
        "INSERT INTO webhooks (id, owner, url, secret, events) VALUES ($1, $2, $3, $4, $5) RETURNING *",
    )
    .bind(Uuid::now_v7())
    .bind(owner)
    .bind(url)
    .bind(secret)
    .bind(events)
    .fetch_one(pool)
    .await?)
}

/// `owner = None` is an operator's view (any owner).
/// A new signing secret, `prefix` + 244 random bits from the OS generator (two v4 UUIDs).
pub fn new_secret(prefix: &str) -> String {
    format!(
        "{prefix}{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// How many endpoints `owner` has registered.
pub async fn count(pool: &PgPool, owner: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM webhooks WHERE owner = $1")
            .bind(owner)
            .fetch_one(pool)
            .await?,
    )
}

pub async fn list(pool: &PgPool, owner: Option<&str>) -> Result<Vec<WebhookRow>> {
    Ok(sqlx::query_as::<_, WebhookRow>(
        "SELECT * FROM webhooks WHERE ($1::text IS NULL OR owner = $1) ORDER BY created_at DESC LIMIT 100",
    )
    .bind(owner)
    .fetch_all(pool)
    .await?)
}

pub async fn get(pool: &PgPool, id: Uuid, owner: Option<&str>) -> Result<Option<WebhookRow>> {
    Ok(sqlx::query_as::<_, WebhookRow>(
        "SELECT * FROM webhooks WHERE id = $1 AND ($2::text IS NULL OR owner = $2)",
    )
    .bind(id)
    .bind(owner)
    .fetch_optional(pool)
    .await?)
}

pub async fn delete(pool: &PgPool, id: Uuid, owner: Option<&str>) -> Result<bool> {
    let done =
        sqlx::query("DELETE FROM webhooks WHERE id = $1 AND ($2::text IS NULL OR owner = $2)")
            .bind(id)
            .bind(owner)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Records `event` for every endpoint of `owner` subscribed to it (an `event_key` already enqueued
/// for an endpoint is not enqueued again) and returns every still-pending delivery of this key: a
/// retried caller whose first try recorded the rows but could not start them starts them then.
pub async fn enqueue(
    pool: &PgPool,
    owner: &str,
    event: &str,
    event_key: &str,
    video_id: Option<VideoId>,
    payload: &serde_json::Value,
) -> Result<Vec<Uuid>> {
    let hooks: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM webhooks WHERE owner = $1 AND $2 = ANY(events)")
            .bind(owner)
            .bind(event)
            .fetch_all(pool)
            .await?;
    for hook in hooks {
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, webhook_id, event, event_key, video_id, payload)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (webhook_id, event_key) DO NOTHING",
        )
        .bind(Uuid::now_v7())
        .bind(hook)
        .bind(event)
        .bind(event_key)
        .bind(video_id.map(|v| v.as_uuid()))
        .bind(payload)
        .execute(pool)
        .await?;
    }
    Ok(sqlx::query_scalar(
        "SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
         WHERE w.owner = $1 AND d.event_key = $2 AND d.status = 'pending'",
    )
    .bind(owner)
    .bind(event_key)
    .fetch_all(pool)
    .await?)
}

pub async fn delivery(pool: &PgPool, id: Uuid) -> Result<Option<DeliveryRow>> {
    Ok(
        sqlx::query_as::<_, DeliveryRow>("SELECT * FROM webhook_deliveries WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}

/// A delivery and the endpoint it goes to.
pub async fn delivery_with_hook(
    pool: &PgPool,
    id: Uuid,
) -> Result<Option<(DeliveryRow, WebhookRow)>> {
    let Some(d) = delivery(pool, id).await? else {
        return Ok(None);
    };
    let hook = get(pool, d.webhook_id, None).await?;
    Ok(hook.map(|h| (d, h)))
}

/// Logs one HTTP attempt and updates the delivery; returns the attempt's number.
pub async fn record_attempt(
    pool: &PgPool,
    delivery: Uuid,
    status_code: Option<i32>,
    error: Option<&str>,
    duration_ms: i32,
    succeeded: bool,
) -> Result<i32> {
    let mut tx = pool.begin().await?;
    let attempt: i32 = sqlx::query_scalar(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status_code = $2, last_error = $3,
                status = CASE WHEN $4 THEN 'succeeded' ELSE status END, updated_at = now()
         WHERE id = $1 RETURNING attempts",
    )
    .bind(delivery)
    .bind(status_code)
    .bind(error)
    .bind(succeeded)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO webhook_attempts (delivery_id, attempt, status_code, error, duration_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(delivery)
    .bind(attempt)
    .bind(status_code)
    .bind(error)
    .bind(duration_ms)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(attempt)
}

pub async fn set_status(pool: &PgPool, delivery: Uuid, status: &str) -> Result<()> {
    sqlx::query("UPDATE webhook_deliveries SET status = $2, updated_at = now() WHERE id = $1")
        .bind(delivery)
        .bind(status)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn deliveries(pool: &PgPool, webhook: Uuid) -> Result<Vec<DeliveryRow>> {
    Ok(sqlx::query_as::<_, DeliveryRow>(
        "SELECT * FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY created_at DESC LIMIT 100",
    )
    .bind(webhook)
    .fetch_all(pool)
    .await?)
}

pub async fn attempts(pool: &PgPool, deliveries: &[Uuid]) -> Result<Vec<AttemptRow>> {
    Ok(sqlx::query_as::<_, AttemptRow>(
        "SELECT delivery_id, attempt, status_code, error, duration_ms, at FROM webhook_attempts
         WHERE delivery_id = ANY($1) ORDER BY delivery_id, attempt",
    )
    .bind(deliveries)
    .fetch_all(pool)
    .await?)
}

/// The body every delivery carries ([`crate::events::WebhookEnvelope`]).
pub fn event_body(event: &str, data: serde_json::Value) -> serde_json::Value {
    serde_json::to_value(crate::events::WebhookEnvelope::new(event, data))
        .expect("an envelope of JSON is JSON")
}

#[cfg(test)]
mod tests {
    use super::sign;

    /// Vectors computed outside this code, with
    /// `printf '%s' "<t>.<body>" | openssl dgst -sha256 -hmac "<secret>"`.
    #[test]
    fn signatures_match_independently_computed_vectors() {
        let vectors = [
            (
                "whsec_test",
                1_700_000_000,
                r#"{"type":"video.ready","video_id":"0b5e"}"#,
                "71907c0a3c7ffc6685f99d910c1a18c28aca799eebc8a54449440ae656b210b3",
            ),
            (
                "",
                0,
                "",
                "b849d5a581847b281957065739df36df2463d1977ea8d6e1e4e6cf33fadc68c3",
            ),
            (
                "k€y",
                1_733_400_000,
                r#"{"a":"é"}"#,
                "3f2c01d02d4d295bac675793d3b163ddc5526f38872bbde21c61f9e00cac3a69",
            ),
        ];
        for (secret, t, body, mac) in vectors {
            assert_eq!(sign(secret, t, body), format!("t={t},v1={mac}"));
        }
    }
}
