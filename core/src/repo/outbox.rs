//! The transactional outbox: events recorded with the change they announce, relayed to Kafka.

use sqlx::postgres::PgPool;
use sqlx::{FromRow, Postgres, Transaction};

use crate::Result;

pub async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    topic: &str,
    key: &str,
    payload: &serde_json::Value,
) -> Result<()> {
    sqlx::query("INSERT INTO outbox (topic, key, payload) VALUES ($1, $2, $3)")
        .bind(topic)
        .bind(key)
        .bind(payload)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub topic: String,
    pub key: String,
    pub payload: serde_json::Value,
    pub attempts: i32,
}

/// Claims the oldest unpublished events for this transaction. Rows locked by another relay replica
/// are skipped, so two replicas never publish the same row.
pub async fn claim_outbox(
    tx: &mut Transaction<'_, Postgres>,
    limit: i64,
) -> Result<Vec<OutboxRow>> {
    Ok(sqlx::query_as::<_, OutboxRow>(
        "SELECT id, topic, key, payload, attempts FROM outbox
         WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?)
}

pub async fn mark_published(tx: &mut Transaction<'_, Postgres>, ids: &[i64]) -> Result<()> {
    sqlx::query("UPDATE outbox SET published_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = ANY($1)")
        .bind(ids)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn record_publish_failure(pool: &PgPool, id: i64, error: &str) -> Result<()> {
    sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1")
        .bind(id)
        .bind(error)
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes events published more than `retention` ago; returns how many.
pub async fn purge_outbox(pool: &PgPool, retention: std::time::Duration) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM outbox WHERE published_at IS NOT NULL
           AND published_at < now() - make_interval(secs => $1)",
    )
    .bind(retention.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected())
}

/// Age in seconds of the oldest unpublished event (0 when none): the relay's lag.
pub async fn outbox_lag_seconds(pool: &PgPool) -> Result<f64> {
    let lag: Option<f64> = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM now() - min(created_at))::float8 FROM outbox WHERE published_at IS NULL",
    )
    .fetch_one(pool)
    .await?;
    Ok(lag.unwrap_or(0.0))
}
