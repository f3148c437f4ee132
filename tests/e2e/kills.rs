//! SIGKILL of the api and the bridge processes at bad moments: mid-upload (the api holds an open
//! multipart upload), mid-publish (the relay has events in flight) and mid-start (the bridge has
//! started every run and committed none of the events: Temporal's replies are held back). The real `vodflow` binary runs
//! in child processes, as in production; every test has its own database, bucket, topics and task
//! queues, so these run beside each other. The transcode worker's and the processing worker's
//! kills are in `processing.rs` and `reconcile.rs`. Loopback only.

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::media::{Spec, make_video};
use common::{
    eventually, free_port, spawn_api_process, spawn_vodflow, wait_for_status, wait_healthy,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_api_killed_mid_upload_leaves_no_video_and_no_multipart_upload() {
    // The reconciler (run by the processing worker below) aborts multipart uploads older than
    // VODFLOW_ORPHAN_AFTER: a few seconds here, a day by default.
    let owned = common::processing_env(&[
        ("VODFLOW_RECONCILE_INTERVAL", "2s"),
        ("VODFLOW_ORPHAN_AFTER", "4s"),
    ])
    .await;
    let env = &owned;
    let clip = make_video(
        &env.scratch,
        "clip.mp4",
        &Spec {
            width: 320,
            height: 180,
            seconds: 4.0,
            ..Spec::default()
        },
    );
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut api = spawn_api_process(env, port, "api-1.log");
    wait_healthy(&base).await;

    // A client streaming a large file slowly: the real clip's bytes (so the upload is accepted
    // as video), then padding, a MiB every 20 ms, until the connection dies.
    let head = std::fs::read(&clip).unwrap();
    let body = futures::stream::unfold(0usize, move |sent| {
        let head = head.clone();
        async move {
            if sent == 0 {
                return Some((Ok::<_, std::io::Error>(head), 1));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            (sent < 4096).then(|| (Ok(vec![0u8; 1 << 20]), sent + 1))
        }
    });
    let form = reqwest::multipart::Form::new()
        .text("title", "killed")
        .part(
            "file",
            reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(body)).file_name("v.mp4"),
        );
    let upload = tokio::spawn(
        reqwest::Client::new()
            .post(format!("{base}/v1/videos"))
            .bearer_auth(&token)
            .multipart(form)
            .send(),
    );
    eventually(
        "the api to open a multipart upload",
        Duration::from_secs(30),
        || async { (env.multipart_uploads().await > 0).then_some(()) },
    )
    .await;
    api.kill().expect("SIGKILL the api");
    let answer = upload.await.expect("upload task");
    assert!(
        answer
            .as_ref()
            .map(|r| !r.status().is_success())
            .unwrap_or(true),
        "the interrupted upload must not be accepted: {answer:?}"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM videos")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0, "no video row for an upload that never finished");

    // A restarted api takes uploads again, and the abandoned multipart upload is swept.
    let roles = vodflow_activities::worker::Roles {
        processing: true,
        transcode: true,
    };
    let mut api = spawn_api_process(env, port, "api-2.log");
    wait_healthy(&base).await;
    common::with_platform_roles(env, roles, |_| async {
        let t = Instant::now();
        eventually(
            "the abandoned multipart upload to be aborted",
            Duration::from_secs(60),
            || async { (env.multipart_uploads().await == 0).then_some(()) },
        )
        .await;
        eprintln!(
            "abandoned multipart upload aborted {:.1} s after the kill",
            t.elapsed().as_secs_f64()
        );
        let id = common::upload(&base, &token, &clip, "after the kill").await;
        let row = wait_for_status(env, &id, &["ready", "failed"], Duration::from_secs(120)).await;
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        assert!(
            env.object_keys_all("uploads/")
                .await
                .iter()
                .all(|k| k.contains(&id))
        );
    })
    .await;
    api.kill().ok();
    owned.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_relay_and_the_bridge_killed_mid_publish_start_one_run_per_video() {
    let owned = common::processing_env(&[]).await;
    let env = &owned;
    let clip = make_video(
        &env.scratch,
        "clip.mp4",
        &Spec {
            width: 320,
            height: 180,
            seconds: 4.0,
            ..Spec::default()
        },
    );
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let work = env.scratch.join("worker");
    let _worker = common::spawn_worker_process(env, &[], &work);
    // The first bridge reaches Temporal through a proxy whose replies the test holds back: its
    // starts take effect, and it never hears so, so it commits nothing.
    let temporal = common::proxy::HoldingProxy::start(
        env.cfg
            .temporal_url
            .trim_start_matches("http://")
            .trim_end_matches('/'),
    )
    .await;
    let through_proxy = format!("http://{}", temporal.addr);
    let mut bridge = spawn_vodflow(
        env,
        &["bridge"],
        &[("VODFLOW_TEMPORAL_URL", &through_proxy)],
        &env.scratch.join("bridge-1.log"),
    );
    // The first api's relay cannot publish (its broker address answers nothing): every event is
    // committed and unpublished when it dies, so the kill lands between commit and publish for
    // all of them.
    let mut api = common::spawn_vodflow(
        env,
        &["api"],
        &[
            ("VODFLOW_API_LISTEN", &format!("127.0.0.1:{port}")),
            ("VODFLOW_KAFKA_BROKERS", "127.0.0.1:9"),
        ],
        &env.scratch.join("api-1.log"),
    );
    wait_healthy(&base).await;

    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(common::upload(&base, &token, &clip, &format!("v{i}")).await);
    }
    api.kill().expect("SIGKILL the api");
    let unpublished: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(unpublished, ids.len() as i64, "killed before any publish");
    eventually(
        "the first bridge to have connected to Temporal",
        Duration::from_secs(60),
        || async { (temporal.replied_bytes() > 0).then_some(()) },
    )
    .await;
    temporal.hold_replies();
    let mut api = spawn_api_process(env, port, "api-2.log");
    // Killed after a publish but before its mark, a relay publishes again: that state is made
    // here for half of the events (published, then unmarked), so their `video_uploaded` reaches
    // the bridge twice.
    eventually(
        "the restarted relay to publish",
        Duration::from_secs(60),
        || async {
            let left: i64 =
                sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                    .fetch_one(&env.pool)
                    .await
                    .ok()?;
            (left == 0).then_some(())
        },
    )
    .await;
    let unmarked = sqlx::query(
        "UPDATE outbox SET published_at = NULL WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT 3)",
    )
    .execute(&env.pool)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(unmarked, 3);
    // The bridge dies mid-start: every run it started exists in Temporal, and not one of the
    // events that started them is committed.
    eventually(
        "the first bridge to start every video's run",
        Duration::from_secs(60),
        || async {
            ids.iter()
                .all(|id| common::workflow_runs(id) == 1)
                .then_some(())
        },
    )
    .await;
    let group = env.cfg.topic(vodflow_core::kafka::BRIDGE_CONSUMER_GROUP);
    let uploaded = env.cfg.topic(vodflow_core::kafka::TOPIC_VIDEO_UPLOADED);
    assert_eq!(
        common::committed_total(&env.cfg.kafka_brokers, &group, &uploaded),
        0,
        "the kill must land between the starts and their commit"
    );
    bridge.kill().expect("SIGKILL the bridge");
    drop(temporal);

    let mut bridge = spawn_vodflow(env, &["bridge"], &[], &env.scratch.join("bridge-2.log"));
    for id in &ids {
        let row = wait_for_status(env, id, &["ready", "failed"], Duration::from_secs(180)).await;
        assert_eq!(row.status, "ready", "{id}: {:?}", row.failure_reason);
        assert_eq!(row.attempt, 1, "{id}: one run, never a replay");
        assert_eq!(common::workflow_runs(id), 1, "{id}: one run");
    }
    // One `video_processed` per video, however often `video_uploaded` was published.
    let topic = env.cfg.topic(vodflow_core::kafka::TOPIC_VIDEO_PROCESSED);
    let msgs = common::read_topic(
        &env.cfg.kafka_brokers,
        &topic,
        ids.len() + 1,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(msgs.len(), ids.len(), "one video_processed event per video");
    assert_eq!(env.multipart_uploads().await, 0);
    api.kill().ok();
    bridge.kill().ok();
    owned.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transcode_worker_sent_sigterm_finishes_its_encodes_before_it_exits() {
    // Chunks long enough that an encode heartbeats while it runs.
    let owned = common::processing_env(&[("VODFLOW_CHUNK_SECONDS", "12")]).await;
    let env = &owned;
    let clip = make_video(
        &env.scratch,
        "clip.mp4",
        &Spec {
            width: 1280,
            height: 720,
            seconds: 24.0,
            ..Spec::default()
        },
    );
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let roles = vodflow_activities::worker::Roles {
        processing: true,
        transcode: false,
    };
    common::with_platform_roles(env, roles, |base| async move {
        let mut first = common::spawn_worker_process(
            env,
            &["--queues", "transcode", "--max-concurrent-transcodes", "1"],
            &env.scratch.join("w1"),
        );
        let id = common::upload(&base, &token, &clip, "drained").await;
        common::finished_chunks(env, &id, 1).await;
        // Mid-encode, not between two tasks: the SIGTERM lands while Temporal has the next chunk
        // started on this worker (and heartbeating), not merely scheduled.
        let in_flight = common::encode_started(&id).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        // What Kubernetes does at a rollout: SIGTERM, then wait for the grace period.
        let pid = first.0.id().to_string();
        let t = Instant::now();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = tokio::task::spawn_blocking(move || first.0.wait())
            .await
            .unwrap()
            .unwrap();
        let drained_in = t.elapsed();
        assert!(
            status.success(),
            "a drained worker exits cleanly: {status:?}"
        );
        // Another worker does the rest.
        let mut second =
            common::spawn_worker_process(env, &["--queues", "transcode"], &env.scratch.join("w2"));
        let row = wait_for_status(env, &id, &["ready", "failed"], Duration::from_secs(240)).await;
        second.kill().ok();
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        // Nothing the first worker had started was lost: every encode ran once, the one in
        // flight at the SIGTERM included (finished by the draining worker, not retried).
        let events = common::history(env, &id);
        assert_eq!(
            common::activity_attempts(&events, &in_flight),
            vec![1],
            "{in_flight} was in flight at the SIGTERM"
        );
        for (activity, _) in common::completed_activities(&events) {
            if activity.starts_with("encode-chunk-") {
                assert_eq!(
                    common::activity_attempts(&events, &activity),
                    vec![1],
                    "{activity} was retried: the drain cut it off"
                );
            }
        }
        eprintln!(
            "transcode worker drained in {:.1} s after SIGTERM",
            drained_in.as_secs_f64()
        );
    })
    .await;
    owned.cleanup().await;
}
