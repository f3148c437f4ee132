//! Import from a URL (`POST /v1/videos` with `source_url`): the workflow's first step streams the
//! file from a local HTTP server (opted in with VODFLOW_IMPORT_ALLOW_PRIVATE, loopback only),
//! resumes with a Range request when the connection drops, follows a redirect, and the video ends
//! `ready` with the file's size and digest. Private addresses are refused by default, and a source
//! that answers 404 fails the video at once. Loopback only.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::media::{Spec, make_video, sha256_file};
use tokio::io::AsyncWriteExt;

/// A tiny HTTP/1.1 file server: `/clip.mp4` (with `Range`), `/old` redirects to it, anything else
/// is 404. The first full GET of the file is cut off halfway (a dropped connection). Counts ranged
/// requests.
async fn file_server(data: Vec<u8>) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let ranged = Arc::new(AtomicUsize::new(0));
    let counter = ranged.clone();
    let data = Arc::new(data);
    let cut = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (data, counter, cut) = (data.clone(), counter.clone(), cut.clone());
            tokio::spawn(async move {
                let Some(req) = common::read_request_head(&mut sock).await else {
                    return;
                };
                let text = String::from_utf8_lossy(&req).to_string();
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let range = text
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("range: bytes=")
                            .map(str::to_owned)
                    })
                    .and_then(|r| r.trim().trim_end_matches('-').parse::<usize>().ok());
                let head = match path.as_str() {
                    "/old" => {
                        "HTTP/1.1 302 Found\r\nLocation: /clip.mp4\r\nContent-Length: 0\r\n\r\n"
                            .to_owned()
                    }
                    // A hostile "video": an HLS playlist pointing at local files.
                    "/evil.mp4" => {
                        let body =
                            "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:///etc/passwd\n";
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        )
                    }
                    "/clip.mp4" => {
                        let from = range.unwrap_or(0);
                        if range.is_some() {
                            counter.fetch_add(1, Ordering::SeqCst);
                            format!(
                                "HTTP/1.1 206 Partial Content\r\nAccept-Ranges: bytes\r\nContent-Range: bytes {from}-{}/{}\r\nContent-Length: {}\r\n\r\n",
                                data.len() - 1,
                                data.len(),
                                data.len() - from
                            )
                        } else {
                            format!(
                                "HTTP/1.1 200 OK\r\nAccept-Ranges: bytes\r\nContent-Type: video/mp4\r\nContent-Length: {}\r\n\r\n",
                                data.len()
                            )
                        }
                    }
                    _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned(),
                };
                if sock.write_all(head.as_bytes()).await.is_err() || path != "/clip.mp4" {
                    return;
                }
                let from = range.unwrap_or(0);
                let body = &data[from..];
                // The first whole-file GET dies halfway through the body.
                let body = if range.is_none() && cut.fetch_add(1, Ordering::SeqCst) == 0 {
                    &body[..body.len() / 2]
                } else {
                    body
                };
                let _ = sock.write_all(body).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (base, ranged)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_video_is_imported_from_a_url_resuming_a_dropped_connection_and_plays() {
    let owned = common::processing_env(&[("VODFLOW_IMPORT_ALLOW_PRIVATE", "true")]).await;
    let env = &owned;
    let clip = make_video(
        &env.scratch,
        "remote.mp4",
        &Spec {
            width: 320,
            height: 180,
            seconds: 6.0,
            ..Spec::default()
        },
    );
    let data = std::fs::read(&clip).unwrap();
    let (server, ranged) = file_server(data.clone()).await;
    let token = env.token("alice", &["videos:read", "videos:write"]);
    common::with_platform(env, |base| async move {
        // Through a redirect, and with the first connection cut halfway.
        let (s, v) = common::import_url(&base, &token, &format!("{server}/old")).await;
        assert_eq!(s, 202, "{v}");
        let id = v["id"].as_str().unwrap().to_owned();
        let row =
            common::wait_for_status(env, &id, &["ready", "failed"], Duration::from_secs(180)).await;
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        assert_eq!(row.size_bytes as usize, data.len());
        assert_eq!(row.sha256, sha256_file(&clip));
        assert_eq!(row.content_type, "video/mp4");
        assert!(
            ranged.load(Ordering::SeqCst) >= 1,
            "the dropped download was resumed with a Range request"
        );
        let stored = env.object_bytes(&format!("uploads/{id}/source")).await;
        assert_eq!(stored, data, "byte-identical");

        // A source that is not there fails the video at once, with the step named.
        let (s, v) = common::import_url(&base, &token, &format!("{server}/missing.mp4")).await;
        assert_eq!(s, 202, "{v}");
        let id = v["id"].as_str().unwrap().to_owned();
        let row =
            common::wait_for_status(env, &id, &["ready", "failed"], Duration::from_secs(120)).await;
        assert_eq!(row.status, "failed");
        assert_eq!(row.failure_step.as_deref(), Some("import_source"));
        assert!(row.failure_reason.unwrap_or_default().contains("404"));

        // A hostile file is refused by its first bytes: failed at once, nothing stored.
        let (s, v) = common::import_url(&base, &token, &format!("{server}/evil.mp4")).await;
        assert_eq!(s, 202, "{v}");
        let id = v["id"].as_str().unwrap().to_owned();
        let row =
            common::wait_for_status(env, &id, &["ready", "failed"], Duration::from_secs(120)).await;
        assert_eq!(row.status, "failed");
        assert_eq!(row.failure_step.as_deref(), Some("import_source"));
        let reason = row.failure_reason.unwrap_or_default();
        assert!(reason.contains("not a video"), "{reason}");
        assert!(
            env.object_keys_all(&format!("uploads/{id}/"))
                .await
                .is_empty()
        );
        assert_eq!(env.multipart_uploads().await, 0);
    })
    .await;
    owned.cleanup().await;
}

#[tokio::test]
async fn private_addresses_and_bad_requests_are_refused_by_default() {
    let env = common::TestEnv::new(&[]).await;
    let api = env.spawn_api().await;
    let token = env.token("alice", &["videos:read", "videos:write"]);
    for url in [
        "http://127.0.0.1:9/clip.mp4",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/x.mp4",
        "http://10.0.0.1/x.mp4",
        "file:///etc/passwd",
        "ftp://example.com/x.mp4",
    ] {
        let (s, v) = common::import_url(&api.base, &token, url).await;
        assert_eq!(s, 400, "{url}: {v}");
        assert!(v["detail"].as_str().unwrap().contains("source_url"), "{v}");
    }
    // Unknown fields and missing titles are 400, not silently ignored.
    let r = reqwest::Client::new()
        .post(format!("{}/v1/videos", api.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"source_url": "https://example.com/x.mp4", "size": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM videos")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    api.stop().await;
    env.cleanup().await;
}
