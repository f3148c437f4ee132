//! `probe_source`: what the file is, whether it can be decoded at all, and whether it is within
//! every limit — decided before any chunk is planned. libav runs in contained `ffprobe` children
//! (never in the worker process that holds the secrets), told the sniffed container and allowed
//! only the `file` protocol. Every way a file can be unusable becomes `Error::InvalidMedia` with a
//! sentence a person can act on, naming the limit it broke.

use std::process::Stdio;

use serde::Deserialize;
use vodflow_core::config::MediaLimits;
use vodflow_workflows::types::SourceInfo;

use super::contain::Containment;
use super::source::SourceMedia;
use crate::error::{Error, Result};

/// Packets read to measure the real frame rate from timestamps (demuxed, not decoded).
const RATE_PACKETS: usize = 120;

/// Packets decoded to prove the video stream is usable. Decoding is what the probe's time went
/// on: 120 frames of 720p were 0.15 s of a 10 s source's 0.5 s probe, on the critical path of
/// every video. A few frames prove the decoder opens and produces pictures; the encodes decode
/// the rest, and a stream that breaks later fails there, permanently.
const DECODED_PACKETS: usize = 16;

#[derive(Debug, Deserialize, Default)]
pub(crate) struct Probe {
    #[serde(default)]
    pub(crate) streams: Vec<Stream>,
    pub(crate) format: Option<Format>,
    #[serde(default)]
    packets: Vec<Timestamps>,
    #[serde(default)]
    frames: Vec<Timestamps>,
}

