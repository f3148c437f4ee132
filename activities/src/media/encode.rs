//! `encode_chunk`: one time range of the source, decoded once, scaled into every rendition and
//! encoded as H.264 CMAF fragments whose decode times are absolute (they continue across chunks),
//! then cut into 4 s segments and uploaded under deterministic keys.

use std::path::Path;

use super::source::SourceMedia;

use vodflow_core::config::FfmpegLimits;
use vodflow_core::ladder::{GOP_SECONDS, Rendition, SEGMENT_SECONDS};
use vodflow_core::layout;
use vodflow_workflows::types::{EncodeChunk, Segment, SegmentTiming, SourceInfo};

use super::ffmpeg_cli::secs;
use super::fmp4;
use crate::error::{Error, Result};

/// x264 preset: `veryfast` is the speed/size balance the ladder's caps were chosen for.
pub const X264_PRESET: &str = "veryfast";

/// The ffmpeg arguments for one chunk: input seek, one `split` of the decoded video, one output per
/// rendition. Keyframes are forced on absolute GOP boundaries so every rendition (and every chunk)
/// shares them; the mp4 muxer keeps the absolute timestamps (`-copyts`, no edit list, no shift).
/// `-start_at_zero` makes "absolute" count from the source's first timestamp: MPEG-TS from cameras
/// and broadcast starts at 1.4 s or later, and its first chunk must still start at 0.
pub fn chunk_args(
    job: &EncodeChunk,
    source: &SourceMedia,
    out_dir: &Path,
    threads: usize,
) -> Vec<String> {
    let c = &job.chunk;
    let mut keyframes = Vec::new();
    let mut t = c.start_ms;
    while t < c.end_ms {
        keyframes.push(secs(t));
        t += u64::from(GOP_SECONDS) * 1000;
    }
    let graph = ladder_graph(&job.info, &job.renditions);
    let mut args = source.input_args(&[
        "-threads".into(),
        threads.to_string(),
        "-ss".into(),
        secs(c.start_ms),
    ]);
    args.extend([
        "-copyts".into(),
        "-start_at_zero".into(),
        "-filter_complex".into(),
        graph,
    ]);
    for (i, r) in job.renditions.iter().enumerate() {
        // Output options apply to one output each: every rendition stops at the chunk's end.
        args.extend(["-to".to_owned(), secs(c.end_ms)]);
        args.extend(rendition_output(
            &job.info,
            r,
            i,
            &keyframes,
            job.bframes,
            threads,
            out_dir,
        ));
    }
    args
}

/// `[0:v]` normalised, set to the source's rate, split and scaled into every rung (`[v0]`…).
fn ladder_graph(info: &SourceInfo, renditions: &[Rendition]) -> String {
    let n = renditions.len();
    let mut graph = format!(
        "[0:v]{}fps={}/{},split={n}",
        info.normalize_filters(),
        info.fps_num,
        info.fps_den.max(1)
    );
    for i in 0..n {
        graph.push_str(&format!("[s{i}]"));
    }
    for (i, r) in renditions.iter().enumerate() {
        graph.push_str(&format!(
            ";[s{i}]scale={}:{}:flags=bicubic,setsar=1,format=yuv420p[v{i}]",
            r.width, r.height
        ));
    }
    graph
}

/// The options and path of rendition `i`'s output.
fn rendition_output(
    info: &SourceInfo,
    r: &Rendition,
    i: usize,
    keyframes: &[String],
    bframes: bool,
    threads: usize,
    out_dir: &Path,
) -> Vec<String> {
    let fps = info.fps().max(1.0);
    let gop_frames = (f64::from(GOP_SECONDS) * fps).round().max(1.0) as u32;
    let mut args = vec!["-threads".to_owned(), threads.to_string()];
    args.extend(rendition_args(r, i, gop_frames, keyframes, bframes));
    if info.hdr_transfer.is_some() {
        // Tone-mapped above: say so, or players would treat the SDR pixels as BT.2020/PQ.
        for (k, v) in [
            ("-color_primaries", "bt709"),
            ("-color_trc", "bt709"),
            ("-colorspace", "bt709"),
        ] {
            args.extend([k.to_owned(), v.to_owned()]);
        }
    }
    args.push(
        out_dir
            .join(format!("{}.mp4", r.name))
            .display()
            .to_string(),
    );
    args
}

