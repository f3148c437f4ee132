//! vodflow-bridge: turns `video_uploaded` events into durable Temporal workflows.
//!
//! It commits a Kafka offset only after Temporal acknowledged the start (or answered "already
//! started", so duplicates start nothing); unparseable events go to the DLQ with the reason. It must
//! not process videos itself.

pub mod dlq;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};

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

/// Consumes until `shutdown` resolves. Up to [`IN_FLIGHT`] events are handled at once (each start
/// is an independent round trip to Temporal; one at a time, a backlog would drain at one round
/// trip per event). Offsets are committed up to the first event not yet handled in each partition,
/// so whatever was handled is committed and an event being retried when shutdown comes is left
/// uncommitted and handled again by the next consumer. Counts events and measures the group's lag
/// into `registry`.
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
    let stop = tokio_util::sync::CancellationToken::new();
    let mut handling: FuturesUnordered<_> = FuturesUnordered::new();
    let mut offsets = Offsets::default();
    let mut commit_tick = tokio::time::interval(COMMIT_EVERY);
    let mut last_event = tokio::time::Instant::now();
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
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            Some((partition, offset, handled)) = handling.next(), if !handling.is_empty() => {
                let handled: Option<Handled> = handled;
                offsets.finished(partition, offset, handled.is_some());
                // A slow event is activity too: the idle check must not fire the moment it ends.
                last_event = tokio::time::Instant::now();
            }
            _ = commit_tick.tick() => offsets.commit_or_warn(&consumer, &topic, CommitMode::Async),
            m = consumer.recv(), if handling.len() < IN_FLIGHT => match m {
                Ok(msg) => {
                    last_event = tokio::time::Instant::now();
                    let (partition, offset) = (msg.partition(), msg.offset());
                    offsets.started(partition, offset);
                    let event = Event {
                        payload: msg.payload().unwrap_or_default().to_vec(),
                        key: msg.key().map(<[u8]>::to_vec),
                        partition,
                        offset,
                    };
                    handling.push(handle_retrying(cfg, client, &dlq, &metrics, &stop, event));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "kafka receive failed");
                    tokio::select! { _ = &mut shutdown => break, _ = tokio::time::sleep(Duration::from_secs(1)) => {} }
                }
            },
            // Quiet for a while: make sure it is because nothing is waiting, not because the
            // consumer lost its group across a broker restart (seen with tansu: it never rejoined).
            _ = tokio::time::sleep_until(last_event + IDLE_CHECK), if handling.is_empty() => {
                last_event = tokio::time::Instant::now();
                offsets.resend_all();
                offsets.commit_or_warn(&consumer, &topic, CommitMode::Sync);
                if lagging(&consumer, &topic) {
                    tracing::warn!(%topic, "events are waiting but the consumer receives nothing; rebuilding it");
                    consumer = kafka::consumer(cfg, kafka::BRIDGE_CONSUMER_GROUP)?;
                    consumer.subscribe(&[&topic])?;
                    offsets = Offsets::default();
                }
            }
        }
    }
    // Events mid-start finish; events waiting to be retried give up and stay uncommitted.
    stop.cancel();
    while let Some((partition, offset, handled)) = handling.next().await {
        offsets.finished(partition, offset, handled.is_some());
    }
    offsets.resend_all();
    offsets.commit_or_warn(&consumer, &topic, CommitMode::Sync);
    tracing::info!("bridge stopped");
    Ok(())
}

/// Events handled at once.
const IN_FLIGHT: usize = 64;
/// How often the handled prefix of each partition is committed.
const COMMIT_EVERY: Duration = Duration::from_millis(200);

/// One consumed message, owned, so it can be handled while the next ones arrive.
struct Event {
    payload: Vec<u8>,
    key: Option<Vec<u8>>,
    partition: i32,
    offset: i64,
}

