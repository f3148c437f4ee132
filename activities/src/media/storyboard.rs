//! `create_storyboard`: the storyboard's sprite sheets, decoded from one finished rendition (the
//! smallest still sharp at tile size: a 240p rung decodes in a fraction of what the source would
//! cost), its init segment and media segments read back in order as one fragmented MP4.

use std::path::Path;

use vodflow_core::ladder::Rendition;
use vodflow_core::storyboard::Plan;

use super::source::file_url;

/// The rendition the tiles are decoded from: the smallest whose long side is at least `long_side`
/// (twice the tile's), else the largest there is.
pub fn source_rendition(renditions: &[Rendition], long_side: u32) -> Option<&Rendition> {
    renditions
        .iter()
        .filter(|r| r.width.max(r.height) >= long_side)
        .min_by_key(|r| r.width * r.height)
        .or_else(|| renditions.iter().max_by_key(|r| r.width * r.height))
}

/// Decodes `input` (a fragmented MP4 of video only) into `dir/storyboard-N.jpg`, numbered from 0.
pub fn storyboard_args(input: &Path, plan: &Plan, dir: &Path) -> Vec<String> {
    vec![
        "-f".into(),
        "mp4".into(),
        "-protocol_whitelist".into(),
        "file".into(),
        "-i".into(),
        file_url(input),
        "-an".into(),
        "-vf".into(),
        plan.filter(),
        // Every selected frame is a tile: no frame duplicated or dropped to meet a rate.
        "-fps_mode".into(),
        "passthrough".into(),
        "-q:v".into(),
        "4".into(),
        "-start_number".into(),
        "0".into(),
        file_url(&dir.join("storyboard-%d.jpg")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str, width: u32, height: u32) -> Rendition {
        Rendition {
            name: name.into(),
            width,
            height,
            video_kbps: 1,
            profile: "main".into(),
        }
    }

    #[test]
    fn the_smallest_rung_sharp_at_tile_size_is_decoded() {
        let ladder = [
            r("144p", 256, 144),
            r("240p", 426, 240),
            r("720p", 1280, 720),
        ];
        assert_eq!(source_rendition(&ladder, 320).unwrap().name, "240p");
        assert_eq!(source_rendition(&ladder[..1], 320).unwrap().name, "144p");
        assert!(source_rendition(&[], 320).is_none());
    }
}
