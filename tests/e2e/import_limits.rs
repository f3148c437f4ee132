//! What one owner's imports may take of the shared workers. A source server that drips its body
//! (a real video's first bytes, then one byte at a time) stands in for a slow or hostile source.
//! Imports run on their own queue's slots, so ten of them in flight leave another owner's upload
//! its probe and notification slots; a source below the minimum throughput or past the import
//! deadline fails the video at `import_source` and frees its slot; an owner has only so many
//! imports in flight. Loopback only.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::media::{Spec, make_video};
use tokio::io::AsyncWriteExt;

/// Serves `/slow.mp4`: `head` at once, then one byte every `every`, never reaching its declared
/// length. Once the returned flag is set, open bodies are cut and every request is 404, so the
/// imports end and the workers can stop.
async fn dripping_server(head: Vec<u8>, every: Duration) -> (String, Arc<AtomicBool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let head = Arc::new(head);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (head, stop) = (head.clone(), stopped.clone());
            tokio::spawn(async move {
                if common::read_request_head(&mut sock).await.is_none() {
                    return;
                }
                if stop.load(Ordering::SeqCst) {
                    let _ = sock
                        .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                        .await;
                    return;
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: {}\r\n\r\n",
                    100 * 1024 * 1024
                );
                if sock.write_all(answer.as_bytes()).await.is_err()
                    || sock.write_all(&head).await.is_err()
                {
                    return;
                }
                while !stop.load(Ordering::SeqCst) {
                    tokio::time::sleep(every).await;
                    if sock.write_all(&[0]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("{base}/slow.mp4"), stop)
}

/// The first 64 KiB of a real clip: enough for the sniffer to see a video.
fn video_head(env: &common::TestEnv) -> Vec<u8> {
    let clip = make_video(
        &env.scratch,
        "head.mp4",
        &Spec {
            width: 320,
            height: 180,
            seconds: 8.0,
            ..Spec::default()
        },
    );
    let mut data = std::fs::read(clip).unwrap();
    data.truncate(64 * 1024);
    data
}

async fn failure(env: &common::TestEnv, id: &str) -> (String, String) {
    let row =
        common::wait_for_status(env, id, &["ready", "failed"], Duration::from_secs(120)).await;
    assert_eq!(row.status, "failed", "{id}");
    (
        row.failure_step.unwrap_or_default(),
        row.failure_reason.unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_dripping_imports_do_not_hold_back_another_owners_upload() {
    let owned = common::processing_env(&[
        ("VODFLOW_IMPORT_ALLOW_PRIVATE", "true"),
        ("VODFLOW_MAX_IMPORTS_PER_OWNER", "10"),
        ("VODFLOW_MAX_CONCURRENT_IMPORTS", "2"),
        // The drip keeps every import alive for the whole test.
        ("VODFLOW_IMPORT_MIN_BYTES_PER_SEC", "0"),
    ])
    .await;
    let env = &owned;
    let (url, stop) = dripping_server(video_head(env), Duration::from_millis(200)).await;
    let clip = make_video(
        &env.scratch,
        "bob.mp4",
        &Spec {
            width: 320,
            height: 180,
            seconds: 4.0,
            ..Spec::default()
        },
    );
    let alice = env.token("alice", &["videos:read", "videos:write"]);
    let bob = env.token("bob", &["videos:read", "videos:write"]);
    common::with_platform(env, |base| async move {
        let mut imports = Vec::new();
        for _ in 0..10 {
            let (s, v) = common::import_url(&base, &alice, &url).await;
            assert_eq!(s, 202, "{v}");
            imports.push(v["id"].as_str().unwrap().to_owned());
        }
        // The eleventh is over alice's cap: refused before anything is recorded.
        let r = reqwest::Client::new()
            .post(format!("{base}/v1/videos"))
            .bearer_auth(&alice)
            .json(&serde_json::json!({"title": "one more", "source_url": url}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429);
        assert!(r.headers().contains_key("retry-after"));
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(
            body["detail"].as_str().unwrap().contains("in flight"),
            "{body}"
        );
        // Every run has started (two downloading, eight queued for an import slot) before bob
        // uploads.
        common::eventually("imports running", Duration::from_secs(60), || async {
            let running: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM videos WHERE source_url IS NOT NULL AND status = 'processing'",
            )
            .fetch_one(&env.pool)
            .await
            .unwrap();
            (running == 10).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;

        let id = common::upload(&base, &bob, &clip, "bob's clip").await;
        let row =
            common::wait_for_status(env, &id, &["ready", "failed"], Duration::from_secs(120)).await;
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);

        // Alice's imports were still downloading all along.
        for id in &imports {
            let vid: vodflow_core::VideoId = id.parse().unwrap();
            let row = vodflow_core::repo::get_video(&env.pool, vid, None)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(row.status, "processing", "{id}");
            assert_eq!(row.size_bytes, 0, "{id}");
        }
        // Another owner may still import while alice is at her cap.
        let (s, v) = common::import_url(&base, &bob, &url).await;
        assert_eq!(s, 202, "{v}");
        let bobs_import = v["id"].as_str().unwrap().to_owned();

        stop.store(true, Ordering::SeqCst);
        for id in imports.iter().chain([&bobs_import]) {
            let (step, _) = failure(env, id).await;
            assert_eq!(step, "import_source");
        }
        // Once they ended, alice may import again.
        let (s, v) = common::import_url(&base, &alice, &url).await;
        assert_eq!(s, 202, "{v}");
        let last = v["id"].as_str().unwrap().to_owned();
        failure(env, &last).await;
    })
    .await;
    owned.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_source_below_the_minimum_throughput_fails_the_import_and_frees_the_owners_slot_which_a_replay_needs_too()
 {
    let owned = common::processing_env(&[
        ("VODFLOW_IMPORT_ALLOW_PRIVATE", "true"),
        ("VODFLOW_MAX_IMPORTS_PER_OWNER", "1"),
        ("VODFLOW_IMPORT_MIN_BYTES_PER_SEC", "1000"),
        ("VODFLOW_IMPORT_STALL_WINDOW", "2s"),
    ])
    .await;
    let env = &owned;
    // Five bytes a second: never idle, far below the minimum.
    let (url, stop) = dripping_server(video_head(env), Duration::from_millis(200)).await;
    let alice = env.token("alice", &["videos:read", "videos:write"]);
    common::with_platform(env, |base| async move {
        let (s, v) = common::import_url(&base, &alice, &url).await;
        assert_eq!(s, 202, "{v}");
        let id = v["id"].as_str().unwrap().to_owned();
        let (s, v) = common::import_url(&base, &alice, &url).await;
        assert_eq!(s, 429, "one import in flight at most: {v}");

        let (step, reason) = failure(env, &id).await;
        assert_eq!(step, "import_source");
        assert!(reason.contains("bytes per second"), "{reason}");
        common::eventually(
            "the partial source aborted",
            Duration::from_secs(30),
            || async { (env.multipart_uploads().await == 0).then_some(()) },
        )
        .await;

        let (s, v) = common::import_url(&base, &alice, &url).await;
        assert_eq!(s, 202, "the failed import freed its place: {v}");
        let again = v["id"].as_str().unwrap().to_owned();
        // Replaying the failed import needs a place too: none while `again` holds it.
        let reprocess = || {
            let request = reqwest::Client::new()
                .post(format!("{base}/v1/videos/{id}/reprocess"))
                .bearer_auth(&alice);
            async move { request.send().await.unwrap().status().as_u16() }
        };
        assert_eq!(
            reprocess().await,
            429,
            "a replayed import counts against the cap"
        );
        failure(env, &again).await;
        assert_eq!(reprocess().await, 202, "the place is free again");
        let (step, _) = failure(env, &id).await;
        assert_eq!(step, "import_source");
        stop.store(true, Ordering::SeqCst);
    })
    .await;
    owned.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_import_past_its_deadline_fails_and_stops_downloading() {
    let owned = common::processing_env(&[
        ("VODFLOW_IMPORT_ALLOW_PRIVATE", "true"),
        ("VODFLOW_IMPORT_MIN_BYTES_PER_SEC", "0"),
        ("VODFLOW_IMPORT_DEADLINE", "6s"),
        // Cancellation reaches the activity through its heartbeats.
        ("VODFLOW_HEARTBEAT_TIMEOUT", "4s"),
    ])
    .await;
    let env = &owned;
    let (url, stop) = dripping_server(video_head(env), Duration::from_millis(100)).await;
    let alice = env.token("alice", &["videos:read", "videos:write"]);
    common::with_platform(env, |base| async move {
        let started = std::time::Instant::now();
        let (s, v) = common::import_url(&base, &alice, &url).await;
        assert_eq!(s, 202, "{v}");
        let id = v["id"].as_str().unwrap().to_owned();
        let (step, reason) = failure(env, &id).await;
        assert_eq!(step, "import_source");
        assert!(reason.contains("timed out"), "{reason}");
        assert!(started.elapsed() >= Duration::from_secs(6));
        // The attempt stopped with its deadline: its partial upload is aborted, not left to grow.
        common::eventually(
            "the partial source aborted",
            Duration::from_secs(30),
            || async { (env.multipart_uploads().await == 0).then_some(()) },
        )
        .await;
        stop.store(true, Ordering::SeqCst);
    })
    .await;
    owned.cleanup().await;
}
