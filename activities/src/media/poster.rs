//! `create_poster`: one JPEG frame at ~10% of the duration (past intros and fades), at most 1280 wide.

use std::path::Path;

use super::ffmpeg_cli::secs;
use super::source::SourceMedia;

/// One frame at `at_ms` (callers pass ~10% of the duration, past intros and fades), through
/// `filters` (the source's deinterlace / tone-map chain, ending with `,` when not empty).
pub fn poster_args(source: &SourceMedia, at_ms: u64, filters: &str, out: &Path) -> Vec<String> {
    let mut args = source.input_args(&["-ss".into(), secs(at_ms)]);
    args.extend([
        "-frames:v".into(),
        "1".into(),
        "-vf".into(),
        format!("{filters}scale='min(1280,iw)':-2"),
        "-q:v".into(),
        "3".into(),
        out.display().to_string(),
    ]);
    args
}
