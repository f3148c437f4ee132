//! One answer from Temporal shared by every status read of a video for a moment. Players and
//! dashboards poll `GET /v1/videos/{id}` hundreds of times a second; each read asking Temporal
//! (a describe and a query, or a history fetch) would put that load on Temporal and its workers
//! and the slowest of those answers on every read. Concurrent reads of one video wait for the
//! same request rather than each sending their own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;
use vodflow_core::VideoId;

/// Videos remembered at most; past that, answers older than their freshness are dropped first,
/// then everything (the next reads ask again).
const REMEMBERED: usize = 4096;

type Cell<V> = Arc<OnceCell<V>>;

pub struct SharedAnswers<V> {
    fresh_for: Duration,
    entries: Mutex<HashMap<VideoId, (Instant, Cell<V>)>>,
}

impl<V: Clone> SharedAnswers<V> {
    pub fn new(fresh_for: Duration) -> Self {
        Self {
            fresh_for,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `id`'s answer: the one asked for less than `fresh_for` ago (waiting for it if it is still
    /// being asked), or a new one from `ask`.
    pub async fn get_or_ask<F, Fut>(&self, id: VideoId, ask: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let cell = self.cell(id);
        cell.get_or_init(ask).await.clone()
    }

    fn cell(&self, id: VideoId) -> Cell<V> {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, cell)) = map.get(&id)
            && at.elapsed() < self.fresh_for
        {
            return cell.clone();
        }
        if map.len() >= REMEMBERED {
            let fresh_for = self.fresh_for;
            map.retain(|_, (at, _)| at.elapsed() < fresh_for);
            if map.len() >= REMEMBERED {
                map.clear();
            }
        }
        let cell = Cell::default();
        map.insert(id, (Instant::now(), cell.clone()));
        cell
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_reads_share_one_answer_until_it_is_stale() {
        let answers = SharedAnswers::new(Duration::from_millis(200));
        let asked = AtomicUsize::new(0);
        let id = VideoId::new();
        let ask = || async {
            asked.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            asked.load(Ordering::SeqCst)
        };
        let reads = futures::future::join_all((0..50).map(|_| answers.get_or_ask(id, ask))).await;
        assert!(reads.iter().all(|n| *n == 1), "{reads:?}");
        assert_eq!(asked.load(Ordering::SeqCst), 1, "one request for 50 reads");
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(
            answers.get_or_ask(id, ask).await,
            2,
            "a stale answer is asked again"
        );
        assert_eq!(
            answers.get_or_ask(VideoId::new(), ask).await,
            3,
            "per video"
        );
    }
}
