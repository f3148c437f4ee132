//! One answer from Temporal shared by every status read of a video for a moment. Players and
//! dashboards poll `GET /v1/videos/{id}` hundreds of times a second; each read asking Temporal
//! (a describe and a query, or a history fetch) would put that load on Temporal and its workers
//! and the slowest of those answers on every read. So one request per video is in flight at a
//! time, and once a video has had an answer, reads never wait for Temporal again: past its
//! freshness they get the last answer while a new one is asked for in the background (a
//! stale-while-revalidate cache). Only the first read of a video, or one after a long silence,
//! waits.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use vodflow_core::VideoId;

/// Videos remembered at most; past that, entries whose last answer is too old to serve are
/// dropped first, then everything (the next reads ask again).
const REMEMBERED: usize = 4096;
/// An answer older than this is not served while a new one is asked for: the read waits.
const SERVE_STALE_FOR: Duration = Duration::from_secs(10);

type Asking<V> = Shared<BoxFuture<'static, V>>;

struct Entry<V> {
    /// When the request in flight (or the last one) was sent.
    asked_at: Instant,
    asking: Asking<V>,
    /// The answer before `asking`, and when it was asked for.
    previous: Option<(Instant, V)>,
}

impl<V: Clone> Entry<V> {
    /// The newest answer there is and when it was asked for, without waiting.
    fn latest(&self) -> Option<(Instant, V)> {
        match self.asking.peek() {
            Some(v) => Some((self.asked_at, v.clone())),
            None => self.previous.clone(),
        }
    }
}

pub struct SharedAnswers<V> {
    fresh_for: Duration,
    entries: Mutex<HashMap<VideoId, Entry<V>>>,
}

