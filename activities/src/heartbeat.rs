//! Progress reports of the long activities: `{step, out_time_s, percent}` heartbeats that the
//! API shows per chunk, sent often enough that a dead worker is noticed within the timeout.

use std::time::Duration;

use futures::future::BoxFuture;
use serde::Serialize;
use temporalio_sdk::activities::ActivityContext;
use vodflow_workflows::types::SourceRef;

use crate::Deps;
use crate::error::Error;

/// How often long activities report progress: well inside the heartbeat timeout the workflow set.
pub(crate) fn heartbeat_every(ctx: &ActivityContext) -> Duration {
    let timeout = ctx
        .info()
        .heartbeat_timeout
        .unwrap_or(Duration::from_secs(60));
    (timeout / 4).clamp(Duration::from_millis(250), Duration::from_secs(5))
}

#[derive(Serialize)]
struct EncodeHeartbeat {
    step: &'static str,
    out_time_s: f64,
    percent: f64,
}

/// Counts a retry (and a lost attempt: one that resumed from a previous attempt's heartbeat) of
/// one of the contract's counted activities.
pub(crate) fn count_attempt(deps: &crate::Deps, ctx: &ActivityContext) {
    let activity = ctx.info().activity_type.as_str();
    if !vodflow_workflows::contract::COUNTED.contains(&activity) {
        return;
    }
    if ctx.info().attempt > 1 {
        deps.metrics
            .activity_retries
            .with_label_values(&[activity])
            .inc();
        if !ctx.heartbeat_details().raw().is_empty() {
            deps.metrics
                .attempts_lost
                .with_label_values(&[activity])
                .inc();
        }
    }
}

pub(crate) async fn beat(ctx: &ActivityContext, step: &'static str, out_time_s: f64, percent: f64) {
    let _ = ctx
        .record_heartbeat(serde_json::json!(EncodeHeartbeat {
            step,
            out_time_s,
            percent
        }))
        .await;
}

/// A progress callback that heartbeats `percent(value)`; owns its context so the future is `'static`.
pub(crate) fn beater(
    ctx: &ActivityContext,
    step: &'static str,
    percent: impl Fn(f64) -> f64 + Send + 'static,
) -> impl FnMut(f64) -> BoxFuture<'static, ()> + Send {
    let ctx = ctx.clone();
    move |v| {
        let ctx = ctx.clone();
        let p = percent(v);
        Box::pin(async move { beat(&ctx, step, v, p).await })
    }
}

/// Runs `work` (store reads and writes with no progress of their own to report: a rendition's
/// segments gathered for a remux or a storyboard) heartbeating `step` meanwhile, so hours of
/// segments never look like a dead worker. Stops with [`Error::Cancelled`] once the activity is.
pub(crate) async fn heartbeating<T>(
    ctx: &ActivityContext,
    step: &'static str,
    work: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    heartbeating_progress(ctx, step, || (0.0, 0.0), work).await
}

/// [`heartbeating`], each beat reporting `progress()` as `(out_time_s, percent)`: for work made of
/// many short steps (audio parts) whose processes may each end before reporting once.
pub(crate) async fn heartbeating_progress<T>(
    ctx: &ActivityContext,
    step: &'static str,
    progress: impl Fn() -> (f64, f64),
    work: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let every = heartbeat_every(ctx);
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return done,
            () = tokio::time::sleep(every) => {
                if ctx.is_cancelled() {
                    return Err(Error::Cancelled);
                }
                let (out_time_s, percent) = progress();
                beat(ctx, step, out_time_s, percent).await;
            }
        }
    }
}

pub(crate) fn silent(_: f64) -> BoxFuture<'static, ()> {
    Box::pin(async {})
}

/// The source on this worker's disk, downloading it (with heartbeats) if it is not there yet.
pub(crate) async fn source_file(
    deps: &Deps,
    ctx: &ActivityContext,
    src: &SourceRef,
) -> Result<crate::source::cache::HeldSource, Error> {
    let size = src.size.max(1) as f64;
    let mut progress = beater(ctx, "download", move |done| done * 100.0 / size);
    deps.storage
        .sources
        .get(&deps.storage.s3, src, move |done| progress(done as f64))
        .await
}
