//! `import_source`: a video at a URL streamed into the store as the video's source, the first step
//! of an imported video's workflow. The URL is checked like a webhook's (public addresses only
//! unless VODFLOW_IMPORT_ALLOW_PRIVATE), the connection goes only to the addresses checked, and
//! every redirect is checked the same way before it is followed. The body is sniffed, capped
//! and cut into parts on the way (never held whole, never on local disk); a connection that
//! drops mid-file is resumed with a `Range` request when the server supports it. A source slower
//! than the minimum throughput fails the attempt: imports have a few slots of their own, and one
//! owner's dripping server must not hold them for hours.

#![allow(unreachable_pub)] // the activity macros generate public marker modules

use std::sync::Arc;
use std::time::{Duration, Instant};

use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use vodflow_workflows::contract;

use vodflow_core::ingest::{SourceWriteError, SourceWriter};
use vodflow_core::net_guard;
use vodflow_workflows::types::{ImportSource, ImportedSource};

use crate::Deps;
use crate::error::{Error, Result};

const MAX_REDIRECTS: usize = 5;
/// Resumptions of one attempt's download after the connection dropped.
const MAX_RESUMES: usize = 5;

/// Activities of the `video-import` queue.
pub struct ImportActivities(pub Arc<Deps>);

#[activities]
impl ImportActivities {
    #[activity(definition = contract::def::import::ImportSource)]
    pub async fn import_source(
        self: Arc<Self>,
        ctx: ActivityContext,
        job: ImportSource,
    ) -> Result<ImportedSource, ActivityError> {
        async move {
            crate::heartbeat::count_attempt(&self.0, &ctx);
            let started = Instant::now();
            let ctx = &ctx;
            // Progress as bytes fetched; the heartbeat also tells Temporal the worker lives.
            let fetch = import(&self.0, &job, |bytes| async move {
                let _ = ctx
                    .record_heartbeat(serde_json::json!({ "step": "import", "bytes": bytes }))
                    .await;
            });
            // Past its deadline, cancelled with its video, or stopped by a worker shutting down,
            // the download stops here, so the slot is free at once rather than when the source
            // ends; the dropped writer aborts what it stored. Retryable: after a shutdown another
            // worker starts again (a timed-out or cancelled attempt's answer is not used).
            let imported = tokio::select! {
                r = fetch => r?,
                () = ctx.cancelled() => {
                    return Err(Error::Import("the download was stopped before it ended".into()));
                }
            };
            vodflow_core::repo::set_source_facts(
                &self.0.pool,
                job.video_id,
                imported.size,
                &imported.content_type,
            )
            .await?;
            tracing::info!(video_id = %job.video_id, size = imported.size, secs = started.elapsed().as_secs_f64(), "source imported");
            Ok(imported)
        }
        .await
        .map_err(Error::into_activity)
    }
}

/// The throughput an attempt must keep: at least `min` bytes in every `window` (measured from
/// the first response, so a slow connect is not counted against the body).
struct Throughput {
    window: Duration,
    min_bytes: u64,
    since: Instant,
    at_start: u64,
}

impl Throughput {
    fn new(window: Duration, min_bytes_per_sec: u64) -> Self {
        Self {
            window,
            min_bytes: (min_bytes_per_sec as f64 * window.as_secs_f64()) as u64,
            since: Instant::now(),
            at_start: 0,
        }
    }

    /// Called as bytes arrive (`total` so far): an error once a whole window passed with fewer
    /// than the minimum.
    fn check(&mut self, total: u64) -> Result<()> {
        if self.since.elapsed() < self.window {
            return Ok(());
        }
        let got = total - self.at_start;
        if got < self.min_bytes {
            return Err(Error::Import(format!(
                "the source sent {got} bytes in {} s; imports need at least {} bytes per second",
                self.window.as_secs(),
                self.min_bytes / self.window.as_secs().max(1)
            )));
        }
        self.since = Instant::now();
        self.at_start = total;
        Ok(())
    }
}

/// A response from a checked address, with the URL it finally came from.
struct Fetched {
    resp: reqwest::Response,
    checked: net_guard::Checked,
}

fn client(checked: &net_guard::Checked) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .resolve_to_addrs(&checked.host, &checked.addrs)
        .user_agent("vodflow-import/1")
        .build()
}