/// One ffmpeg process making the whole ladder and the audio of `input` with exactly the encoder
/// settings of the chunk encodes (rate control, GOP, forced keyframes, B-frames, fragments):
/// the "same parameters" floor `make bench` compares the platform with. `threads` 0 lets ffmpeg
/// choose, as one process must to use more than one core.
pub fn one_process_args(
    info: &SourceInfo,
    input: &str,
    threads: usize,
    out_dir: &Path,
) -> Vec<String> {
    let renditions = vodflow_core::ladder::plan_renditions(info.width, info.height);
    let keyframes: Vec<String> = (0..info.duration_ms)
        .step_by(GOP_SECONDS as usize * 1000)
        .map(secs)
        .collect();
    let mut args = vec![
        "-i".to_owned(),
        input.to_owned(),
        "-filter_complex".to_owned(),
        ladder_graph(info, &renditions),
    ];
    for (i, r) in renditions.iter().enumerate() {
        args.extend(rendition_output(
            info, r, i, &keyframes, true, threads, out_dir,
        ));
    }
    if info.audio_codec.is_some() {
        args.extend(super::audio::audio_output_args(&out_dir.join("audio.mp4")));
    }
    args
}

fn rendition_args(
    r: &Rendition,
    i: usize,
    gop_frames: u32,
    keyframes: &[String],
    bframes: bool,
) -> Vec<String> {
    let s = |v: &str| v.to_owned();
    let mut args = vec![
        s("-map"),
        format!("[v{i}]"),
        s("-an"),
        s("-c:v"),
        s("libx264"),
        s("-preset"),
        s(X264_PRESET),
        s("-profile:v"),
        r.profile.clone(),
        s("-crf"),
        s("23"),
        s("-maxrate"),
        format!("{}k", r.video_kbps),
        s("-bufsize"),
        format!("{}k", r.video_kbps * 2),
        s("-g"),
        gop_frames.to_string(),
        s("-keyint_min"),
        gop_frames.to_string(),
        s("-sc_threshold"),
        s("0"),
    ];
    if !bframes {
        // Runs from before B-frames: decode time = presentation time, no shift needed.
        args.extend([s("-bf"), s("0")]);
    }
    args.extend([
        // x264's B-frames (its defaults). Each chunk restarts the rate buffer: starting it at 70 %
        // rather than x264's 90 % keeps a capped rung's first segment of every chunk from
        // overshooting (measured: +6 % bytes over one ffmpeg process at 0.9, +1.3 % at 0.7).
        s("-x264-params"),
        s("open-gop=0:vbv-init=0.7"),
        s("-force_key_frames"),
        keyframes.join(","),
        s("-f"),
        s("mp4"),
        s("-movflags"),
        // negative_cts_offsets: `trun` v1 with signed composition offsets, decode times shifted
        // so the first frame's decode time is its presentation time. With B-frames the first
        // decode time would otherwise be two frames before the chunk's start: negative (tfdt is
        // unsigned) for chunk 0. Every chunk is shifted alike, so decode times stay continuous.
        s("+frag_keyframe+empty_moov+default_base_moof+frag_discont+negative_cts_offsets"),
        s("-min_frag_duration"),
        (u64::from(SEGMENT_SECONDS) * 1_000_000 - 100_000).to_string(),
        s("-use_editlist"),
        s("0"),
        s("-avoid_negative_ts"),
        s("disabled"),
    ]);
    args
}

/// Threads for this chunk's encode on a worker of `slots` encode slots. The first chunk starts
/// alone (its head start), and the last `slots` chunks of a video finish with fewer chunks than
/// slots left to run: with one thread each, a 20 s source encoded its 16 s rest on one core while
/// the other idled (1.48x one ffmpeg process). Those chunks get `wide_threads` (a thread per core):
/// when other encodes do run beside them, the cores are shared a little over-committed, which
/// costs about 5 % more CPU on those chunks only.
pub fn threads_for(job: &EncodeChunk, limits: &FfmpegLimits, slots: usize) -> usize {
    let c = &job.chunk;
    let len = c.end_ms.saturating_sub(c.start_ms).max(1);
    let left = job.info.duration_ms.saturating_sub(c.start_ms);
    if c.index == 0 || left <= len.saturating_mul(slots.max(1) as u64) {
        limits.wide_threads.max(limits.threads)
    } else {
        limits.threads
    }
}

/// Everything a chunk's segments depend on, as one comparable string: a stored chunk is reused
/// only when this is equal.
pub fn params(job: &EncodeChunk) -> String {
    let ladder: Vec<String> = job
        .renditions
        .iter()
        .map(|r| {
            format!(
                "{}:{}x{}@{}k/{}",
                r.name, r.width, r.height, r.video_kbps, r.profile
            )
        })
        .collect();
    format!(
        "v2;{}{}-{}ms;{}/{}fps;{};{};{}",
        if job.bframes { "bframes;" } else { "" },
        job.chunk.start_ms,
        job.chunk.end_ms,
        job.info.fps_num,
        job.info.fps_den,
        job.info.normalize_filters(),
        ladder.join(","),
        X264_PRESET
    )
}

