//! A long source's audio in parts encoded side by side. AAC is one thread per encoder: the audio of
//! a 12-hour source was one ffmpeg process for 22 minutes, 15 of them after its last video chunk
//! (`make bench`, history). Each part is encoded from a little before its start to a little after
//! its end (the encoder's rate control and MDCT overlap see the real signal on both sides), and
//! only the AAC frames of its own range are kept: frames are 1024 samples at 48 kHz and parts start
//! on frame boundaries, so the kept frames, end to end, are one stream with the same frame count
//! and timing as a single encode (its priming frame first), muxed once into the same fragments.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use super::source::{SourceMedia, file_url};

/// Samples per AAC-LC frame.
pub const FRAME: u64 = 1024;
/// The output's sample rate (`audio::stream_output_args`).
pub const RATE: u64 = 48_000;
/// Frames encoded before a part's range and after it, and dropped: ~2 s each side.
pub const MARGIN_FRAMES: u64 = 96;
/// Frames the encoder puts before the first sample (ffmpeg's AAC encoder: one).
const PRIMING_FRAMES: u64 = 1;

/// One part: frames `[start, start + len)` of the output timeline (the last part: to the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub start: u64,
    /// `None` for the last part.
    pub len: Option<u64>,
}

impl Part {
    /// The frames of this part's own encode to keep: skip the priming and the margin before it,
    /// then `len` (or everything to the end).
    pub fn keep(&self) -> (u64, Option<u64>) {
        let skip = if self.start == 0 {
            0
        } else {
            PRIMING_FRAMES + MARGIN_FRAMES
        };
        let len = self.len.map(|l| {
            if self.start == 0 {
                l + PRIMING_FRAMES
            } else {
                l
            }
        });
        (skip, len)
    }

    /// Where its encode starts in the source, seconds from the file's start.
    fn seek_s(&self) -> f64 {
        (self.start.saturating_sub(MARGIN_FRAMES) * FRAME) as f64 / RATE as f64
    }

    /// How much of the source its encode reads (`None`: to the end).
    fn read_s(&self) -> Option<f64> {
        let before = self.start.min(MARGIN_FRAMES);
        self.len
            .map(|l| ((before + l + MARGIN_FRAMES) * FRAME) as f64 / RATE as f64)
    }
}

/// The longest part. Parts are encoded a core at a time from a queue, so the one that finishes
/// last leaves the other cores idle for at most one part's encode (five minutes of audio: 3 to
/// 9 s on one core here), however unevenly the parts' content encodes. One part per core was not
/// that: a 6-hour source's first half took 2.2 times the CPU of its second (ffmpeg's AAC encoder
/// settles differently from the file's start than from a seek), and the second core idled for
/// 11 % of the run.
pub const PART_SECONDS: f64 = 300.0;

/// How many parts `seconds` of audio is cut into for a worker of `cores`: at least one per core,
/// and none longer than [`PART_SECONDS`].
pub fn count(seconds: f64, cores: usize) -> usize {
    cores.max(frames_of(seconds).div_ceil(frames_of(PART_SECONDS)) as usize)
}

/// Frames of output covering `seconds` of audio.
fn frames_of(seconds: f64) -> u64 {
    (seconds.max(0.0) * RATE as f64 / FRAME as f64).ceil() as u64
}

/// `parts` parts of equal whole frames over `seconds` of audio; one part when that is all there
/// is to share.
pub fn plan(seconds: f64, parts: usize) -> Vec<Part> {
    let frames = frames_of(seconds);
    let parts = (parts.max(1) as u64).min(frames.div_ceil(MARGIN_FRAMES * 4).max(1));
    let each = frames.div_ceil(parts);
    (0..parts)
        .map(|i| Part {
            start: i * each,
            len: (i + 1 < parts).then_some(each),
        })
        .collect()
}

/// Whether audio stream `stream` starts where the file does (within a sample or so). Parts seek
/// in the file's time and count frames from the audio's first sample: the two agree only then.
/// A source whose audio starts later (or whose start cannot be read) gets the single encode.
pub async fn starts_with_file(
    source: &SourceMedia,
    stream: u32,
    contain: &super::contain::Containment,
) -> bool {
    let select = format!("a:{stream}");
    let what = [
        "-select_streams",
        &select,
        "-show_entries",
        "stream=start_time:format=start_time",
    ];
    let Ok(p) = super::probe::ffprobe(source, contain, &what, "reading the audio's start").await
    else {
        return false;
    };
    let at = |s: Option<&String>| super::probe::seconds(s.map(String::as_str));
    match (
        at(p.streams.first().and_then(|s| s.start_time.as_ref())),
        at(p.format.as_ref().and_then(|f| f.start_time.as_ref())),
    ) {
        (Some(a), Some(f)) => (a - f).abs() < 0.000_1,
        _ => false,
    }
}

