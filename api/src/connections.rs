//! How many connections the api holds open: all clients together (a semaphore the accept loop
//! waits on, so the process never runs out of file descriptors and the kernel's backlog absorbs a
//! burst), and one client address (a table of counts, so one client cannot take every slot). An
//! IPv6 client is counted by its /64: whoever has one address of a /64 usually has all of them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The api's connection caps and the gauges that show them.
#[derive(Clone)]
pub struct ConnectionLimits {
    /// All clients together.
    pub total: usize,
    /// One client address (0 = no per-client cap).
    pub per_client: usize,
    pub open: prometheus::IntGauge,
    pub refused: prometheus::IntCounter,
}

/// The connections open now, by client.
pub(crate) struct Connections {
    limits: ConnectionLimits,
    slots: Arc<Semaphore>,
    by_client: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One open connection's place: given back when the connection ends.
pub(crate) struct Held {
    _slot: OwnedSemaphorePermit,
    client: IpAddr,
    by_client: Arc<Mutex<HashMap<IpAddr, usize>>>,
    open: prometheus::IntGauge,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.open.dec();
        let mut map = self.by_client.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.client);
            }
        }
    }
}

/// The address a client is counted by.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut seg = v6.segments();
                seg[4..].fill(0);
                IpAddr::V6(seg.into())
            }
        },
    }
}

impl Connections {
    pub(crate) fn new(limits: ConnectionLimits) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limits.total.max(1))),
            limits,
            by_client: Arc::default(),
        }
    }

    /// Waits until fewer than the total are open: called before accepting the next one.
    pub(crate) async fn slot(&self) -> OwnedSemaphorePermit {
        self.slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// The accepted connection's place, or `None` when its client already has its share open
    /// (the caller closes it).
    pub(crate) fn admit(&self, slot: OwnedSemaphorePermit, remote: IpAddr) -> Option<Held> {
        let client = client_key(remote);
        let mut map = self.by_client.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(client).or_insert(0);
        if self.limits.per_client > 0 && *n >= self.limits.per_client {
            drop(map);
            self.limits.refused.inc();
            return None;
        }
        *n += 1;
        drop(map);
        self.limits.open.inc();
        Some(Held {
            _slot: slot,
            client,
            by_client: self.by_client.clone(),
            open: self.limits.open.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_client: usize) -> ConnectionLimits {
        ConnectionLimits {
            total,
            per_client,
            open: prometheus::IntGauge::new("o", "o").unwrap(),
            refused: prometheus::IntCounter::new("r", "r").unwrap(),
        }
    }

    #[tokio::test]
    async fn one_client_gets_its_share_and_it_comes_back_as_connections_close() {
        let c = Connections::new(limits(10, 2));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let one = c.admit(c.slot().await, a).unwrap();
        let _two = c.admit(c.slot().await, a).unwrap();
        assert!(c.admit(c.slot().await, a).is_none());
        let _other = c.admit(c.slot().await, b).unwrap();
        assert_eq!(c.limits.refused.get(), 1);
        assert_eq!(c.limits.open.get(), 3);
        drop(one);
        assert!(c.admit(c.slot().await, a).is_some());
    }

    #[tokio::test]
    async fn an_ipv6_client_is_counted_by_its_64() {
        let c = Connections::new(limits(10, 1));
        let _held = c
            .admit(c.slot().await, "2001:db8::1".parse().unwrap())
            .unwrap();
        assert!(
            c.admit(c.slot().await, "2001:db8::ffff:1".parse().unwrap())
                .is_none()
        );
        assert!(
            c.admit(c.slot().await, "2001:db8:0:1::1".parse().unwrap())
                .is_some()
        );
        // An IPv4 client reaching a dual-stack socket is itself.
        let _v4 = c.admit(c.slot().await, "::ffff:192.0.2.9".parse().unwrap());
        assert!(
            c.admit(c.slot().await, "192.0.2.9".parse().unwrap())
                .is_none()
        );
    }

    #[tokio::test]
    async fn past_the_total_the_next_accept_waits() {
        let c = Connections::new(limits(1, 0));
        let held = c
            .admit(c.slot().await, "192.0.2.1".parse().unwrap())
            .unwrap();
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), c.slot()).await;
        assert!(waiting.is_err());
        drop(held);
        let _ = tokio::time::timeout(std::time::Duration::from_millis(50), c.slot())
            .await
            .expect("a slot once one closed");
    }
}