/// Where a chunk records that it is complete: written last, after every segment.
pub fn chunk_manifest_key(job: &EncodeChunk) -> String {
    layout::chunk_manifest_key(job.source.video_id, job.generation, job.chunk.index)
}

/// One media segment: its number, its bytes and what the playlist needs to know of it.
pub type NumberedSegment = (u32, Vec<u8>, Segment);

/// Cuts one rendition's output into the init segment and numbered media segments.
pub fn cut(
    job: &EncodeChunk,
    rendition: &Rendition,
    data: &[u8],
) -> Result<(Vec<u8>, Vec<NumberedSegment>, String)> {
    let f =
        fmp4::split(data).map_err(|e| Error::EncodedOutput(format!("{}: {e}", rendition.name)))?;
    let expected = job
        .chunk
        .end_ms
        .saturating_sub(job.chunk.start_ms)
        .div_ceil(u64::from(SEGMENT_SECONDS) * 1000) as usize;
    if f.segments.is_empty() || f.segments.len() > expected {
        return Err(Error::EncodeUnusable(format!(
            "{} chunk {} produced {} fragments, expected {expected}",
            rendition.name,
            job.chunk.index,
            f.segments.len()
        )));
    }
    let init = data[..f.init_end].to_vec();
    let segments = f
        .segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let number = job.chunk.first_segment + i as u32;
            let bytes = data[s.start..s.end].to_vec();
            let seg = Segment {
                number,
                duration_s: s.duration as f64 / f64::from(f.timescale.max(1)),
                timing: Some(SegmentTiming {
                    timescale: f.timescale,
                    start: s.decode_time,
                    ticks: s.duration,
                }),
                bytes: bytes.len() as u64,
            };
            (number, bytes, seg)
        })
        .collect();
    Ok((
        init,
        segments,
        f.codecs.unwrap_or_else(|| "avc1.64001f".into()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vodflow_core::VideoId;
    use vodflow_core::ladder::{Chunk, plan_renditions};
    use vodflow_workflows::types::{SourceInfo, SourceRef};

    fn job(end_ms: u64, height: u32) -> EncodeChunk {
        EncodeChunk {
            source: SourceRef {
                video_id: VideoId::new(),
                bucket: "b".into(),
                key: "k".into(),
                size: 1,
            },
            info: SourceInfo {
                duration_ms: 60_000,
                width: height * 16 / 9,
                height,
                rotation: 0,
                fps_num: 30,
                fps_den: 1,
                video_codec: "h264".into(),
                audio_codec: None,
                container: "mov".into(),
                interlaced: false,
                hdr_transfer: None,
                audio_tracks: Vec::new(),
            },
            chunk: Chunk {
                index: 1,
                start_ms: 16_000,
                end_ms,
                first_segment: 5,
            },
            renditions: plan_renditions(height * 16 / 9, height),
            generation: 0,
            bframes: true,
            reuse_from: None,
        }
    }

    #[test]
    fn chunks_at_the_ends_of_the_timeline_use_every_core() {
        let limits = FfmpegLimits {
            max_memory_bytes: 1 << 30,
            threads: 1,
            wide_threads: 2,
            cpu_factor: 40,
            ..Default::default()
        };
        let at = |index, start_ms, end_ms| {
            let mut j = job(end_ms, 720);
            j.chunk.index = index;
            j.chunk.start_ms = start_ms;
            j
        };
        // 60 s in 16 s chunks after a 4 s head, on a worker of two slots.
        let threads: Vec<usize> = [
            (0, 0, 4_000),
            (1, 4_000, 20_000),
            (2, 20_000, 36_000),
            (3, 36_000, 52_000),
            (4, 52_000, 60_000),
        ]
        .into_iter()
        .map(|(i, a, b)| threads_for(&at(i, a, b), &limits, 2))
        .collect();
        assert_eq!(threads, [2, 1, 1, 2, 2]);
        let explicit = FfmpegLimits {
            wide_threads: 1,
            ..limits
        };
        assert_eq!(threads_for(&at(0, 0, 4_000), &explicit, 2), 1);
    }

    #[test]
    fn a_chunk_encoded_another_way_is_not_reused() {
        assert_eq!(params(&job(32_000, 720)), params(&job(32_000, 720)));
        assert_ne!(
            params(&job(32_000, 720)),
            params(&job(24_000, 720)),
            "chunk length"
        );
        assert_ne!(
            params(&job(32_000, 720)),
            params(&job(32_000, 1080)),
            "ladder"
        );
        let mut hdr = job(32_000, 720);
        hdr.info.hdr_transfer = Some("smpte2084".into());
        assert_ne!(params(&job(32_000, 720)), params(&hdr), "filters");
    }
}
