//! `probe_source` with ffmpeg-next: what the file is, and whether it can be decoded at all.
//! Every way a file can be unusable becomes `Error::InvalidMedia` with a sentence a person can act on.

use std::path::Path;

use ffmpeg_next as ffmpeg;
use vodflow_core::workflow_types::SourceInfo;

use crate::error::{Error, Result};

/// Blocking (FFmpeg reads the file): call from `spawn_blocking`.
pub fn probe(path: &Path) -> Result<SourceInfo> {
    ffmpeg::init().map_err(|e| Error::Ffmpeg(e.to_string()))?;
    // Problems come back as errors with our own wording; libav's stderr chatter adds nothing.
    ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Fatal);
    let mut ictx = ffmpeg::format::input(path)
        .map_err(|e| Error::InvalidMedia(format!("not a readable media file ({e})")))?;
    let container = ictx.format().name().to_owned();
    let (index, params, rate, rotation, stream_duration) = {
        let stream = ictx
            .streams()
            .best(ffmpeg::media::Type::Video)
            .ok_or_else(|| Error::InvalidMedia("the file has no video stream".into()))?;
        let tb = stream.time_base();
        let stream_duration = if stream.duration() > 0 && tb.denominator() > 0 {
            (stream.duration() as f64 * f64::from(tb.numerator()) / f64::from(tb.denominator())
                * 1000.0) as u64
        } else {
            0
        };
        (
            stream.index(),
            stream.parameters(),
            stream.avg_frame_rate(),
            rotation_of(&stream),
            stream_duration,
        )
    };
    let audio_codec = ictx
        .streams()
        .best(ffmpeg::media::Type::Audio)
        .map(|s| s.parameters().id().name().to_owned());
    let video_codec = params.id().name().to_owned();
    let decoder_ctx = ffmpeg::codec::context::Context::from_parameters(params)
        .map_err(|e| Error::InvalidMedia(format!("unsupported video codec {video_codec} ({e})")))?;
    let mut decoder = decoder_ctx.decoder().video().map_err(|e| {
        Error::InvalidMedia(format!("no decoder for video codec {video_codec} ({e})"))
    })?;
    let (coded_w, coded_h) = (decoder.width(), decoder.height());
    if coded_w == 0 || coded_h == 0 {
        return Err(Error::InvalidMedia(
            "the video stream has no picture size".into(),
        ));
    }
    let container_duration = if ictx.duration() > 0 {
        (ictx.duration() / 1000) as u64
    } else {
        0
    };
    let duration_ms = if container_duration > 0 {
        container_duration
    } else {
        stream_duration
    };
    if duration_ms == 0 {
        return Err(Error::InvalidMedia("the video has zero duration".into()));
    }

    // Decoding one frame proves the stream is usable, not just labelled.
    let mut decoded = false;
    let mut frame = ffmpeg::frame::Video::empty();
    for (stream, packet) in ictx.packets().take(2000) {
        if stream.index() != index {
            continue;
        }
        if decoder.send_packet(&packet).is_ok() && decoder.receive_frame(&mut frame).is_ok() {
            decoded = true;
            break;
        }
    }
    if !decoded {
        let _ = decoder.send_eof();
        decoded = decoder.receive_frame(&mut frame).is_ok();
    }
    if !decoded {
        return Err(Error::InvalidMedia(format!(
            "the {video_codec} video stream cannot be decoded"
        )));
    }

    let (width, height) = if rotation % 180 != 0 {
        (coded_h, coded_w)
    } else {
        (coded_w, coded_h)
    };
    let (fps_num, fps_den) = if rate.numerator() > 0 && rate.denominator() > 0 {
        (rate.numerator() as u32, rate.denominator() as u32)
    } else {
        (25, 1) // variable or unknown rate: encode at a common constant one
    };
    Ok(SourceInfo {
        duration_ms,
        width,
        height,
        rotation,
        fps_num,
        fps_den,
        video_codec,
        audio_codec,
        container,
    })
}

/// Degrees clockwise from the display matrix (as `av_display_rotation_get`, computed in safe code),
/// falling back to the legacy `rotate` tag.
fn rotation_of(stream: &ffmpeg::format::stream::Stream<'_>) -> i32 {
    for sd in stream.side_data() {
        if sd.kind() == ffmpeg::codec::packet::side_data::Type::DisplayMatrix
            && sd.data().len() >= 36
        {
            let m: Vec<f64> = sd
                .data()
                .chunks_exact(4)
                .take(9)
                .map(|b| f64::from(i32::from_ne_bytes([b[0], b[1], b[2], b[3]])) / 65536.0)
                .collect();
            let (sx, sy) = (
                (m[0] * m[0] + m[3] * m[3]).sqrt(),
                (m[1] * m[1] + m[4] * m[4]).sqrt(),
            );
            if sx == 0.0 || sy == 0.0 {
                return 0;
            }
            let ccw = (m[1] / sy).atan2(m[0] / sx).to_degrees();
            return normalize(-ccw.round() as i32);
        }
    }
    stream
        .metadata()
        .get("rotate")
        .and_then(|r| r.parse().ok())
        .map(normalize)
        .unwrap_or(0)
}

fn normalize(deg: i32) -> i32 {
    (deg.rem_euclid(360) + 45) / 90 * 90 % 360
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn rotations_snap_to_quarter_turns() {
        assert_eq!(normalize(-90), 270);
        assert_eq!(normalize(90), 90);
        assert_eq!(normalize(181), 180);
        assert_eq!(normalize(0), 0);
        assert_eq!(normalize(359), 0);
    }
}
