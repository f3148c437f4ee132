//! Benchmark for `make bench`: publishes N valid `video_uploaded` events (configured topic prefix)
//! and measures how fast the bridge, already running with a task-queue prefix nobody polls, turns
//! them into started workflows: the bridge group's committed offsets over time. Prints
//! `events seconds events_per_second`.
//! Usage: bench_bridge N

use std::time::{Duration, Instant};

use futures::StreamExt;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureRecord;
use vodflow_core::events::{VIDEO_UPLOADED_SCHEMA_VERSION, VideoUploaded};
use vodflow_core::{VideoId, kafka};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let cfg = vodflow_core::Config::from_env()?;
    kafka::ensure_topics(&cfg).await?;
    let topic = cfg.topic(kafka::TOPIC_VIDEO_UPLOADED);
    let producer = kafka::producer(&cfg)?;
    let events: Vec<(String, String)> = (0..n)
        .map(|i| {
            let ev = VideoUploaded {
                schema_version: VIDEO_UPLOADED_SCHEMA_VERSION,
                video_id: VideoId::new(),
                owner: "bench".into(),
                bucket: cfg.s3.bucket.clone(),
                key: format!("bench/{i}.mp4"),
                sha256: None,
                size: 1,
                content_type: "video/mp4".into(),
                title: format!("bench {i}"),
                uploaded_at: chrono::Utc::now(),
                callback_url: None,
                source_url: None,
            };
            (
                ev.video_id.to_string(),
                serde_json::to_string(&ev).expect("json"),
            )
        })
        .collect();
    let published = Instant::now();
    let mut sends = futures::stream::iter(events.iter().map(|(key, payload)| {
        producer.send(
            FutureRecord::to(&topic).key(key).payload(payload),
            Duration::from_secs(30),
        )
    }))
    .buffer_unordered(1000);
    while let Some(r) = sends.next().await {
        r.map_err(|(e, _)| e)?;
    }
    eprintln!(
        "published {n} events in {:.2} s",
        published.elapsed().as_secs_f64()
    );

    // Committed offsets of the bridge's group, summed over the partitions.
    let watcher: BaseConsumer =
        kafka::consumer(&cfg, &format!("{}-watch", kafka::BRIDGE_CONSUMER_GROUP))?;
    let partitions: Vec<i32> = watcher
        .fetch_metadata(Some(&topic), Duration::from_secs(5))?
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let group = kafka::consumer::<BaseConsumer>(&cfg, kafka::BRIDGE_CONSUMER_GROUP)?;
    let committed = || -> anyhow::Result<i64> {
        let mut tpl = rdkafka::TopicPartitionList::new();
        for p in &partitions {
            tpl.add_partition(&topic, *p);
        }
        let c = group.committed_offsets(tpl, Duration::from_secs(5))?;
        Ok(c.elements()
            .iter()
            .map(|e| match e.offset() {
                rdkafka::Offset::Offset(o) => o,
                _ => 0,
            })
            .sum())
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut first: Option<(Instant, i64)> = None;
    loop {
        let done = committed()?;
        if first.is_none() && done > 0 {
            first = Some((Instant::now(), done));
        }
        if done >= n as i64 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {done} of {n} events started in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (t, at) = first.expect("some progress");
    let secs = t.elapsed().as_secs_f64();
    let rate = (n as i64 - at) as f64 / secs.max(1e-3);
    println!("{n} {secs:.2} {rate:.0}");
    Ok(())
}
