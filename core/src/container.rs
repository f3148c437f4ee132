//! Which video container a file is, decided from its first bytes by a strict allow-list: the
//! structure must check out, not only a magic number. The api refuses anything else at upload; the
//! workers decide again from the bytes they downloaded and tell every libav entry point this
//! container (`-f`), so a manifest, playlist or concat list is never opened as one even if it were
//! stored.

use std::fmt;

/// How many leading bytes [`sniff`] wants (it decides with fewer when the file is shorter).
pub const SNIFF_BYTES: usize = 64 * 1024;

/// The containers vodflow accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// ISO BMFF: MP4, M4V, 3GP.
    Mp4,
    /// QuickTime (`ftyp qt`, or the older files that start with `moov`/`mdat`/`wide`/`free`).
    QuickTime,
    Matroska,
    WebM,
    MpegTs,
    Avi,
    Flv,
    /// MPEG program stream (VOB, `.mpg`).
    MpegPs,
}

impl Container {
    /// The MIME type recorded on the video and the stored object.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Mp4 => "video/mp4",
            Self::QuickTime => "video/quicktime",
            Self::Matroska => "video/x-matroska",
            Self::WebM => "video/webm",
            Self::MpegTs => "video/mp2t",
            Self::Avi => "video/x-msvideo",
            Self::Flv => "video/x-flv",
            Self::MpegPs => "video/mpeg",
        }
    }

    /// The libav demuxer that must read it (`ffmpeg -f <this>`).
    pub fn demuxer(self) -> &'static str {
        match self {
            Self::Mp4 | Self::QuickTime => "mov",
            Self::Matroska | Self::WebM => "matroska",
            Self::MpegTs => "mpegts",
            Self::Avi => "avi",
            Self::Flv => "flv",
            Self::MpegPs => "mpeg",
        }
    }
}

impl fmt::Display for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Mp4 => "MP4",
            Self::QuickTime => "QuickTime",
            Self::Matroska => "Matroska",
            Self::WebM => "WebM",
            Self::MpegTs => "MPEG-TS",
            Self::Avi => "AVI",
            Self::Flv => "FLV",
            Self::MpegPs => "MPEG-PS",
        })
    }
}

/// Why a file is not accepted, in words for the uploader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

const ACCEPTED: &str = "MP4, MOV, Matroska/WebM, MPEG-TS, MPEG-PS, AVI or FLV";

/// The container of a file whose first bytes are `head` (up to [`SNIFF_BYTES`]; `complete` says
/// whether `head` is the whole file).
pub fn sniff(head: &[u8], complete: bool) -> Result<Container, Refused> {
    if head.is_empty() {
        return Err(Refused("the file is empty".into()));
    }
    if let Some(c) = iso_bmff(head, complete) {
        return Ok(c);
    }
    if let Some(c) = ebml(head) {
        return Ok(c);
    }
    if avi(head) {
        return Ok(Container::Avi);
    }
    if flv(head) {
        return Ok(Container::Flv);
    }
    if mpeg_ts(head) {
        return Ok(Container::MpegTs);
    }
    if mpeg_ps(head) {
        return Ok(Container::MpegPs);
    }
    Err(Refused(format!(
        "{}; accepted: {ACCEPTED}",
        describe_refused(head)
    )))
}

/// A human name for what a refused file looks like, so the uploader knows what went wrong.
fn describe_refused(head: &[u8]) -> &'static str {
    let text = String::from_utf8_lossy(&head[..head.len().min(4096)]).to_ascii_lowercase();
    let t = text.trim_start_matches('\u{feff}').trim_start();
    if t.contains("#extm3u") {
        "an HLS playlist is not a video"
    } else if t.contains("<mpd") || t.contains("urn:mpeg:dash") {
        "a DASH manifest is not a video"
    } else if t.starts_with("ffconcat") || t.contains("\nfile ") || t.starts_with("file ") {
        "a concat list is not a video"
    } else if head.starts_with(b"\x89PNG")
        || head.starts_with(b"\xFF\xD8\xFF")
        || head.starts_with(b"GIF8")
        || (head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WEBP")
    {
        "an image is not a video"
    } else if t.starts_with("<?xml") || t.starts_with('<') {
        "an XML or HTML document is not a video"
    } else if head.iter().take(4096).all(|b| b.is_ascii() && *b != 0) {
        "a text file is not a video"
    } else {
        "not a supported video container"
    }
}

