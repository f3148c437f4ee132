//! The api's connection loop. poem's own server gives hyper no timer, so a client could hold a
//! connection forever by sending a request head one byte at a time (or never finishing it), and
//! an idle keep-alive connection was never closed. Here every HTTP/1 connection must complete
//! each request head within [`HEAD_READ_TIMEOUT`] of starting to wait for it (which also closes
//! idle keep-alive connections). HTTP/1.1 only: hyper's HTTP/2 has no head-read or idle limit (a
//! client that answers pings holds an idle h2c connection for ever), and what stands in front of
//! the api (a TLS-terminating proxy, a CDN) speaks HTTP/1.1 to its upstream; a client that opens
//! with the HTTP/2 preface is answered 400 and closed. Bodies are bounded by the routes that read
//! them (JSON cap, tus idle timeout). How many connections are open at once, in all and per
//! client, is [`crate::connections`]'s.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use poem::{Endpoint, EndpointExt, IntoEndpoint};

pub use crate::connections::ConnectionLimits;
use crate::connections::Connections;

/// Longest time from waiting for a request head to having all of it (nginx's
/// `client_header_timeout` is 60 s; a request head is a few hundred bytes).
pub const HEAD_READ_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a graceful shutdown waits for requests in flight.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `ep` on `listener` until `shutdown` resolves, then drains for up to [`DRAIN`].
pub async fn serve<E>(
    listener: tokio::net::TcpListener,
    ep: E,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()>
where
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    let ep = std::sync::Arc::new(ep.into_endpoint().map_to_response());
    let local = listener.local_addr()?;
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_READ_TIMEOUT);
    let connections = Connections::new(limits);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = connections.slot() => slot,
            () = &mut shutdown => break,
        };
        let (socket, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors and the like: wait, rather than spin or stop serving.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(held) = connections.admit(slot, remote.ip()) else {
            tracing::debug!(%remote, "connection refused: its client has its share open");
            continue;
        };
        let _ = socket.set_nodelay(true);
        let ep = ep.clone();
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let ep = ep.clone();
                async move {
                    let req: poem::Request = (
                        req,
                        poem::web::LocalAddr(poem::Addr::SocketAddr(local)),
                        poem::web::RemoteAddr(poem::Addr::SocketAddr(remote)),
                        poem::http::uri::Scheme::HTTP,
                    )
                        .into();
                    Ok::<_, Infallible>(hyper::Response::from(ep.get_response(req).await))
                }
            });
        // Not `serve_connection_with_upgrades`: it would take the HTTP/2 preface whatever
        // `http1_only` says (and no route upgrades a connection).
        let conn = builder.serve_connection(TokioIo::new(socket), service);
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            let _held = held;
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {DRAIN:?}; closing");
    }
    Ok(())
}
