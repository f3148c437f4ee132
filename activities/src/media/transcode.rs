//! The activities of the `transcode` queue: the CPU-heavy encodes, scaled on their own workers.

#![allow(unreachable_pub)] // the activity macros generate public marker modules

use std::sync::Arc;

use futures::StreamExt;

use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use vodflow_core::layout;
use vodflow_workflows::contract;
use vodflow_workflows::types::*;

use crate::Deps;
use crate::error::Error;
use crate::heartbeat::{beat, beater, heartbeat_every, heartbeating_progress, silent, source_file};
use crate::media::contain::Containment;
use crate::media::source::SourceMedia;
use crate::media::{audio, audio_parts, encode, ffmpeg_cli, fmp4};
use vodflow_core::caching::Caching;

/// Audio segments uploaded at once.
const AUDIO_UPLOADS_IN_FLIGHT: usize = 8;

/// Activities of the `transcode` queue.
pub struct TranscodeActivities(pub Arc<Deps>);

#[activities]
impl TranscodeActivities {
    #[activity(definition = contract::def::transcode::EncodeChunk)]
    pub async fn encode_chunk(
        self: Arc<Self>,
        ctx: ActivityContext,
        job: EncodeChunk,
    ) -> Result<ChunkEncoded, ActivityError> {
        async move {
            crate::heartbeat::count_attempt(&self.0, &ctx);
            let store = &self.0.storage;
            let bucket = job.source.bucket.clone();
            let manifest_key = encode::chunk_manifest_key(&job);
            let params = encode::params(&job);
            // A chunk finished by an earlier attempt or run is not encoded again, unless it was
            // encoded differently (another chunk length, ladder, rate or preset): stitching those
            // segments into this run's playlists would be wrong.
            if let Some(bytes) = store.get_bytes(&bucket, &manifest_key).await?
                && let Some(mut done) = reusable(&bytes, &params, &job)
            {
                tracing::info!(video_id = %job.source.video_id, chunk = job.chunk.index, "chunk already complete; reused");
                done.encoded = false;
                done.params.clear();
                return Ok(done);
            }
            if let Some(done) = copied_from_earlier(&self.0, &job, &params, &manifest_key).await? {
                return Ok(done);
            }
            let mut src = SourceMedia::open(source_file(&self.0, &ctx, &job.source).await?).await?;
            // Every chunk reads the same file (the copy), so all count time from the same start.
            if src.lacks_index() {
                src = seekable_copy(&self.0, &ctx, src, job.info.duration_ms as f64 / 1000.0).await?;
            }
            let scratch = store.scratch(&format!("chunk-{}", job.chunk.index))?;
            let span_s = (job.chunk.end_ms - job.chunk.start_ms) as f64 / 1000.0;
            let start_s = job.chunk.start_ms as f64 / 1000.0;
            let limits = &self.0.cfg.ffmpeg;
            let threads = encode::threads_for(&job, limits, self.0.cfg.max_concurrent_transcodes);
            let args = encode::chunk_args(&job, &src, scratch.path(), threads);
            let mut contain = Containment::for_media(limits, span_s);
            contain.threads = threads;
            let encode_started = std::time::Instant::now();
            scratch.guard(ffmpeg_cli::run(
                "encode",
                &args,
                &contain,
                heartbeat_every(&ctx),
                beater(&ctx, "encode", move |t| ((t - start_s) / span_s * 100.0).clamp(0.0, 100.0)),
                || ctx.is_cancelled(),
            ))
            .await?;
            // The capacity model's input: wall seconds per second of output, by the top rung.
            let rung = job.renditions.iter().max_by_key(|r| r.height).map_or("none", |r| r.name.as_str());
            let m = &self.0.metrics;
            m.encode_seconds.with_label_values(&[rung]).inc_by(encode_started.elapsed().as_secs_f64());
            m.encoded_media_seconds.with_label_values(&[rung]).inc_by(span_s);
            beat(&ctx, "upload", start_s + span_s, 100.0).await;
            let mut renditions = Vec::new();
            for r in &job.renditions {
                beat(&ctx, "upload", start_s + span_s, 100.0).await;
                let data = tokio::fs::read(scratch.join(format!("{}.mp4", r.name))).await.map_err(Error::Io)?;
                let (init, segments, codecs) = encode::cut(&job, r, &data)?;
                if job.chunk.index == 0 {
                    store.put_bytes(&bucket, &layout::init_key(job.source.video_id, job.generation, &r.name), init, "video/mp4", Caching::Immutable).await?;
                }
                let mut infos = Vec::with_capacity(segments.len());
                for (number, bytes, info) in segments {
                    let key = layout::segment_key(job.source.video_id, job.generation, &r.name, number);
                    store.put_bytes(&bucket, &key, bytes, "video/iso.segment", Caching::Immutable).await?;
                    infos.push(info);
                }
                renditions.push(RenditionChunk { rendition: r.name.clone(), segments: infos, codecs });
            }
            let mut result = ChunkEncoded { index: job.chunk.index, renditions, encoded: true, params };
            let manifest = serde_json::to_vec(&result)?;
            store.put_bytes(&bucket, &manifest_key, manifest, "application/json", Caching::Private).await?;
            // Only the stored manifest needs them; the workflow's history stays small.
            result.params.clear();
            Ok(result)
        }
        .await
        .map_err(Error::into_activity)
    }

