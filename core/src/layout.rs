//! The S3 key layout, in one place: the api writes sources here, the activities read and write
//! renditions here, and the playback routes serve from here.

use crate::VideoId;

pub fn source_key(id: VideoId) -> String {
    format!("uploads/{id}/source")
}

/// Everything a resumable upload keeps of its bytes past the last whole part, under its source
/// key: the segments and the single object of uploads recorded before them.
pub fn pending_prefix(source_key: &str) -> String {
    format!("{source_key}.pending")
}

/// One request's pending bytes (see `uploads::PendingSegment`).
pub fn pending_segment_key(source_key: &str, start: i64, lease: uuid::Uuid) -> String {
    format!("{source_key}.pending/{start:020}-{}", lease.simple())
}

/// The single pending object of an upload recorded before segments.
pub fn legacy_pending_key(source_key: &str) -> String {
    format!("{source_key}.pending")
}

/// Everything derived from a source lives under this prefix (deleted with the video).
pub fn video_prefix(id: VideoId) -> String {
    format!("videos/{id}/")
}

/// Every prefix under which a video has objects (its source and everything derived).
pub fn video_object_prefixes(id: VideoId) -> [String; 2] {
    [format!("uploads/{id}/"), video_prefix(id)]
}

/// The directory, relative to [`hls_prefix`], of one generation of renditions. Generation 0 (the
/// upload's own runs and their replays) keeps the original layout; a forced re-encode starts a new
/// generation, so segment URLs served as immutable never change content.
pub fn generation_dir(generation: u32) -> String {
    match generation {
        0 => String::new(),
        g => format!("g{g}/"),
    }
}

/// The generation a directory name `g1`, `g2`… stands for, exactly as [`generation_dir`] writes it
/// (never `g0`, no zero padding); `None` for any other name.
pub fn generation_of_dir(name: &str) -> Option<u32> {
    let n = name.strip_prefix('g')?;
    if n.is_empty() || n.len() > 9 || n.starts_with('0') || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// Where finished chunks' manifests live: what a replay of the same generation reuses.
pub fn chunk_manifests_prefix(id: VideoId, generation: u32) -> String {
    format!("{}.chunks/{}", hls_prefix(id), generation_dir(generation))
}

/// Where chunk `index` records that it is complete (written last, after every segment).
pub fn chunk_manifest_key(id: VideoId, generation: u32, index: u32) -> String {
    format!("{}{index:05}.json", chunk_manifests_prefix(id, generation))
}

/// The first audio rendition's segment list, written by `encode_audio` and read by `package`.
pub fn audio_manifest_key(id: VideoId, generation: u32) -> String {
    audio_track_manifest_key(id, generation, "audio")
}

/// An audio rendition's segment list (`audio`, `audio-2`…).
pub fn audio_track_manifest_key(id: VideoId, generation: u32, rendition: &str) -> String {
    format!("{}{rendition}.json", chunk_manifests_prefix(id, generation))
}

pub fn hls_prefix(id: VideoId) -> String {
    format!("videos/{id}/hls/")
}

pub fn master_playlist_key(id: VideoId) -> String {
    format!("videos/{id}/hls/master.m3u8")
}

/// The DASH manifest of the published generation, beside the master (and replaced with it).
pub fn dash_manifest_key(id: VideoId) -> String {
    format!("videos/{id}/hls/manifest.mpd")
}

/// A download of the generation (`downloads::Download::object`), beside its renditions.
pub fn download_key(id: VideoId, generation: u32, object: &str) -> String {
    format!(
        "{}{}download/{object}",
        hls_prefix(id),
        generation_dir(generation)
    )
}

/// A rendition's directory relative to the master playlist (what the master's URIs start with).
pub fn rendition_dir(generation: u32, rendition: &str) -> String {
    format!("{}{rendition}/", generation_dir(generation))
}

/// `rendition` is a rung name such as `720p`, or `audio`.
pub fn playlist_key(id: VideoId, generation: u32, rendition: &str) -> String {
    format!(
        "{}{}index.m3u8",
        hls_prefix(id),
        rendition_dir(generation, rendition)
    )
}

pub fn init_key(id: VideoId, generation: u32, rendition: &str) -> String {
    format!(
        "{}{}init.mp4",
        hls_prefix(id),
        rendition_dir(generation, rendition)
    )
}

/// Segment numbers start at 1 and continue across chunks.
pub fn segment_name(number: u32) -> String {
    format!("seg_{number:05}.m4s")
}

/// The number of a segment named by [`segment_name`] (a playlist line or a key's last part).
pub fn segment_number(name: &str) -> Option<u32> {
    name.rsplit('/')
        .next()?
        .strip_prefix("seg_")?
        .strip_suffix(".m4s")?
        .parse()
        .ok()
}

pub fn segment_key(id: VideoId, generation: u32, rendition: &str, number: u32) -> String {
    format!(
        "{}{}{}",
        hls_prefix(id),
        rendition_dir(generation, rendition),
        segment_name(number)
    )
}

/// Sheet `n` of the generation's storyboard, beside its poster.
pub fn storyboard_sheet_key(id: VideoId, generation: u32, n: u32) -> String {
    format!(
        "videos/{id}/thumbs/{}{}",
        generation_dir(generation),
        crate::storyboard::sheet_name(n)
    )
}

/// The generation's storyboard WebVTT (its sheets' URLs are relative: they sit beside it).
pub fn storyboard_vtt_key(id: VideoId, generation: u32) -> String {
    format!(
        "videos/{id}/thumbs/{}storyboard.vtt",
        generation_dir(generation)
    )
}

/// A generation's poster: posters are served as immutable, so a forced re-encode writes its own
/// (`thumbs/g<N>/poster.jpg`) and viewers are shown it only once that generation is published.
pub fn poster_key(id: VideoId, generation: u32) -> String {
    format!(
        "videos/{id}/thumbs/{}poster.jpg",
        generation_dir(generation)
    )
}

/// An on-demand image of the generation (`images::Still::file_name`), beside its poster: a
/// re-encode's images are made afresh from its own segments, and the video's deletion takes them.
pub fn image_key(id: VideoId, generation: u32, file_name: &str) -> String {
    format!(
        "videos/{id}/thumbs/{}on-demand/{file_name}",
        generation_dir(generation)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_documented_layout() {
        let id: VideoId = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".parse().unwrap();
        assert_eq!(
            source_key(id),
            "uploads/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/source"
        );
        assert_eq!(
            segment_key(id, 0, "720p", 7),
            "videos/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/hls/720p/seg_00007.m4s"
        );
        assert_eq!(
            segment_key(id, 3, "720p", 7),
            "videos/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/hls/g3/720p/seg_00007.m4s"
        );
        assert_eq!(
            chunk_manifest_key(id, 3, 2),
            "videos/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/hls/.chunks/g3/00002.json"
        );
        assert_eq!(
            poster_key(id, 0),
            "videos/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/thumbs/poster.jpg"
        );
        assert_eq!(
            poster_key(id, 3),
            "videos/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/thumbs/g3/poster.jpg"
        );
    }
}
