//! `thumbnail.{jpg,png,webp}` and `animated.{webp,gif}`: made on the first request from the
//! published segments of the shown generation (the smallest rendition that needs no upscaling,
//! only the segments that hold the asked-for time), by a contained ffmpeg child, and stored beside
//! the poster under a name made of the normalised parameters; every later request is a store read.
//! Making is bounded: `VODFLOW_MAX_CONCURRENT_IMAGES` children per process, one per image at a
//! time (concurrent requests for the same image wait for the first and read its copy).

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use poem::Response;
use vodflow_core::contain::{self, Containment};
use vodflow_core::images::{self, Animated, Bounds, Still};
use vodflow_core::work_dir::Gate;
use vodflow_core::{layout, repo};

use super::object::{self, Conditional};
use super::path::{Image, PlayPath};
use super::recent_images;
use crate::problem::ApiError;
use crate::state::AppState;

/// CPU seconds (and wall seconds) a still's child may use; an animation's.
const STILL_SECONDS: u64 = 10;
const ANIMATED_SECONDS: u64 = 60;
/// How long a request waits for a free slot before it is told to come back.
const SLOT_WAIT: Duration = Duration::from_secs(2);
/// Largest image a child may write (a 1920×1920 PNG of noise is ~11 MiB).
const MAX_IMAGE_BYTES: u64 = 24 << 20;

/// The children one process runs at once, and the images being made right now.
pub(crate) struct ImageMaker {
    slots: tokio::sync::Semaphore,
    making: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Images made or read lately, answered without the store.
    recent: recent_images::RecentImages,
}

impl ImageMaker {
    pub(crate) fn new(slots: usize) -> Self {
        Self {
            slots: tokio::sync::Semaphore::new(slots.max(1)),
            making: Mutex::new(HashMap::new()),
            recent: recent_images::RecentImages::default(),
        }
    }

    /// The lock of one image's making, shared by every request for it.
    fn lock_of(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut making = self.making.lock().unwrap_or_else(|p| p.into_inner());
        making.retain(|_, l| Arc::strong_count(l) > 1);
        making.entry(key.to_owned()).or_default().clone()
    }
}

/// What one request asks for, normalised.
enum Request {
    Still(Still),
    Animated(Animated),
}

impl Request {
    fn file_name(&self) -> String {
        match self {
            Self::Still(s) => s.file_name(),
            Self::Animated(a) => a.file_name(),
        }
    }

    fn content_type(&self) -> &'static str {
        match self {
            Self::Still(s) => s.format.content_type(),
            Self::Animated(a) => a.format.content_type(),
        }
    }

    /// The span of the timeline read, in ms.
    fn span_ms(&self) -> (u64, u64) {
        match self {
            Self::Still(s) => (images::ms_of(s.tick), images::ms_of(s.tick)),
            Self::Animated(a) => (images::ms_of(a.start_tick), images::ms_of(a.end_tick)),
        }
    }

    fn needs(&self, aspect: (u32, u32)) -> (u32, u32) {
        match self {
            Self::Still(s) => s.needs(aspect),
            Self::Animated(a) => (
                a.width,
                (a.width as u64 * aspect.1 as u64 / aspect.0.max(1) as u64) as u32,
            ),
        }
    }
}

pub(super) struct Asked<'a> {
    pub(super) image: Image,
    pub(super) query: &'a str,
    pub(super) cond: &'a Conditional,
    pub(super) max_age_cap: Option<u64>,
    pub(super) head: bool,
}

