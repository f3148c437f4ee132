//! The fault suite: backing services (the S3 store, the Temporal server, PostgreSQL, and the Kafka
//! broker twice while uploads keep coming) are restarted in the middle of a run, and the video still ends `ready` with one
//! workflow run, no multipart upload left behind and one `video_processed` event. A SIGKILL of
//! the transcode worker mid-chunk is covered by `processing.rs`, of the processing worker by the
//! reconciler tests. This file runs alone (test binaries run one after another), so restarting
//! the shared local stack disturbs no other test. Loopback only.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::media::{Spec, make_video};

fn stack(args: &[&str]) {
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/stack"))
        .args(args)
        .env("VODFLOW_SKIP_INSTALL", "1")
        .output()
        .expect("scripts/stack");
    assert!(
        out.status.success(),
        "stack {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn restart_postgres() {
    let ver = std::fs::read_dir("/usr/lib/postgresql")
        .expect("postgresql")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .max_by_key(|v| v.parse::<u32>().unwrap_or(0))
        .expect("a PostgreSQL version");
    let out = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &ver, "main", "restart"])
        .output()
        .expect("pg_ctlcluster");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Stops `service` for a few seconds, then starts it again (data kept).
fn restart(service: &str) {
    match service {
        "postgres" => restart_postgres(),
        s => {
            let (down, up) = match s {
                "s3" => ("garage", "s3"),
                "kafka" => ("tansu", "kafka"),
                "temporal" => ("temporal", "temporal"),
                other => panic!("unknown service {other}"),
            };
            stack(&["down", down]);
            std::thread::sleep(Duration::from_secs(3));
            stack(&["up", up]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_backing_service_restarted_mid_run_still_ends_ready_once() {
    let owned = common::processing_env(&[("VODFLOW_CHUNK_SECONDS", "4")]).await;
    let env = &owned;
    let clip = make_video(
        &env.scratch,
        "clip.mp4",
        &Spec {
            width: 640,
            height: 360,
            seconds: 24.0,
            ..Spec::default()
        },
    );
    common::with_platform(env, |base| async move {
        let token = env.token("faults", &["videos:read", "videos:write"]);
        let mut table = Vec::new();
        for service in ["s3", "temporal", "postgres"] {
            let id = common::upload(&base, &token, &clip, service).await;
            eprintln!("{service}: uploaded {id}");
            common::finished_chunks(env, &id, 1).await;
            let t = Instant::now();
            tokio::task::spawn_blocking(move || restart(service))
                .await
                .unwrap();
            let row =
                common::wait_for_status(env, &id, &["ready", "failed"], Duration::from_secs(300))
                    .await;
            assert_eq!(row.status, "ready", "{service}: {:?}", row.failure_reason);
            table.push(format!(
                "{service}: ready {:.1} s after the restart began",
                t.elapsed().as_secs_f64()
            ));
            // One run, however the service's outage looked to the bridge and the workers.
            assert_eq!(common::workflow_runs(&id), 1, "{service}: one run");
        }
        // The Kafka broker, twice, while uploads keep coming: one video mid-encode when it goes
        // down, one uploaded while it is down (its event waits in the outbox), one between the
        // restarts. Kafka is at-least-once, so each video must have one run (the workflow id is
        // the idempotency key) and its events at least once.
        let mut kafka_videos = Vec::new();
        let first = common::upload(&base, &token, &clip, "kafka-1").await;
        common::finished_chunks(env, &first, 1).await;
        kafka_videos.push(first);
        let t = Instant::now();
        // Blocking calls go to their own thread: the workers run on this task.
        tokio::task::spawn_blocking(|| stack(&["down", "tansu"]))
            .await
            .unwrap();
        kafka_videos.push(common::upload(&base, &token, &clip, "kafka-2").await);
        tokio::time::sleep(Duration::from_secs(3)).await;
        tokio::task::spawn_blocking(|| stack(&["up", "kafka"]))
            .await
            .unwrap();
        kafka_videos.push(common::upload(&base, &token, &clip, "kafka-3").await);
        tokio::task::spawn_blocking(|| restart("kafka"))
            .await
            .unwrap();
        for (i, id) in kafka_videos.iter().enumerate() {
            let row =
                common::wait_for_status(env, id, &["ready", "failed"], Duration::from_secs(300))
                    .await;
            assert_eq!(
                row.status, "ready",
                "kafka video {i}: {:?}",
                row.failure_reason
            );
            assert_eq!(common::workflow_runs(id), 1, "kafka video {i}: one run");
        }
        table.push(format!(
            "kafka (twice, 3 videos): all ready {:.1} s after the first restart began",
            t.elapsed().as_secs_f64()
        ));
        let unpublished: i64 =
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                .fetch_one(&env.pool)
                .await
                .unwrap();
        assert_eq!(unpublished, 0, "every outbox event reached the broker");

        assert_eq!(env.multipart_uploads().await, 0);
        let uploaded = common::read_topic(
            &env.cfg.kafka_brokers,
            &env.cfg.topic(vodflow_core::kafka::TOPIC_VIDEO_UPLOADED),
            6,
            Duration::from_secs(20),
        )
        .await;
        let processed = common::read_topic(
            &env.cfg.kafka_brokers,
            &env.cfg.topic(vodflow_core::kafka::TOPIC_VIDEO_PROCESSED),
            6,
            Duration::from_secs(20),
        )
        .await;
        let ids_in = |msgs: &[rdkafka::message::OwnedMessage]| {
            use rdkafka::Message;
            msgs.iter()
                .filter_map(|m| {
                    let v: serde_json::Value = serde_json::from_slice(m.payload()?).ok()?;
                    Some(v["video_id"].as_str()?.to_owned())
                })
                .collect::<std::collections::HashSet<_>>()
        };
        for id in &kafka_videos {
            assert!(ids_in(&uploaded).contains(id), "{id}: video_uploaded lost");
            assert!(
                ids_in(&processed).contains(id),
                "{id}: video_processed lost"
            );
        }
        assert!(
            processed.len() >= 6,
            "one video_processed event per video at least"
        );
        eprintln!("fault suite:\n  {}", table.join("\n  "));
    })
    .await;
    owned.cleanup().await;
}