/// Top-level ISO BMFF / QuickTime box types a real file starts with.
const TOP_LEVEL: &[&[u8; 4]] = &[
    b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid", b"meta", b"moof",
    b"mfra", b"styp", b"sidx", b"pdin", b"PICT", b"junk",
];

/// Walks the top-level boxes: each must have a sane size and a known type, and the walk must reach
/// `moov` or `mdat` (or an `ftyp` of a video brand followed by a valid box) inside `head`.
fn iso_bmff(head: &[u8], complete: bool) -> Option<Container> {
    let mut pos = 0usize;
    let mut brand: Option<Container> = None;
    let mut boxes = 0;
    while pos + 8 <= head.len() && boxes < 64 {
        let size32 = u32::from_be_bytes(head[pos..pos + 4].try_into().ok()?) as u64;
        let kind: &[u8; 4] = head[pos + 4..pos + 8].try_into().ok()?;
        if !TOP_LEVEL.contains(&kind) {
            return None;
        }
        let size = match size32 {
            // Runs to the end of the file: only the media data may do that.
            0 => return (kind == b"mdat").then(|| brand.unwrap_or(Container::QuickTime)),
            1 => {
                if pos + 16 > head.len() {
                    return None;
                }
                let large = u64::from_be_bytes(head[pos + 8..pos + 16].try_into().ok()?);
                if large < 16 {
                    return None;
                }
                large
            }
            s if s < 8 => return None,
            s => s,
        };
        if kind == b"ftyp" {
            if boxes != 0 || !(16..=4096).contains(&size) || pos + size as usize > head.len() {
                return None;
            }
            let major = &head[8..12];
            if !major
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b' ')
            {
                return None;
            }
            brand = Some(if major == b"qt  " {
                Container::QuickTime
            } else {
                Container::Mp4
            });
        }
        if kind == b"moov" || kind == b"mdat" || kind == b"moof" {
            return Some(brand.unwrap_or(Container::QuickTime));
        }
        boxes += 1;
        // `size` is the file's word (up to 2^64 - 1): a position past it is checked, not assumed.
        let next = (pos as u64).checked_add(size);
        let Some(next) = next.filter(|n| *n < head.len() as u64) else {
            // The next box lies beyond what we were shown: accept a real `ftyp` (the rest is
            // checked by the demuxer we force), never a bare `free`/`wide` preamble.
            return if complete { None } else { brand };
        };
        pos = next as usize;
    }
    // A short file that is all `ftyp` + preamble boxes has no media.
    None
}

/// EBML header with a `DocType` of `matroska` or `webm`.
fn ebml(head: &[u8]) -> Option<Container> {
    if !head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return None;
    }
    let (len, n) = vint(&head[4..])?;
    let start = 4 + n;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    if len > 4096 || end > head.len() {
        return None;
    }
    let mut pos = start;
    while pos < end {
        let (id, idn) = element_id(&head[pos..end])?;
        let (size, sn) = vint(&head[pos + idn..end])?;
        let body = pos + idn + sn;
        let body_end = body.checked_add(usize::try_from(size).ok()?)?;
        if body_end > end {
            return None;
        }
        if id == 0x4282 {
            return match &head[body..body_end] {
                b"matroska" => Some(Container::Matroska),
                b"webm" => Some(Container::WebM),
                _ => None,
            };
        }
        pos = body_end;
    }
    None
}

/// An EBML variable-length size: (value, bytes used).
fn vint(b: &[u8]) -> Option<(u64, usize)> {
    let first = *b.first()?;
    let n = first.leading_zeros() as usize + 1;
    if n > 8 || b.len() < n {
        return None;
    }
    let mut v = u64::from(first) & (0xFF >> n);
    for x in &b[1..n] {
        v = (v << 8) | u64::from(*x);
    }
    Some((v, n))
}

/// An EBML element id (marker bits kept, as ids are written in specs).
fn element_id(b: &[u8]) -> Option<(u32, usize)> {
    let first = *b.first()?;
    let n = first.leading_zeros() as usize + 1;
    if n > 4 || b.len() < n {
        return None;
    }
    Some((b[..n].iter().fold(0u32, |v, x| (v << 8) | u32::from(*x)), n))
}

fn avi(head: &[u8]) -> bool {
    head.len() >= 16
        && &head[0..4] == b"RIFF"
        && &head[8..12] == b"AVI "
        && &head[12..16] == b"LIST"
}

