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
    tasks: JoinSet<()>,
}

impl HoldingProxy {
    /// Forwards every connection to `upstream` (`host:port`) until dropped.
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hold = Arc::new(AtomicBool::new(false));
        let replied = Arc::new(AtomicU64::new(0));
        let mut tasks = JoinSet::new();
        let (upstream, h, r) = (upstream.to_owned(), hold.clone(), replied.clone());
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                conns.spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                });
                let (h, r) = (h.clone(), r.clone());
                conns.spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match server_read.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        // Held: the reply is never delivered (the process is killed meanwhile).
                        while h.load(Ordering::SeqCst) {
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
            tasks,
        }
    }

    /// From now on no reply reaches the process; its requests still reach the service.
    pub fn hold_replies(&self) {
        self.hold.store(true, Ordering::SeqCst);
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