impl<V: Clone + Send + Sync + 'static> SharedAnswers<V> {
    pub fn new(fresh_for: Duration) -> Self {
        Self {
            fresh_for,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `id`'s answer: the newest one there is when it is fresh, or when a newer one is being
    /// asked for (by `ask`, run on its own task, if nobody is asking yet) and it is not too old;
    /// otherwise the answer being asked for, waited for.
    pub async fn get_or_ask<F, Fut>(&self, id: VideoId, ask: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V> + Send + 'static,
    {
        let asking = {
            let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let latest = map.get(&id).and_then(Entry::latest);
            let in_flight = map.get(&id).is_some_and(|e| {
                e.asking.peek().is_none() && e.asked_at.elapsed() < SERVE_STALE_FOR
            });
            if let Some((at, v)) = &latest
                && (at.elapsed() < self.fresh_for || in_flight && at.elapsed() < SERVE_STALE_FOR)
            {
                return v.clone();
            }
            if in_flight {
                map[&id].asking.clone()
            } else {
                if map.len() >= REMEMBERED {
                    map.retain(|_, e| e.asked_at.elapsed() < SERVE_STALE_FOR);
                    if map.len() >= REMEMBERED {
                        map.clear();
                    }
                }
                let asking = ask().boxed().shared();
                // Driven on its own so it completes (and is remembered) even when every read
                // that wanted it has returned with the previous answer or gone away.
                tokio::spawn(asking.clone());
                map.insert(
                    id,
                    Entry {
                        asked_at: now,
                        asking: asking.clone(),
                        previous: latest.clone(),
                    },
                );
                match latest {
                    Some((at, v)) if at.elapsed() < SERVE_STALE_FOR => return v,
                    _ => asking,
                }
            }
        };
        asking.await
    }

    /// Like [`Self::get_or_ask`], but a read waits at most `wait` for an answer that is not there
    /// yet: past it, `None`, while the asking goes on in the background and serves the next read.
    pub async fn get_or_ask_within<F, Fut>(&self, id: VideoId, wait: Duration, ask: F) -> Option<V>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V> + Send + 'static,
    {
        tokio::time::timeout(wait, self.get_or_ask(id, ask))
            .await
            .ok()
    }

    /// Drops what is known of `id`: its answers describe a run that is over (a replay has just
    /// started the next), and serving them stale would show the old run's figures.
    pub fn forget(&self, id: VideoId) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counter(asked: &Arc<AtomicUsize>, delay: Duration) -> impl Future<Output = usize> + use<> {
        let asked = asked.clone();
        async move {
            let n = asked.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(delay).await;
            n
        }
    }

    #[tokio::test]
    async fn concurrent_reads_share_one_answer_until_it_is_stale() {
        let answers = SharedAnswers::new(Duration::from_millis(200));
        let asked = Arc::new(AtomicUsize::new(0));
        let id = VideoId::new();
        let slow = Duration::from_millis(50);
        let reads = futures::future::join_all(
            (0..50).map(|_| answers.get_or_ask(id, || counter(&asked, slow))),
        )
        .await;
        assert!(reads.iter().all(|n| *n == 1), "{reads:?}");
        assert_eq!(asked.load(Ordering::SeqCst), 1, "one request for 50 reads");
        assert_eq!(answers.get_or_ask(id, || counter(&asked, slow)).await, 1);
        assert_eq!(
            asked.load(Ordering::SeqCst),
            1,
            "a fresh answer is not asked again"
        );

        tokio::time::sleep(Duration::from_millis(250)).await;
        let started = Instant::now();
        assert_eq!(
            answers.get_or_ask(id, || counter(&asked, slow)).await,
            1,
            "a stale answer is served while a new one is asked for"
        );
        assert!(started.elapsed() < slow, "without waiting for it");
        assert_eq!(
            answers.get_or_ask(id, || counter(&asked, slow)).await,
            1,
            "still the old one while the new one is in flight"
        );
        tokio::time::sleep(slow * 2).await;
        assert_eq!(asked.load(Ordering::SeqCst), 2, "only one new request");
        assert_eq!(
            answers.get_or_ask(id, || counter(&asked, slow)).await,
            2,
            "the new answer once it has come"
        );
        assert_eq!(
            answers
                .get_or_ask(VideoId::new(), || counter(&asked, slow))
                .await,
            3,
            "per video"
        );
    }

    #[tokio::test]
    async fn an_answer_too_old_to_serve_is_waited_for() {
        let answers = SharedAnswers::new(Duration::from_millis(10));
        let asked = Arc::new(AtomicUsize::new(0));
        let id = VideoId::new();
        assert_eq!(
            answers
                .get_or_ask(id, || counter(&asked, Duration::ZERO))
                .await,
            1
        );
        // Age the remembered answer past what may be served.
        {
            let mut map = answers.entries.lock().unwrap();
            let e = map.get_mut(&id).unwrap();
            e.asked_at -= SERVE_STALE_FOR + Duration::from_secs(1);
        }
        assert_eq!(
            answers
                .get_or_ask(id, || counter(&asked, Duration::from_millis(20)))
                .await,
            2,
            "the new answer, waited for"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_read_waits_no_longer_than_its_bound_and_the_answer_serves_the_next() {
        let answers = SharedAnswers::new(Duration::from_secs(1));
        let asked = Arc::new(AtomicUsize::new(0));
        let id = VideoId::new();
        let slow = Duration::from_secs(5);
        let wait = Duration::from_millis(100);
        let started = tokio::time::Instant::now();
        assert_eq!(
            answers
                .get_or_ask_within(id, wait, || counter(&asked, slow))
                .await,
            None,
            "a slow first answer is not waited for"
        );
        assert_eq!(started.elapsed(), wait);
        tokio::time::sleep(slow).await;
        let again = tokio::time::Instant::now();
        assert_eq!(
            answers
                .get_or_ask_within(id, wait, || counter(&asked, slow))
                .await,
            Some(1),
            "the answer asked for in the background serves the next read"
        );
        assert_eq!(again.elapsed(), Duration::ZERO);
        assert_eq!(asked.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_forgotten_video_is_asked_again_instead_of_served_its_old_answer() {
        let answers = SharedAnswers::new(Duration::from_secs(60));
        let id = VideoId::new();
        assert_eq!(answers.get_or_ask(id, || async { 5 }).await, 5);
        assert_eq!(
            answers.get_or_ask(id, || async { 0 }).await,
            5,
            "fresh: served"
        );
        answers.forget(id);
        assert_eq!(answers.get_or_ask(id, || async { 0 }).await, 0);
    }
}
