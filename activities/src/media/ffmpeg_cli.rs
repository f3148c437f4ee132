//! Running the FFmpeg encoder (same libraries as ffmpeg-next) as a child process: one decode fanned
//! out to every rendition through `split`, progress read from `-progress`, killed on cancellation.

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::error::{Error, Result};

/// Runs ffmpeg with `args`; `on_progress(out_time_seconds)` is awaited at most every `every`.
/// `cancelled()` is polled at the same pace and kills the process when it returns true.
pub async fn run(
    args: &[String],
    every: Duration,
    mut on_progress: impl FnMut(f64) -> BoxFuture<'static, ()> + Send,
    cancelled: impl Fn() -> bool + Send,
) -> Result<()> {
    let mut child = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostats",
            "-progress",
            "pipe:1",
            "-y",
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
        let mut s = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut s).await;
        s
    });
    let mut lines = BufReader::new(stdout).lines();
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
        let tail: String = stderr
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("; ");
        Err(Error::Ffmpeg(format!("exited with {status}: {tail}")))
    }
}

/// Seconds as ffmpeg parses them, without float noise.
pub fn secs(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}
