//! vodflow-activities: every side effect of processing a video — reading the source from S3,
//! probing and encoding with FFmpeg, publishing renditions, Postgres metadata, CDN invalidation and
//! notifications — implemented under the names of the workflow's activity contract.
//!
//! It must not orchestrate: ordering, parallelism and retries belong to the workflow.

#![allow(unreachable_pub)] // the activity macros generate public marker modules

mod catalog;
pub mod error;
pub mod mail;
pub mod media;
pub mod notify;
pub mod storage;
mod webhook;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use rdkafka::producer::FutureProducer;
use serde::Serialize;
use sqlx::PgPool;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use vodflow_core::workflow_types::*;
use vodflow_core::{Config, layout};
use vodflow_workflows::contract as names;

use crate::error::Error;
use crate::media::{audio, encode, ffmpeg_cli, fmp4, package, poster, probe};
use crate::storage::{CACHE_IMMUTABLE, CACHE_PLAYLIST, Storage};

/// How often long activities report progress: well inside the heartbeat timeout the workflow set.
fn heartbeat_every(ctx: &ActivityContext) -> Duration {
    let timeout = ctx
        .info()
        .heartbeat_timeout
        .unwrap_or(Duration::from_secs(60));
    (timeout / 4).clamp(Duration::from_millis(250), Duration::from_secs(5))
}

/// What the activities share: configuration and clients, built once per worker.
pub struct Deps {
    pub cfg: Arc<Config>,
    pub pool: PgPool,
    pub storage: Storage,
    pub producer: FutureProducer,
    /// Starts webhook delivery workflows when a video's processing ends.
    pub temporal: temporalio_client::Client,
}

impl Deps {
    pub async fn new(cfg: Config, temporal: temporalio_client::Client) -> Result<Arc<Self>, Error> {
        let pool = vodflow_core::repo::connect_lazy(&cfg)?;
        let storage = Storage {
            s3: vodflow_core::storage::s3_client(&cfg.s3),
            work_dir: cfg.work_dir.clone().into(),
        };
        let producer = notify::producer(&cfg)?;
        Ok(Arc::new(Self {
            cfg: Arc::new(cfg),
            pool,
            storage,
            producer,
            temporal,
        }))
    }
}

#[derive(Serialize)]
struct EncodeHeartbeat {
    step: &'static str,
    out_time_s: f64,
    percent: f64,
}

async fn beat(ctx: &ActivityContext, step: &'static str, out_time_s: f64, percent: f64) {
    let _ = ctx
        .record_heartbeat(serde_json::json!(EncodeHeartbeat {
            step,
            out_time_s,
            percent
        }))
        .await;
}

/// A progress callback that heartbeats `percent(value)`; owns its context so the future is `'static`.
fn beater(
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

fn silent(_: f64) -> BoxFuture<'static, ()> {
    Box::pin(async {})
}

async fn source_file(
    deps: &Deps,
    ctx: &ActivityContext,
    src: &SourceRef,
) -> Result<std::path::PathBuf, Error> {
    let size = src.size.max(1) as f64;
    let mut progress = beater(ctx, "download", move |done| done * 100.0 / size);
    deps.storage
        .source_file(src, move |done| progress(done as f64))
        .await
}

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
            let path = source_file(&self.0, &ctx, &src).await?;
            let info = tokio::task::spawn_blocking(move || probe::probe(&path))
                .await
                .map_err(|e| Error::Ffmpeg(e.to_string()))??;
            tracing::info!(video_id = %src.video_id, ?info, "probed");
            Ok(info)
        }
        .await
        .map_err(Error::into_activity)
    }

    #[activity(name = names::PACKAGE)]
    pub async fn package(
        self: Arc<Self>,
        _ctx: ActivityContext,
        job: Package,
    ) -> Result<Packaged, ActivityError> {
        async move {
            let lists = package::build(&job).map_err(Error::Ffmpeg)?;
            let store = &self.0.storage;
            for (name, text) in &lists.media {
                let key = layout::playlist_key(job.video_id, name);
                store
                    .put_bytes(
                        &job.bucket,
                        &key,
                        text.clone().into_bytes(),
                        "application/vnd.apple.mpegurl",
                        CACHE_PLAYLIST,
                    )
                    .await?;
            }
            // The master goes last: once it exists, everything it names exists.
            let master_key = layout::master_playlist_key(job.video_id);
            store
                .put_bytes(
                    &job.bucket,
                    &master_key,
                    lists.master.into_bytes(),
                    "application/vnd.apple.mpegurl",
                    CACHE_PLAYLIST,
                )
                .await?;
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
            let src = source_file(&self.0, &ctx, &job.source).await?;
            let scratch = self.0.storage.scratch("poster")?;
            let out = scratch.0.join("poster.jpg");
            ffmpeg_cli::run(
                &poster::poster_args(&src, job.info.duration_ms, &out),
                heartbeat_every(&ctx),
                silent,
                || ctx.is_cancelled(),
            )
            .await?;
            let key = layout::poster_key(job.source.video_id);
            self.0
                .storage
                .put_file(&job.source.bucket, &key, &out, "image/jpeg", CACHE_PLAYLIST)
                .await?;
            Ok(key)
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
        async move { catalog::apply(&self.0.pool, &u).await }
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
        webhook::deliver(&self.0.cfg, &self.0.pool, &job)
            .await
            .map_err(Error::into_activity)
    }

    #[activity(name = names::FINISH_WEBHOOK)]
    pub async fn finish_webhook(
        self: Arc<Self>,
        _ctx: ActivityContext,
        outcome: WebhookOutcome,
    ) -> Result<(), ActivityError> {
        vodflow_core::webhooks::set_status(&self.0.pool, outcome.delivery_id, &outcome.status)
            .await
            .map_err(|e| Error::from(e).into_activity())
    }
}