    #[activity(definition = contract::def::transcode::EncodeAudio)]
    pub async fn encode_audio(
        self: Arc<Self>,
        ctx: ActivityContext,
        job: EncodeAudio,
    ) -> Result<Option<AudioEncoded>, ActivityError> {
        async move {
            crate::heartbeat::count_attempt(&self.0, &ctx);
            if job.info.audio_codec.is_none() {
                return Ok(None);
            }
            let src = SourceMedia::open(source_file(&self.0, &ctx, &job.source).await?).await?;
            let scratch = self.0.storage.scratch("audio")?;
            let total = job.info.duration_ms.max(1) as f64 / 1000.0;
            // Audio costs a small fraction of video: a tenth of the video budget per second.
            let mut contain = Containment::for_media(&self.0.cfg.ffmpeg, total / 10.0);
            contain.threads = 1;
            let normalize = vodflow_core::repo::get_video(&self.0.pool, job.source.video_id, None)
                .await?
                .is_some_and(|row| row.normalize_audio);
            // Runs probed before every stream was read publish the first one.
            let tracks = if job.info.audio_tracks.is_empty() {
                vodflow_core::audio_tracks::tracks(&[Default::default()])
            } else {
                job.info.audio_tracks.clone()
            };
            let mut encoded = Vec::with_capacity(tracks.len());
            for track in tracks {
                let one = Track {
                    job: &job,
                    src: &src,
                    dir: scratch.path(),
                    contain: &contain,
                    total,
                    cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
                };
                let (codecs, loudness) = scratch
                    .guard(encode_track(&self.0, &ctx, &one, &track, normalize))
                    .await?;
                if track.index == 0
                    && let Some(l) = &loudness
                {
                    vodflow_core::repo::set_loudness(&self.0.pool, job.source.video_id, l).await?;
                    tracing::info!(video_id = %job.source.video_id, ?l, "loudness normalized");
                }
                encoded.push(AudioTrackEncoded {
                    track,
                    codecs,
                    segments: Vec::new(),
                });
            }
            Ok(Some(AudioEncoded {
                segments: Vec::new(),
                codecs: encoded[0].codecs.clone(),
                bitrate_kbps: audio::AUDIO_KBPS,
                tracks: encoded,
            }))
        }
        .await
        .map_err(Error::into_activity)
    }
}

/// What every track of one `encode_audio` shares.
struct Track<'a> {
    job: &'a EncodeAudio,
    src: &'a SourceMedia,
    dir: &'a std::path::Path,
    contain: &'a Containment,
    total: f64,
    /// How many audio parts the worker encodes at once.
    cores: usize,
}

