//! What a `/play/{id}/...` path may name. Anything else is a 404 before the store is asked, so the
//! origin cannot be used to read arbitrary keys (sources, manifests of unfinished chunks).

use uuid::Uuid;
use vodflow_core::{VideoId, images, layout, playback};

/// One playable object, with how it may be cached.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct PlayPath<'a> {
    /// The `sig-…` segment, when the URL carries one.
    pub(super) signature: Option<&'a str>,
    pub(super) key: String,
    pub(super) content_type: &'static str,
    /// Segments, init segments and posters never change under the same URL; playlists may
    /// (a forced re-encode rewrites them), so they are cached briefly.
    pub(super) immutable: bool,
    /// Not an object: written from the database (`key` is empty).
    pub(super) generated: Option<Generated>,
    /// `download/{file}`: a download, found by its file name among those the video lists (`key`
    /// is empty until then).
    pub(super) download: Option<&'a str>,
}

/// What the origin writes from the database rather than reads from the store.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(super) enum Generated {
    /// `chapters.vtt`.
    Chapters,
    /// `text/{track}.vtt`: the whole track.
    Track(Uuid),
    /// `text/{track}/index.m3u8`: its HLS playlist.
    TrackPlaylist(Uuid),
    /// `text/{track}/seg_NNNNN.vtt`: one segment of it.
    TrackSegment(Uuid, u64),
    /// `thumbnail.*`, `animated.*`: made from the segments on first request, then stored.
    Image(Image),
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(super) enum Image {
    Still(images::StillFormat),
    Animated(images::AnimatedFormat),
}

pub(super) fn parse(id: VideoId, rest: &str) -> Option<PlayPath<'_>> {
    let (signature, file) = match rest.split_once('/') {
        Some((first, after)) if playback::is_signature_segment(first) => (Some(first), after),
        _ => (None, rest),
    };
    let hls = layout::hls_prefix(id);
    let playlist = "application/vnd.apple.mpegurl";
    let parts = file.split('/').collect::<Vec<_>>();
    if let Some((generated, content_type)) = generated(&parts) {
        return Some(PlayPath {
            signature,
            key: String::new(),
            content_type,
            immutable: false,
            generated: Some(generated),
            download: None,
        });
    }
    if let ["download", name] = parts.as_slice() {
        let content_type = if *name == "audio.m4a" {
            "audio/mp4"
        } else if is_rendition(name.strip_suffix(".mp4")?) || *name == "highest.mp4" {
            "video/mp4"
        } else {
            return None;
        };
        return Some(PlayPath {
            signature,
            key: String::new(),
            content_type,
            // The same URL names the next generation's download after a forced re-encode.
            immutable: false,
            generated: None,
            download: Some(name),
        });
    }
    // `g<N>/` in front of a rendition or the poster names a later generation (a forced
    // re-encode's).
    let (generation, parts) = match parts.as_slice() {
        [g, rest @ ..] if rest.len() == 2 || matches!(rest, [file] if is_thumb_file(file)) => {
            (layout::generation_of_dir(g)?, rest)
        }
        all => (0, all),
    };
    let (key, content_type, immutable) = match parts {
        ["master.m3u8"] => (layout::master_playlist_key(id), playlist, false),
        ["manifest.mpd"] => (
            layout::dash_manifest_key(id),
            vodflow_core::dash::CONTENT_TYPE,
            false,
        ),
        ["poster.jpg"] => (layout::poster_key(id, generation), "image/jpeg", true),
        ["storyboard.vtt"] => (
            layout::storyboard_vtt_key(id, generation),
            "text/vtt; charset=utf-8",
            false,
        ),
        [sheet] if storyboard_sheet(sheet).is_some() => (
            layout::storyboard_sheet_key(id, generation, storyboard_sheet(sheet)?),
            "image/jpeg",
            true,
        ),
        [rendition, name] if is_rendition(rendition) => {
            let content_type = match *name {
                "index.m3u8" => playlist,
                "init.mp4" => "video/mp4",
                n if is_segment(n) => "video/iso.segment",
                _ => return None,
            };
            (
                format!(
                    "{hls}{}{name}",
                    layout::rendition_dir(generation, rendition)
                ),
                content_type,
                content_type != playlist,
            )
        }
        _ => return None,
    };
    Some(PlayPath {
        signature,
        key,
        content_type,
        immutable,
        generated: None,
        download: None,
    })
}