/// `Ok(None)` when there is nothing to make it from (no published generation, not encoded that
/// far yet).
pub(super) async fn serve(
    state: &AppState,
    video: &repo::VideoRow,
    asked: Asked<'_>,
) -> Result<Option<Response>, ApiError> {
    let (Some(generation), Some(duration_ms)) = (
        crate::videos::shown_generation(video),
        video.duration_ms.and_then(|d| u64::try_from(d).ok()),
    ) else {
        return Ok(None);
    };
    let bounds = Bounds {
        duration_ms,
        poster_ms: duration_ms / 10,
        width: video
            .width
            .and_then(|w| u32::try_from(w).ok())
            .unwrap_or(1280),
    };
    let bad = |e: images::BadRequest| ApiError::BadRequest(e.0);
    let request = match asked.image {
        Image::Still(f) => Request::Still(Still::parse(asked.query, f, &bounds).map_err(bad)?),
        Image::Animated(f) => {
            Request::Animated(Animated::parse(asked.query, f, &bounds).map_err(bad)?)
        }
    };
    let id = video.video_id();
    let stored = PlayPath {
        signature: None,
        key: layout::image_key(id, generation, &request.file_name()),
        content_type: request.content_type(),
        immutable: false,
        generated: None,
        download: None,
    };
    let cache_control = object::cache_control(false, asked.max_age_cap);
    // A request for the whole image is answered from memory when it can be; a range, from the
    // store, which answers ranges.
    let whole = !asked.cond.has_range();
    let respond = |img: &recent_images::Image| img.respond(asked.cond, &cache_control, asked.head);
    let read = || async {
        if whole {
            if let Some(img) = state.images.recent.get(&stored.key) {
                return Ok(Some(respond(&img)));
            }
            match object::read_whole(state, &stored.key, recent_images::MAX_KEPT_IMAGE).await? {
                object::Whole::Missing => return Ok(None),
                object::Whole::Read {
                    bytes,
                    etag,
                    last_modified,
                } => {
                    let img = recent_images::Image {
                        bytes,
                        content_type: stored.content_type,
                        etag,
                        last_modified,
                    };
                    return Ok(Some(respond(&state.images.recent.keep(&stored.key, img))));
                }
                // Too large to keep in memory: streamed from the store.
                object::Whole::TooLarge => {}
            }
        }
        object::fetch(state, &stored, asked.cond, asked.max_age_cap, asked.head).await
    };
    if let Some(resp) = read().await? {
        return Ok(Some(resp));
    }
    let lock = state.images.lock_of(&stored.key);
    let _making = lock.lock().await;
    // Made by the request this one waited for.
    if let Some(resp) = read().await? {
        return Ok(Some(resp));
    }
    let _slot = tokio::time::timeout(SLOT_WAIT, state.images.slots.acquire())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| ApiError::TooManyRequests {
            detail: "every image maker is busy; try again in a second".into(),
            retry_after: 1,
        })?;
    let started = std::time::Instant::now();
    let Some(made) = make(state, video, &request, &stored.key).await? else {
        return Ok(None);
    };
    state
        .metrics
        .images_made
        .with_label_values(&[match request {
            Request::Still(_) => "thumbnail",
            Request::Animated(_) => "animated",
        }])
        .observe(started.elapsed().as_secs_f64());
    // Just made: answered from its bytes, not read back from the store.
    let made = state.images.recent.keep(&stored.key, made);
    if whole {
        return Ok(Some(respond(&made)));
    }
    read().await
}

