//! vodflow-bridge: turns `video_uploaded` events into durable Temporal workflows.
//!
//! It commits a Kafka offset only after Temporal acknowledged the start (or answered "already
//! started", so duplicates start nothing); unparseable events go to the DLQ with the reason. It must
//! not process videos itself.

pub mod dlq;

use std::time::Duration;

use rdkafka::Message;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use temporalio_client::errors::WorkflowStartError;
use temporalio_client::{Client, WorkflowIdReusePolicy};
use vodflow_core::events::VideoUploaded;
use vodflow_core::{Config, kafka};
use vodflow_workflows::video_processing::{Run, start_run};

const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long without an event before the bridge checks that it is not missing any.
const IDLE_CHECK: Duration = Duration::from_secs(15);
/// How often the consumer group's lag is measured for `/metrics`.
const LAG_EVERY: Duration = Duration::from_secs(10);

/// How far the group's committed offsets are behind the topic's end, per partition (`None` when
/// the broker cannot say).
fn lag(consumer: &StreamConsumer, topic: &str) -> Option<Vec<(i32, i64)>> {
    let timeout = Duration::from_secs(5);
    tokio::task::block_in_place(|| {
        let md = consumer.fetch_metadata(Some(topic), timeout).ok()?;
        let mut tpl = rdkafka::TopicPartitionList::new();
        let partitions: Vec<i32> = md
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        for p in &partitions {
            tpl.add_partition(topic, *p);
        }
        let committed = consumer.committed_offsets(tpl, timeout).ok()?;
        let mut lags = Vec::with_capacity(partitions.len());
        for p in partitions {
            let (low, high) = consumer.fetch_watermarks(topic, p, timeout).ok()?;
            let at = match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(rdkafka::Offset::Offset(o)) => o,
                _ => low,
            };
            lags.push((p, (high - at).max(0)));
        }
        Some(lags)
    })
}

/// Whether the group's committed offsets are behind the topic's end on any partition.
fn lagging(consumer: &StreamConsumer, topic: &str) -> bool {
    lag(consumer, topic).is_some_and(|l| l.iter().any(|(_, n)| *n > 0))
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What became of one event.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    Started,
    AlreadyStarted,
    DeadLettered,
}

/// [`run_with`] with metrics nobody serves (tests, tools).
pub async fn run(cfg: &Config, client: &Client, shutdown: impl Future<Output = ()>) -> Result<()> {
    run_with(cfg, client, &prometheus::Registry::new(), shutdown).await
}

