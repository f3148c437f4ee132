//! The HLS ladder and the chunk plan: pure functions of the probed source, so the workflow can
//! compute them deterministically and tests can check them without a stack.

use serde::{Deserialize, Serialize};

/// Segment length in seconds; chunks are whole multiples of it so numbering continues across chunks.
pub const SEGMENT_SECONDS: u32 = 4;
/// Closed GOP length: keyframes on absolute 2 s boundaries, aligned across renditions.
pub const GOP_SECONDS: u32 = 2;

/// One rung of the default ladder, by its short side ("p").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RungSpec {
    pub short_side: u32,
    pub video_kbps: u32,
    pub audio_kbps: u32,
}

pub const DEFAULT_LADDER: [RungSpec; 6] = [
    RungSpec {
        short_side: 144,
        video_kbps: 150,
        audio_kbps: 64,
    },
    RungSpec {
        short_side: 240,
        video_kbps: 300,
        audio_kbps: 64,
    },
    RungSpec {
        short_side: 360,
        video_kbps: 700,
        audio_kbps: 96,
    },
    RungSpec {
        short_side: 480,
        video_kbps: 1200,
        audio_kbps: 128,
    },
    RungSpec {
        short_side: 720,
        video_kbps: 2800,
        audio_kbps: 128,
    },
    RungSpec {
        short_side: 1080,
        video_kbps: 5000,
        audio_kbps: 128,
    },
];

/// A rendition to produce: output size, bitrate cap and H.264 profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendition {
    /// `720p`: the name used in keys and playlists.
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// Capped-CRF cap: maxrate = this, bufsize = twice this.
    pub video_kbps: u32,
    /// `high`, or `main` for ≤ 240p (older decoders).
    pub profile: String,
}

fn even(x: f64) -> u32 {
    let r = (x / 2.0).round() as u32 * 2;
    r.max(2)
}

/// Rungs no larger than the source (never upscale). Portrait sources are laddered by their short
/// side, like landscape ones. A source smaller than the lowest rung gets one rung at its own size.
pub fn plan_renditions(display_width: u32, display_height: u32) -> Vec<Rendition> {
    let (w, h) = (display_width.max(2), display_height.max(2));
    let short = w.min(h);
    let landscape = w >= h;
    let make = |p: u32, kbps: u32| {
        let scale = f64::from(p) / f64::from(short);
        let (rw, rh) = if p == short {
            (w - w % 2, h - h % 2)
        } else if landscape {
            (even(f64::from(w) * scale), p - p % 2)
        } else {
            (p - p % 2, even(f64::from(h) * scale))
        };
        Rendition {
            name: format!("{p}p"),
            width: rw,
            height: rh,
            video_kbps: kbps,
            profile: if p <= 240 { "main" } else { "high" }.to_owned(),
        }
    };
    let rungs: Vec<Rendition> = DEFAULT_LADDER
        .iter()
        .filter(|r| r.short_side <= short)
        .map(|r| make(r.short_side, r.video_kbps))
        .collect();
    if rungs.is_empty() {
        vec![make(short, DEFAULT_LADDER[0].video_kbps)]
    } else {
        rungs
    }
}

/// A time range of the source encoded by one activity, in every rendition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub index: u32,
    pub start_ms: u64,
    /// Exclusive; the last chunk ends at the source's duration.
    pub end_ms: u64,
    /// Number of this chunk's first segment (segments are numbered from 1 across the whole video).
    pub first_segment: u32,
}

pub fn plan_chunks(duration_ms: u64, chunk_seconds: u32) -> Vec<Chunk> {
    plan(duration_ms, chunk_seconds, chunk_seconds)
}

/// Like [`plan_chunks`], but the first chunk is one segment long: it is encoded first and
/// finishes first, so the video is watchable after seconds of work rather than a whole chunk's.
pub fn plan_chunks_short_first(duration_ms: u64, chunk_seconds: u32) -> Vec<Chunk> {
    plan(duration_ms, SEGMENT_SECONDS, chunk_seconds)
}