/// Encodes one audio stream (measured and evened out first when `normalize`) into its rendition's
/// init segment, media segments and segment list. Returns its codecs and loudness.
async fn encode_track(
    deps: &Deps,
    ctx: &ActivityContext,
    t: &Track<'_>,
    track: &vodflow_core::audio_tracks::AudioTrack,
    normalize: bool,
) -> Result<(String, Option<vodflow_core::loudness::Loudness>), Error> {
    let (job, total) = (t.job, t.total);
    let rendition = track.rendition();
    let loudness = if normalize {
        Some(measure_loudness(deps, ctx, t.src, track.index, t.dir, t.contain, total).await?)
    } else {
        None
    };
    let out = t.dir.join(format!("{rendition}.mp4"));
    let gain = loudness.map(|l| l.gain_db);
    let after = deps.cfg.ffmpeg.audio_parts_after;
    let parts = if !after.is_zero() && total > after.as_secs_f64() {
        audio_parts::plan(total, audio_parts::count(total, t.cores))
    } else {
        Vec::new()
    };
    let in_parts = parts.len() > 1
        && audio_parts::starts_with_file(t.src, track.index, t.contain).await
        && encode_in_parts(ctx, t, track.index, &rendition, &parts, gain, &out).await?;
    if !in_parts {
        ffmpeg_cli::run(
            "audio encode",
            &audio::audio_args(t.src, track.index, &out, gain),
            t.contain,
            heartbeat_every(ctx),
            beater(ctx, "encode", move |t| {
                (t / total * 100.0).clamp(0.0, 100.0)
            }),
            || ctx.is_cancelled(),
        )
        .await?;
    }
    // Twelve hours of audio is ~700 MB: index the file and read one segment at a time.
    let index_of = out.clone();
    let f = tokio::task::spawn_blocking(move || fmp4::split_file(&index_of))
        .await?
        .map_err(|e| Error::EncodedOutput(format!("{rendition}: {e}")))?;
    let (id, bucket) = (job.source.video_id, &job.source.bucket);
    let store = &deps.storage;
    store
        .put_bytes(
            bucket,
            &layout::init_key(id, job.generation, &rendition),
            read_range(&out, 0, f.init_end).await?,
            "audio/mp4",
            Caching::Immutable,
        )
        .await?;
    let segments: Vec<Segment> = f
        .segments
        .iter()
        .enumerate()
        .map(|(i, s)| Segment {
            number: i as u32 + 1,
            duration_s: s.duration as f64 / f64::from(f.timescale.max(1)),
            timing: Some(SegmentTiming {
                timescale: f.timescale,
                start: s.decode_time,
                ticks: s.duration,
            }),
            bytes: (s.end - s.start) as u64,
        })
        .collect();
    // A long source has thousands of audio segments: upload several at a time and keep
    // heartbeating, so a real store's latency never looks like a dead worker.
    let count = f.segments.len().max(1) as f64;
    let ranges: Vec<(u32, usize, usize)> = f
        .segments
        .iter()
        .enumerate()
        .map(|(i, s)| (i as u32 + 1, s.start, s.end))
        .collect();
    let (out, generation) = (&out, job.generation);
    let mut uploads = futures::stream::iter(ranges.into_iter().map(|(number, a, b)| {
        let key = layout::segment_key(id, generation, &rendition, number);
        let bucket = bucket.clone();
        let store = store.clone();
        async move {
            let bytes = read_range(out, a, b).await?;
            store
                .put_bytes(
                    &bucket,
                    &key,
                    bytes,
                    "audio/iso.segment",
                    Caching::Immutable,
                )
                .await
        }
    }))
    .buffer_unordered(AUDIO_UPLOADS_IN_FLIGHT);
    let (mut done, mut last_beat) = (0usize, std::time::Instant::now());
    while let Some(r) = uploads.next().await {
        r?;
        done += 1;
        if last_beat.elapsed() >= heartbeat_every(ctx) {
            beat(ctx, "upload", total, done as f64 * 100.0 / count).await;
            last_beat = std::time::Instant::now();
        }
    }
    drop(uploads);
    tokio::fs::remove_file(out).await.ok();
    let manifest = serde_json::to_vec(&segments)?;
    store
        .put_bytes(
            bucket,
            &layout::audio_track_manifest_key(id, job.generation, &rendition),
            manifest,
            "application/json",
            Caching::Private,
        )
        .await?;
    Ok((f.codecs.unwrap_or_else(|| "mp4a.40.2".into()), loudness))
}