/// Consumes until `shutdown` resolves. Whatever was handled is committed; an event being retried
/// when shutdown comes is left uncommitted and handled again by the next consumer. Counts events
/// and measures the group's lag into `registry`.
pub async fn run_with(
    cfg: &Config,
    client: &Client,
    registry: &prometheus::Registry,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let metrics = vodflow_core::metrics::BridgeMetrics::new(registry);
    let mut last_lag_check = std::time::Instant::now() - LAG_EVERY;
    let mut consumer: StreamConsumer = kafka::consumer(cfg, kafka::BRIDGE_CONSUMER_GROUP)?;
    let dlq = kafka::producer(cfg)?;
    let mut shutdown = std::pin::pin!(shutdown);
    let topic = cfg.topic(kafka::TOPIC_VIDEO_UPLOADED);
    // Subscribing to a topic that does not exist yet would leave the consumer idle until its next
    // metadata refresh: make sure the topics exist first (retrying while the broker is away).
    let mut wait = Duration::from_millis(500);
    while let Err(e) = kafka::ensure_topics(cfg).await {
        tracing::warn!(error = %e, "cannot create topics yet; retrying");
        tokio::select! { _ = &mut shutdown => return Ok(()), _ = tokio::time::sleep(wait) => {} }
        wait = (wait * 2).min(MAX_BACKOFF);
    }
    consumer.subscribe(&[&topic])?;
    tracing::info!(%topic, "bridge consuming");
    loop {
        if last_lag_check.elapsed() >= LAG_EVERY {
            last_lag_check = std::time::Instant::now();
            if let Some(lags) = lag(&consumer, &topic) {
                for (p, n) in lags {
                    metrics
                        .consumer_lag
                        .with_label_values(&[&p.to_string()])
                        .set(n);
                }
            }
        }
        let msg = tokio::select! {
            _ = &mut shutdown => break,
            m = consumer.recv() => m,
            // Quiet for a while: make sure it is because nothing is waiting, not because the
            // consumer lost its group across a broker restart (seen with tansu: it never rejoined).
            _ = tokio::time::sleep(IDLE_CHECK) => {
                if lagging(&consumer, &topic) {
                    tracing::warn!(%topic, "events are waiting but the consumer receives nothing; rebuilding it");
                    consumer = kafka::consumer(cfg, kafka::BRIDGE_CONSUMER_GROUP)?;
                    consumer.subscribe(&[&topic])?;
                }
                continue;
            }
        };
        let msg = match msg {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "kafka receive failed");
                tokio::select! { _ = &mut shutdown => break, _ = tokio::time::sleep(Duration::from_secs(1)) => continue }
            }
        };
        let payload = msg.payload().unwrap_or_default().to_vec();
        let mut backoff = Duration::from_millis(500);
        let handled = loop {
            let attempt = handle(
                cfg,
                client,
                &dlq,
                &payload,
                msg.key(),
                (msg.partition(), msg.offset()),
            )
            .await;
            match attempt {
                Ok(h) => {
                    let result = match h {
                        Handled::Started => "started",
                        Handled::AlreadyStarted => "duplicate",
                        Handled::DeadLettered => "invalid",
                    };
                    metrics.events.with_label_values(&[result]).inc();
                    break Some(h);
                }
                Err(e) => {
                    metrics.events.with_label_values(&["error"]).inc();
                    tracing::warn!(error = %e, retry_in = ?backoff, partition = msg.partition(), offset = msg.offset(), "event not handled yet");
                    tokio::select! {
                        _ = &mut shutdown => break None,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        };
        let Some(handled) = handled else { break };
        tracing::debug!(?handled, offset = msg.offset(), "event handled");
        // Synchronous: the offset is durable before the next event is taken.
        tokio::task::block_in_place(|| consumer.commit_message(&msg, CommitMode::Sync))?;
    }
    tracing::info!("bridge stopped");
    Ok(())
}

async fn handle(
    cfg: &Config,
    client: &Client,
    dlq: &FutureProducer,
    payload: &[u8],
    key: Option<&[u8]>,
    (partition, offset): (i32, i64),
) -> std::result::Result<Handled, String> {
    let event = match VideoUploaded::from_json(payload) {
        Ok(ev) => ev,
        Err(reason) => {
            let reason = reason.to_string();
            let source = format!(
                "{}/{partition}/{offset}",
                cfg.topic(kafka::TOPIC_VIDEO_UPLOADED)
            );
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: kafka::DLQ_REASON_HEADER,
                    value: Some(reason.as_str()),
                })
                .insert(Header {
                    key: kafka::DLQ_SOURCE_HEADER,
                    value: Some(source.as_str()),
                });
            let topic = cfg.topic(kafka::TOPIC_VIDEO_UPLOADED_DLQ);
            let mut record = FutureRecord::to(&topic).payload(payload).headers(headers);
            if let Some(k) = key {
                record = record.key(k);
            }
            dlq.send(record, Duration::from_secs(5))
                .await
                .map_err(|(e, _)| format!("DLQ publish: {e}"))?;
            tracing::warn!(%reason, %source, "event dead-lettered");
            return Ok(Handled::DeadLettered);
        }
    };
    start(cfg, client, &event).await
}

/// Starts the workflow of a first upload; "already started" (running or finished) is success.
pub async fn start(
    cfg: &Config,
    client: &Client,
    ev: &VideoUploaded,
) -> std::result::Result<Handled, String> {
    let run = Run {
        video_id: ev.video_id,
        owner: &ev.owner,
        bucket: &ev.bucket,
        source_key: &ev.key,
        size: ev.size,
        sha256: &ev.sha256,
        title: &ev.title,
        content_type: &ev.content_type,
        attempt: 1,
        callback_url: ev.callback_url.as_deref(),
        generation: 0,
        source_url: ev.source_url.as_deref(),
    };
    // A duplicate event must never start a second run, even after the first one finished.
    match start_run(cfg, client, &run, WorkflowIdReusePolicy::RejectDuplicate).await {
        Ok(()) => Ok(Handled::Started),
        Err(WorkflowStartError::AlreadyStarted { .. }) => {
            tracing::info!(video_id = %ev.video_id, "workflow already started; duplicate event ignored");
            Ok(Handled::AlreadyStarted)
        }
        Err(e) => Err(format!("temporal: {e}")),
    }
}