/// Most chunks one run encodes. Every chunk costs its run's Temporal history about six events
/// (its activity scheduled, started and completed, and the workflow task that handles it);
/// Temporal warns past 10,240 events, and the longest source the limits allow (12 h) at the
/// smallest chunk (4 s) would be 10,800 chunks. Longer sources get longer chunks instead: 1,000
/// chunks is still far more parallelism than any deployment has transcode slots.
pub const MAX_CHUNKS: u64 = 1_000;

/// The chunk length a run uses for a source of `duration_ms`: `chunk_seconds`, or, for a source
/// that would need more than [`MAX_CHUNKS`] chunks of it, the shortest whole number of segments
/// that keeps it within them.
pub fn chunk_seconds_for(duration_ms: u64, chunk_seconds: u32) -> u32 {
    let segment_ms = u64::from(SEGMENT_SECONDS) * 1000;
    let needed_ms = duration_ms.div_ceil(MAX_CHUNKS);
    let needed = (needed_ms.div_ceil(segment_ms) * u64::from(SEGMENT_SECONDS)) as u32;
    chunk_seconds.max(needed)
}

/// A last chunk shorter than this joins the one before it.
pub const MIN_TAIL_MS: u64 = 1_000;

/// Like [`plan_chunks_short_first`], but a tail shorter than [`MIN_TAIL_MS`] is encoded with the
/// chunk before it. Such a tail often holds no frame at all: a container's duration covers its
/// longest stream, and the audio (AAC priming, Opus pre-skip, a recorder that stops the video
/// first) commonly outlasts the last frame by a few milliseconds, so a 4.025 s file had a chunk
/// `4000..4025` that decoded nothing. Even cut at the video's own end, the last frame starts up to
/// one frame duration before it.
pub fn plan_chunks_short_first_whole_tail(duration_ms: u64, chunk_seconds: u32) -> Vec<Chunk> {
    let mut chunks = plan(duration_ms, SEGMENT_SECONDS, chunk_seconds);
    if chunks.len() >= 2
        && chunks
            .last()
            .is_some_and(|t| t.end_ms - t.start_ms < MIN_TAIL_MS)
        && let Some(tail) = chunks.pop()
        && let Some(before) = chunks.last_mut()
    {
        before.end_ms = tail.end_ms;
    }
    chunks
}