#[derive(Debug, Deserialize)]
struct Timestamps {
    pts_time: Option<String>,
    dts_time: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct Stream {
    pub(crate) start_time: Option<String>,
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    r_frame_rate: Option<String>,
    avg_frame_rate: Option<String>,
    duration: Option<String>,
    #[serde(default)]
    tags: std::collections::HashMap<String, String>,
    #[serde(default)]
    side_data_list: Vec<serde_json::Value>,
    #[serde(default)]
    disposition: std::collections::HashMap<String, i64>,
    field_order: Option<String>,
    color_transfer: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct Format {
    duration: Option<String>,
    pub(crate) start_time: Option<String>,
}

/// The most of ffprobe's JSON read (a file with thousands of streams or tags can make it long;
/// the stream limit is checked on what it says).
const PROBE_OUTPUT_MAX: usize = 16 << 20;

/// Seconds before the container's end from which the last video packets are read.
const TAIL_SECONDS: f64 = 10.0;

/// Probes `source` (`size` bytes) in contained children and checks it against `limits`.
pub async fn probe(
    source: &SourceMedia,
    size: u64,
    limits: &MediaLimits,
    contain: &Containment,
) -> Result<SourceInfo> {
    if size > limits.max_bytes {
        return Err(Error::InvalidMedia(format!(
            "the source is {size} bytes; the limit is {} (VODFLOW_MAX_UPLOAD_BYTES)",
            limits.max_bytes
        )));
    }
    let head = ffprobe(
        source,
        contain,
        &["-show_format", "-show_streams"],
        "reading the container",
    )
    .await?;
    if head.streams.len() > limits.max_streams {
        return Err(Error::InvalidMedia(format!(
            "the source has {} streams; the limit is {} (VODFLOW_MAX_STREAMS)",
            head.streams.len(),
            limits.max_streams
        )));
    }
    // Cover art is a "video" stream of one picture: never the one to encode.
    let video = head
        .streams
        .iter()
        .find(|s| {
            s.codec_type.as_deref() == Some("video")
                && s.disposition.get("attached_pic").copied().unwrap_or(0) == 0
        })
        .ok_or_else(|| Error::InvalidMedia("the file has no video stream".into()))?;
    let video_codec = video.codec_name.clone().unwrap_or_else(|| "unknown".into());
    let (coded_w, coded_h) = (video.width.unwrap_or(0), video.height.unwrap_or(0));
    if coded_w == 0 || coded_h == 0 {
        return Err(Error::InvalidMedia(format!(
            "the {video_codec} video stream has no picture size"
        )));
    }
    if coded_w > limits.max_width || coded_h > limits.max_height {
        return Err(Error::InvalidMedia(format!(
            "the picture is {coded_w}x{coded_h}; the limit is {}x{} (VODFLOW_MAX_WIDTH, VODFLOW_MAX_HEIGHT)",
            limits.max_width, limits.max_height
        )));
    }
    let audio_codec = head
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("audio"))
        .and_then(|s| s.codec_name.clone());
    let audio_streams: Vec<&Stream> = head
        .streams
        .iter()
        .filter(|s| s.codec_type.as_deref() == Some("audio"))
        .collect();
    if audio_streams.len() > vodflow_core::audio_tracks::MAX_AUDIO_TRACKS {
        return Err(Error::InvalidMedia(format!(
            "the source has {} audio streams; at most {} are published",
            audio_streams.len(),
            vodflow_core::audio_tracks::MAX_AUDIO_TRACKS
        )));
    }
    let audio_tracks = vodflow_core::audio_tracks::tracks(
        &audio_streams
            .iter()
            .map(|s| {
                let flag = |k: &str| s.disposition.get(k).copied().unwrap_or(0) != 0;
                vodflow_core::audio_tracks::StreamTags {
                    language: s.tags.get("language").map(String::as_str),
                    title: s.tags.get("title").map(String::as_str),
                    default: flag("default"),
                    comment: flag("comment"),
                    visual_impaired: flag("visual_impaired") || flag("descriptions"),
                }
            })
            .collect::<Vec<_>>(),
    );
    let declared_s = seconds(head.format.as_ref().and_then(|f| f.duration.as_deref()))
        .or_else(|| seconds(video.duration.as_deref()));
    let start_s =
        seconds(head.format.as_ref().and_then(|f| f.start_time.as_deref())).unwrap_or(0.0);
    // The chunks are planned on the video's own end: the container's duration covers its longest
    // stream, and a chunk past the last frame decodes nothing. A file with no duration at all
    // (browser MediaRecorder WebM, live captures) is measured the same way, by reading every
    // video packet's timestamp (demuxing only).
    // The last frame, the first packets' timestamps and a few decoded frames are three reads
    // that need nothing of each other: one child each, side by side (a child's start alone is
    // ~80 ms of loading libav).
    let rate_interval = format!("%+#{RATE_PACKETS}");
    let decode_interval = format!("%+#{DECODED_PACKETS}");
    let timing_args = [
        "-select_streams",
        "V:0",
        "-read_intervals",
        &rate_interval,
        "-show_entries",
        "packet=pts_time,dts_time",
    ];
    let decode_args = [
        "-select_streams",
        "V:0",
        "-read_intervals",
        &decode_interval,
        "-show_entries",
        "frame=pts_time",
    ];
    // All three are awaited and their errors taken in the order the reads ran in before (the
    // end, the duration's limits, then decoding), so a file that fails several ways is always
    // refused for the same reason.
    let (video_end_s, decoded, timing) = tokio::join!(
        video_end(source, contain, start_s, declared_s),
        ffprobe(source, contain, &decode_args, "decoding the first frames"),
        ffprobe(source, contain, &timing_args, "reading the first packets"),
    );
    let video_end_s = video_end_s?;
    let duration_s = match (declared_s, video_end_s) {
        (Some(d), Some(v)) if v > 0.0 => d.min(v),
        (Some(d), _) => d,
        (None, Some(v)) => v,
        (None, None) => 0.0,
    };
    if duration_s <= 0.0 || duration_s.is_nan() {
        return Err(Error::InvalidMedia("the video has zero duration".into()));
    }
    let max_s = limits.max_duration.as_secs_f64();
    if duration_s > max_s {
        return Err(Error::InvalidMedia(format!(
            "the video lasts {}; the limit is {} (VODFLOW_MAX_DURATION)",
            human(duration_s),
            human(max_s)
        )));
    }
    // A container can claim any duration: a few kilobytes cannot hold hours of video.
    let bits_per_second = size as f64 * 8.0 / duration_s;
    if duration_s > 60.0 && bits_per_second < 500.0 {
        return Err(Error::InvalidMedia(format!(
            "the container claims {} of video in only {size} bytes; its duration is not credible",
            human(duration_s)
        )));
    }

    // Proof the video stream is usable, not just labelled: frames came out of its decoder.
    let (decoded, timing) = (decoded?, timing?);
    if decoded.frames.is_empty() {
        return Err(Error::InvalidMedia(format!(
            "the {video_codec} video stream cannot be decoded"
        )));
    }
    let measured = measured_rate(&timing.packets);
    let declared = [
        rational(video.r_frame_rate.as_deref()),
        rational(video.avg_frame_rate.as_deref()),
    ];
    let (fps_num, fps_den) = choose_rate(measured, declared);
    let fps = f64::from(fps_num) / f64::from(fps_den);
    if fps > limits.max_fps {
        return Err(Error::InvalidMedia(format!(
            "the frame rate is {fps:.0} fps; the limit is {} (VODFLOW_MAX_FPS)",
            limits.max_fps
        )));
    }
    let pixel_rate = (f64::from(coded_w) * f64::from(coded_h) * fps) as u64;
    if pixel_rate > limits.max_pixel_rate {
        return Err(Error::InvalidMedia(format!(
            "{coded_w}x{coded_h} at {fps:.0} fps is {pixel_rate} pixels per second; the limit is {} (VODFLOW_MAX_PIXEL_RATE)",
            limits.max_pixel_rate
        )));
    }
    let rotation = rotation_of(video);
    let (width, height) = if rotation % 180 != 0 {
        (coded_h, coded_w)
    } else {
        (coded_w, coded_h)
    };
    Ok(SourceInfo {
        duration_ms: (duration_s * 1000.0).round() as u64,
        width,
        height,
        rotation,
        fps_num,
        fps_den,
        video_codec,
        audio_codec,
        audio_tracks,
        container: source.container.demuxer().to_owned(),
        interlaced: matches!(
            video.field_order.as_deref(),
            Some("tt" | "bb" | "tb" | "bt")
        ),
        hdr_transfer: video
            .color_transfer
            .clone()
            .filter(|t| t == "smpte2084" || t == "arib-std-b67"),
    })
}

/// Where the first video stream's last frame ends, in seconds from the container's start (the
/// timeline the encodes use: `-copyts -start_at_zero`). Reads the packets of the last
/// [`TAIL_SECONDS`] when the container declares a duration, every packet when it does not: as CSV
/// read line by line, so a file of millions of packets costs the worker no memory. `None` when no
/// packet carries a timestamp.
async fn video_end(
    source: &SourceMedia,
    contain: &Containment,
    start_s: f64,
    declared_s: Option<f64>,
) -> Result<Option<f64>> {
    let mut cmd = contain.command("ffprobe");
    cmd.args(["-v", "error", "-of", "csv=p=0", "-threads", "1"])
        .args(["-select_streams", "V:0", "-show_entries"])
        .arg("packet=pts_time,dts_time,duration_time");
    if let Some(d) = declared_s {
        cmd.arg("-read_intervals")
            .arg(format!("{:.6}%", (start_s + d - TAIL_SECONDS).max(0.0)));
    }
    cmd.args(source.input_args(&[]))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let what_failed = "ffprobe (finding the last frame)";
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::Ffmpeg(format!("cannot start ffprobe: {e}")))?;
    let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(Error::Ffmpeg("ffprobe has no output pipes".into()));
    };
    let errors = tokio::spawn(async move {
        super::contain::keep_tail(&mut stderr, super::contain::STDERR_KEPT).await
    });
    let read = async {
        let mut lines = vodflow_core::contain::BoundedLines::new(tokio::io::BufReader::new(stdout));
        let mut end: Option<f64> = None;
        while let Some(line) = lines.next_line().await? {
            if let Some(e) = frame_end(&line) {
                end = Some(end.map_or(e, |m| m.max(e)));
            }
        }
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((end, status))
    };
    let (end, status) = match tokio::time::timeout(contain.wall, read).await {
        Err(_) => return Err(contain.timed_out(what_failed).into()),
        Ok(r) => r?,
    };
    let stderr = errors
        .await
        .unwrap_or_default()
        .replace(&super::source::file_url(&source.path), "the upload");
    if !status.success() {
        return Err(
            match Error::from(contain.classify(what_failed, status, &stderr)) {
                Error::InvalidMedia(m) => Error::InvalidMedia(format!("not a readable video: {m}")),
                other => other,
            },
        );
    }
    Ok(end.map(|e| e - start_s))
}