fn flv(head: &[u8]) -> bool {
    // Signature, version 1, only the audio/video flag bits, and the 9-byte header offset.
    head.len() >= 9
        && &head[0..3] == b"FLV"
        && head[3] == 1
        && head[4] & !0x05 == 0
        && u32::from_be_bytes([head[5], head[6], head[7], head[8]]) == 9
}

const TS_PACKET: usize = 188;

/// Every packet in `head` starts with the sync byte, and a PAT (PID 0, table 0) names a program
/// whose PMT (table 2) is there too: text with a `G` every 188 bytes is not enough.
fn mpeg_ts(head: &[u8]) -> bool {
    let packets = head.len() / TS_PACKET;
    if packets < 2 || (0..packets).any(|i| head[i * TS_PACKET] != 0x47) {
        return false;
    }
    let mut pmt_pids = Vec::new();
    let mut have_pmt = false;
    for i in 0..packets {
        let p = &head[i * TS_PACKET..(i + 1) * TS_PACKET];
        let pid = (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2]);
        let unit_start = p[1] & 0x40 != 0;
        if !unit_start {
            continue;
        }
        let Some(section) = ts_section(p) else {
            continue;
        };
        if pid == 0 && section.first() == Some(&0x00) {
            pmt_pids.extend(pat_programs(section));
        } else if section.first() == Some(&0x02) && pmt_pids.contains(&pid) {
            have_pmt = true;
        }
        if have_pmt {
            return true;
        }
    }
    false
}

/// The PSI section carried by a packet that starts one.
fn ts_section(p: &[u8]) -> Option<&[u8]> {
    let afc = (p[3] >> 4) & 0x3;
    let mut off = 4;
    if afc == 2 || afc == 0 {
        return None; // no payload
    }
    if afc == 3 {
        off += 1 + usize::from(*p.get(4)?);
    }
    let pointer = usize::from(*p.get(off)?);
    let start = off + 1 + pointer;
    let section = p.get(start..)?;
    if section.len() < 3 {
        return None;
    }
    // section_syntax_indicator set, length within the packet.
    let len = (usize::from(section[1] & 0x0F) << 8) | usize::from(section[2]);
    if section[1] & 0x80 == 0 || len < 9 || 3 + len > section.len() {
        return None;
    }
    Some(&section[..3 + len])
}

fn pat_programs(section: &[u8]) -> Vec<u16> {
    // 8-byte header, 4-byte CRC at the end, 4 bytes per program.
    let body = &section[8..section.len() - 4];
    body.chunks_exact(4)
        .filter(|e| u16::from_be_bytes([e[0], e[1]]) != 0)
        .map(|e| (u16::from(e[2] & 0x1F) << 8) | u16::from(e[3]))
        .collect()
}

