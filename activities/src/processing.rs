//! The activities of the `video-processing` queue: light work next to the workflows (probe,
//! package, poster, metadata, CDN, notifications, webhook deliveries).

#![allow(unreachable_pub)] // the activity macros generate public marker modules

use std::sync::Arc;

use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use vodflow_core::layout;
use vodflow_core::workflow_types::*;
use vodflow_workflows::contract as names;

use crate::error::Error;
use crate::heartbeat::{heartbeat_every, silent, source_file};
use crate::media::contain::Containment;
use crate::media::source::SourceMedia;
use crate::media::{ffmpeg_cli, package, poster, probe, storyboard};

/// CPU and wall-clock budget of a probe or a poster: a few frames' work, with room for 8K.
const PROBE_SECONDS: u64 = 120;
use crate::storage::{CACHE_PLAYLIST, CACHE_PLAYLIST_GROWING};
use crate::{Deps, attempt_deadline, catalog, deletion, notify, reconcile, webhook};

/// Activities of the `video-processing` queue.
pub struct ProcessingActivities(pub Arc<Deps>);

#[activities]
impl ProcessingActivities {
    #[activity(name = names::PROBE_SOURCE)]
    pub async fn probe_source(
        self: Arc<Self>,
        ctx: ActivityContext,
        src: SourceRef,
    ) -> Result<SourceInfo, ActivityError> {
        async move {
            crate::heartbeat::count_attempt(&self.0, &ctx, names::PROBE_SOURCE);
            let held = source_file(&self.0, &ctx, &src).await?;
            let path = held.path.clone();
            let media = SourceMedia::open(held).await?;
            let cfg = &self.0.cfg;
            let contain = Containment::fixed(&cfg.ffmpeg, PROBE_SECONDS);
            // The digest is hashed next to the probe, on the copy both read.
            let (digest, info) = tokio::join!(
                crate::source_digest::record_if_missing(&self.0, &ctx, &src, &path),
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

    #[activity(name = names::PACKAGE)]
    pub async fn package(
        self: Arc<Self>,
        ctx: ActivityContext,
        job: Package,
    ) -> Result<Packaged, ActivityError> {
        async move {
            let mut job = job;
            // A growing package's attempt that outlived its timeout must not write: the final
            // package may have replaced its playlists already. (A final package's late attempt
            // writes what the final one wrote.)
            let deadline = if job.growing {
                ctx.info().deadline
            } else {
                None
            };
            if job.chunks.is_empty() && job.chunk_count > 0 {
                job.chunks = chunk_manifests(&self.0.storage, &job).await?;
            }
            if let Some(audio) = job.audio.as_mut()
                && audio.segments.is_empty()
            {
                let key = layout::audio_manifest_key(job.video_id, job.generation);
                let bytes = self
                    .0
                    .storage
                    .get_bytes(&job.bucket, &key)
                    .await?
                    .ok_or_else(|| {
                        Error::Package(format!("the audio has no segment list ({key})"))
                    })?;
                audio.segments = serde_json::from_slice(&bytes)?;
            }
            // Every further audio track's list, from the store alike.
            if let Some(audio) = job.audio.as_mut() {
                for t in audio.tracks.iter_mut().filter(|t| t.track.index > 0 && t.segments.is_empty()) {
                    let key = layout::audio_track_manifest_key(job.video_id, job.generation, &t.track.rendition());
                    let bytes = self.0.storage.get_bytes(&job.bucket, &key).await?.ok_or_else(|| {
                        Error::Package(format!("audio track {} has no segment list ({key})", t.track.index))
                    })?;
                    t.segments = serde_json::from_slice(&bytes)?;
                }
            }
            let lists = package::build(&job).map_err(Error::Package)?;
            // A growing package writes under the playlist lock, and not at all once the run has
            // ended without a video: the ending withdraws what was written before it.
            let _writing = if job.growing {
                match crate::withdraw::growing_writer(&self.0.pool, job.video_id).await? {
                    Some(lock) => Some(lock),
                    None => {
                        tracing::info!(video_id = %job.video_id, "run ended: growing playlists not written");
                        return Ok(Packaged {
                            master_key: layout::master_playlist_key(job.video_id),
                            renditions: lists.renditions,
                        });
                    }
                }
            } else {
                None
            };
            let store = &self.0.storage;
            let cache = if job.growing {
                CACHE_PLAYLIST_GROWING
            } else {
                CACHE_PLAYLIST
            };
            for (name, text) in &lists.media {
                let key = layout::playlist_key(job.video_id, job.generation, name);
                let put = store.put_bytes(
                    &job.bucket,
                    &key,
                    text.clone().into_bytes(),
                    "application/vnd.apple.mpegurl",
                    cache,
                );
                attempt_deadline::before(deadline, &key, put).await?;
            }
            // The DASH manifest names the same segments: written before the master, recorded
            // after it, so it is listed only once what it names is published.
            if let Some(mpd) = &lists.dash {
                let key = layout::dash_manifest_key(job.video_id);
                store
                    .put_bytes(
                        &job.bucket,
                        &key,
                        mpd.clone().into_bytes(),
                        vodflow_core::dash::CONTENT_TYPE,
                        cache,
                    )
                    .await?;
            }
            // The master goes last: once it exists, everything it names exists.
            let master_key = layout::master_playlist_key(job.video_id);
            let put = store.put_bytes(
                &job.bucket,
                &master_key,
                lists.master.into_bytes(),
                "application/vnd.apple.mpegurl",
                cache,
            );
            attempt_deadline::before(deadline, &master_key, put).await?;
            if lists.dash.is_some() {
                vodflow_core::repo::set_dash(&self.0.pool, job.video_id, job.generation).await?;
            }
            Ok(Packaged {
                master_key,
                renditions: lists.renditions,
            })
        }
        .await
        .map_err(Error::into_activity)
    }

    #[activity(name = names::CREATE_POSTER)]
    pub async fn create_poster(
        self: Arc<Self>,
        ctx: ActivityContext,
        job: CreatePoster,
    ) -> Result<String, ActivityError> {
        async move {
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
                .put_file(&job.source.bucket, &key, &out, "image/jpeg", CACHE_PLAYLIST)
                .await?;
            Ok(key)
        }
        .await
        .map_err(Error::into_activity)
    }

    #[activity(name = names::CREATE_STORYBOARD)]
    pub async fn create_storyboard(
        self: Arc<Self>,
        ctx: ActivityContext,
        job: CreateStoryboard,
    ) -> Result<StoryboardMade, ActivityError> {
        async move {
            let made = storyboard_made(&self.0, &ctx, &job).await?;
            vodflow_core::repo::set_storyboard(&self.0.pool, job.video_id, job.generation).await?;
            tracing::info!(video_id = %job.video_id, ?made, "storyboard made");
            Ok(made)
        }
        .await
        .map_err(Error::into_activity)
    }

    #[activity(name = names::CREATE_DOWNLOADS)]
    pub async fn create_downloads(
        self: Arc<Self>,
        ctx: ActivityContext,
        job: CreateDownloads,
    ) -> Result<Vec<vodflow_core::downloads::Download>, ActivityError> {
        async move {
            crate::heartbeat::count_attempt(&self.0, &ctx, names::CREATE_DOWNLOADS);
            let made = crate::downloads::make(&self.0, &ctx, &job).await?;
            tracing::info!(video_id = %job.video_id, count = made.len(), "downloads made");
            Ok(made)
        }
        .await
        .map_err(Error::into_activity)
    }

    #[activity(name = names::BACKFILL_PAGE)]
    pub async fn backfill_page(
        self: Arc<Self>,
        _ctx: ActivityContext,
        page: vodflow_core::backfill::Page,
    ) -> Result<Vec<vodflow_core::backfill::After>, ActivityError> {
        crate::backfill::page(&self.0, &page)
            .await
            .map_err(Error::into_activity)
    }

    #[activity(name = names::BACKFILL_VIDEO)]
    pub async fn backfill_video(
        self: Arc<Self>,
        ctx: ActivityContext,
        job: vodflow_core::backfill::VideoJob,
    ) -> Result<vodflow_core::backfill::Outcome, ActivityError> {
        async move {
            let outcome = crate::backfill::video(&self.0, &ctx, &job).await?;
            tracing::info!(video_id = %job.video_id, ?outcome, "backfilled");
            Ok(outcome)
        }
        .await
        .map_err(Error::into_activity)
    }

    #[activity(name = names::UPDATE_METADATA)]
    pub async fn update_metadata(
        self: Arc<Self>,
        _ctx: ActivityContext,
        u: UpdateMetadata,
    ) -> Result<(), ActivityError> {
        async move {
            catalog::apply(&self.0, &u).await?;
            let finished = match &u.update {
                MetadataUpdate::Processing { .. } | MetadataUpdate::Playable { .. } => None,
                MetadataUpdate::Failed { step, .. } => Some(("failed", step.as_str())),
                MetadataUpdate::Cancelled => Some(("cancelled", "cancelled")),
                MetadataUpdate::Ready { .. } => Some(("ready", "done")),
            };
            if let Some((status, step)) = finished {
                self.0
                    .metrics
                    .videos_finished
                    .with_label_values(&[status, step])
                    .inc();
            }
            // The run is over for this source here: this worker's copy is no longer needed
            // (transcode workers' copies age out of their cache budget).
            if !matches!(
                u.update,
                MetadataUpdate::Processing { .. } | MetadataUpdate::Playable { .. }
            ) {
                self.0.storage.sources.remove(u.video_id).await;
            }
            Ok(())
        }
        .await
        .map_err(Error::into_activity)
    }

    #[activity(name = names::INVALIDATE_CDN)]
    pub async fn invalidate_cdn(
        self: Arc<Self>,
        _ctx: ActivityContext,
        job: InvalidateCdn,
    ) -> Result<String, ActivityError> {
        async move {
            let outcome = vodflow_core::cdn::invalidate(&self.0.cfg, job.video_id)
                .await
                .map_err(|e| Error::Cdn(e.to_string()))?;
            tracing::info!(video_id = %job.video_id, %outcome, "cdn");
            Ok(outcome)
        }
        .await
        .map_err(Error::into_activity)
    }

    #[activity(name = names::NOTIFY)]
    pub async fn notify(
        self: Arc<Self>,
        _ctx: ActivityContext,
        n: Notify,
    ) -> Result<(), ActivityError> {
        async move { notify::video_processed(&self.0, &n).await }
            .await
            .map_err(Error::into_activity)
    }

    #[activity(name = names::DELIVER_WEBHOOK)]
    pub async fn deliver_webhook(
        self: Arc<Self>,
        _ctx: ActivityContext,
        job: DeliverWebhook,
    ) -> Result<WebhookOutcome, ActivityError> {
        let result = webhook::deliver(&self.0.cfg, &self.0.pool, &job).await;
        let outcome = match &result {
            Ok(_) => "succeeded",
            Err(Error::WebhookRefused(_)) => "refused",
            Err(_) => "failed",
        };
        self.0
            .metrics
            .webhook_deliveries
            .with_label_values(&[outcome])
            .inc();
        result.map_err(Error::into_activity)
    }

    #[activity(name = names::FINISH_WEBHOOK)]
    pub async fn finish_webhook(
        self: Arc<Self>,
        _ctx: ActivityContext,
        outcome: WebhookOutcome,
    ) -> Result<(), ActivityError> {
        vodflow_core::webhooks::set_status(
            &self.0.pool,
            outcome.delivery_id,
            outcome.status.as_str(),
        )
        .await
        .map_err(|e| Error::from(e).into_activity())
    }

    #[activity(name = names::STOP_PROCESSING)]
    pub async fn stop_processing(
        self: Arc<Self>,
        _ctx: ActivityContext,
        job: DeleteVideo,
    ) -> Result<bool, ActivityError> {
        deletion::stop_processing(&self.0.temporal, &job)
            .await
            .map_err(Error::into_activity)
    }

    #[activity(name = names::REMOVE_OBJECTS)]
    pub async fn remove_objects(
        self: Arc<Self>,
        _ctx: ActivityContext,
        job: DeleteVideo,
    ) -> Result<VideoRemoved, ActivityError> {
        self.0.storage.sources.remove(job.video_id).await;
        deletion::remove_objects(&self.0.storage.s3, &job)
            .await
            .map_err(Error::into_activity)
    }

    #[activity(name = names::ANNOUNCE_DELETED)]
    pub async fn announce_deleted(
        self: Arc<Self>,
        _ctx: ActivityContext,
        job: DeleteVideo,
    ) -> Result<u32, ActivityError> {
        deletion::announce_deleted(&self.0, &job)
            .await
            .map_err(Error::into_activity)
    }

    #[activity(name = names::RECONCILE)]
    pub async fn reconcile(
        self: Arc<Self>,
        _ctx: ActivityContext,
        job: Reconcile,
    ) -> Result<Reconciled, ActivityError> {
        let d = &self.0;
        reconcile::pass(&d.cfg, &d.pool, &d.temporal, &d.storage.s3, &job)
            .await
            .map_err(Error::into_activity)
    }
}

/// Every chunk's manifest, read from the store (a few at a time), in chunk order.
async fn chunk_manifests(
    store: &crate::storage::Storage,
    job: &Package,
) -> Result<Vec<ChunkEncoded>, Error> {
    use futures::{StreamExt, TryStreamExt};
    let mut chunks: Vec<ChunkEncoded> = futures::stream::iter(0..job.chunk_count)
        .map(|index| async move {
            let key = layout::chunk_manifest_key(job.video_id, job.generation, index);
            let bytes = store
                .get_bytes(&job.bucket, &key)
                .await?
                .ok_or_else(|| Error::Package(format!("chunk {index} has no manifest ({key})")))?;
            Ok::<_, Error>(serde_json::from_slice::<ChunkEncoded>(&bytes)?)
        })
        .buffer_unordered(16)
        .try_collect()
        .await?;
    chunks.sort_by_key(|c| c.index);
    Ok(chunks)
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
    scratch
        .guard(crate::heartbeat::heartbeating(
            ctx,
            "gather",
            deps.storage.concat_rendition(
                &job.bucket,
                job.video_id,
                job.generation,
                &rung.name,
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
            .put_file(
                &job.bucket,
                &key,
                &file,
                "image/jpeg",
                crate::storage::CACHE_IMMUTABLE,
            )
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
            CACHE_PLAYLIST,
        )
        .await?;
    Ok(StoryboardMade {
        vtt_key,
        tiles: plan.tiles,
        sheets: plan.sheets(),
        rendition: rung.name.clone(),
    })
}
