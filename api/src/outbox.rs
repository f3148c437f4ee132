//! The outbox relay: publishes committed events to Kafka, oldest first, and marks them published
//! only after the broker acknowledged them. It backs off while the broker is away and several api
//! replicas share the work safely (`FOR UPDATE SKIP LOCKED`).

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use vodflow_core::repo;

use crate::state::AppState;

const BATCH: i64 = 100;
/// How often the videos-by-status gauges are refreshed (a GROUP BY over the videos table).
const CENSUS_EVERY: Duration = Duration::from_secs(10);

/// The gauges that need a look at the tables: unpublished events, videos by status, and the
/// oldest unsettled video.
async fn census(state: &AppState) {
    match repo::census(&state.pool).await {
        Ok(c) => {
            let m = &state.metrics;
            m.outbox_unpublished.set(c.unpublished);
            for (status, n) in c.by_status {
                m.videos.with_label_values(&[&status]).set(n);
            }
            m.videos_unsettled_oldest_seconds.set(c.oldest_unsettled_s);
        }
        Err(e) => tracing::debug!(error = %e, "census failed"),
    }
}
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Runs until `shutdown` resolves.
pub async fn run(state: AppState, shutdown: impl Future<Output = ()>) {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = state.cfg.outbox_poll;
    let mut topics_ready = false;
    let mut last_census = std::time::Instant::now() - CENSUS_EVERY;
    loop {
        if !topics_ready {
            match vodflow_core::kafka::ensure_topics(&state.cfg).await {
                Ok(()) => topics_ready = true,
                Err(e) => tracing::warn!(error = %e, "cannot create topics yet; will retry"),
            }
        }
        let wait = match relay_once(&state).await {
            Ok(n) if n as i64 == BATCH => Duration::ZERO, // more waiting: go again at once
            Ok(_) => {
                backoff = state.cfg.outbox_poll;
                state.cfg.outbox_poll
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "outbox relay: publish failed");
                let w = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                w
            }
        };
        if let Ok(lag) = repo::outbox_lag_seconds(&state.pool).await {
            state.metrics.outbox_lag_seconds.set(lag);
        }
        if last_census.elapsed() >= CENSUS_EVERY {
            last_census = std::time::Instant::now();
            census(&state).await;
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(wait) => {}
            _ = state.relay_wakeup.notified() => {}
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Db(#[from] vodflow_core::Error),
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("kafka: {0}")]
    Kafka(String),
}

/// Publishes one batch; returns how many rows were published.
pub async fn relay_once(state: &AppState) -> Result<usize, RelayError> {
    let mut tx = state.pool.begin().await?;
    let rows = repo::claim_outbox(&mut tx, BATCH).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let sends = rows.iter().map(|row| {
        let payload = row.payload.to_string();
        let producer = state.producer.clone();
        async move {
            let headers = OwnedHeaders::new().insert(Header {
                key: "content-type",
                value: Some("application/json"),
            });
            let record = FutureRecord::to(&row.topic)
                .key(&row.key)
                .payload(&payload)
                .headers(headers);
            producer
                .send(record, Duration::from_secs(5))
                .await
                .map(|_| row.id)
                .map_err(|(e, _)| (row.id, e.to_string()))
        }
    });
    let results = futures::future::join_all(sends).await;
    let published: Vec<i64> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    let failed: Vec<(i64, String)> = results.into_iter().filter_map(Result::err).collect();
    repo::mark_published(&mut tx, &published).await?;
    tx.commit().await?;
    state
        .metrics
        .outbox_published
        .inc_by(published.len() as u64);
    for (id, key) in rows
        .iter()
        .filter(|r| published.contains(&r.id))
        .map(|r| (r.id, &r.key))
    {
        tracing::info!(outbox_id = id, video_id = %key, "event published");
    }
    if let Some((_, first)) = failed.first() {
        for (id, e) in &failed {
            repo::record_publish_failure(&state.pool, *id, e).await?;
        }
        return Err(RelayError::Kafka(format!(
            "{} of {} events not published: {first}",
            failed.len(),
            rows.len()
        )));
    }
    Ok(published.len())
}
