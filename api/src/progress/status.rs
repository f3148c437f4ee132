//! Progress for status reads (`GET /v1/videos/{id}`, its event stream), which must never wait on
//! Temporal: a query needs a workflow worker, and while every processing worker is down or
//! restarting it blocks for seconds. One slow or failed read opens a breaker; while it is open,
//! status reads answer from Postgres alone (the row is the status), and after a short while one
//! read tries Temporal again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use vodflow_core::VideoId;

use super::{Progress, live_progress};
use crate::state::AppState;

/// The longest one question to Temporal may take (in the background: reads do not wait for it).
const STATUS_WAIT: Duration = Duration::from_millis(800);
/// The longest a status read waits for progress it has no answer for yet (the first read of a
/// video): a healthy Temporal answers in a few milliseconds; a slow one is not waited for, and its
/// answer, when it comes, serves the next read.
const FIRST_ANSWER_WAIT: Duration = Duration::from_millis(100);
/// A read slower than this counts as Temporal (or its workers) being unavailable.
const SLOW: Duration = Duration::from_millis(400);
/// How long status reads leave Temporal alone after a slow or failed read.
const OPEN_FOR: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub struct Breaker {
    opened_at: Mutex<Option<Instant>>,
}

impl Breaker {
    fn is_open(&self) -> bool {
        let at = self.opened_at.lock().unwrap_or_else(|p| p.into_inner());
        at.is_some_and(|t| t.elapsed() < OPEN_FOR)
    }

    fn set(&self, open: bool) {
        let mut at = self.opened_at.lock().unwrap_or_else(|p| p.into_inner());
        *at = open.then(Instant::now);
    }
}

/// The live progress of a processing video, or `None` when Temporal cannot answer quickly. One
/// answer serves every read of the video for [`super::PROGRESS_FRESH_FOR`].
pub(crate) async fn progress_for_status(state: &AppState, id: VideoId) -> Option<Progress> {
    if state.temporal_breaker.is_open() {
        return None;
    }
    let asking = state.clone();
    state
        .progress_answers
        .get_or_ask_within(id, FIRST_ANSWER_WAIT, move || async move {
            ask_temporal(&asking, id).await
        })
        .await
        .flatten()
}

async fn ask_temporal(state: &AppState, id: VideoId) -> Option<Progress> {
    let breaker = &state.temporal_breaker;
    let started = Instant::now();
    let answer = tokio::time::timeout(STATUS_WAIT, async {
        let client = state.temporal().await.ok()?;
        live_progress(&client, id).await
    })
    .await;
    match answer {
        Ok(Some(p)) => {
            breaker.set(false);
            Some(p)
        }
        // A quick "no open run" is an answer, not an outage.
        Ok(None) if started.elapsed() < SLOW => None,
        _ => {
            tracing::warn!(video_id = %id, waited = ?started.elapsed(), "Temporal is slow to answer; status reads use Postgres only for a while");
            breaker.set(true);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_and_closes() {
        let b = Breaker::default();
        assert!(!b.is_open());
        b.set(true);
        assert!(b.is_open());
        b.set(false);
        assert!(!b.is_open());
    }
}
