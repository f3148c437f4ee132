//! Just enough ISO-BMFF reading to cut a fragmented MP4 into HLS pieces: the init segment
//! (`ftyp`+`moov`), one media segment per `moof`+`mdat` pair with its decode time and duration, and
//! the RFC 6381 codec string from `avcC`.

use std::io::{Read, Seek, SeekFrom};

/// A top-level box: its type and byte range in the file.
#[derive(Debug, Clone, Copy, PartialEq)]
struct BoxRef {
    kind: [u8; 4],
    start: usize,
    end: usize,
    header: usize,
}

fn boxes(data: &[u8], from: usize, to: usize) -> Result<Vec<BoxRef>, String> {
    let mut out = Vec::new();
    let mut pos = from;
    while pos + 8 <= to {
        let size32 =
            u32::from_be_bytes(data[pos..pos + 4].try_into().map_err(|_| "short box")?) as usize;
        let kind: [u8; 4] = data[pos + 4..pos + 8].try_into().map_err(|_| "short box")?;
        let (size, header) = match size32 {
            0 => (to - pos, 8),
            1 => {
                if pos + 16 > to {
                    return Err("truncated large box header".into());
                }
                (
                    u64::from_be_bytes(
                        data[pos + 8..pos + 16]
                            .try_into()
                            .map_err(|_| "short box")?,
                    ) as usize,
                    16,
                )
            }
            n => (n, 8),
        };
        if size < header || pos + size > to {
            return Err(format!(
                "box {} at {pos} overruns the file",
                String::from_utf8_lossy(&kind)
            ));
        }
        out.push(BoxRef {
            kind,
            start: pos,
            end: pos + size,
            header,
        });
        pos += size;
    }
    Ok(out)
}

fn child<'a>(
    data: &'a [u8],
    parent: &BoxRef,
    kind: &[u8; 4],
    skip: usize,
) -> Option<(BoxRef, &'a [u8])> {
    boxes(data, parent.start + parent.header + skip, parent.end)
        .ok()?
        .into_iter()
        .find(|b| &b.kind == kind)
        .map(|b| (b, &data[b.start + b.header..b.end]))
}

