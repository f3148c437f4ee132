//! One published media segment, as the encodes report it and the packagers (HLS and DASH) list it.

use serde::{Deserialize, Serialize};

/// One published media segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub number: u32,
    pub duration_s: f64,
    pub bytes: u64,
    /// Its exact times, for DASH's SegmentTimeline; absent in segments recorded before they were
    /// kept (such a generation is published as HLS only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<SegmentTiming>,
}

/// A segment's decode time and length in its track's own timescale (from `tfdt` and `trun`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentTiming {
    pub timescale: u32,
    pub start: u64,
    pub ticks: u64,
}
