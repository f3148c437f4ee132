//! `encode_audio`: the whole file's audio once, AAC-LC stereo 48 kHz, as 4 s CMAF fragments.

use std::path::Path;

use super::source::SourceMedia;

use vodflow_core::ladder::SEGMENT_SECONDS;

pub const AUDIO_KBPS: u32 = 128;

pub fn audio_args(source: &SourceMedia, out: &Path) -> Vec<String> {
    let mut args = source.input_args(&[]);
    args.extend(audio_output_args(out));
    args
}

/// The output half of [`audio_args`]: what the audio of any input becomes.
pub fn audio_output_args(out: &Path) -> Vec<String> {
    let mut args = Vec::new();
    args.extend(
        [
            "-map",
            "0:a:0",
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
            "-f",
            "mp4",
            "-movflags",
            "+frag_keyframe+empty_moov+default_base_moof",
            "-frag_duration",
            &(u64::from(SEGMENT_SECONDS) * 1_000_000).to_string(),
            &out.display().to_string(),
        ]
        .into_iter()
        .map(str::to_owned),
    );
    args
}
