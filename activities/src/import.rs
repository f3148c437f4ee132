//! `import_source`: a video at a URL streamed into the store as the video's source, the first step
//! of an imported video's workflow. The URL is checked like a webhook's (public addresses only
//! unless VODFLOW_IMPORT_ALLOW_PRIVATE), the connection goes only to the addresses checked, and
//! every redirect is checked the same way before it is followed. The body is sniffed, capped,
//! hashed and cut into parts on the way (never held whole, never on local disk); a connection that
//! drops mid-file is resumed with a `Range` request when the server supports it.

use std::time::{Duration, Instant};

use vodflow_core::net_guard;
use vodflow_core::source_writer::{SourceWriteError, SourceWriter};
use vodflow_core::workflow_types::{ImportSource, ImportedSource};

use crate::Deps;
use crate::error::{Error, Result};

const MAX_REDIRECTS: usize = 5;
/// Resumptions of one attempt's download after the connection dropped.
const MAX_RESUMES: usize = 5;
/// A server that sends nothing for this long is treated as a dropped connection.
const IDLE: Duration = Duration::from_secs(60);

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
    loop {
        let next = tokio::time::timeout(IDLE, resp.chunk()).await;
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
            Err(_) => return Err(Error::Import("the source sent nothing for a minute".into())),
        };
        let Some(chunk) = chunk else {
            break;
        };
        // Dropped on an error, the writer aborts what it stored.
        writer.push(&chunk).await.map_err(refused)?;
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