/// `pts + duration` of one CSV packet line `pts,dts,duration` (`dts` where there is no `pts`).
fn frame_end(line: &str) -> Option<f64> {
    let mut fields = line.trim().split(',');
    let (pts, dts, duration) = (fields.next(), fields.next(), fields.next());
    let at = seconds(pts).or_else(|| seconds(dts))?;
    Some(at + seconds(duration).unwrap_or(0.0).max(0.0))
}

/// One contained ffprobe run of `what` over the source, its JSON read within bounds.
pub(crate) async fn ffprobe(
    source: &SourceMedia,
    contain: &Containment,
    what: &[&str],
    step: &str,
) -> Result<Probe> {
    let mut cmd = contain.command("ffprobe");
    cmd.args(["-v", "error", "-of", "json", "-threads", "1"])
        .args(what)
        .args(source.input_args(&[]))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let what_failed = format!("ffprobe ({step})");
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::Ffmpeg(format!("cannot start ffprobe: {e}")))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(Error::Ffmpeg("ffprobe has no output pipes".into()));
    };
    let run = async {
        let (json, stderr) = futures::future::join(
            super::contain::read_capped(stdout, PROBE_OUTPUT_MAX),
            super::contain::keep_tail(stderr, super::contain::STDERR_KEPT),
        )
        .await;
        (json, stderr, child.wait().await)
    };
    let (json, stderr, status) = match tokio::time::timeout(contain.wall, run).await {
        Err(_) => return Err(contain.timed_out(&what_failed).into()),
        Ok(r) => r,
    };
    let Some(json) = json else {
        return Err(Error::InvalidMedia(format!(
            "not a readable video: ffprobe's description of it exceeds {} MiB",
            PROBE_OUTPUT_MAX >> 20
        )));
    };
    let status = status.map_err(|e| Error::Ffmpeg(format!("ffprobe: {e}")))?;
    // The worker's paths mean nothing to the uploader.
    let stderr = stderr.replace(&super::source::file_url(&source.path), "the upload");
    if !status.success() {
        return Err(
            match Error::from(contain.classify(&what_failed, status, &stderr)) {
                Error::InvalidMedia(m) => Error::InvalidMedia(format!("not a readable video: {m}")),
                other => other,
            },
        );
    }
    serde_json::from_slice(&json)
        .map_err(|e| Error::InvalidMedia(format!("not a readable video ({step}: {e})")))
}

