//! Running the FFmpeg encoder as a contained child process (see [`super::contain`]): one decode
//! fanned out to every rendition through `split`, progress read from `-progress`, killed on
//! cancellation or when its watchdog fires.

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::io::BufReader;

use super::contain::Containment;
use crate::error::{Error, Result};

/// Runs ffmpeg with `args` inside `contain`; `on_progress(out_time_seconds)` is awaited at most
/// every `every`. `cancelled()` is polled at the same pace and kills the process when it returns
/// true. `what` names the work in errors ("encode", "audio encode", "poster").
pub async fn run(
    what: &str,
    args: &[String],
    contain: &Containment,
    every: Duration,
    mut on_progress: impl FnMut(f64) -> BoxFuture<'static, ()> + Send,
    cancelled: impl Fn() -> bool + Send,
) -> Result<()> {
    let started = Instant::now();
    let mut child = contain
        .command("ffmpeg")
        .args([
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostats",
            "-progress",
            "pipe:1",
            "-y",
            "-filter_threads",
            &contain.threads.to_string(),
            "-filter_complex_threads",
            &contain.threads.to_string(),
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Error::Ffmpeg(format!("cannot start ffmpeg: {e}")))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| Error::Ffmpeg("no stdout".into()))?;
    let mut stderr = child
        .stderr
        .take()
        .ok_or_else(|| Error::Ffmpeg("no stderr".into()))?;
    let errors = tokio::spawn(async move {
        super::contain::keep_tail(&mut stderr, super::contain::STDERR_KEPT).await
    });
    let mut lines = vodflow_core::contain::BoundedLines::new(BufReader::new(stdout));
    let mut last = Instant::now();
    let mut out_time = 0.0;
    loop {
        let line = tokio::time::timeout(every, lines.next_line()).await;
        match line {
            Ok(Ok(Some(l))) => {
                if let Some(v) = l
                    .strip_prefix("out_time_us=")
                    .and_then(|v| v.trim().parse::<i64>().ok())
                {
                    out_time = v.max(0) as f64 / 1e6;
                }
            }
            Ok(Ok(None)) => break,
            Ok(Err(e)) => return Err(Error::Ffmpeg(e.to_string())),
            Err(_) => {} // quiet stretch: still heartbeat below
        }
        if started.elapsed() > contain.wall {
            let _ = child.kill().await;
            return Err(contain.timed_out(what).into());
        }
        if last.elapsed() >= every {
            if cancelled() {
                let _ = child.kill().await;
                return Err(Error::Cancelled);
            }
            on_progress(out_time).await;
            last = Instant::now();
        }
    }
    let status = child.wait().await?;
    let stderr = errors.await.unwrap_or_default();
    if status.success() {
        Ok(())
    } else {
        Err(contain.classify(what, status, &stderr).into())
    }
}

/// Seconds as ffmpeg parses them, without float noise.
pub fn secs(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}
