//! The S3 key layout, in one place: the api writes sources here, the activities read and write
//! renditions here, and the playback routes serve from here.

use crate::VideoId;

pub fn source_key(id: VideoId) -> String {
    format!("uploads/{id}/source")
}

/// Everything derived from a source lives under this prefix (deleted with the video).
pub fn video_prefix(id: VideoId) -> String {
    format!("videos/{id}/")
}

/// Every prefix under which a video has objects (its source and everything derived).
pub fn video_object_prefixes(id: VideoId) -> [String; 2] {
    [format!("uploads/{id}/"), video_prefix(id)]
}

/// Where finished chunks' manifests live: what a replay reuses, and a forced re-encode forgets.
pub fn chunk_manifests_prefix(id: VideoId) -> String {
    format!("{}.chunks/", hls_prefix(id))
}

/// Where chunk `index` records that it is complete (written last, after every segment).
pub fn chunk_manifest_key(id: VideoId, index: u32) -> String {
    format!("{}{index:05}.json", chunk_manifests_prefix(id))
}

/// The audio rendition's segment list, written by `encode_audio` and read by `package`.
pub fn audio_manifest_key(id: VideoId) -> String {
    format!("{}audio.json", chunk_manifests_prefix(id))
}

pub fn hls_prefix(id: VideoId) -> String {
    format!("videos/{id}/hls/")
}

pub fn master_playlist_key(id: VideoId) -> String {
    format!("videos/{id}/hls/master.m3u8")
}

/// `rendition` is a rung name such as `720p`, or `audio`.
pub fn playlist_key(id: VideoId, rendition: &str) -> String {
    format!("videos/{id}/hls/{rendition}/index.m3u8")
}

pub fn init_key(id: VideoId, rendition: &str) -> String {
    format!("videos/{id}/hls/{rendition}/init.mp4")
}

/// Segment numbers start at 1 and continue across chunks.
pub fn segment_name(number: u32) -> String {
    format!("seg_{number:05}.m4s")
}

pub fn segment_key(id: VideoId, rendition: &str, number: u32) -> String {
    format!("videos/{id}/hls/{rendition}/{}", segment_name(number))
}

pub fn poster_key(id: VideoId) -> String {
    format!("videos/{id}/thumbs/poster.jpg")
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
            segment_key(id, "720p", 7),
            "videos/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/hls/720p/seg_00007.m4s"
        );
        assert!(poster_key(id).starts_with(&video_prefix(id)));
    }
}