fn generated(parts: &[&str]) -> Option<(Generated, &'static str)> {
    const VTT: &str = "text/vtt; charset=utf-8";
    // One spelling per track: the UUID as the API lists it (hyphenated, lowercase).
    let track = |s: &str| Uuid::parse_str(s).ok().filter(|u| u.to_string() == s);
    Some(match parts {
        ["chapters.vtt"] => (Generated::Chapters, VTT),
        [file] if images::StillFormat::from_file(file).is_some() => {
            let f = images::StillFormat::from_file(file)?;
            (Generated::Image(Image::Still(f)), f.content_type())
        }
        [file] if images::AnimatedFormat::from_file(file).is_some() => {
            let f = images::AnimatedFormat::from_file(file)?;
            (Generated::Image(Image::Animated(f)), f.content_type())
        }
        ["text", file] => (Generated::Track(track(file.strip_suffix(".vtt")?)?), VTT),
        ["text", t, "index.m3u8"] => (
            Generated::TrackPlaylist(track(t)?),
            "application/vnd.apple.mpegurl",
        ),
        ["text", t, seg] => {
            let n = seg.strip_prefix("seg_")?.strip_suffix(".vtt")?;
            if n.len() != 5 || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (Generated::TrackSegment(track(t)?, n.parse().ok()?), VTT)
        }
        _ => return None,
    })
}

/// What sits beside the poster, per generation: the poster, the storyboard and its sheets.
fn is_thumb_file(name: &str) -> bool {
    name == "poster.jpg" || name == "storyboard.vtt" || storyboard_sheet(name).is_some()
}

/// `storyboard-3.jpg` → 3, spelled exactly as `storyboard::sheet_name` writes it.
fn storyboard_sheet(name: &str) -> Option<u32> {
    let n: u32 = name
        .strip_prefix("storyboard-")?
        .strip_suffix(".jpg")?
        .parse()
        .ok()?;
    (vodflow_core::storyboard::sheet_name(n) == name).then_some(n)
}

