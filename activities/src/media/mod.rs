//! Everything FFmpeg: probing (ffprobe), the encode, audio and poster command lines, each run as a
//! contained child process, reading fragmented MP4 and writing HLS playlists; and the activities
//! of the `video-processing` queue that run them (probe, poster, storyboard, downloads). The
//! encodes themselves are the `transcode` queue's ([`transcode`]).
#![allow(unreachable_pub)] // the activity macros generate public marker modules

use std::sync::Arc;

use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use vodflow_core::layout;
use vodflow_workflows::contract;
use vodflow_workflows::types::*;

use crate::Deps;
use crate::error::Error;
use crate::heartbeat::{heartbeat_every, silent, source_file};
use contain::Containment;
use source::SourceMedia;
use vodflow_core::caching::Caching;

pub mod audio;
pub mod audio_parts;
pub(crate) mod downloads;
pub mod encode;
pub mod ffmpeg_cli;
pub mod fmp4;
pub mod package;
pub mod poster;
pub mod probe;
pub mod source;
pub mod storyboard;
pub(crate) mod transcode;

pub use vodflow_core::contain;

/// CPU and wall-clock budget of a probe or a poster: a few frames' work, with room for 8K.
const PROBE_SECONDS: u64 = 120;

/// The media activities of the `video-processing` queue: each reads the source or a rendition and
/// runs one contained FFmpeg child.
pub struct MediaActivities(pub Arc<Deps>);

#[activities]
impl MediaActivities {
    #[activity(definition = contract::def::media::ProbeSource)]
    pub async fn probe_source(
        self: Arc<Self>,
        ctx: ActivityContext,
        src: SourceRef,
    ) -> Result<SourceInfo, ActivityError> {
        async move {
            crate::heartbeat::count_attempt(&self.0, &ctx);
            let held = source_file(&self.0, &ctx, &src).await?;
            let path = held.path.clone();
            let media = SourceMedia::open(held).await?;
            let cfg = &self.0.cfg;
            let contain = Containment::fixed(&cfg.ffmpeg, PROBE_SECONDS);
            // The digest is hashed next to the probe, on the copy both read.
            let (digest, info) = tokio::join!(
                crate::source::digest::record_if_missing(&self.0, &ctx, &src, &path),
                probe::probe(&media, src.size, &cfg.media_limits, &contain)
            );
            let info = info?;
            digest?;
            tracing::info!(video_id = %src.video_id, ?info, "probed");
            Ok(info)
        }
        .await
        .map_err(Error::into_activity)
    }

    #[activity(definition = contract::def::media::CreatePoster)]
    pub async fn create_poster(
        self: Arc<Self>,
        ctx: ActivityContext,
        job: CreatePoster,
    ) -> Result<String, ActivityError> {
        async move {
            crate::heartbeat::count_attempt(&self.0, &ctx);
            let src = SourceMedia::open(source_file(&self.0, &ctx, &job.source).await?).await?;
            let scratch = self.0.storage.scratch("poster")?;
            let out = scratch.join("poster.jpg");
            let contain = Containment::fixed(&self.0.cfg.ffmpeg, PROBE_SECONDS);
            // A seek into a stream without an index (MPEG-TS) lands between keyframes and can
            // decode nothing before the end of a long GOP: then the first frame is the poster.
            for at_ms in [job.info.duration_ms / 10, 0] {
                scratch
                    .guard(ffmpeg_cli::run(
                        "poster",
                        &poster::poster_args(&src, at_ms, &job.info.normalize_filters(), &out),
                        &contain,
                        heartbeat_every(&ctx),
                        silent,
                        || ctx.is_cancelled(),
                    ))
                    .await?;
                if tokio::fs::metadata(&out).await.is_ok_and(|m| m.len() > 0) {
                    break;
                }
            }
            if !tokio::fs::metadata(&out).await.is_ok_and(|m| m.len() > 0) {
                return Err(Error::InvalidMedia(
                    "no frame of the video could be decoded for the poster".into(),
                ));
            }
            let key = layout::poster_key(job.source.video_id, job.generation);
            self.0
                .storage
                .put_file(
                    &job.source.bucket,
                    &key,
                    &out,
                    "image/jpeg",
                    Caching::Mutable,
                )
                .await?;
            Ok(key)
        }
        .await
        .map_err(Error::into_activity)
    }

