//! `upload_streams`: the upload bodies streaming now, on every api replica (migration 0026).

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;

/// Takes a place for one more stream of `owner`'s, atomically with the count (two replicas
/// asking at once for the last place get one between them): `Ok(Ok(id))`, or `Ok(Err(held))`
/// when the owner already holds `per_owner` live streams. Expired rows are not counted.
pub async fn take(
    pool: &PgPool,
    owner: &str,
    per_owner: i64,
    lease: Duration,
) -> Result<std::result::Result<Uuid, i64>> {
    let mut tx = pool.begin().await?;
    // One owner's takes are serialised; other owners' are not held up.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('upload_streams:' || $1, 0))")
        .bind(owner)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM upload_streams WHERE owner = $1 AND expires_at < now()")
        .bind(owner)
        .execute(&mut *tx)
        .await?;
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM upload_streams WHERE owner = $1")
        .bind(owner)
        .fetch_one(&mut *tx)
        .await?;
    if held >= per_owner {
        tx.rollback().await?;
        return Ok(Err(held));
    }
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO upload_streams (id, owner, expires_at)
         VALUES ($1, $2, now() + make_interval(secs => $3))",
    )
    .bind(id)
    .bind(owner)
    .bind(lease.as_secs_f64())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Ok(id))
}

/// Extends the leases of the streams still running here.
pub async fn renew(pool: &PgPool, ids: &[Uuid], lease: Duration) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE upload_streams SET expires_at = now() + make_interval(secs => $2) WHERE id = ANY($1)",
    )
    .bind(ids)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn give_back(pool: &PgPool, id: Uuid) -> Result<()> {
    sqlx::query("DELETE FROM upload_streams WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}