/// `144p` … `2160p`, or `audio`, `audio-2` … `audio-8` (spelled as `audio_tracks::rendition_name`).
fn is_rendition(s: &str) -> bool {
    s == "audio"
        || s.strip_prefix("audio-").is_some_and(|n| {
            n.len() == 1
                && n.parse::<usize>()
                    .is_ok_and(|n| (2..=vodflow_core::audio_tracks::MAX_AUDIO_TRACKS).contains(&n))
        })
        || s.strip_suffix('p')
            .is_some_and(|n| (3..=4).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `seg_00001.m4s`, as `layout::segment_name` writes them.
fn is_segment(s: &str) -> bool {
    s.strip_prefix("seg_")
        .and_then(|r| r.strip_suffix(".m4s"))
        .is_some_and(|n| n.len() == 5 && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> VideoId {
        "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".parse().unwrap()
    }

    #[test]
    fn playable_paths_map_to_their_keys() {
        let p = parse(id(), "720p/seg_00003.m4s").unwrap();
        assert_eq!(p.key, layout::segment_key(id(), 0, "720p", 3));
        let p = parse(id(), "g2/720p/seg_00003.m4s").unwrap();
        assert_eq!(p.key, layout::segment_key(id(), 2, "720p", 3));
        assert!(p.immutable);
        assert!(!parse(id(), "g2/720p/index.m3u8").unwrap().immutable);
        for bad in [
            "g0/720p/init.mp4",
            "g02/720p/init.mp4",
            "g/720p/init.mp4",
            "x2/720p/init.mp4",
            "g2/g3/init.mp4",
        ] {
            assert_eq!(parse(id(), bad), None, "{bad}");
        }
        assert!(p.immutable);
        assert_eq!(p.signature, None);
        let p = parse(id(), "sig-10-abc/master.m3u8").unwrap();
        assert_eq!(p.signature, Some("sig-10-abc"));
        assert_eq!(p.key, layout::master_playlist_key(id()));
        assert!(!p.immutable);
        assert_eq!(
            parse(id(), "poster.jpg").unwrap().key,
            layout::poster_key(id(), 0)
        );
        assert_eq!(
            parse(id(), "g2/poster.jpg").unwrap().key,
            layout::poster_key(id(), 2)
        );
        assert_eq!(parse(id(), "g0/poster.jpg"), None);
        assert_eq!(parse(id(), "720p/poster.jpg"), None);
        assert_eq!(
            parse(id(), "audio/init.mp4").unwrap().key,
            layout::init_key(id(), 0, "audio")
        );
    }

    #[test]
    fn storyboards_sit_beside_the_poster_of_their_generation() {
        let key = |p: &str| parse(id(), p).map(|p| p.key);
        assert_eq!(
            key("storyboard.vtt"),
            Some(layout::storyboard_vtt_key(id(), 0))
        );
        assert_eq!(
            key("g2/storyboard.vtt"),
            Some(layout::storyboard_vtt_key(id(), 2))
        );
        assert_eq!(
            key("g2/storyboard-1.jpg"),
            Some(layout::storyboard_sheet_key(id(), 2, 1))
        );
        assert!(parse(id(), "storyboard-0.jpg").unwrap().immutable);
        for bad in [
            "storyboard-01.jpg",
            "storyboard--1.jpg",
            "storyboard-x.jpg",
            "720p/storyboard.vtt",
            "g0/storyboard.vtt",
        ] {
            assert_eq!(parse(id(), bad), None, "{bad}");
        }
    }

    #[test]
    fn text_tracks_have_one_url_each() {
        let t: Uuid = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".parse().unwrap();
        let g = |p: &str| parse(id(), p).and_then(|p| p.generated);
        assert_eq!(g(&format!("text/{t}.vtt")), Some(Generated::Track(t)));
        assert_eq!(
            g(&format!("text/{t}/index.m3u8")),
            Some(Generated::TrackPlaylist(t))
        );
        assert_eq!(
            g(&format!("sig-1-a/text/{t}/seg_00012.vtt")),
            Some(Generated::TrackSegment(t, 12))
        );
        assert_eq!(g("chapters.vtt"), Some(Generated::Chapters));
        assert_eq!(
            g("sig-1-a/thumbnail.webp"),
            Some(Generated::Image(Image::Still(images::StillFormat::Webp)))
        );
        assert_eq!(
            g("animated.gif"),
            Some(Generated::Image(Image::Animated(
                images::AnimatedFormat::Gif
            )))
        );
        assert_eq!(g("g2/thumbnail.jpg"), None);
        assert_eq!(g("thumbnail.jpeg"), None);
    }

    #[test]
    fn nothing_else_is_reachable() {
        for bad in [
            "",
            "../../uploads/x/source",
            "720p/../../source",
            "source",
            "chunks/0/manifest.json",
            "720p/seg_1.m4s",
            "720p/index.m3u8/x",
            "huge/index.m3u8",
            "sig-1-a/sig-1-a/master.m3u8",
            "text/0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B.vtt",
            "text/0190a1b2c3d47e5f8a9b0c1d2e3f4a5b.vtt",
            "text/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/seg_1.vtt",
            "text/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/x.m3u8",
            "text/x.vtt",
        ] {
            assert_eq!(parse(id(), bad), None, "{bad}");
        }
    }
}
