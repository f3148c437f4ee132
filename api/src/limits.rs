//! Per-owner and total limits on what a client may hold open or do often: concurrent uploads, open
//! event streams, reprocess calls. In memory, per api replica: the point is that one owner cannot
//! take a replica from the others. Uploads are the exception per owner: they are counted across every
//! replica, in Postgres ([`crate::owner_streams`]), and here only in this replica's total.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::problem::ApiError;

/// Counted places: per owner and in total. A [`Slot`] gives its place back when dropped, however
/// the request ends.
#[derive(Debug, Default)]
pub struct Slots {
    name: &'static str,
    per_owner: usize,
    total: usize,
    held: Mutex<(HashMap<String, usize>, usize)>,
}

pub struct Slot {
    slots: Arc<Slots>,
    owner: String,
}

impl Slots {
    pub fn new(name: &'static str, per_owner: usize, total: usize) -> Arc<Self> {
        Arc::new(Self {
            name,
            per_owner: per_owner.max(1),
            total: total.max(1),
            held: Mutex::default(),
        })
    }

    /// A place for `owner`, or 429 naming the limit.
    pub fn acquire(self: &Arc<Self>, owner: &str, retry_after: u64) -> Result<Slot, ApiError> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let mine = held.0.get(owner).copied().unwrap_or(0);
        if mine >= self.per_owner {
            return Err(ApiError::TooManyRequests {
                detail: format!(
                    "you already have {mine} {} in progress; the limit is {} per owner",
                    self.name, self.per_owner
                ),
                retry_after,
            });
        }
        if held.1 >= self.total {
            return Err(ApiError::TooManyRequests {
                detail: format!(
                    "this server has {} {} in progress, its limit; try again shortly",
                    held.1, self.name
                ),
                retry_after,
            });
        }
        *held.0.entry(owner.to_owned()).or_default() += 1;
        held.1 += 1;
        Ok(Slot {
            slots: self.clone(),
            owner: owner.to_owned(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.slots.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = held.0.get_mut(&self.owner) {
            *n -= 1;
            if *n == 0 {
                held.0.remove(&self.owner);
            }
        }
        held.1 = held.1.saturating_sub(1);
    }
}

/// At most `per_minute` calls per owner in any sliding minute.
#[derive(Debug)]
pub struct Rate {
    name: &'static str,
    per_minute: usize,
    calls: Mutex<HashMap<String, Vec<Instant>>>,
}

impl Rate {
    pub fn new(name: &'static str, per_minute: usize) -> Arc<Self> {
        Arc::new(Self {
            name,
            per_minute: per_minute.max(1),
            calls: Mutex::default(),
        })
    }

    pub fn check(&self, owner: &str) -> Result<(), ApiError> {
        const WINDOW: Duration = Duration::from_secs(60);
        let now = Instant::now();
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        // Forget owners whose window has passed, so the map stays the size of recent callers.
        calls.retain(|_, v| v.last().is_some_and(|t| now.duration_since(*t) < WINDOW));
        let mine = calls.entry(owner.to_owned()).or_default();
        mine.retain(|t| now.duration_since(*t) < WINDOW);
        if mine.len() >= self.per_minute {
            let oldest = mine.first().copied().unwrap_or(now);
            let wait = WINDOW.saturating_sub(now.duration_since(oldest)).as_secs() + 1;
            return Err(ApiError::TooManyRequests {
                detail: format!(
                    "more than {} {} per minute; try again in {wait} s",
                    self.per_minute, self.name
                ),
                retry_after: wait,
            });
        }
        mine.push(now);
        Ok(())
    }
}

/// Every limited thing of one replica.
#[derive(Debug)]
pub struct Limits {
    pub uploads: Arc<Slots>,
    pub event_streams: Arc<Slots>,
    pub reprocess: Arc<Rate>,
}

impl Limits {
    pub fn new(edge: &vodflow_core::config::EdgeLimits) -> Self {
        Self {
            // Only this replica's total: the per-owner count is global, in
            // `crate::owner_streams`, and a second count here could never refuse first.
            uploads: Slots::new("uploads", usize::MAX, edge.uploads_total),
            event_streams: Slots::new(
                "event streams",
                edge.event_streams_per_owner,
                edge.event_streams_per_owner.saturating_mul(1024),
            ),
            reprocess: Rate::new("reprocess or cancel calls", edge.reprocess_per_minute),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_count_per_owner_and_free_on_drop() {
        let s = Slots::new("uploads", 2, 3);
        let a1 = s.acquire("a", 5).unwrap();
        let _a2 = s.acquire("a", 5).unwrap();
        assert!(matches!(
            s.acquire("a", 5),
            Err(ApiError::TooManyRequests { .. })
        ));
        let _b1 = s.acquire("b", 5).unwrap();
        assert!(s.acquire("c", 5).is_err(), "total reached");
        drop(a1);
        assert!(s.acquire("a", 5).is_ok());
    }

    #[test]
    fn rate_allows_n_per_minute() {
        let r = Rate::new("calls", 2);
        assert!(r.check("a").is_ok());
        assert!(r.check("a").is_ok());
        assert!(
            matches!(r.check("a"), Err(ApiError::TooManyRequests { retry_after, .. }) if retry_after >= 1)
        );
        assert!(r.check("b").is_ok());
    }
}