pub(crate) fn seconds(v: Option<&str>) -> Option<f64> {
    v?.trim().parse::<f64>().ok().filter(|s| s.is_finite())
}

fn rational(v: Option<&str>) -> Option<(u32, u32)> {
    let (n, d) = v?.split_once('/')?;
    let (n, d) = (n.trim().parse::<u32>().ok()?, d.trim().parse::<u32>().ok()?);
    (n > 0 && d > 0).then_some((n, d))
}

/// Frames per second from the first packets' timestamps (presentation order), if there are enough.
fn measured_rate(packets: &[Timestamps]) -> Option<f64> {
    let mut ts: Vec<f64> = packets
        .iter()
        .filter_map(|p| seconds(p.pts_time.as_deref()).or_else(|| seconds(p.dts_time.as_deref())))
        .collect();
    if ts.len() < 8 {
        return None;
    }
    ts.sort_by(f64::total_cmp);
    ts.dedup();
    let span = ts.last()? - ts.first()?;
    (span > 0.0).then(|| (ts.len() - 1) as f64 / span)
}

/// The rate to encode at: a declared rate (`r_frame_rate` first) that the timestamps confirm
/// within 10 %, else the measured one rounded, else a declared one, else 25 fps. A container that
/// declares 30000 fps over frames 33 ms apart gets 30.
fn choose_rate(measured: Option<f64>, declared: [Option<(u32, u32)>; 2]) -> (u32, u32) {
    let as_f = |(n, d): (u32, u32)| f64::from(n) / f64::from(d);
    if let Some(m) = measured {
        if let Some(r) = declared
            .iter()
            .flatten()
            .copied()
            .find(|r| (as_f(*r) - m).abs() <= m * 0.1)
        {
            return r;
        }
        // Variable frame rate (phones, screen recorders): the measured mean, in thousandths.
        let milli = (m * 1000.0).round();
        if milli >= 1.0 && milli <= f64::from(u32::MAX) {
            return reduce(milli as u32, 1000);
        }
    }
    declared.iter().flatten().copied().next().unwrap_or((25, 1))
}