/// The audio at `out` as [`audio_parts`] makes it: the parts encoded `cores` at a time, their
/// frames joined, muxed once. The same file a single encode writes, in a fraction of the time.
/// `false` when the audio ends before the video does (the parts are planned on the video's duration, and a part
/// past the audio's end has less than its range): the single encode is the one to make then.
async fn encode_in_parts(
    ctx: &ActivityContext,
    t: &Track<'_>,
    stream: u32,
    rendition: &str,
    parts: &[audio_parts::Part],
    gain: Option<f64>,
    out: &std::path::Path,
) -> Result<bool, Error> {
    let files: Vec<(audio_parts::Part, std::path::PathBuf)> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| (*p, t.dir.join(format!("{rendition}-part-{i}.aac"))))
        .collect();
    let total = t.total;
    let (n, share) = (parts.len() as f64, total / parts.len() as f64);
    // Collected first: a stream over the borrowing iterator is not `Send` for every lifetime.
    let encodes: Vec<_> = files
        .iter()
        .map(|(part, file)| {
            let args = audio_parts::part_args(t.src, stream, part, gain, file);
            async move {
                ffmpeg_cli::run(
                    "audio encode",
                    &args,
                    t.contain,
                    heartbeat_every(ctx),
                    silent,
                    || ctx.is_cancelled(),
                )
                .await
            }
        })
        .collect();
    // The parts' heartbeat runs on its own clock: a part can end before its process would have
    // reported once, and a run of such parts must not look like a dead worker.
    let finished = std::sync::atomic::AtomicUsize::new(0);
    let all = async {
        let mut encodes = futures::stream::iter(encodes).buffer_unordered(t.cores.max(1));
        while let Some(r) = encodes.next().await {
            r?;
            finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    };
    let done = || finished.load(std::sync::atomic::Ordering::Relaxed) as f64;
    heartbeating_progress(ctx, "encode", || (done() * share, done() / n * 100.0), all).await?;
    let joined = t.dir.join(format!("{rendition}.aac"));
    let (list, to) = (files.clone(), joined.clone());
    let joined_frames = tokio::task::spawn_blocking(move || audio_parts::join(&list, &to)).await?;
    for (_, file) in &files {
        tokio::fs::remove_file(file).await.ok();
    }
    let frames = match joined_frames {
        Ok(n) => n,
        Err(e @ audio_parts::JoinError::Short { .. }) => {
            tracing::info!(rendition, error = %e, "audio shorter than the video: one encode instead");
            tokio::fs::remove_file(&joined).await.ok();
            return Ok(false);
        }
        Err(e) => return Err(Error::EncodedOutput(format!("{rendition}: {e}"))),
    };
    tracing::info!(
        rendition,
        parts = parts.len(),
        frames,
        total,
        "audio encoded in parts"
    );
    ffmpeg_cli::run(
        "audio mux",
        &audio_parts::mux_args(&joined, out),
        t.contain,
        heartbeat_every(ctx),
        beater(ctx, "mux", move |t| (t / total * 100.0).clamp(0.0, 100.0)),
        || ctx.is_cancelled(),
    )
    .await?;
    tokio::fs::remove_file(&joined).await.ok();
    Ok(true)
}

/// The programme's integrated loudness and true peak, and the gain that evens it out.
async fn measure_loudness(
    deps: &Deps,
    ctx: &ActivityContext,
    src: &SourceMedia,
    stream: u32,
    dir: &std::path::Path,
    contain: &Containment,
    total: f64,
) -> Result<vodflow_core::loudness::Loudness, Error> {
    use vodflow_core::loudness;
    let (integrated, peak) = (
        dir.join(format!("loudness-{stream}-i.txt")),
        dir.join(format!("loudness-{stream}-tp.txt")),
    );
    let filter = loudness::measure_filter(
        &integrated.display().to_string(),
        &peak.display().to_string(),
    )
    .ok_or_else(|| {
        Error::Io(std::io::Error::other(format!(
            "the work directory {} has characters an ffmpeg filter cannot take (:,;=[]' or spaces)",
            dir.display()
        )))
    })?;
    ffmpeg_cli::run(
        "loudness measurement",
        &audio::measure_args(src, stream, &filter),
        contain,
        heartbeat_every(ctx),
        beater(ctx, "measure", move |t| {
            (t / total * 100.0).clamp(0.0, 100.0)
        }),
        || ctx.is_cancelled(),
    )
    .await?;
    let tail = format!(
        "{}\n{}",
        file_tail(&integrated).await?,
        file_tail(&peak).await?
    );
    let measured = loudness::parse_measurement(&tail).ok_or_else(|| {
        Error::EncodeUnusable("the loudness measurement found no audio to measure".into())
    })?;
    Ok(loudness::plan(measured, deps.cfg.playback.loudness_target))
}

/// The last few kilobytes of a file (the measurement prints a line per 100 ms of audio).
async fn file_tail(path: &std::path::Path) -> Result<String, Error> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut f = tokio::fs::File::open(path).await.map_err(Error::Io)?;
    let len = f.metadata().await.map_err(Error::Io)?.len();
    f.seek(std::io::SeekFrom::Start(len.saturating_sub(4096)))
        .await
        .map_err(Error::Io)?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).await.map_err(Error::Io)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// A copy of an index-less source (MPEG-TS/PS) in Matroska, streams copied, made once per worker