/// Handles one event, retrying with backoff until it is handled or `stop` is cancelled (then
/// `None`: not handled, not to be committed).
async fn handle_retrying(
    cfg: &Config,
    client: &Client,
    dlq: &FutureProducer,
    metrics: &vodflow_core::metrics::BridgeMetrics,
    stop: &tokio_util::sync::CancellationToken,
    ev: Event,
) -> (i32, i64, Option<Handled>) {
    let mut backoff = Duration::from_millis(500);
    loop {
        let attempt = handle(
            cfg,
            client,
            dlq,
            &ev.payload,
            ev.key.as_deref(),
            (ev.partition, ev.offset),
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
                tracing::debug!(handled = ?h, partition = ev.partition, offset = ev.offset, "event handled");
                return (ev.partition, ev.offset, Some(h));
            }
            Err(e) => {
                metrics.events.with_label_values(&["error"]).inc();
                tracing::warn!(error = %e, retry_in = ?backoff, partition = ev.partition, offset = ev.offset, "event not handled yet");
                tokio::select! {
                    _ = stop.cancelled() => return (ev.partition, ev.offset, None),
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// What has been handled of each partition: the offsets in hand, and how far it is done. Events
/// finish out of order; the commit only ever covers an unbroken handled prefix.
#[derive(Default)]
struct Offsets(HashMap<i32, PartitionOffsets>);

#[derive(Default)]
struct PartitionOffsets {
    in_hand: BTreeSet<i64>,
    /// One past the highest offset handled.
    done_to: i64,
    committed: i64,
}

impl PartitionOffsets {
    /// Everything before this offset is handled.
    fn committable(&self) -> i64 {
        self.in_hand.first().copied().unwrap_or(self.done_to)
    }
}

impl Offsets {
    fn started(&mut self, partition: i32, offset: i64) {
        self.0.entry(partition).or_default().in_hand.insert(offset);
    }

    /// `handled == false`: given up at shutdown; it stays in hand, so nothing past it is committed.
    fn finished(&mut self, partition: i32, offset: i64, handled: bool) {
        if !handled {
            return;
        }
        let p = self.0.entry(partition).or_default();
        p.in_hand.remove(&offset);
        p.done_to = p.done_to.max(offset + 1);
    }

    /// The next commit sends every partition's handled prefix again: an asynchronous commit the
    /// broker refused (during a rebalance, say) is not known to have failed.
    fn resend_all(&mut self) {
        for p in self.0.values_mut() {
            p.committed = 0;
        }
    }

    /// A commit the broker cannot take now (it is restarting, the group is rebalancing) is not
    /// fatal: the events stay handled, and the next idle check or shutdown sends it again.
    fn commit_or_warn(&mut self, consumer: &StreamConsumer, topic: &str, mode: CommitMode) {
        if let Err(e) = self.commit(consumer, topic, mode) {
            tracing::warn!(error = %e, "offset commit failed; it is sent again later");
        }
    }

    fn commit(&mut self, consumer: &StreamConsumer, topic: &str, mode: CommitMode) -> Result<()> {
        let mut tpl = rdkafka::TopicPartitionList::new();
        for (partition, p) in &mut self.0 {
            let at = p.committable();
            if at > p.committed {
                tpl.add_partition_offset(topic, *partition, rdkafka::Offset::Offset(at))?;
                p.committed = at;
            }
        }
        if tpl.count() > 0 {
            if matches!(mode, CommitMode::Sync) {
                tokio::task::block_in_place(|| consumer.commit(&tpl, mode))?;
            } else {
                consumer.commit(&tpl, mode)?;
            }
        }
        Ok(())
    }
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
        title: &ev.title,
        content_type: &ev.content_type,
        attempt: 1,
        callback_url: ev.callback_url.as_deref(),
        generation: 0,
        source_url: ev.source_url.as_deref(),
        reuse_video_from: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unbroken_handled_prefix_is_committable() {
        let mut o = Offsets::default();
        for off in 10..14 {
            o.started(0, off);
        }
        o.finished(0, 11, true);
        o.finished(0, 13, true);
        assert_eq!(o.0[&0].committable(), 10, "10 is still in hand");
        o.finished(0, 10, true);
        assert_eq!(o.0[&0].committable(), 12);
        // Given up at shutdown: stays in hand, nothing past it is committed.
        o.finished(0, 12, false);
        assert_eq!(o.0[&0].committable(), 12);
        let mut o2 = Offsets::default();
        o2.started(1, 5);
        o2.finished(1, 5, true);
        assert_eq!(o2.0[&1].committable(), 6);
    }
}
