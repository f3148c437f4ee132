//! Limits at the edge, against the real api and store: a stalled upload body is cut off (408) and
//! its S3 multipart upload aborted; one owner cannot hold more uploads than allowed (429 with
//! `Retry-After`) while another owner still can; JSON bodies are capped before parsing (413), with
//! or without a Content-Length and however the media type is spelled; every answer says
//! `nosniff`; a request head dripped a byte at a time, and an idle keep-alive connection, are cut off.

use crate::common;

use std::time::Duration;

use common::media::{Spec, make_video};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BOUNDARY: &str = "vodflowtestboundary";

/// Starts a multipart upload by hand and sends `send` bytes of `file`, then stops sending (the
/// connection stays open). Returns the connection to read the answer from.
async fn stalled_upload(base: &str, token: &str, file: &[u8], send: usize) -> TcpStream {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let preamble = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nstalled\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"v.mp4\"\r\nContent-Type: video/mp4\r\n\r\n"
    );
    // Announce the whole body so the server keeps waiting for the rest.
    let total = preamble.len() + file.len() + BOUNDARY.len() + 8;
    let head = format!(
        "POST /v1/videos HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {total}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(preamble.as_bytes()).await.unwrap();
    s.write_all(&file[..send.min(file.len())]).await.unwrap();
    s.flush().await.unwrap();
    s
}

/// A whole upload in one `POST /v1/videos`.
async fn post_clip(base: &str, token: &str, bytes: &[u8]) -> reqwest::Response {
    let file = reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("v.mp4");
    reqwest::Client::new()
        .post(format!("{base}/v1/videos"))
        .bearer_auth(token)
        .multipart(
            reqwest::multipart::Form::new()
                .text("title", "second")
                .part("file", file),
        )
        .send()
        .await
        .unwrap()
}

