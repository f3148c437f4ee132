//! `/metrics` and `/healthz` of the bridge and worker roles, on VODFLOW_METRICS_LISTEN (the api
//! serves its own on its HTTP port). A plain HTTP/1.1 responder: two fixed paths, no body to read.

use anyhow::Context;
use prometheus::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves until the process ends. An empty `listen` serves nothing.
pub(crate) async fn serve(listen: &str, registry: Registry) -> anyhow::Result<()> {
    if listen.trim().is_empty() {
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding VODFLOW_METRICS_LISTEN={listen}"))?;
    tracing::info!(listen, "metrics at /metrics");
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let registry = registry.clone();
        tokio::spawn(async move {
            let mut req = Vec::with_capacity(1024);
            let mut buf = [0u8; 1024];
            // A request line and headers, bounded: nobody needs more to ask for /metrics.
            while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
                match tokio::time::timeout(std::time::Duration::from_secs(5), sock.read(&mut buf))
                    .await
                {
                    Ok(Ok(n)) if n > 0 => req.extend_from_slice(&buf[..n]),
                    _ => return,
                }
            }
            let line = String::from_utf8_lossy(&req);
            let path = line.split_whitespace().nth(1).unwrap_or("/");
            let (status, kind, body) = match path.split('?').next().unwrap_or("/") {
                "/metrics" => (
                    "200 OK",
                    "text/plain; version=0.0.4; charset=utf-8",
                    vodflow_core::metrics::render(&registry),
                ),
                "/healthz" => ("200 OK", "text/plain", "ok".to_owned()),
                _ => ("404 Not Found", "text/plain", "not found".to_owned()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(body.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}
