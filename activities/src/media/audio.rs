//! `encode_audio`: the whole file's audio once, AAC-LC stereo 48 kHz, as 4 s CMAF fragments.

use std::path::Path;

use super::source::SourceMedia;

use vodflow_core::ladder::SEGMENT_SECONDS;

pub const AUDIO_KBPS: u32 = 128;

/// `gain_db`: the loudness normalization's one gain (`loudness::plan`), applied to the stereo
/// 48 kHz signal the encoder is fed, the same signal that was measured.
/// `stream`: which of the source's audio streams (`-map 0:a:N`).
pub fn audio_args(
    source: &SourceMedia,
    stream: u32,
    out: &Path,
    gain_db: Option<f64>,
) -> Vec<String> {
    let mut args = source.input_args(&[]);
    if let Some(gain) = gain_db {
        args.extend(["-af".to_owned(), vodflow_core::loudness::gain_filter(gain)]);
    }
    args.extend(stream_output_args(stream, out));
    args
}

/// Measures the programme's loudness and true peak (`loudness::measure_filter`), decoding only
/// its audio.
pub fn measure_args(source: &SourceMedia, stream: u32, filter: &str) -> Vec<String> {
    let mut args = source.input_args(&[]);
    args.extend(["-map".to_owned(), format!("0:a:{stream}")]);
    args.extend(["-vn", "-sn", "-dn", "-af", filter, "-f", "null", "-"].map(str::to_owned));
    args
}

/// The output half of [`audio_args`] for the first audio stream: what the audio of any input
/// becomes.
pub fn audio_output_args(out: &Path) -> Vec<String> {
    stream_output_args(0, out)
}

fn stream_output_args(stream: u32, out: &Path) -> Vec<String> {
    let mut args = encoder_args(stream);
    args.extend(fragment_args(out, ""));
    args
}

/// Stream `stream` of the input as the encoder makes it: AAC-LC stereo at 48 kHz. Every encode of
/// the audio rendition (whole, or in parts) uses exactly these.
pub fn encoder_args(stream: u32) -> Vec<String> {
    let mut args = vec!["-map".to_owned(), format!("0:a:{stream}")];
    args.extend(
        [
            "-vn",
            "-c:a",
            "aac",
            "-profile:a",
            "aac_low",
            "-b:a",
            &format!("{AUDIO_KBPS}k"),
            "-ar",
            "48000",
            "-ac",
            "2",
        ]
        .map(str::to_owned),
    );
    args
}

/// The audio rendition's file: fragmented MP4 of 4 s fragments at `out`, with `more_flags`
/// (`+flag…`) added to the muxer's.
pub fn fragment_args(out: &Path, more_flags: &str) -> Vec<String> {
    [
        "-f",
        "mp4",
        "-movflags",
        &format!("+frag_keyframe+empty_moov+default_base_moof{more_flags}"),
        "-frag_duration",
        &(u64::from(SEGMENT_SECONDS) * 1_000_000).to_string(),
        &out.display().to_string(),
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}