    #[activity(definition = contract::def::media::CreateStoryboard)]
    pub async fn create_storyboard(
        self: Arc<Self>,
        ctx: ActivityContext,
        job: CreateStoryboard,
    ) -> Result<StoryboardMade, ActivityError> {
        async move {
            crate::heartbeat::count_attempt(&self.0, &ctx);
            let made = storyboard_made(&self.0, &ctx, &job).await?;
            vodflow_core::repo::set_storyboard(&self.0.pool, job.video_id, job.generation).await?;
            tracing::info!(video_id = %job.video_id, ?made, "storyboard made");
            Ok(made)
        }
        .await
        .map_err(Error::into_activity)
    }

    #[activity(definition = contract::def::media::CreateDownloads)]
    pub async fn create_downloads(
        self: Arc<Self>,
        ctx: ActivityContext,
        job: CreateDownloads,
    ) -> Result<Vec<vodflow_core::downloads::Download>, ActivityError> {
        async move {
            crate::heartbeat::count_attempt(&self.0, &ctx);
            let made = downloads::make(&self.0, &ctx, &job).await?;
            tracing::info!(video_id = %job.video_id, count = made.len(), "downloads made");
            Ok(made)
        }
        .await
        .map_err(Error::into_activity)
    }
}

/// Reads the chosen rendition back into one file, decodes it into sheets and stores them with the
/// WebVTT that points into them (the WebVTT last: once it exists, every sheet it names does).
pub(crate) async fn storyboard_made(
    deps: &crate::Deps,
    ctx: &ActivityContext,
    job: &CreateStoryboard,
) -> crate::error::Result<StoryboardMade> {
    use vodflow_core::storyboard::{Plan, TILE_BOX};
    let rung = storyboard::source_rendition(&job.renditions, 2 * TILE_BOX)
        .ok_or_else(|| Error::InvalidMedia("no rendition to make a storyboard from".into()))?;
    let plan = Plan::new(job.duration_ms, rung.width, rung.height);
    let scratch = deps.storage.scratch("storyboard")?;
    let input = scratch.join("rendition.mp4");
    let segment_ms = u64::from(vodflow_core::ladder::SEGMENT_SECONDS) * 1000;
    let needed = plan.segments_needed(segment_ms);
    scratch
        .guard(crate::heartbeat::heartbeating(
            ctx,
            "gather",
            deps.storage.concat_rendition(
                &job.bucket,
                job.video_id,
                job.generation,
                &rung.name,
                needed.as_ref(),
                &input,
            ),
        ))
        .await?;
    let sheets = scratch.join("sheets");
    tokio::fs::create_dir_all(&sheets).await?;
    let contain = Containment::for_media(&deps.cfg.ffmpeg, job.duration_ms as f64 / 1000.0);
    scratch
        .guard(ffmpeg_cli::run(
            "storyboard",
            &storyboard::storyboard_args(&input, &plan, &sheets),
            &contain,
            heartbeat_every(ctx),
            silent,
            || ctx.is_cancelled(),
        ))
        .await?;
    for n in 0..plan.sheets() {
        let file = sheets.join(vodflow_core::storyboard::sheet_name(n));
        if !tokio::fs::metadata(&file).await.is_ok_and(|m| m.len() > 0) {
            return Err(Error::EncodeUnusable(format!(
                "the storyboard has no sheet {n} of {}",
                plan.sheets()
            )));
        }
        let key = layout::storyboard_sheet_key(job.video_id, job.generation, n);
        deps.storage
            .put_file(&job.bucket, &key, &file, "image/jpeg", Caching::Immutable)
            .await?;
    }
    let vtt = plan.webvtt(vodflow_core::storyboard::sheet_name);
    let vtt_key = layout::storyboard_vtt_key(job.video_id, job.generation);
    deps.storage
        .put_bytes(
            &job.bucket,
            &vtt_key,
            vtt.into_bytes(),
            "text/vtt; charset=utf-8",
            Caching::Mutable,
        )
        .await?;
    Ok(StoryboardMade {
        vtt_key,
        tiles: plan.tiles,
        sheets: plan.sheets(),
        rendition: rung.name.clone(),
    })
}