fn plan(duration_ms: u64, first_seconds: u32, chunk_seconds: u32) -> Vec<Chunk> {
    let whole = |s: u32| (s.max(SEGMENT_SECONDS) / SEGMENT_SECONDS) * SEGMENT_SECONDS;
    let mut out = Vec::new();
    let mut start = 0;
    let mut index = 0;
    let mut first_segment = 1;
    while start < duration_ms {
        let seconds = whole(if index == 0 {
            first_seconds
        } else {
            chunk_seconds
        });
        let end = (start + u64::from(seconds) * 1000).min(duration_ms);
        out.push(Chunk {
            index,
            start_ms: start,
            end_ms: end,
            first_segment,
        });
        start = end;
        index += 1;
        first_segment += seconds / SEGMENT_SECONDS;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_source_at_the_smallest_chunk_stays_within_the_chunk_cap() {
        let twelve_hours = 12 * 3600 * 1000;
        let seconds = chunk_seconds_for(twelve_hours, 4);
        assert_eq!(seconds % SEGMENT_SECONDS, 0);
        let chunks = plan_chunks_short_first_whole_tail(twelve_hours, seconds);
        assert!(chunks.len() as u64 <= MAX_CHUNKS + 1, "{}", chunks.len());
        assert!(
            chunks.len() > 900,
            "{}: no longer than needed",
            chunks.len()
        );
        assert_eq!(chunks.last().unwrap().end_ms, twelve_hours);
        // Sources that fit keep the configured length.
        assert_eq!(chunk_seconds_for(3_600_000, 16), 16);
        assert_eq!(chunk_seconds_for(20_000, 4), 4);
        assert_eq!(chunk_seconds_for(16_000 * MAX_CHUNKS, 16), 16);
        assert_eq!(chunk_seconds_for(16_000 * MAX_CHUNKS + 1, 16), 20);
    }

    #[test]
    fn ladder_never_upscales_and_keeps_aspect() {
        let r = plan_renditions(1280, 720);
        let names: Vec<_> = r.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["144p", "240p", "360p", "480p", "720p"]);
        assert_eq!((r[0].width, r[0].height), (256, 144));
        assert_eq!((r[1].width, r[1].height), (426, 240));
        assert_eq!((r[3].width, r[3].height), (854, 480));
        assert_eq!((r[4].width, r[4].height), (1280, 720));
        assert_eq!(r[0].profile, "main");
        assert_eq!(r[4].profile, "high");
        assert!(r.iter().all(|r| r.width % 2 == 0 && r.height % 2 == 0));
    }

    #[test]
    fn portrait_tiny_and_odd_sources() {
        let p = plan_renditions(720, 1280);
        assert_eq!(p.last().map(|r| (r.width, r.height)), Some((720, 1280)));
        assert_eq!((p[0].width, p[0].height), (144, 256));
        let tiny = plan_renditions(170, 96);
        assert_eq!(tiny.len(), 1);
        assert_eq!(
            (tiny[0].name.as_str(), tiny[0].width, tiny[0].height),
            ("96p", 170, 96)
        );
        let odd = plan_renditions(641, 361);
        assert!(odd.iter().all(|r| r.width % 2 == 0 && r.height % 2 == 0));
        assert_eq!(odd.last().map(|r| r.name.as_str()), Some("360p"));
    }

    #[test]
    fn chunks_are_whole_segments_and_number_segments_continuously() {
        let c = plan_chunks(37_500, 16);
        assert_eq!(c.len(), 3);
        assert_eq!(
            (c[0].start_ms, c[0].end_ms, c[0].first_segment),
            (0, 16_000, 1)
        );
        assert_eq!(
            (c[1].start_ms, c[1].end_ms, c[1].first_segment),
            (16_000, 32_000, 5)
        );
        assert_eq!(
            (c[2].start_ms, c[2].end_ms, c[2].first_segment),
            (32_000, 37_500, 9)
        );
        assert_eq!(plan_chunks(0, 16), vec![]);
        assert_eq!(
            plan_chunks(10_000, 6).len(),
            3,
            "6 s rounds down to 4 s chunks"
        );
    }

    #[test]
    fn the_short_first_chunk_is_one_segment_and_numbering_continues() {
        let c = plan_chunks_short_first(37_500, 16);
        let spans: Vec<_> = c
            .iter()
            .map(|c| (c.start_ms, c.end_ms, c.first_segment))
            .collect();
        assert_eq!(
            spans,
            [
                (0, 4_000, 1),
                (4_000, 20_000, 2),
                (20_000, 36_000, 6),
                (36_000, 37_500, 10)
            ]
        );
        assert_eq!(plan_chunks_short_first(3_000, 16).len(), 1);
        assert_eq!(plan_chunks_short_first(0, 16), vec![]);
    }

    #[test]
    fn a_tail_too_short_to_hold_a_frame_joins_the_chunk_before() {
        let spans = |c: Vec<Chunk>| -> Vec<(u64, u64, u32)> {
            c.iter()
                .map(|c| (c.start_ms, c.end_ms, c.first_segment))
                .collect()
        };
        // 23.976 fps in Matroska with 5.1 audio: 4.025 s, the last frame starting at 3.983 s.
        assert_eq!(
            spans(plan_chunks_short_first_whole_tail(4_025, 16)),
            [(0, 4_025, 1)]
        );
        assert_eq!(
            spans(plan_chunks_short_first_whole_tail(20_008, 16)),
            [(0, 4_000, 1), (4_000, 20_008, 2)]
        );
        // A tail of a second or more keeps its own chunk.
        assert_eq!(
            spans(plan_chunks_short_first_whole_tail(37_500, 16)),
            spans(plan_chunks_short_first(37_500, 16))
        );
        assert_eq!(
            spans(plan_chunks_short_first_whole_tail(900, 16)),
            [(0, 900, 1)]
        );
        assert_eq!(plan_chunks_short_first_whole_tail(0, 16), vec![]);
    }
}