/// GET `url` (from `offset` on), following at most [`MAX_REDIRECTS`] redirects, each re-checked.
async fn fetch(url: &str, offset: u64, allow_private: bool) -> Result<Fetched> {
    let mut url = url.to_owned();
    for _ in 0..=MAX_REDIRECTS {
        let checked = net_guard::check_url(&url, allow_private)
            .await
            .map_err(|e| Error::InvalidMedia(format!("the source URL is refused: {e}")))?;
        let mut req = client(&checked)
            .map_err(|e| Error::Import(e.to_string()))?
            .get(checked.url.clone());
        if offset > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={offset}-"));
        }
        let resp = req
            .send()
            .await
            .map_err(|e| Error::Import(format!("{}: {e}", checked.url)))?;
        if resp.status().is_redirection() {
            let next = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| Error::InvalidMedia("a redirect without a Location".into()))?;
            url = checked
                .url
                .join(next)
                .map_err(|e| Error::InvalidMedia(format!("a redirect to a bad URL: {e}")))?
                .to_string();
            continue;
        }
        return Ok(Fetched { resp, checked });
    }
    Err(Error::InvalidMedia(format!(
        "more than {MAX_REDIRECTS} redirects"
    )))
}

/// Streams the source into `job.key`; returns what was stored.
pub(crate) async fn import<F: Future<Output = ()>>(
    deps: &Deps,
    job: &ImportSource,
    mut progress: impl FnMut(u64) -> F,
) -> Result<ImportedSource> {
    let cfg = &deps.cfg;
    let max = cfg.max_upload_bytes;
    let part_size = cfg.upload_part_bytes;
    let Fetched { mut resp, checked } = fetch(&job.url, 0, cfg.import_allow_private).await?;
    let status = resp.status();
    if status.is_client_error() {
        return Err(Error::InvalidMedia(format!("the source answered {status}")));
    }
    if !status.is_success() {
        return Err(Error::Import(format!("the source answered {status}")));
    }
    if let Some(len) = resp.content_length()
        && len > max
    {
        return Err(Error::InvalidMedia(format!(
            "the source is {len} bytes; the largest accepted video is {max} bytes"
        )));
    }
    let resumable = resp
        .headers()
        .get(reqwest::header::ACCEPT_RANGES)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("bytes"));
    let mut writer = SourceWriter::new(&deps.storage.s3, &job.bucket, &job.key, max, part_size);
    let refused = |e: SourceWriteError| match e {
        SourceWriteError::TooLarge { max } => Error::InvalidMedia(format!(
            "the source is larger than the maximum of {max} bytes"
        )),
        SourceWriteError::NotAVideo(why) => {
            Error::InvalidMedia(format!("the source is not a video: {why}"))
        }
        SourceWriteError::Empty => Error::InvalidMedia("the source is empty".into()),
        SourceWriteError::Store(e) => Error::Storage(e.to_string()),
    };
    let mut resumes = 0;
    let mut last_beat = Instant::now();
    let final_url = checked.url.to_string();
    let idle = cfg.imports.stall_window;
    let mut throughput = Throughput::new(idle, cfg.imports.min_bytes_per_sec);
    loop {
        let next = tokio::time::timeout(idle, resp.chunk()).await;
        let chunk = match next {
            Ok(Ok(c)) => c,
            Ok(Err(_)) | Err(_) if resumable && resumes < MAX_RESUMES => {
                resumes += 1;
                tracing::info!(video_id = %job.video_id, offset = writer.size(), "import connection dropped; resuming with a range request");
                let again = fetch(&final_url, writer.size(), cfg.import_allow_private).await?;
                let from = again
                    .resp
                    .headers()
                    .get(reqwest::header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes "))
                    .and_then(|v| v.split('-').next())
                    .and_then(|v| v.parse::<u64>().ok());
                if again.resp.status() != reqwest::StatusCode::PARTIAL_CONTENT
                    || from != Some(writer.size())
                {
                    return Err(Error::Import(
                        "the source did not resume where the connection dropped".into(),
                    ));
                }
                resp = again.resp;
                continue;
            }
            Ok(Err(e)) => return Err(Error::Import(format!("reading the source: {e}"))),
            Err(_) => {
                return Err(Error::Import(format!(
                    "the source sent nothing for {} s",
                    idle.as_secs()
                )));
            }
        };
        let Some(chunk) = chunk else {
            break;
        };
        // Dropped on an error, the writer aborts what it stored.
        writer.push(&chunk).await.map_err(refused)?;
        throughput.check(writer.size())?;
        if last_beat.elapsed() >= Duration::from_secs(2) {
            progress(writer.size()).await;
            last_beat = Instant::now();
        }
    }
    let stored = writer.finish().await.map_err(refused)?;
    Ok(ImportedSource {
        size: stored.size,
        content_type: stored.content_type.to_owned(),
    })
}