/// An MPEG-1 or MPEG-2 pack header followed by another start code.
fn mpeg_ps(head: &[u8]) -> bool {
    if head.len() < 16 || head[0..4] != [0, 0, 1, 0xBA] {
        return false;
    }
    let next = if head[4] & 0xC0 == 0x40 {
        // MPEG-2: 14 bytes plus stuffing.
        14 + usize::from(head[13] & 0x07)
    } else if head[4] & 0xF0 == 0x20 {
        12
    } else {
        return false;
    };
    head.len() >= next + 4 && head[next..next + 3] == [0, 0, 1] && head[next + 3] >= 0xB9
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp4_head() -> Vec<u8> {
        let mut v = vec![0, 0, 0, 0x18];
        v.extend_from_slice(b"ftypisom\0\0\0\0isomavc1");
        v.extend_from_slice(&[0, 0, 0, 8]);
        v.extend_from_slice(b"free");
        v.extend_from_slice(&[0, 0, 0x10, 0]);
        v.extend_from_slice(b"mdat");
        v
    }

    #[test]
    fn recognises_supported_containers() {
        assert_eq!(sniff(&mp4_head(), false), Ok(Container::Mp4));
        let mut mov = vec![0, 0, 0, 0x14];
        mov.extend_from_slice(b"ftypqt  \0\0\0\0qt  ");
        mov.extend_from_slice(&[0, 0, 0, 8]);
        mov.extend_from_slice(b"wide");
        mov.extend_from_slice(&[0, 0, 0, 8]);
        mov.extend_from_slice(b"mdat");
        assert_eq!(sniff(&mov, false), Ok(Container::QuickTime));
        let webm = [
            0x1A, 0x45, 0xDF, 0xA3, 0x87, 0x42, 0x82, 0x84, b'w', b'e', b'b', b'm', 0x00,
        ];
        assert_eq!(sniff(&webm, false), Ok(Container::WebM));
        assert_eq!(
            sniff(b"RIFF\x00\x00\x00\x00AVI LIST\x00\x00", false),
            Ok(Container::Avi)
        );
        assert_eq!(
            sniff(b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00", false),
            Ok(Container::Flv)
        );
    }

    #[test]
    fn refuses_manifests_text_and_images() {
        let dash = b"<!--free--><MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\"><BaseURL>file:///etc/x.mp4</BaseURL></MPD>";
        let r = sniff(dash, true).unwrap_err();
        assert!(r.0.contains("DASH"), "{r}");
        assert!(sniff(b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n", true).is_err());
        assert!(sniff(b"ffconcat version 1.0\nfile '/etc/passwd'\n", true).is_err());
        assert!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", true).is_err());
        assert!(sniff(b"hello, this is text pretending to be a video", true).is_err());
        assert!(sniff(b"", true).is_err());
        // `free` preamble whose size points past what we read: not enough to be a movie.
        let mut fake = vec![0, 0, 0x40, 0];
        fake.extend_from_slice(b"free<MPD>");
        assert!(sniff(&fake, false).is_err());
    }

    #[test]
    fn ts_needs_pat_and_pmt_not_just_sync_bytes() {
        let mut text = vec![b'x'; TS_PACKET * 4];
        for i in 0..4 {
            text[i * TS_PACKET] = 0x47;
        }
        assert!(sniff(&text, true).is_err());
    }

    /// The attack: 24 bytes, a `free` box and then a 64-bit box size of 2^64 - 1, whose end the
    /// walk computed as position + size (an overflow panic in a debug build).
    #[test]
    fn a_box_size_near_two_to_the_64_is_refused_not_overflowed() {
        let mut head = vec![0, 0, 0, 8];
        head.extend_from_slice(b"free");
        head.extend_from_slice(&[0, 0, 0, 1]);
        head.extend_from_slice(b"free");
        head.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(head.len(), 24);
        for complete in [true, false] {
            assert!(sniff(&head, complete).is_err());
        }
    }

    mod props {
        use proptest::prelude::*;

        use super::super::{SNIFF_BYTES, TOP_LEVEL, sniff};

        /// One ISO BMFF box: a top-level type, a 32-bit size (0, 1, small or huge) and, for size
        /// 1, a 64-bit size anywhere in its range; then some body bytes.
        fn a_box() -> impl Strategy<Value = Vec<u8>> {
            (
                0..TOP_LEVEL.len(),
                prop_oneof![Just(0u32), Just(1u32), 0u32..64, any::<u32>()],
                any::<u64>(),
                proptest::collection::vec(any::<u8>(), 0..32),
            )
                .prop_map(|(kind, size, large, body)| {
                    let mut b = size.to_be_bytes().to_vec();
                    b.extend_from_slice(TOP_LEVEL[kind]);
                    if size == 1 {
                        b.extend_from_slice(&large.to_be_bytes());
                    }
                    b.extend_from_slice(&body);
                    b
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// Whatever a client uploads, sniffing answers (accept or refuse), never panics.
            #[test]
            fn any_bytes_are_sniffed_without_panicking(
                head in proptest::collection::vec(any::<u8>(), 0..4096),
                complete in any::<bool>(),
            ) {
                let _ = sniff(&head, complete);
            }

            /// Box walks with hostile sizes, the shape that reaches the arithmetic.
            #[test]
            fn hostile_box_sizes_are_sniffed_without_panicking(
                boxes in proptest::collection::vec(a_box(), 1..12),
                complete in any::<bool>(),
            ) {
                let head: Vec<u8> = boxes.concat();
                let _ = sniff(&head[..head.len().min(SNIFF_BYTES)], complete);
            }

            /// EBML headers with hostile variable-length sizes.
            #[test]
            fn hostile_ebml_sizes_are_sniffed_without_panicking(
                body in proptest::collection::vec(any::<u8>(), 0..256),
            ) {
                let mut head = vec![0x1A, 0x45, 0xDF, 0xA3];
                head.extend_from_slice(&body);
                let _ = sniff(&head, true);
            }
        }
    }
}
