//! vodflow-bridge: turns `video_uploaded` events into durable Temporal workflows.
//!
//! It commits a Kafka offset only after Temporal acknowledged the start (or answered "already
//! started", so duplicates start nothing); unparseable events go to the DLQ with the reason. It must
//! not process videos itself.

pub mod dlq;
pub mod topics;
pub mod webhooks;

use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message};
use temporalio_client::errors::WorkflowStartError;
use temporalio_client::{Client, WorkflowIdReusePolicy, WorkflowStartOptions};
use temporalio_common::MemoValues;
use temporalio_common::search_attributes::{SearchAttributeKey, SearchAttributes};
use vodflow_core::events::VideoUploaded;
use vodflow_core::workflow_types::ProcessVideo;
use vodflow_core::{Config, names};
use vodflow_workflows::VideoProcessingWorkflow;

pub const VIDEO_ID: SearchAttributeKey<String> =
    SearchAttributeKey::keyword(names::SEARCH_ATTR_VIDEO_ID);
pub const OWNER_ID: SearchAttributeKey<String> =
    SearchAttributeKey::keyword(names::SEARCH_ATTR_OWNER_ID);
pub const VIDEO_STATUS: SearchAttributeKey<String> =
    SearchAttributeKey::keyword(names::SEARCH_ATTR_VIDEO_STATUS);

/// Header on DLQ messages saying why the event was refused.
pub const DLQ_REASON_HEADER: &str = "vodflow-dlq-reason";

const MAX_BACKOFF: Duration = Duration::from_secs(30);

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

/// Consumes until `shutdown` resolves. Whatever was handled is committed; an event being retried
/// when shutdown comes is left uncommitted and handled again by the next consumer.
pub async fn run(cfg: &Config, client: &Client, shutdown: impl Future<Output = ()>) -> Result<()> {
    let mut props = ClientConfig::new();
    for (k, v) in cfg.kafka_properties() {
        props.set(k, v);
    }
    let consumer: StreamConsumer = props
        .clone()
        .set("group.id", cfg.topic(names::BRIDGE_CONSUMER_GROUP))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("topic.metadata.refresh.interval.ms", "10000")
        .create()?;
    let dlq: FutureProducer = props.set("enable.idempotence", "true").create()?;
    let mut shutdown = std::pin::pin!(shutdown);
    let topic = cfg.topic(names::TOPIC_VIDEO_UPLOADED);
    // Subscribing to a topic that does not exist yet would leave the consumer idle until its next
    // metadata refresh: make sure the topics exist first (retrying while the broker is away).
    let mut wait = Duration::from_millis(500);
    while let Err(e) = topics::ensure(cfg).await {
        tracing::warn!(error = %e, "cannot create topics yet; retrying");
        tokio::select! { _ = &mut shutdown => return Ok(()), _ = tokio::time::sleep(wait) => {} }
        wait = (wait * 2).min(MAX_BACKOFF);
    }
    consumer.subscribe(&[&topic])?;
    tracing::info!(%topic, "bridge consuming");
    loop {
        let msg = tokio::select! {
            _ = &mut shutdown => break,
            m = consumer.recv() => m,
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
                Ok(h) => break Some(h),
                Err(e) => {
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
                cfg.topic(names::TOPIC_VIDEO_UPLOADED)
            );
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: DLQ_REASON_HEADER,
                    value: Some(reason.as_str()),
                })
                .insert(Header {
                    key: "vodflow-dlq-source",
                    value: Some(source.as_str()),
                });
            let topic = cfg.topic(names::TOPIC_VIDEO_UPLOADED_DLQ);
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

/// One processing run of a video: the first (from the bridge) or a replay (from the API).
pub struct Run<'a> {
    pub video_id: vodflow_core::VideoId,
    pub owner: &'a str,
    pub bucket: &'a str,
    pub source_key: &'a str,
    pub size: u64,
    pub sha256: &'a str,
    pub title: &'a str,
    pub content_type: &'a str,
    pub attempt: i32,
    pub callback_url: Option<&'a str>,
}

/// Starts `VideoProcessingWorkflow` under the video's workflow id, with the operator's search
/// attributes and memo. `reuse` decides whether a closed earlier run may be followed by this one.
pub async fn start_run(
    cfg: &Config,
    client: &Client,
    run: &Run<'_>,
    reuse: WorkflowIdReusePolicy,
) -> std::result::Result<(), WorkflowStartError> {
    let input = ProcessVideo {
        video_id: run.video_id,
        owner: run.owner.to_owned(),
        bucket: run.bucket.to_owned(),
        source_key: run.source_key.to_owned(),
        size: run.size,
        sha256: run.sha256.to_owned(),
        title: run.title.to_owned(),
        chunk_seconds: cfg.chunk_seconds,
        transcode_queue: cfg.task_queue(names::TASK_QUEUE_TRANSCODE),
        max_attempts: cfg.activity_max_attempts,
        heartbeat_timeout_s: cfg.heartbeat_timeout.as_secs().max(1),
        attempt: run.attempt,
        callback_url: run.callback_url.map(str::to_owned),
    };
    let mut memo = MemoValues::new();
    memo.insert("title", run.title.to_owned());
    memo.insert("size_bytes", run.size);
    memo.insert("content_type", run.content_type.to_owned());
    memo.insert("attempt", run.attempt);
    let opts = WorkflowStartOptions::new(
        cfg.task_queue(names::TASK_QUEUE_PROCESSING),
        run.video_id.workflow_id(),
    )
    .id_reuse_policy(reuse)
    .search_attributes(SearchAttributes::new([
        VIDEO_ID.value_set(run.video_id.to_string()),
        OWNER_ID.value_set(run.owner.to_owned()),
        VIDEO_STATUS.value_set("queued".to_owned()),
    ]))
    .memo(memo)
    .static_summary(format!(
        "{} ({} bytes, run {})",
        run.title, run.size, run.attempt
    ))
    .build();
    let h = client
        .start_workflow(VideoProcessingWorkflow::run, input, opts)
        .await?;
    tracing::info!(video_id = %run.video_id, run_id = ?h.run_id(), attempt = run.attempt, "workflow started");
    Ok(())
}
