//! Recognising a video container from its first bytes, so that a text file named `.mp4` is refused
//! before a single byte reaches the store. Only containers FFmpeg decodes for us are admitted.

/// Returns the MIME type of a supported container, or `None`.
pub(crate) fn container_type(head: &[u8]) -> Option<&'static str> {
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return Some(if &head[8..12] == b"qt  " {
            "video/quicktime"
        } else {
            "video/mp4"
        });
    }
    // QuickTime files written without an ftyp box start straight with one of these atoms.
    if head.len() >= 8 && matches!(&head[4..8], b"moov" | b"mdat" | b"wide" | b"free") {
        return Some("video/quicktime");
    }
    if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        let window = &head[..head.len().min(64)];
        let webm = window.windows(4).any(|w| w == b"webm");
        return Some(if webm {
            "video/webm"
        } else {
            "video/x-matroska"
        });
    }
    if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"AVI " {
        return Some("video/x-msvideo");
    }
    if head.len() >= 4 && &head[0..3] == b"FLV" && head[3] == 1 {
        return Some("video/x-flv");
    }
    if head.len() > 188 * 2 && head[0] == 0x47 && head[188] == 0x47 && head[376] == 0x47 {
        return Some("video/mp2t");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_supported_containers() {
        let mut mp4 = vec![0, 0, 0, 0x20];
        mp4.extend_from_slice(b"ftypisom\0\0\0\0");
        assert_eq!(container_type(&mp4), Some("video/mp4"));
        let mut mov = vec![0, 0, 0, 0x14];
        mov.extend_from_slice(b"ftypqt  ");
        assert_eq!(container_type(&mov), Some("video/quicktime"));
        let mut webm = vec![0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01];
        webm.extend_from_slice(b"B\x82\x84webm");
        assert_eq!(container_type(&webm), Some("video/webm"));
        assert_eq!(
            container_type(b"RIFF\x00\x00\x00\x00AVI LIST"),
            Some("video/x-msvideo")
        );
        assert_eq!(container_type(b"FLV\x01\x05"), Some("video/x-flv"));
        let mut ts = vec![0u8; 188 * 3];
        for i in 0..3 {
            ts[i * 188] = 0x47;
        }
        assert_eq!(container_type(&ts), Some("video/mp2t"));
    }

    #[test]
    fn refuses_everything_else() {
        assert_eq!(
            container_type(b"hello, this is text pretending to be a video"),
            None
        );
        assert_eq!(container_type(b""), None);
        assert_eq!(container_type(b"\x89PNG\r\n\x1a\n"), None);
        assert_eq!(container_type(b"ID3\x03"), None);
    }
}
