//! A tus client as the upload tests drive it: the protocol's requests by hand, and tus-js-client
//! in Node for the real-client cases.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use sha2::{Digest, Sha256};

use super::env::TestEnv;
use super::media::{Spec, make_video};

pub const TUS: &str = "1.0.0";

/// A file that starts as a real video (so it is accepted) and is padded to `size` bytes with
/// pseudo-random data (so no two parts look alike).
pub fn video_file(env: &TestEnv, name: &str, size: usize) -> PathBuf {
    let clip = make_video(
        &env.scratch,
        &format!("{name}-clip.mp4"),
        &Spec {
            width: 160,
            height: 90,
            seconds: 2.0,
            ..Spec::default()
        },
    );
    let mut data = std::fs::read(clip).unwrap();
    let mut x: u64 = 0x9e3779b97f4a7c15 ^ size as u64;
    while data.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(size.max(data.len().min(size)));
    let path = env.scratch.join(name);
    std::fs::write(&path, &data).unwrap();
    path
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// tus-js-client in Node, its events on stdout.
pub fn tus_client(vars: &[(&str, &str)]) -> Child {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tus/client.cjs");
    let module = super::env::cache_dir().join("node/node_modules/tus-js-client");
    let mut cmd = Command::new("node");
    cmd.arg(script).env("TUS_JS", module);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node (installed by scripts/install)")
}

/// Reads the client's events until `until` says stop (or the client exits).
pub fn events(
    child: &mut Child,
    mut until: impl FnMut(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    let out = child.stdout.as_mut().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    let mut seen = Vec::new();
    while let Some(Ok(line)) = lines.next() {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{line}"));
        let stop = until(&v);
        seen.push(v);
        if stop {
            break;
        }
    }
    seen
}

pub fn url_of(events: &[serde_json::Value]) -> String {
    events
        .iter()
        .find(|e| e["event"] == "url")
        .and_then(|e| e["url"].as_str())
        .expect("the upload URL")
        .to_owned()
}

pub async fn head(base: &str, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut r = reqwest::Client::new()
        .head(format!("{base}{path}"))
        .header("Tus-Resumable", TUS);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

pub fn offset(r: &reqwest::Response) -> i64 {
    r.headers()["upload-offset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The stored source and the upload's video, once the upload says complete.
pub async fn finished(
    env: &TestEnv,
    base: &str,
    token: &str,
    upload_path: &str,
) -> (String, Vec<u8>) {
    let id = upload_path.rsplit('/').next().unwrap();
    let r = reqwest::Client::new()
        .get(format!("{base}/v1/uploads/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["status"], "complete", "{v}");
    let video = v["video_id"].as_str().unwrap().to_owned();
    let bytes = env
        .object_bytes(&vodflow_core::layout::source_key(video.parse().unwrap()))
        .await;
    (video, bytes)
}

pub fn path_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/')
        .map_or("/".to_owned(), |i| rest[i..].to_owned())
}

pub async fn create(
    base: &str,
    token: &str,
    length: Option<usize>,
    meta: &str,
) -> reqwest::Response {
    let mut r = reqwest::Client::new()
        .post(format!("{base}/v1/uploads/tus/"))
        .header("Tus-Resumable", TUS)
        .bearer_auth(token);
    r = match length {
        Some(n) => r.header("Upload-Length", n.to_string()),
        None => r.header("Upload-Defer-Length", "1"),
    };
    if !meta.is_empty() {
        r = r.header("Upload-Metadata", meta);
    }
    r.send().await.unwrap()
}

pub async fn patch(
    base: &str,
    path: &str,
    token: &str,
    at: usize,
    body: Vec<u8>,
    extra: &[(&str, String)],
) -> reqwest::Response {
    let mut r = reqwest::Client::new()
        .patch(format!("{base}{path}"))
        .header("Tus-Resumable", TUS)
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", at.to_string())
        .bearer_auth(token);
    for (k, v) in extra {
        r = r.header(*k, v);
    }
    r.body(body).send().await.unwrap()
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// A PATCH at offset 0 over a raw connection, its head sent and its body left to the caller (to
/// send part of it, wait, or vanish).
pub async fn raw_patch(base: &str, up: &str, token: &str, len: usize) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = base.trim_start_matches("http://");
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head_text = format!(
        "PATCH {up} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: {TUS}\r\n\
         Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n\
         Authorization: Bearer {token}\r\nContent-Length: {len}\r\n\r\n"
    );
    sock.write_all(head_text.as_bytes()).await.unwrap();
    sock
}

/// The `vodflow_upload_pending_read_bytes_total` counter of the api at `base`.
pub async fn pending_read_bytes(base: &str) -> u64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("vodflow_upload_pending_read_bytes_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the pending-read counter")
}
