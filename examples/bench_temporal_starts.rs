//! Benchmark for `make bench`: the ceiling the bridge is measured against. Starts N video
//! workflows directly (the bridge's own `start_run`, same options, on a task-queue prefix nobody
//! polls), C at a time, with no Kafka and no bridge in the way. Prints
//! `workflows seconds workflows_per_second`.
//! Usage: bench_temporal_starts N [C]

use std::time::Instant;

use futures::StreamExt;
use temporalio_client::WorkflowIdReusePolicy;
use vodflow_core::VideoId;
use vodflow_workflows::video_processing::{Run, start_run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let c: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let cfg = vodflow_core::Config::from_env()?;
    let client = vodflow_core::temporal::connect(&cfg, "bench").await?;
    let keys: Vec<(VideoId, String)> = (0..n)
        .map(|i| (VideoId::new(), format!("bench/{i}.mp4")))
        .collect();
    let started = Instant::now();
    let mut starts = futures::stream::iter(keys.iter().map(|(id, key)| {
        let run = Run {
            video_id: *id,
            owner: "bench",
            bucket: &cfg.s3.bucket,
            source_key: key,
            size: 1,
            title: "bench",
            content_type: "video/mp4",
            attempt: 1,
            callback_url: None,
            generation: 0,
            source_url: None,
            reuse_video_from: None,
        };
        let (cfg, client) = (&cfg, &client);
        async move { start_run(cfg, client, &run, WorkflowIdReusePolicy::RejectDuplicate).await }
    }))
    .buffer_unordered(c);
    while let Some(r) = starts.next().await {
        r?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!("{n} {secs:.2} {:.0}", n as f64 / secs.max(1e-3));
    Ok(())
}