#[derive(Debug, Clone, PartialEq)]
pub struct MediaSegment {
    /// Byte range of `moof`+`mdat` (plus any boxes between them) in the file.
    pub start: usize,
    pub end: usize,
    /// Decode time of the first sample, in the track's timescale.
    pub decode_time: u64,
    /// Sum of sample durations, in the track's timescale.
    pub duration: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fragmented {
    /// `ftyp`+`moov`: the init segment.
    pub init_end: usize,
    pub timescale: u32,
    pub segments: Vec<MediaSegment>,
    pub codecs: Option<String>,
}

/// Splits a fragmented MP4 with one track into its init segment and media segments.
pub fn split(data: &[u8]) -> Result<Fragmented, String> {
    split_reader(&mut std::io::Cursor::new(data), data.len() as u64)
}

/// [`split`] of a file on disk, reading only box headers, `moov` and the `moof`s: the media data
/// (hours of audio for a long source) stays on disk.
pub fn split_file(path: &std::path::Path) -> Result<Fragmented, String> {
    let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let len = f.metadata().map_err(|e| e.to_string())?.len();
    split_reader(&mut f, len)
}

/// Index boxes (`moov`, `moof`) larger than this are not ours: refuse rather than allocate.
const MAX_INDEX_BOX: u64 = 64 << 20;

fn split_reader<R: Read + Seek>(r: &mut R, len: u64) -> Result<Fragmented, String> {
    let mut pos = 0u64;
    let mut init = None;
    let mut moof: Option<(u64, (u64, u64))> = None;
    let mut segments = Vec::new();
    while pos + 8 <= len {
        let (kind, size, header) = box_header(r, pos, len)?;
        match &kind {
            b"moov" => {
                let (data, moov) = read_box(r, pos, kind, size, header)?;
                let timescale = mdhd_timescale(&data, &moov).ok_or("no mdhd timescale")?;
                let codecs = avc_codec_string(&data)
                    .or_else(|| find(&data, b"mp4a").map(|_| "mp4a.40.2".to_owned()));
                init = Some((pos + size, timescale, codecs));
            }
            b"moof" => {
                if moof.is_some() {
                    return Err("moof without mdat".into());
                }
                let (data, b) = read_box(r, pos, kind, size, header)?;
                moof = Some((pos, traf_times(&data, &b)?));
            }
            b"mdat" => {
                if let Some((start, (decode_time, duration))) = moof.take() {
                    segments.push(MediaSegment {
                        start: start as usize,
                        end: (pos + size) as usize,
                        decode_time,
                        duration,
                    });
                }
            }
            _ => {}
        }
        pos += size;
    }
    if moof.is_some() {
        return Err("moof without mdat".into());
    }
    let (init_end, timescale, codecs) = init.ok_or("no moov box")?;
    Ok(Fragmented {
        init_end: init_end as usize,
        timescale,
        segments,
        codecs,
    })
}

/// The timescale of an init segment (`ftyp`+`moov`).
pub fn init_timescale(init: &[u8]) -> Result<u32, String> {
    split(init).map(|f| f.timescale)
}

/// The decode time and length (in the track's timescale) of a media segment, from its first bytes:
/// only its `moof` needs to be there, not its media data.
pub fn fragment_times(prefix: &[u8]) -> Result<(u64, u64), String> {
    let mut r = std::io::Cursor::new(prefix);
    let len = prefix.len() as u64;
    let mut pos = 0u64;
    while pos + 8 <= len {
        let (kind, size, header) = box_header(&mut r, pos, len)?;
        if &kind == b"moof" {
            let (data, b) = read_box(&mut r, pos, kind, size, header)?;
            return traf_times(&data, &b);
        }
        pos += size;
    }
    Err("no moof in the segment's first bytes".into())
}

/// The type, total size and header length of the box at `pos`.
fn box_header<R: Read + Seek>(
    r: &mut R,
    pos: u64,
    len: u64,
) -> Result<([u8; 4], u64, u64), String> {
    let io = |e: std::io::Error| e.to_string();
    let mut head = [0u8; 16];
    r.seek(SeekFrom::Start(pos)).map_err(io)?;
    r.read_exact(&mut head[..8]).map_err(io)?;
    let kind = [head[4], head[5], head[6], head[7]];
    let (size, header) = match u32::from_be_bytes([head[0], head[1], head[2], head[3]]) {
        0 => (len - pos, 8),
        1 => {
            if pos + 16 > len {
                return Err("truncated large box header".into());
            }
            r.read_exact(&mut head[8..16]).map_err(io)?;
            let mut large = [0u8; 8];
            large.copy_from_slice(&head[8..16]);
            (u64::from_be_bytes(large), 16)
        }
        n => (u64::from(n), 8),
    };
    if size < header || pos + size > len {
        return Err(format!(
            "box {} at {pos} overruns the file",
            String::from_utf8_lossy(&kind)
        ));
    }
    Ok((kind, size, header))
}

/// The whole box at `pos`, with a [`BoxRef`] relative to the returned bytes.
fn read_box<R: Read + Seek>(
    r: &mut R,
    pos: u64,
    kind: [u8; 4],
    size: u64,
    header: u64,
) -> Result<(Vec<u8>, BoxRef), String> {
    if size > MAX_INDEX_BOX {
        return Err(format!(
            "{} box of {size} bytes",
            String::from_utf8_lossy(&kind)
        ));
    }
    let io = |e: std::io::Error| e.to_string();
    let mut data = vec![0u8; size as usize];
    r.seek(SeekFrom::Start(pos)).map_err(io)?;
    r.read_exact(&mut data).map_err(io)?;
    let b = BoxRef {
        kind,
        start: 0,
        end: data.len(),
        header: header as usize,
    };
    Ok((data, b))
}

fn mdhd_timescale(data: &[u8], moov: &BoxRef) -> Option<u32> {
    let (trak, _) = child(data, moov, b"trak", 0)?;
    let (mdia, _) = child(data, &trak, b"mdia", 0)?;
    let (_, mdhd) = child(data, &mdia, b"mdhd", 0)?;
    let version = *mdhd.first()?;
    let at = if version == 1 { 4 + 16 } else { 4 + 8 };
    Some(u32::from_be_bytes(mdhd.get(at..at + 4)?.try_into().ok()?))
}

fn traf_times(data: &[u8], moof: &BoxRef) -> Result<(u64, u64), String> {
    let (traf, _) = child(data, moof, b"traf", 0).ok_or("moof without traf")?;
    let (_, tfhd) = child(data, &traf, b"tfhd", 0).ok_or("traf without tfhd")?;
    let flags = u32::from_be_bytes([0, tfhd[1], tfhd[2], tfhd[3]]);
    let mut at = 8; // version/flags + track_ID
    if flags & 0x01 != 0 {
        at += 8;
    }
    if flags & 0x02 != 0 {
        at += 4;
    }
    let default_duration = if flags & 0x08 != 0 {
        Some(be32(tfhd, at)?)
    } else {
        None
    };
    let (_, tfdt) = child(data, &traf, b"tfdt", 0).ok_or("traf without tfdt")?;
    let decode_time = if tfdt[0] == 1 {
        be64(tfdt, 4)?
    } else {
        u64::from(be32(tfdt, 4)?)
    };
    let mut duration = 0u64;
    for b in boxes(data, traf.start + traf.header, traf.end)?
        .iter()
        .filter(|b| &b.kind == b"trun")
    {
        let trun = &data[b.start + b.header..b.end];
        let flags = u32::from_be_bytes([0, trun[1], trun[2], trun[3]]);
        let count = be32(trun, 4)?;
        let mut at = 8;
        if flags & 0x01 != 0 {
            at += 4;
        }
        if flags & 0x04 != 0 {
            at += 4;
        }
        let per_sample = [0x100, 0x200, 0x400, 0x800]
            .iter()
            .filter(|f| flags & **f != 0)
            .count()
            * 4;
        for s in 0..count as usize {
            let d = if flags & 0x100 != 0 {
                be32(trun, at + s * per_sample)?
            } else {
                default_duration.ok_or("no sample durations")?
            };
            duration += u64::from(d);
        }
    }
    Ok((decode_time, duration))
}

fn be32(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| "truncated box".to_owned())
}