async fn status_of(s: &mut TcpStream, within: Duration) -> (u16, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout_at(deadline, s.read(&mut chunk))
            .await
            .expect("an answer in time")
            .expect("read");
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_upload_is_cut_off_and_its_multipart_upload_aborted() {
    let env = common::TestEnv::new(&[
        ("VODFLOW_UPLOAD_IDLE_TIMEOUT", "2s"),
        ("VODFLOW_UPLOAD_PART_BYTES", "5242880"),
    ])
    .await;
    let api = env.spawn_api().await;
    let token = env.token("slow", &["videos:write"]);
    // More than one part, so the multipart upload exists in the store when the client stalls.
    let big = make_video(
        &env.scratch,
        "big.mp4",
        &Spec {
            width: 640,
            height: 360,
            seconds: 20.0,
            fps: 25,
            audio: false,
        },
    );
    let mut bytes = std::fs::read(&big).unwrap();
    while bytes.len() < 7 * 1024 * 1024 {
        bytes.extend_from_within(..bytes.len().min(1024 * 1024));
    }
    let mut conn = stalled_upload(&api.base, &token, &bytes, 6 * 1024 * 1024).await;
    common::eventually(
        "the multipart upload to start",
        Duration::from_secs(10),
        || async { (env.multipart_uploads().await > 0).then_some(()) },
    )
    .await;
    let (status, head) = status_of(&mut conn, Duration::from_secs(15)).await;
    assert_eq!(status, 408, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("x-content-type-options: nosniff"),
        "{head}"
    );
    common::eventually(
        "the multipart upload to be aborted",
        Duration::from_secs(10),
        || async { (env.multipart_uploads().await == 0).then_some(()) },
    )
    .await;
    assert!(env.object_keys("uploads/").await.is_empty());
    api.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_owner_cannot_hold_more_uploads_than_allowed() {
    let env = common::TestEnv::new(&[
        ("VODFLOW_UPLOAD_IDLE_TIMEOUT", "20s"),
        ("VODFLOW_MAX_UPLOADS_PER_OWNER", "1"),
    ])
    .await;
    let api = env.spawn_api().await;
    let greedy = env.token("greedy", &["videos:write"]);
    let other = env.token("other", &["videos:write"]);
    let clip = make_video(&env.scratch, "clip.mp4", &Spec::default());
    let bytes = std::fs::read(&clip).unwrap();
    let _held = stalled_upload(&api.base, &greedy, &bytes, 1000).await;
    // The held upload has taken its place once the server has read its head.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = post_clip(&api.base, &greedy, &bytes).await;
    assert_eq!(second.status(), 429);
    let retry: u64 = second.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let body: serde_json::Value = second.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("per owner"),
        "{body}"
    );
    // Another owner is not affected.
    let id = common::upload(&api.base, &other, &clip, "someone else").await;
    assert!(!id.is_empty());
    api.stop().await;
    env.cleanup().await;
}

/// Two api replicas on one database: an owner at its limit on one replica is refused on the other
/// (the count is in Postgres, not in each replica's memory), the place comes back when the held
/// upload ends, and a replica that dies without giving its places back loses them at the lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_per_owner_upload_limit_holds_across_api_replicas() {
    let env = common::TestEnv::new(&[
        ("VODFLOW_UPLOAD_IDLE_TIMEOUT", "3s"),
        ("VODFLOW_MAX_UPLOADS_PER_OWNER", "1"),
    ])
    .await;
    let (a, b) = (env.spawn_api().await, env.spawn_api().await);
    let greedy = env.token("greedy", &["videos:write"]);
    let clip = make_video(&env.scratch, "clip.mp4", &Spec::default());
    let bytes = std::fs::read(&clip).unwrap();
    let mut held = stalled_upload(&a.base, &greedy, &bytes, 1000).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused = post_clip(&b.base, &greedy, &bytes).await;
    assert_eq!(
        refused.status(),
        429,
        "the other replica let the owner past its limit"
    );
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("per owner"),
        "{body}"
    );
    // The held upload is cut off at its idle timeout; its place is given back.
    let (status, _) = status_of(&mut held, Duration::from_secs(15)).await;
    assert_eq!(status, 408);
    common::eventually("the place to come back", Duration::from_secs(10), || {
        let pool = env.pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM upload_streams")
                .fetch_one(&pool)
                .await
                .ok()?;
            (n == 0).then_some(())
        }
    })
    .await;
    assert_eq!(post_clip(&b.base, &greedy, &bytes).await.status(), 202);
    // A replica that died holding a place: its row is there, unrenewed. It counts until its lease
    // ends and not after.
    sqlx::query(
        "INSERT INTO upload_streams (id, owner, expires_at) VALUES ($1, 'greedy', now() + interval '2 seconds')",
    )
    .bind(uuid::Uuid::now_v7())
    .execute(&env.pool)
    .await
    .unwrap();
    assert_eq!(post_clip(&a.base, &greedy, &bytes).await.status(), 429);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(post_clip(&a.base, &greedy, &bytes).await.status(), 202);
    a.stop().await;
    b.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn json_bodies_are_capped_before_parsing() {
    let env = common::TestEnv::new(&[("VODFLOW_MAX_JSON_BYTES", "4096")]).await;
    let api = env.spawn_api().await;
    let token = env.token("hooker", &["videos:write"]);
    // However the media type is spelled, and whatever it claims to be, before the token is read:
    // the extractors accept `Application/JSON`, and a body of another type is read by nothing
    // that may hold it whole.
    // Over a raw connection that sends its head and only the first KiB of the body: the answer
    // must come from the declared length, before the rest is read (a client that sends it all
    // may see its connection reset by a server that stopped reading, which says nothing).
    let addr = api.base.trim_start_matches("http://").to_owned();
    let declared = 100 * 1024 + 40;
    for (content_type, auth) in [
        ("application/json", true),
        ("Application/JSON", true),
        ("APPLICATION/JSON; charset=utf-8", true),
        ("text/plain", true),
        ("application/json", false),
    ] {
        let mut conn = TcpStream::connect(&addr).await.unwrap();
        let bearer = if auth {
            format!("Authorization: Bearer {token}\r\n")
        } else {
            String::new()
        };
        let head = format!(
            "POST /v1/webhooks HTTP/1.1\r\nHost: {addr}\r\n{bearer}Content-Type: {content_type}\r\nContent-Length: {declared}\r\n\r\n{{\"url\":\"https://example.com/{}",
            "a".repeat(1024)
        );
        conn.write_all(head.as_bytes()).await.unwrap();
        let (status, answer) = status_of(&mut conn, Duration::from_secs(10)).await;
        assert_eq!(status, 413, "{content_type} (token: {auth}): {answer}");
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("content-type: application/problem+json"),
            "{answer}"
        );
    }
    // Without a Content-Length (chunked), the cap still holds.
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/webhooks HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let piece = format!("{{\"url\":\"https://example.com/{}", "a".repeat(1000));
    for _ in 0..8 {
        let chunk = format!("{:x}\r\n{piece}\r\n", piece.len());
        if conn.write_all(chunk.as_bytes()).await.is_err() {
            break; // the server may answer and close before the client is done
        }
    }
    let _ = conn.write_all(b"0\r\n\r\n").await;
    let (status, answer) = status_of(&mut conn, Duration::from_secs(10)).await;
    assert_eq!(status, 413, "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("x-content-type-options: nosniff"),
        "{answer}"
    );
    api.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_less_route_refuses_an_unknown_url_before_reading_its_body() {
    // The direct upload's presigned routes have no bearer token: their URL is the capability.
    // An unknown one must be refused from the head alone; before, the body (up to 1 MiB, with no
    // time limit) was read first, so anyone could hold a connection and a buffer open.
    let env = common::TestEnv::new(&[]).await;
    let api = env.spawn_api().await;
    let addr = api.base.trim_start_matches("http://").to_owned();
    let bogus = "d".repeat(43);
    for path in [
        format!("/v1/uploads/direct/{bogus}/s3/multipart"),
        format!(
            "/v1/uploads/direct/{bogus}/s3/multipart/not-an-upload/complete?key=videos/x/source"
        ),
    ] {
        let mut conn = TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{\"parts\":[",
            512 * 1024
        );
        conn.write_all(head.as_bytes()).await.unwrap();
        let (status, answer) = status_of(&mut conn, Duration::from_secs(10)).await;
        assert_eq!(status, 404, "{path}: {answer}");
    }
    api.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_http2_prior_knowledge_client_gets_no_session_to_hold_open() {
    // hyper's HTTP/2 has no head-read or idle limit: a client answering pings kept an idle h2c
    // connection for ever. The api speaks HTTP/1.1 only.
    let env = common::TestEnv::new(&[]).await;
    let api = env.spawn_api().await;
    let addr = api.base.trim_start_matches("http://").to_owned();
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    // The connection preface, then an empty SETTINGS frame.
    conn.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the connection is closed, not held open");
    assert!(
        got.is_empty() || got.starts_with(b"HTTP/1.1 4"),
        "no HTTP/2 SETTINGS frame in answer: {:?}",
        String::from_utf8_lossy(&got[..got.len().min(64)])
    );
    api.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_head_dripped_a_byte_at_a_time_is_cut_off() {
    let env = common::TestEnv::new(&[]).await;
    let api = env.spawn_api().await;
    let addr = api.base.trim_start_matches("http://").to_owned();
    let head = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nX-Slow: ");
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    let started = std::time::Instant::now();
    conn.write_all(head.as_bytes()).await.unwrap();
    // One byte a second, never finishing the head: the server must drop the connection within
    // its head-read timeout (15 s), not keep it for as long as the client keeps dripping.
    let mut closed_after = None;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut probe = [0u8; 512];
        let gone =
            match tokio::time::timeout(Duration::from_millis(10), conn.read(&mut probe)).await {
                Ok(Ok(0)) | Ok(Err(_)) => true,
                Ok(Ok(_)) => true, // an answer (408) and then the close
                Err(_) => conn.write_all(b"a").await.is_err(),
            };
        if gone {
            closed_after = Some(started.elapsed());
            break;
        }
    }
    let closed_after = closed_after.expect("the dripping connection was still open after 40 s");
    assert!(
        closed_after < Duration::from_secs(25),
        "closed only after {closed_after:?}"
    );
    // An idle keep-alive connection is closed too, and a normal request still works.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let (status, _) = status_of(&mut idle, Duration::from_secs(5)).await;
    assert_eq!(status, 200);
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(30), idle.read_to_end(&mut rest)).await;
    assert!(
        ended.is_ok(),
        "an idle keep-alive connection stayed open for 30 s"
    );
    api.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_client_holding_idle_connections_gets_only_its_share() {
    let env = common::TestEnv::new(&[("VODFLOW_MAX_CONNECTIONS_PER_CLIENT", "8")]).await;
    let api = env.spawn_api().await;
    let addr = api.base.trim_start_matches("http://").to_owned();
    // Eight connections that never send a byte: this client's share.
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The ninth is closed at once, whatever it sends.
    let mut ninth = TcpStream::connect(&addr).await.unwrap();
    let _ = ninth
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), ninth.read_to_end(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the ninth connection was served: {read:?} {:?}",
        String::from_utf8_lossy(&buf)
    );
    let metrics = reqwest::get(api.url("/metrics")).await;
    assert!(
        metrics.is_err(),
        "a request over a tenth connection was served"
    );
    // One of the eight closes: its place is free again.
    drop(held.pop());
    let body = common::eventually("a place freed", Duration::from_secs(5), || async {
        let r = reqwest::get(api.url("/metrics")).await.ok()?;
        r.text().await.ok()
    })
    .await;
    let refused = body
        .lines()
        .find_map(|l| l.strip_prefix("vodflow_http_connections_refused_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .expect("the refused-connections counter");
    assert!(refused >= 2.0, "{refused}");
    drop(held);
    api.stop().await;
    env.cleanup().await;
}