fn reduce(n: u32, d: u32) -> (u32, u32) {
    let (mut a, mut b) = (n, d);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    (n / a.max(1), d / a.max(1))
}

/// Degrees clockwise the picture must be turned for display: ffprobe's display-matrix `rotation`
/// is counter-clockwise; the legacy `rotate` tag is clockwise.
fn rotation_of(s: &Stream) -> i32 {
    for sd in &s.side_data_list {
        if let Some(r) = sd.get("rotation").and_then(serde_json::Value::as_f64) {
            return normalize(-(r.round() as i32));
        }
    }
    s.tags
        .get("rotate")
        .and_then(|r| r.parse().ok())
        .map(normalize)
        .unwrap_or(0)
}

fn normalize(deg: i32) -> i32 {
    (deg.rem_euclid(360) + 45) / 90 * 90 % 360
}

fn human(s: f64) -> String {
    let s = s.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_video_ends_with_its_latest_frame_not_its_last_packet() {
        // B-frames: the last packet in decode order is not the last to be shown.
        let lines = [
            "3.900,3.800,0.040",
            "3.983,3.850,0.042",
            "3.940,3.900,0.042",
            "N/A,3.950,N/A",
            "N/A,N/A,N/A",
            "",
        ];
        let end = lines
            .iter()
            .filter_map(|l| frame_end(l))
            .max_by(f64::total_cmp)
            .unwrap();
        assert!((end - 4.025).abs() < 1e-9, "{end}");
        assert_eq!(frame_end("N/A,N/A,0.04"), None);
    }

    #[test]
    fn rotations_snap_to_quarter_turns() {
        assert_eq!(normalize(-90), 270);
        assert_eq!(normalize(90), 90);
        assert_eq!(normalize(181), 180);
        assert_eq!(normalize(0), 0);
        assert_eq!(normalize(359), 0);
    }

    #[test]
    fn absurd_declared_rates_give_way_to_timestamps() {
        assert_eq!(
            choose_rate(Some(29.97), [Some((30000, 1001)), None]),
            (30000, 1001)
        );
        assert_eq!(
            choose_rate(Some(30.0), [Some((30000, 1)), Some((30000, 1))]),
            (30, 1)
        );
        assert_eq!(choose_rate(None, [None, Some((24, 1))]), (24, 1));
        assert_eq!(choose_rate(None, [None, None]), (25, 1));
        assert_eq!(
            choose_rate(Some(23.976), [Some((1000, 1)), None]),
            (2997, 125)
        );
    }
}