fn be64(b: &[u8], at: usize) -> Result<u64, String> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| "truncated box".to_owned())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `avc1.PPCCLL` from the `avcC` record (profile, constraint flags, level).
pub fn avc_codec_string(moov: &[u8]) -> Option<String> {
    let at = find(moov, b"avcC")? + 4;
    let rec = moov.get(at..at + 4)?;
    Some(format!("avc1.{:02x}{:02x}{:02x}", rec[1], rec[2], rec[3]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn splits_init_and_segments_with_times() {
        let mdhd = bx(
            b"mdhd",
            &[
                &[0u8; 4][..],
                &[0u8; 8],
                &90_000u32.to_be_bytes(),
                &[0u8; 8],
            ]
            .concat(),
        );
        let avcc = bx(b"avcC", &[1, 0x64, 0x00, 0x1f, 0xff]);
        let moov = bx(b"moov", &bx(b"trak", &bx(b"mdia", &[mdhd, avcc].concat())));
        let frag = |t: u64, n: u32, d: u32| {
            let tfhd = bx(
                b"tfhd",
                &[&[0, 0, 0, 0x08][..], &1u32.to_be_bytes(), &d.to_be_bytes()].concat(),
            );
            let tfdt = bx(b"tfdt", &[&[1, 0, 0, 0][..], &t.to_be_bytes()].concat());
            let trun = bx(b"trun", &[&[0, 0, 0, 0][..], &n.to_be_bytes()].concat());
            [
                bx(b"moof", &bx(b"traf", &[tfhd, tfdt, trun].concat())),
                bx(b"mdat", &[7; 10]),
            ]
            .concat()
        };
        let file = [
            bx(b"ftyp", b"iso6"),
            moov.clone(),
            frag(360_000, 120, 3000),
            frag(720_000, 60, 3000),
        ]
        .concat();
        let f = split(&file).unwrap();
        assert_eq!(f.timescale, 90_000);
        assert_eq!(f.init_end, 12 + moov.len());
        assert_eq!(f.segments.len(), 2);
        assert_eq!(
            (f.segments[0].decode_time, f.segments[0].duration),
            (360_000, 360_000)
        );
        assert_eq!(
            (f.segments[1].decode_time, f.segments[1].duration),
            (720_000, 180_000)
        );
        assert_eq!(f.segments[1].end, file.len());
        assert_eq!(f.codecs.as_deref(), Some("avc1.64001f"));
        let on_disk = std::env::temp_dir().join(format!("fmp4-{}.mp4", std::process::id()));
        std::fs::write(&on_disk, &file).unwrap();
        let from_file = split_file(&on_disk);
        std::fs::remove_file(&on_disk).unwrap();
        assert_eq!(from_file.unwrap(), f);
    }

    #[test]
    fn refuses_truncated_files() {
        assert!(split(&[0, 0, 0, 99, b'm', b'o', b'o', b'v']).is_err());
        assert!(split(b"").is_err());
    }
}
