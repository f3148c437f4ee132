//! `vodflow dlq replay`: once the cause of dead-lettered events is fixed, send them back through the
//! bridge. Events that still do not parse stay behind (reported), so garbage never loops.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::FutureRecord;
use rdkafka::{Message, Offset, TopicPartitionList};
use vodflow_core::events::VideoUploaded;
use vodflow_core::{Config, kafka};

use crate::Error;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    pub republished: u64,
    /// (partition/offset, why it still cannot be processed)
    pub skipped: Vec<(String, String)>,
}

/// Replays what the DLQ holds now (up to each partition's end at the start), from where the last
/// replay stopped, and commits that position.
pub async fn replay(cfg: &Config) -> Result<Replayed, Error> {
    let producer = kafka::producer(cfg)?;
    let consumer: BaseConsumer = kafka::consumer(cfg, kafka::DLQ_REPLAY_GROUP)?;
    let dlq = cfg.topic(kafka::TOPIC_VIDEO_UPLOADED_DLQ);
    let target = cfg.topic(kafka::TOPIC_VIDEO_UPLOADED);
    let timeout = Duration::from_secs(10);
    let md = consumer.fetch_metadata(Some(&dlq), timeout)?;
    let partitions: Vec<i32> = md
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    // Where this replay stops: the end of each partition now.
    let mut ends = Vec::new();
    let mut assignment = TopicPartitionList::new();
    for p in &partitions {
        let (_, high) = consumer.fetch_watermarks(&dlq, *p, timeout)?;
        ends.push((*p, high));
        assignment.add_partition(&dlq, *p);
    }
    let committed = consumer.committed_offsets(assignment, timeout)?;
    let mut start = TopicPartitionList::new();
    // Partitions with something left between the last replay's position and today's end.
    let mut remaining = Vec::new();
    for (p, high) in &ends {
        let from = match committed.find_partition(&dlq, *p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o,
            _ => 0,
        };
        start.add_partition_offset(&dlq, *p, Offset::Offset(from))?;
        if from < *high {
            remaining.push((*p, *high));
        }
    }
    consumer.assign(&start)?;
    let mut out = Replayed::default();
    while !remaining.is_empty() {
        let Some(msg) = consumer.poll(timeout) else {
            break;
        };
        let msg = msg?;
        let payload = msg.payload().unwrap_or_default();
        match VideoUploaded::from_json(payload) {
            Ok(ev) => {
                let key = ev.video_id.to_string();
                producer
                    .send(
                        FutureRecord::to(&target).key(&key).payload(payload),
                        Duration::from_secs(5),
                    )
                    .await
                    .map_err(|(e, _)| e)?;
                out.republished += 1;
            }
            Err(e) => out.skipped.push((
                format!("{}/{}", msg.partition(), msg.offset()),
                e.to_string(),
            )),
        }
        consumer.commit_message(&msg, CommitMode::Sync)?;
        let (p, o) = (msg.partition(), msg.offset());
        remaining.retain(|(rp, high)| !(*rp == p && o + 1 >= *high));
    }
    Ok(out)
}
