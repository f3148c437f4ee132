//! Notification intents and sends per channel: what was decided before a send, and what was sent.

use sqlx::postgres::PgPool;

use crate::Result;

/// Records the intent to send `event_id` on `channel` before the send. `None` when it was already
/// sent (skip it); otherwise the number of this send (1 the first time; more means an earlier
/// attempt may have reached the receiver and died before [`record_notification`]: the receiver
/// sees the same idempotency key again).
pub async fn notification_intent(
    pool: &PgPool,
    event_id: &str,
    channel: &str,
) -> Result<Option<i32>> {
    Ok(sqlx::query_scalar::<_, i32>(
        "INSERT INTO notifications_sent (event_id, channel, sent_at, sends) VALUES ($1, $2, NULL, 1)
         ON CONFLICT (event_id, channel) DO UPDATE SET sends = notifications_sent.sends + 1
             WHERE notifications_sent.sent_at IS NULL
         RETURNING sends",
    )
    .bind(event_id)
    .bind(channel)
    .fetch_optional(pool)
    .await?)
}

/// Records that `channel` sent `event_id` (completes its [`notification_intent`]).
pub async fn record_notification(pool: &PgPool, event_id: &str, channel: &str) -> Result<()> {
    sqlx::query(
        "UPDATE notifications_sent SET sent_at = now()
         WHERE event_id = $1 AND channel = $2 AND sent_at IS NULL",
    )
    .bind(event_id)
    .bind(channel)
    .execute(pool)
    .await?;
    Ok(())
}

/// How many times `channel` sent `event_id`, and whether the last send was recorded.
pub async fn notification_sends(
    pool: &PgPool,
    event_id: &str,
    channel: &str,
) -> Result<Option<(i32, bool)>> {
    Ok(sqlx::query_as::<_, (i32, bool)>(
        "SELECT sends, sent_at IS NOT NULL FROM notifications_sent
         WHERE event_id = $1 AND channel = $2",
    )
    .bind(event_id)
    .bind(channel)
    .fetch_optional(pool)
    .await?)
}