/// next to the cached source (and removed with it). Seeking into MPEG-TS lands between keyframes
/// and, with a long GOP, decodes nothing of a chunk; Matroska's cues take ffmpeg to the keyframe
/// before the chunk, from which it decodes forward.
async fn seekable_copy(
    deps: &Deps,
    ctx: &ActivityContext,
    src: SourceMedia,
    media_s: f64,
) -> Result<SourceMedia, Error> {
    // One copy at a time on this worker: encodes of the same source wait for it, not make their own.
    static REMUXING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let copy = src.path.with_file_name("source.seekable.mkv");
    let _one = REMUXING.lock().await;
    if tokio::fs::metadata(&copy).await.is_err() {
        let partial = src.path.with_file_name(format!(
            "source.seekable.partial-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let mut args = src.input_args(&["-fflags".into(), "+genpts".into()]);
        args.extend(
            [
                "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy", "-copyts", "-f", "matroska",
            ]
            .map(String::from),
        );
        args.push(crate::media::source::file_url(&partial));
        // A copy costs a small fraction of an encode.
        let contain = Containment::for_media(&deps.cfg.ffmpeg, media_s / 10.0);
        // The copy is about the source's size, and shares the source cache's disk.
        let room = std::fs::metadata(&src.path).map_or(0, |m| m.len());
        deps.storage.gate.room_for(room)?;
        let copied = deps
            .storage
            .gate
            .guard(ffmpeg_cli::run(
                "remux",
                &args,
                &contain,
                heartbeat_every(ctx),
                beater(ctx, "remux", move |t| {
                    (t / media_s.max(0.001) * 100.0).clamp(0.0, 100.0)
                }),
                || ctx.is_cancelled(),
            ))
            .await;
        if let Err(e) = copied {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e);
        }
        tokio::fs::rename(&partial, &copy)
            .await
            .map_err(Error::Io)?;
    }
    Ok(src.read_from(copy, vodflow_core::container::Container::Matroska))
}

/// A stored chunk manifest, when its segments are what `job` would encode: the same parameters
/// and every rendition the job asks for.
fn reusable(manifest: &[u8], params: &str, job: &EncodeChunk) -> Option<ChunkEncoded> {
    let done = serde_json::from_slice::<ChunkEncoded>(manifest).ok()?;
    (done.params == params
        && job
            .renditions
            .iter()
            .all(|r| done.renditions.iter().any(|d| d.rendition == r.name)))
    .then_some(done)
}

/// The chunk copied in the store from the generation the run reuses, when that generation
/// encoded it with the same parameters (same span, ladder, rates, preset, filters): the bytes
/// would be the same, so a run that changes only the audio encodes no video. `None` when there
/// is nothing to reuse.
async fn copied_from_earlier(
    deps: &Deps,
    job: &EncodeChunk,
    params: &str,
    manifest_key: &str,
) -> Result<Option<ChunkEncoded>, Error> {
    let Some(from) = job.reuse_from.filter(|g| *g != job.generation) else {
        return Ok(None);
    };
    let (id, bucket) = (job.source.video_id, &job.source.bucket);
    let store = &deps.storage;
    let earlier = layout::chunk_manifest_key(id, from, job.chunk.index);
    let Some(bytes) = store.get_bytes(bucket, &earlier).await? else {
        return Ok(None);
    };
    let Some(mut done) = reusable(&bytes, params, job) else {
        return Ok(None);
    };
    let mut copies = Vec::new();
    for r in &done.renditions {
        if job.chunk.index == 0 {
            copies.push((
                layout::init_key(id, from, &r.rendition),
                layout::init_key(id, job.generation, &r.rendition),
            ));
        }
        for s in &r.segments {
            copies.push((
                layout::segment_key(id, from, &r.rendition, s.number),
                layout::segment_key(id, job.generation, &r.rendition, s.number),
            ));
        }
    }
    let mut copying = futures::stream::iter(
        copies
            .into_iter()
            .map(|(from, to)| async move { store.copy(bucket, &from, &to).await }),
    )
    .buffer_unordered(8);
    while let Some(r) = copying.next().await {
        r?;
    }
    // Recorded last, as an encode's: the chunk is complete in this generation now.
    store
        .put_bytes(
            bucket,
            manifest_key,
            bytes,
            "application/json",
            Caching::Private,
        )
        .await?;
    tracing::info!(video_id = %id, chunk = job.chunk.index, from, "chunk copied from an earlier generation");
    done.encoded = false;
    done.params.clear();
    Ok(Some(done))
}

/// Bytes `start..end` of a file (one segment: tens of kilobytes).
async fn read_range(path: &std::path::Path, start: usize, end: usize) -> Result<Vec<u8>, Error> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut f = tokio::fs::File::open(path).await.map_err(Error::Io)?;
    f.seek(std::io::SeekFrom::Start(start as u64))
        .await
        .map_err(Error::Io)?;
    let mut buf = vec![0u8; end.saturating_sub(start)];
    f.read_exact(&mut buf).await.map_err(Error::Io)?;
    Ok(buf)
}