/// Makes the image and stores it at `key`; `false` when the published segments do not reach it.
async fn make(
    state: &AppState,
    video: &repo::VideoRow,
    request: &Request,
    key: &str,
) -> Result<Option<recent_images::Image>, ApiError> {
    let id = video.video_id();
    // The master viewers play (a playable run's growing one, or the published one while a forced
    // re-encode runs): its variants name the playlists, and so the segments, of what is shown.
    let Some(master) = object::playlist_text(state, &layout::master_playlist_key(id)).await? else {
        return Ok(None);
    };
    let variants = images::read_master(&master);
    let Some(largest) = variants.iter().max_by_key(|v| v.width * v.height) else {
        return Ok(None);
    };
    let (need_w, need_h) = request.needs((largest.width, largest.height));
    let variant = variants
        .iter()
        .filter(|v| v.width >= need_w && v.height >= need_h)
        .min_by_key(|v| v.width * v.height)
        .unwrap_or(largest);
    // Resolved like a player's request, so only a playlist the origin would serve is read.
    let Some(playlist_key) = super::path::parse(id, &variant.uri)
        .filter(|p| p.content_type == "application/vnd.apple.mpegurl" && p.generated.is_none())
        .map(|p| p.key)
    else {
        return Ok(None);
    };
    let playlist = object::playlist_text(state, &playlist_key).await?;
    let Some((init, segments)) = playlist.as_deref().and_then(images::read_playlist) else {
        return Ok(None);
    };
    let (from_ms, to_ms) = request.span_ms();
    let Some((needed, offset_ms)) = images::covering(&segments, from_ms, to_ms) else {
        return Ok(None);
    };
    let dir_key = playlist_key.trim_end_matches("index.m3u8");
    let names = std::iter::once(init.as_str()).chain(needed.iter().map(|s| s.name.as_str()));
    let gate = Gate::new(&state.cfg.work_dir, state.cfg.work_dir_min_free_bytes);
    let work = gate.scratch("images", "image")?;
    let input = work.join("in.mp4");
    let mut keys = Vec::new();
    for name in names {
        // The packager writes plain names; anything else is not read.
        if name.contains('/') || name.contains("..") {
            return Err(ApiError::Internal(format!(
                "playlist {playlist_key} names {name}"
            )));
        }
        keys.push(format!("{dir_key}{name}"));
    }
    work.guard(concat_objects(state, &keys, &input)).await?;
    let out = work.join(format!("out.{}", request.file_name()));
    let (args, seconds) = match request {
        Request::Still(s) => (
            s.ffmpeg_args(&file_url(&input), offset_ms, &file_url(&out)),
            STILL_SECONDS,
        ),
        Request::Animated(a) => (
            a.ffmpeg_args(&file_url(&input), offset_ms, &file_url(&out)),
            ANIMATED_SECONDS,
        ),
    };
    work.guard(run_ffmpeg(state, &args, seconds)).await?;
    let bytes = tokio::fs::read(&out).await.map_err(internal)?;
    if bytes.is_empty() || bytes.len() as u64 > MAX_IMAGE_BYTES {
        return Err(ApiError::Internal(format!(
            "ffmpeg wrote {} bytes for {key}",
            bytes.len()
        )));
    }
    let bytes = bytes::Bytes::from(bytes);
    let put = state
        .s3
        .put_object()
        .bucket(&state.cfg.s3.bucket)
        .key(key)
        .content_type(request.content_type())
        .body(bytes.clone().into())
        .send()
        .await
        .map_err(|e| {
            ApiError::Unavailable(format!(
                "the object store did not take the image: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            ))
        })?;
    Ok(Some(recent_images::Image {
        bytes,
        content_type: request.content_type(),
        // The store's own tag, so a revalidation matches whichever replica answers it.
        etag: put.e_tag().map(str::to_owned),
        last_modified: aws_smithy_types::DateTime::from(std::time::SystemTime::now())
            .fmt(aws_smithy_types::date_time::Format::HttpDate)
            .ok(),
    }))
}

async fn run_ffmpeg(state: &AppState, args: &[String], seconds: u64) -> Result<(), ApiError> {
    let contain = Containment {
        threads: 1,
        ..Containment::fixed(&state.cfg.ffmpeg, seconds)
    };
    let mut child = contain
        .command("ffmpeg")
        .args([
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-threads",
            "1",
            "-filter_threads",
            "1",
        ])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ApiError::Internal(format!("cannot start ffmpeg: {e}")))?;
    let stderr = child.stderr.take();
    let errors = tokio::spawn(async move {
        match stderr {
            Some(s) => contain::keep_tail(s, contain::STDERR_KEPT).await,
            None => String::new(),
        }
    });
    let status = match tokio::time::timeout(contain.wall, child.wait()).await {
        Ok(status) => status.map_err(internal)?,
        Err(_) => {
            let _ = child.kill().await;
            return Err(ApiError::Unavailable(
                contain.timed_out("the image").to_string(),
            ));
        }
    };
    if !status.success() {
        let stderr = errors.await.unwrap_or_default();
        return Err(ApiError::Internal(
            contain.classify("the image", status, &stderr).to_string(),
        ));
    }
    Ok(())
}

/// Streams one object onto the end of `file`.
/// The objects at `keys`, one after another, into the file at `path`. The requests go out at
/// once (an image needs the init segment and one or two media segments: a first request's
/// latency is mostly these round trips); the bodies are written in order.
async fn concat_objects(state: &AppState, keys: &[String], path: &Path) -> Result<(), ApiError> {
    let gets = keys.iter().map(|key| {
        state
            .s3
            .get_object()
            .bucket(&state.cfg.s3.bucket)
            .key(key)
            .send()
    });
    let objects = futures::future::try_join_all(gets)
        .await
        .map_err(|e| object::store_error(&e))?;
    let mut file = tokio::fs::File::create(path).await.map_err(internal)?;
    for out in objects {
        let mut body = out.body.into_async_read();
        tokio::io::copy(&mut body, &mut file)
            .await
            .map_err(internal)?;
    }
    Ok(())
}

fn internal(e: std::io::Error) -> ApiError {
    ApiError::Internal(format!("making an image: {e}"))
}

fn file_url(path: &Path) -> String {
    format!("file:{}", path.display())
}
