//! Local HTTP listeners standing in for what vodflow calls: webhook and callback receivers, a
//! JWKS issuer, and the CloudFront API (which cannot run here).

use std::time::Duration;

/// The head of the request arriving on `sock` (through its blank line), or `None` when the client
/// went away first. For the tests' own little HTTP servers.
pub async fn read_request_head(sock: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    Some(req)
}

/// The whole request arriving on `sock`: its head and the `Content-Length` bytes of body after
/// it; `None` when the client went away first.
pub async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let mut req = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&req[..end]).into_owned();
            let len: usize = header(&head, "content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if req.len() >= end + 4 + len {
                return Some((head, req[end + 4..end + 4 + len].to_vec()));
            }
        }
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
}

/// A local HTTP receiver for callbacks: answers 200 and hands over (headers, body) of each POST.
pub async fn callback_receiver() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
) {
    scripted_receiver(Vec::new()).await
}

/// A header's value in a raw request head (as the receivers hand it over), case-insensitively.
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Checks the request's `Vodflow-Signature` (`t=…,v1=HMAC(secret, "t.body")`) as a receiver
/// would, and that it is recent; returns its timestamp.
pub fn assert_signed(head: &str, body: &str, secret: &str) -> i64 {
    let sig = header(head, vodflow_core::webhooks::SIGNATURE_HEADER)
        .unwrap_or_else(|| panic!("no signature header in {head}"));
    let t: i64 = sig
        .split(',')
        .next()
        .and_then(|p| p.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("malformed signature {sig:?}"));
    // Recomputed with openssl, not with the code under test.
    assert_eq!(
        sig,
        format!("t={t},v1={}", openssl_hmac(secret, &format!("{t}.{body}")))
    );
    assert_ne!(
        sig,
        format!("t={t},v1={}", openssl_hmac("wrong", &format!("{t}.{body}")))
    );
    assert!(
        (chrono::Utc::now().timestamp() - t).abs() < 120,
        "stale signature {sig:?}"
    );
    t
}

/// Hex HMAC-SHA256 of `msg` under `key`, by `openssl dgst`.
pub fn openssl_hmac(key: &str, msg: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-r", "-hmac", key])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(msg.as_bytes())
        .expect("write to openssl");
    let out = child.wait_with_output().expect("openssl output");
    assert!(out.status.success(), "openssl dgst failed");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_owned()
}

/// Like [`callback_receiver`], answering the statuses of `script` in turn, then 200. A status of
/// [`HOLD`] answers nothing: the request is reported and its connection kept open, unanswered,
/// for two minutes (a sender killed meanwhile has sent without learning the outcome).
pub const HOLD: u16 = 0;

pub async fn scripted_receiver(
    script: Vec<u16>,
) -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/hooks/vodflow",
        listener.local_addr().expect("addr")
    );
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut script = script.into_iter();
        while let Ok((mut sock, _)) = listener.accept().await {
            let (head, body) = read_request(&mut sock)
                .await
                .map(|(h, b)| (h, String::from_utf8_lossy(&b).into_owned()))
                .unwrap_or_default();
            let status = script.next().unwrap_or(200);
            if status == HOLD {
                let _ = tx.send((head, body));
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(120)).await;
                    drop(sock);
                });
                continue;
            }
            let _ = sock
                .write_all(
                    format!("HTTP/1.1 {status} Scripted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await;
            let _ = tx.send((head, body));
        }
    });
    (url, rx)
}

/// A local HTTP server answering every GET with the current `body` (JSON); counts requests.
/// Stands in for an OAuth2 issuer's JWKS endpoint.
pub async fn json_server(
    body: std::sync::Arc<std::sync::Mutex<serde_json::Value>>,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().expect("addr")
    );
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let body = body.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                if read_request_head(&mut sock).await.is_none() {
                    return;
                }
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let json = body.lock().expect("lock").to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
                    json.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    (url, hits)
}

/// Like [`cloudfront_listener`], for many requests: the first `fail` are answered 503, the rest
/// 201; each request is reported with the status it got.
pub async fn flaky_cloudfront_listener(
    fail: usize,
) -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<(u16, String)>,
) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut served = 0;
        while let Ok((mut sock, _)) = listener.accept().await {
            let Some((head, body)) = read_request(&mut sock).await else {
                continue;
            };
            let req = format!("{head}\r\n\r\n{}", String::from_utf8_lossy(&body));
            served += 1;
            let resp = if served <= fail {
                let body = r#"<?xml version="1.0"?><ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>try later</Message></Error></ErrorResponse>"#;
                (
                    503,
                    format!(
                        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    ),
                )
            } else {
                let body = r#"<?xml version="1.0" encoding="UTF-8"?><Invalidation xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Id>I2J0I21PCUYOIK</Id><Status>InProgress</Status><CreateTime>2026-11-25T00:00:00Z</CreateTime><InvalidationBatch><Paths><Quantity>1</Quantity><Items><Path>/x</Path></Items></Paths><CallerReference>r</CallerReference></InvalidationBatch></Invalidation>"#;
                (
                    201,
                    format!(
                        "HTTP/1.1 201 Created\r\nContent-Type: text/xml\r\nLocation: http://{addr}/x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    ),
                )
            };
            let _ = sock.write_all(resp.1.as_bytes()).await;
            let _ = tx.send((resp.0, req));
        }
    });
    (addr, rx)
}

/// Stands in for the CloudFront API (which cannot run here): accepts one request, answers like
/// `CreateInvalidation` does, and hands over the raw request the SDK sent.
pub async fn cloudfront_listener() -> (std::net::SocketAddr, tokio::task::JoinHandle<String>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let (head, body) = read_request(&mut sock).await.expect("a whole request");
        let req = format!("{head}\r\n\r\n{}", String::from_utf8_lossy(&body));
        let body = r#"<?xml version="1.0" encoding="UTF-8"?><Invalidation xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Id>I2J0I21PCUYOIK</Id><Status>InProgress</Status><CreateTime>2026-11-25T00:00:00Z</CreateTime><InvalidationBatch><Paths><Quantity>1</Quantity><Items><Path>/x</Path></Items></Paths><CallerReference>r</CallerReference></InvalidationBatch></Invalidation>"#;
        let resp = format!(
            "HTTP/1.1 201 Created\r\nContent-Type: text/xml\r\nLocation: http://{addr}/x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        sock.write_all(resp.as_bytes()).await.unwrap();
        req
    });
    (addr, server)
}