/// Activities of the `transcode` queue.
pub struct TranscodeActivities(pub Arc<Deps>);

#[activities]
impl TranscodeActivities {
    #[activity(name = names::ENCODE_CHUNK)]
    pub async fn encode_chunk(
        self: Arc<Self>,
        ctx: ActivityContext,
        job: EncodeChunk,
    ) -> Result<ChunkEncoded, ActivityError> {
        async move {
            let store = &self.0.storage;
            let bucket = job.source.bucket.clone();
            let manifest_key = encode::chunk_manifest_key(&job);
            // A chunk finished by an earlier attempt or run is not encoded again.
            if let Some(bytes) = store.get_bytes(&bucket, &manifest_key).await?
                && let Ok(mut done) = serde_json::from_slice::<ChunkEncoded>(&bytes)
                && job.renditions.iter().all(|r| done.renditions.iter().any(|d| d.rendition == r.name))
            {
                tracing::info!(video_id = %job.source.video_id, chunk = job.chunk.index, "chunk already complete; reused");
                done.encoded = false;
                return Ok(done);
            }
            let src = source_file(&self.0, &ctx, &job.source).await?;
            let scratch = store.scratch(&format!("chunk-{}", job.chunk.index))?;
            let span_s = (job.chunk.end_ms - job.chunk.start_ms) as f64 / 1000.0;
            let start_s = job.chunk.start_ms as f64 / 1000.0;
            let args = encode::chunk_args(&job, &src, &scratch.0);
            ffmpeg_cli::run(
                &args,
                heartbeat_every(&ctx),
                beater(&ctx, "encode", move |t| ((t - start_s) / span_s * 100.0).clamp(0.0, 100.0)),
                || ctx.is_cancelled(),
            )
            .await?;
            beat(&ctx, "upload", start_s + span_s, 100.0).await;
            let mut renditions = Vec::new();
            for r in &job.renditions {
                beat(&ctx, "upload", start_s + span_s, 100.0).await;
                let data = tokio::fs::read(scratch.0.join(format!("{}.mp4", r.name))).await.map_err(Error::Io)?;
                let (init, segments, codecs) = encode::cut(&job, r, &data)?;
                if job.chunk.index == 0 {
                    store.put_bytes(&bucket, &layout::init_key(job.source.video_id, &r.name), init, "video/mp4", CACHE_IMMUTABLE).await?;
                }
                let mut infos = Vec::with_capacity(segments.len());
                for (number, bytes, info) in segments {
                    let key = layout::segment_key(job.source.video_id, &r.name, number);
                    store.put_bytes(&bucket, &key, bytes, "video/iso.segment", CACHE_IMMUTABLE).await?;
                    infos.push(info);
                }
                renditions.push(RenditionChunk { rendition: r.name.clone(), segments: infos, codecs });
            }
            let result = ChunkEncoded { index: job.chunk.index, renditions, encoded: true };
            let manifest = serde_json::to_vec(&result).map_err(|e| Error::Ffmpeg(e.to_string()))?;
            store.put_bytes(&bucket, &manifest_key, manifest, "application/json", "no-store").await?;
            Ok(result)
        }
        .await
        .map_err(Error::into_activity)
    }

    #[activity(name = names::ENCODE_AUDIO)]
    pub async fn encode_audio(
        self: Arc<Self>,
        ctx: ActivityContext,
        job: EncodeAudio,
    ) -> Result<Option<AudioEncoded>, ActivityError> {
        async move {
            if job.info.audio_codec.is_none() {
                return Ok(None);
            }
            let src = source_file(&self.0, &ctx, &job.source).await?;
            let scratch = self.0.storage.scratch("audio")?;
            let out = scratch.0.join("audio.mp4");
            let total = job.info.duration_ms.max(1) as f64 / 1000.0;
            ffmpeg_cli::run(
                &audio::audio_args(&src, &out),
                heartbeat_every(&ctx),
                beater(&ctx, "encode", move |t| {
                    (t / total * 100.0).clamp(0.0, 100.0)
                }),
                || ctx.is_cancelled(),
            )
            .await?;
            let data = tokio::fs::read(&out).await.map_err(Error::Io)?;
            let f = fmp4::split(&data)
                .map_err(|e| Error::Ffmpeg(format!("audio output unreadable: {e}")))?;
            let (id, bucket) = (job.source.video_id, &job.source.bucket);
            let store = &self.0.storage;
            store
                .put_bytes(
                    bucket,
                    &layout::init_key(id, "audio"),
                    data[..f.init_end].to_vec(),
                    "audio/mp4",
                    CACHE_IMMUTABLE,
                )
                .await?;
            let mut segments = Vec::with_capacity(f.segments.len());
            for (i, s) in f.segments.iter().enumerate() {
                let number = i as u32 + 1;
                let bytes = data[s.start..s.end].to_vec();
                segments.push(Segment {
                    number,
                    duration_s: s.duration as f64 / f64::from(f.timescale.max(1)),
                    bytes: bytes.len() as u64,
                });
                store
                    .put_bytes(
                        bucket,
                        &layout::segment_key(id, "audio", number),
                        bytes,
                        "audio/iso.segment",
                        CACHE_IMMUTABLE,
                    )
                    .await?;
            }
            Ok(Some(AudioEncoded {
                segments,
                codecs: f.codecs.unwrap_or_else(|| "mp4a.40.2".into()),
                bitrate_kbps: audio::AUDIO_KBPS,
            }))
        }
        .await
        .map_err(Error::into_activity)
    }
}
