//! A TCP forwarder between a process and a service whose replies the test can hold back: requests
//! still reach the service and take effect there, but the process never hears that they did. That
//! is the moment a kill is about ("it acted, and did not record it"), made certain instead of raced.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

pub struct HoldingProxy {
    pub addr: SocketAddr,
    hold: Arc<AtomicBool>,
    replied: Arc<AtomicU64>,
    /// A Produce rule that has not fired yet.
    armed: Arc<AtomicBool>,
    tasks: JoinSet<()>,
}

impl HoldingProxy {
    /// Forwards every connection to `upstream` (`host:port`) until dropped.
    pub async fn start(upstream: &str) -> Self {
        Self::start_with(upstream, None).await
    }

    /// A proxy in front of a Kafka broker that holds back the replies of the one connection whose
    /// Produce request names `topic`, from that request on: the broker stores the record (any
    /// consumer reads it) and the producer never hears the acknowledgement. Only the first such
    /// request is held; a later connection (a retry on another process) passes.
    pub async fn start_holding_produce(upstream: &str, topic: &str) -> Self {
        Self::start_with(upstream, Some(topic.as_bytes().to_vec())).await
    }

    async fn start_with(upstream: &str, produce_marker: Option<Vec<u8>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hold = Arc::new(AtomicBool::new(false));
        let replied = Arc::new(AtomicU64::new(0));
        let armed = Arc::new(AtomicBool::new(produce_marker.is_some()));
        let mut tasks = JoinSet::new();
        let (upstream, h, r) = (upstream.to_owned(), hold.clone(), replied.clone());
        let armed_rule = armed.clone();
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                // This connection's own hold, set by the request rule; `h` holds every connection.
                let own = Arc::new(AtomicBool::new(false));
                match produce_marker.clone() {
                    None => {
                        conns.spawn(async move {
                            let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                        });
                    }
                    Some(marker) => {
                        let (own, armed) = (own.clone(), armed_rule.clone());
                        conns.spawn(async move {
                            forward_kafka_requests(
                                &mut client_read,
                                &mut server_write,
                                &marker,
                                &armed,
                                &own,
                            )
                            .await;
                        });
                    }
                }
                let (h, r) = (h.clone(), r.clone());
                conns.spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match server_read.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        // Held: the reply is never delivered (the process is killed meanwhile).
                        while h.load(Ordering::SeqCst) || own.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        if client_write.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                        r.fetch_add(n as u64, Ordering::SeqCst);
                    }
                });
            }
        });
        Self {
            addr,
            hold,
            replied,
            armed,
            tasks,
        }
    }

    /// From now on no reply reaches the process; its requests still reach the service.
    pub fn hold_replies(&self) {
        self.hold.store(true, Ordering::SeqCst);
    }

    /// Whether the Produce rule of [`Self::start_holding_produce`] has fired: the request went to
    /// the broker and its reply is held. (A proxy without the rule has none to fire.)
    pub fn produce_held(&self) -> bool {
        !self.armed.load(Ordering::SeqCst)
    }

    /// Bytes of replies delivered so far.
    pub fn replied_bytes(&self) -> u64 {
        self.replied.load(Ordering::SeqCst)
    }
}

impl Drop for HoldingProxy {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

/// Copies Kafka requests (each a 4-byte big-endian size, then the request: api key first) one
/// whole frame at a time, so the connection's hold is set before the first Produce naming `marker`
/// reaches the broker, and so before any reply to it can come back.
async fn forward_kafka_requests(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    marker: &[u8],
    armed: &AtomicBool,
    own: &AtomicBool,
) {
    const PRODUCE: i16 = 0;
    loop {
        let mut size = [0u8; 4];
        if from.read_exact(&mut size).await.is_err() {
            return;
        }
        let n = u32::from_be_bytes(size) as usize;
        let mut frame = vec![0u8; n];
        if from.read_exact(&mut frame).await.is_err() {
            return;
        }
        let produce = n >= 2 && i16::from_be_bytes([frame[0], frame[1]]) == PRODUCE;
        if produce
            && frame.windows(marker.len()).any(|w| w == marker)
            && armed
                .compare_exchange(true, false, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            own.store(true, Ordering::SeqCst);
        }
        if to.write_all(&size).await.is_err() || to.write_all(&frame).await.is_err() {
            return;
        }
    }
}
