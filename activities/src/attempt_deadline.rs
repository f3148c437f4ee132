//! Writes that must not outlive their activity attempt. Once an attempt's start-to-close timeout
//! has passed, the workflow has moved on (a retry, the next step); a worker that stalled (a frozen
//! VM, a store that hung) and then carries on would write over newer results. A growing package
//! is such a write: past its deadline, the final `VOD` playlists may already be in place.

use std::future::Future;
use std::time::{Duration, SystemTime};

use crate::error::Error;

/// Kept free before the deadline: the worker's clock and Temporal's are not the same clock.
pub(crate) const MARGIN: Duration = Duration::from_secs(30);

/// Runs `write` only if it can finish `MARGIN` before `deadline`, and abandons it at that point;
/// without a deadline it just runs.
pub(crate) async fn before<T>(
    deadline: Option<SystemTime>,
    what: &str,
    write: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let Some(deadline) = deadline else {
        return write.await;
    };
    let late = || {
        Error::Package(format!(
            "{what}: this attempt is past its deadline; a later attempt or step supersedes it"
        ))
    };
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        .saturating_sub(MARGIN);
    if left.is_zero() {
        return Err(late());
    }
    tokio::time::timeout(left, write)
        .await
        .map_err(|_| late())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_runs_only_inside_the_attempt_and_is_abandoned_at_its_end() {
        let now = SystemTime::now();
        let ran = std::sync::atomic::AtomicBool::new(false);
        let past = before(Some(now - Duration::from_secs(1)), "put", async {
            ran.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        })
        .await;
        assert!(matches!(past, Err(Error::Package(m)) if m.contains("past its deadline")));
        assert!(
            !ran.load(std::sync::atomic::Ordering::SeqCst),
            "never started"
        );
        // Inside the margin counts as past too.
        let close = before(Some(now + MARGIN / 2), "put", async { Ok(()) }).await;
        assert!(close.is_err());

        assert_eq!(before(None, "put", async { Ok(7) }).await.unwrap(), 7);
        let plenty = Some(now + MARGIN + Duration::from_secs(60));
        assert_eq!(before(plenty, "put", async { Ok(8) }).await.unwrap(), 8);

        // A write that hangs is given up when the time left runs out.
        let soon = Some(SystemTime::now() + MARGIN + Duration::from_millis(200));
        let started = std::time::Instant::now();
        let hung = before(soon, "put", std::future::pending::<Result<(), Error>>()).await;
        assert!(hung.is_err());
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