/// The encode of `part` of audio stream `stream` into ADTS at `out` (the gain, when normalizing,
/// as the single encode applies it).
pub fn part_args(
    source: &SourceMedia,
    stream: u32,
    part: &Part,
    gain_db: Option<f64>,
    out: &Path,
) -> Vec<String> {
    let before = if part.start == 0 {
        Vec::new()
    } else {
        vec!["-ss".to_owned(), format!("{:.6}", part.seek_s())]
    };
    let mut args = source.input_args(&before);
    if let Some(t) = part.read_s() {
        args.extend(["-t".to_owned(), format!("{t:.6}")]);
    }
    if let Some(gain) = gain_db {
        args.extend(["-af".to_owned(), vodflow_core::loudness::gain_filter(gain)]);
    }
    args.extend(super::audio::encoder_args(stream));
    args.extend(["-f".to_owned(), "adts".to_owned(), file_url(out)]);
    args
}

/// Muxes the joined ADTS stream at `input` into the fragments a single encode writes.
pub fn mux_args(input: &Path, out: &Path) -> Vec<String> {
    let mut args = vec![
        "-f".to_owned(),
        "aac".to_owned(),
        "-protocol_whitelist".to_owned(),
        "file".to_owned(),
        "-i".to_owned(),
        file_url(input),
        "-c:a".to_owned(),
        "copy".to_owned(),
        "-bsf:a".to_owned(),
        "aac_adtstoasc".to_owned(),
    ];
    // ADTS carries no decoder configuration: the bitstream filter makes it from the first
    // packet, after an `empty_moov` would have been written without it (an init segment no
    // player can decode). `delay_moov` writes the moov once the first fragment is cut.
    args.extend(super::audio::fragment_args(out, "+delay_moov"));
    args
}

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("reading an encoded audio part: {0}")]
    Io(#[from] std::io::Error),
    #[error("an encoded audio part is not ADTS at byte {0}")]
    NotAdts(u64),
    #[error("an encoded audio part has {have} frames; its range needs {need}")]
    Short { have: u64, need: u64 },
}

/// Appends the frames `part` keeps of the ADTS file `from` to `to`; the number appended. Reads
/// one frame at a time (a part of 12 hours is ~100 MB).
pub fn append_kept(part: &Part, from: &Path, to: &mut impl Write) -> Result<u64, JoinError> {
    let (skip, len) = part.keep();
    let mut r = BufReader::new(std::fs::File::open(from)?);
    let (mut index, mut kept, mut at) = (0u64, 0u64, 0u64);
    let mut frame = Vec::with_capacity(2048);
    loop {
        if len.is_some_and(|l| kept == l) || r.fill_buf()?.is_empty() {
            break;
        }
        let mut header = [0u8; 7];
        r.read_exact(&mut header)?;
        if header[0] != 0xFF || header[1] & 0xF6 != 0xF0 {
            return Err(JoinError::NotAdts(at));
        }
        let size = (usize::from(header[3] & 0x03) << 11)
            | (usize::from(header[4]) << 3)
            | usize::from(header[5] >> 5);
        if size < header.len() {
            return Err(JoinError::NotAdts(at));
        }
        frame.clear();
        frame.extend_from_slice(&header);
        frame.resize(size, 0);
        r.read_exact(&mut frame[header.len()..])?;
        if index >= skip {
            to.write_all(&frame)?;
            kept += 1;
        }
        index += 1;
        at += size as u64;
    }
    if let Some(need) = len
        && kept < need
    {
        return Err(JoinError::Short { have: kept, need });
    }
    Ok(kept)
}

