//! Even loudness (`normalize_audio`): the integrated loudness of the whole programme and its true
//! peak are measured (EBU R128 / ITU-R BS.1770, ffmpeg's `ebur128` on the stereo 48 kHz signal the
//! encoder is fed), then one gain is applied to all of it: linear, no compression or limiting, so
//! the dynamics are the source's.
//!
//! The target is `VODFLOW_LOUDNESS_TARGET` (default −16 LUFS: what Apple and AES TD1008 recommend
//! for streaming, between Spotify/YouTube's −14, which leaves less headroom for dynamic content,
//! and broadcast's −23/−24, which sounds quiet next to every other web video). The gain is held
//! back where it would put the true peak above −1.5 dBTP (−1 dBTP, less 0.5 dB for the AAC
//! encoder's overshoot): such a source ends quieter than the target rather than clipped or
//! compressed. Near-silent programmes (below −60 LUFS) are left as they are, and no gain exceeds
//! +30 dB, so noise is never raised to speech level.

use serde::{Deserialize, Serialize};

/// The ceiling the output's true peak is kept under, with the encoder's margin.
pub const PEAK_CEILING_DBTP: f64 = -1.5;
/// Below this the programme is silence or noise: not raised.
pub const SILENCE_LUFS: f64 = -60.0;
pub const MAX_GAIN_DB: f64 = 30.0;

/// What the measurement found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    pub integrated_lufs: f64,
    pub true_peak_dbtp: f64,
}

/// What the video reports: the input as measured and the gain applied.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Loudness {
    pub input_lufs: f64,
    pub input_true_peak_dbtp: f64,
    pub gain_db: f64,
    pub target_lufs: f64,
    /// The gain was held back by the true-peak ceiling (or the +30 dB cap): the output is quieter
    /// than the target.
    pub limited: bool,
}

/// The one gain that takes `m` to `target`, within the ceiling and the cap.
pub fn plan(m: Measured, target: f64) -> Loudness {
    let wanted = if m.integrated_lufs < SILENCE_LUFS || !m.integrated_lufs.is_finite() {
        0.0
    } else {
        target - m.integrated_lufs
    };
    let headroom = if m.true_peak_dbtp.is_finite() {
        PEAK_CEILING_DBTP - m.true_peak_dbtp
    } else {
        MAX_GAIN_DB
    };
    let gain = wanted.min(headroom).min(MAX_GAIN_DB);
    let gain = (gain * 100.0).round() / 100.0;
    // Stored as JSON, which has no infinities: silence reads as the meters' floor.
    Loudness {
        input_lufs: m.integrated_lufs.max(-120.0),
        input_true_peak_dbtp: m.true_peak_dbtp.max(-120.0),
        gain_db: gain,
        target_lufs: target,
        limited: gain < wanted - 0.005,
    }
}

/// The filter that measures: each frame's integrated loudness so far goes to `integrated`, its
/// running true peak to `peak`, so each file's last line is the programme's. `None` for a path a
/// filter graph would read as syntax (the work directory is the operator's; no escaping is worth
/// the risk).
pub fn measure_filter(integrated: &str, peak: &str) -> Option<String> {
    let unsafe_path = |p: &str| {
        p.chars()
            .any(|c| "\\:,'[];= \"".contains(c) || c.is_control())
    };
    if unsafe_path(integrated) || unsafe_path(peak) {
        return None;
    }
    Some(format!(
        "aformat=sample_rates=48000:channel_layouts=stereo,ebur128=peak=true:metadata=1,\
         ametadata=mode=print:key=lavfi.r128.I:file={integrated},\
         ametadata=mode=print:key=lavfi.r128.true_peak:file={peak}"
    ))
}

/// The filter that applies the gain to what the encoder is fed.
pub fn gain_filter(gain_db: f64) -> String {
    format!("aformat=sample_rates=48000:channel_layouts=stereo,volume={gain_db:.2}dB")
}

/// Reads the end of the measurement's file: the last integrated loudness, and the highest
/// true peak printed there (ebur128 prints it as a linear value with three decimals: one
/// rounding step is added so the ceiling is never under-estimated).
pub fn parse_measurement(tail: &str) -> Option<Measured> {
    let mut integrated = None;
    let mut peak: Option<f64> = None;
    for line in tail.lines() {
        if let Some(v) = line.strip_prefix("lavfi.r128.I=") {
            integrated = v.trim().parse::<f64>().ok().or(integrated);
        } else if let Some(v) = line.strip_prefix("lavfi.r128.true_peak=")
            && let Ok(v) = v.trim().parse::<f64>()
        {
            peak = Some(peak.map_or(v, |p| p.max(v)));
        }
    }
    let peak = peak?;
    Some(Measured {
        integrated_lufs: integrated?,
        true_peak_dbtp: 20.0 * (peak + 0.0005).log10(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(i: f64, tp: f64) -> Measured {
        Measured {
            integrated_lufs: i,
            true_peak_dbtp: tp,
        }
    }

    #[test]
    fn quiet_and_loud_programmes_meet_the_target_with_one_gain() {
        let quiet = plan(m(-35.0, -32.0), -16.0);
        assert_eq!(quiet.gain_db, 19.0);
        assert!(!quiet.limited);
        let loud = plan(m(-8.0, -0.1), -16.0);
        assert_eq!(loud.gain_db, -8.0);
    }

    #[test]
    fn the_peak_ceiling_and_the_caps_hold_the_gain_back() {
        // A spiky quiet programme: raising it 16 dB would put its peak at +2 dBTP.
        let spiky = plan(m(-32.0, -14.0), -16.0);
        assert_eq!(spiky.gain_db, 12.5);
        assert!(spiky.limited);
        assert_eq!(
            plan(m(-70.0, -60.0), -16.0).gain_db,
            0.0,
            "silence stays silent"
        );
        assert_eq!(plan(m(-59.0, -70.0), -16.0).gain_db, 30.0);
        assert_eq!(
            plan(m(f64::NEG_INFINITY, f64::NEG_INFINITY), -16.0).gain_db,
            0.0
        );
    }

    #[test]
    fn the_last_frame_is_read_and_the_peak_rounded_up() {
        let tail = "frame:48\nlavfi.r128.I=-51.700\nlavfi.r128.true_peak=0.002\nframe:49\nlavfi.r128.M=-51.7\nlavfi.r128.I=-51.760\nlavfi.r128.true_peak=0.003\n";
        let got = parse_measurement(tail).unwrap();
        assert_eq!(got.integrated_lufs, -51.76);
        assert!((got.true_peak_dbtp - 20.0 * 0.0035f64.log10()).abs() < 1e-9);
        assert_eq!(parse_measurement("garbage"), None);
    }

    #[test]
    fn a_path_cannot_break_out_of_the_filter() {
        assert_eq!(measure_filter("/work/a:b,c=d/i.txt", "/w/p.txt"), None);
        assert_eq!(measure_filter("/w/i.txt", "/w/p q.txt"), None);
        let f = measure_filter("/work/scratch/x/i.txt", "/work/scratch/x/p.txt").unwrap();
        assert!(
            f.contains("key=lavfi.r128.I:file=/work/scratch/x/i.txt,"),
            "{f}"
        );
        assert!(
            f.ends_with("key=lavfi.r128.true_peak:file=/work/scratch/x/p.txt"),
            "{f}"
        );
    }
}