/// The parts' kept frames, in order, as one ADTS file at `out`; the frames written.
pub fn join(parts: &[(Part, std::path::PathBuf)], out: &Path) -> Result<u64, JoinError> {
    let mut w = BufWriter::new(std::fs::File::create(out)?);
    let mut frames = 0;
    for (part, file) in parts {
        frames += append_kept(part, file, &mut w)?;
    }
    w.flush()?;
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_audio_is_cut_into_parts_of_at_most_five_minutes_and_at_least_one_per_core() {
        assert_eq!(count(43_200.0, 2), 144);
        assert_eq!(count(1_200.0, 2), 4);
        assert_eq!(count(1_200.0, 8), 8);
        assert_eq!(count(601.0, 2), 3);
        assert_eq!(count(0.0, 2), 2);
        for p in plan(43_200.0, count(43_200.0, 2)) {
            if let Some(len) = p.len {
                assert!(len <= frames_of(PART_SECONDS), "{p:?}");
            }
        }
    }

    #[test]
    fn parts_cover_the_timeline_on_frame_boundaries() {
        let p = plan(43_200.0, 4);
        assert_eq!(p.len(), 4);
        let frames = (43_200.0_f64 * 48_000.0 / 1024.0).ceil() as u64;
        let mut next = 0;
        for part in &p {
            assert_eq!(part.start, next);
            next += part.len.unwrap_or(frames - part.start);
        }
        assert_eq!(next, frames);
        assert_eq!(p[0].keep(), (0, Some(p[0].len.unwrap() + 1)));
        assert_eq!(p[1].keep(), (1 + MARGIN_FRAMES, p[1].len));
        assert_eq!(p[3].keep(), (1 + MARGIN_FRAMES, None));
        // Seeks land on the frame grid, the margin before the part.
        let s = p[1].seek_s() * 48_000.0 / 1024.0;
        assert!(
            (s - (p[1].start - MARGIN_FRAMES) as f64).abs() < 1e-6,
            "{s}"
        );
        // Too little audio to share: one part, the whole.
        assert_eq!(
            plan(5.0, 8),
            vec![Part {
                start: 0,
                len: None
            }]
        );
    }

    /// A directory of this test's own, removed when it ends.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new() -> Self {
            let p =
                std::env::temp_dir().join(format!("vodflow-audio-parts-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&p).unwrap();
            Self(p)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            std::fs::remove_dir_all(&self.0).ok();
        }
    }

    fn adts(n: usize, payload: u8) -> Vec<u8> {
        let size = 7 + 3;
        let mut out = Vec::new();
        for i in 0..n {
            out.extend_from_slice(&[
                0xFF,
                0xF1,
                0x50,
                0x80 | ((size >> 11) as u8 & 0x03),
                (size >> 3) as u8,
                ((size as u8 & 0x07) << 5) | 0x1F,
                0xFC,
            ]);
            out.extend_from_slice(&[payload, i as u8, 0]);
        }
        out
    }

    #[test]
    fn joining_keeps_exactly_each_parts_range() {
        let dir = Scratch::new();
        let first = Part {
            start: 0,
            len: Some(10),
        };
        let last = Part {
            start: 10,
            len: None,
        };
        let a = dir.path().join("a.aac");
        let b = dir.path().join("b.aac");
        // Part 0: priming + 10 frames + its margin after; part 1: priming + margin + 5 frames.
        std::fs::write(&a, adts(1 + 10 + MARGIN_FRAMES as usize, 1)).unwrap();
        std::fs::write(&b, adts(1 + MARGIN_FRAMES as usize + 5, 2)).unwrap();
        let out = dir.path().join("joined.aac");
        let n = join(&[(first, a.clone()), (last, b)], &out).unwrap();
        assert_eq!(n, 11 + 5);
        let joined = std::fs::read(&out).unwrap();
        let frames: Vec<&[u8]> = joined.chunks(10).collect();
        assert_eq!(frames.len(), 16);
        assert!(frames[..11].iter().all(|f| f[7] == 1));
        assert_eq!(frames[10][8], 10, "part 0 ends with its own last frame");
        assert!(frames[11..].iter().all(|f| f[7] == 2));
        assert_eq!(
            frames[11][8],
            1 + MARGIN_FRAMES as u8,
            "part 1 starts past its priming and margin"
        );
        // A part that ends early is refused, not joined short.
        std::fs::write(&a, adts(5, 1)).unwrap();
        let err = join(&[(first, a.clone())], &out).unwrap_err();
        assert!(
            matches!(err, JoinError::Short { have: 5, need: 11 }),
            "{err}"
        );
        std::fs::write(&a, b"not adts at all").unwrap();
        assert!(matches!(
            join(&[(first, a)], &out).unwrap_err(),
            JoinError::NotAdts(0)
        ));
    }
}
