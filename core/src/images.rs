//! Images made on demand from the published segments: `thumbnail.{jpg,png,webp}` (one frame,
//! `?time=&width=&height=&fit_mode=`, Mux's image API shape) and `animated.{webp,gif}`
//! (`?start=&end=&width=&fps=`). A request is normalised before anything else: the time snaps to
//! a 1/60 s grid (one key per frame at any rate up to 60 fps), defaults are filled in, and the
//! stored copy's name is made from the normalised values only, so two spellings of one image share
//! one cached object and no parameter can make the cache miss forever.

use std::fmt;

/// Time grid: ticks per second.
pub const TICKS_PER_SECOND: u64 = 60;
/// Largest width or height of a still.
pub const MAX_SIDE: u32 = 1920;
/// Smallest width or height of any image.
pub const MIN_SIDE: u32 = 16;
/// A still's default width when no size is asked for: the poster's (narrower videos: theirs).
pub const DEFAULT_STILL_WIDTH: u32 = 1280;
/// An animation is at most this long, this wide and this fast.
pub const ANIMATED_MAX_MS: u64 = 10_000;
pub const ANIMATED_MAX_WIDTH: u32 = 640;
pub const ANIMATED_MAX_FPS: u32 = 30;
/// Defaults of an animation (Mux's): the first 5 s, 320 wide, 15 frames a second.
pub const ANIMATED_DEFAULT_MS: u64 = 5_000;
pub const ANIMATED_DEFAULT_WIDTH: u32 = 320;
pub const ANIMATED_DEFAULT_FPS: u32 = 15;

/// What a client asked for wrongly, as a sentence for a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadRequest(pub String);

fn bad(msg: impl Into<String>) -> BadRequest {
    BadRequest(msg.into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StillFormat {
    Jpeg,
    Png,
    Webp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnimatedFormat {
    Webp,
    Gif,
}

impl StillFormat {
    /// `thumbnail.jpg` → Jpeg, and so on.
    pub fn from_file(name: &str) -> Option<Self> {
        Some(match name {
            "thumbnail.jpg" => Self::Jpeg,
            "thumbnail.png" => Self::Png,
            "thumbnail.webp" => Self::Webp,
            _ => return None,
        })
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Webp => "webp",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
        }
    }
}

impl AnimatedFormat {
    pub fn from_file(name: &str) -> Option<Self> {
        Some(match name {
            "animated.webp" => Self::Webp,
            "animated.gif" => Self::Gif,
            _ => return None,
        })
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Webp => "webp",
            Self::Gif => "gif",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Webp => "image/webp",
            Self::Gif => "image/gif",
        }
    }
}

/// How a still fills a `width`×`height` box when both are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitMode {
    /// Inside the box, the aspect ratio kept (one side may be shorter).
    Preserve,
    /// The whole box, the aspect ratio kept, the excess cut off the middle.
    Crop,
    /// Inside the box, the aspect ratio kept, bars added to fill it.
    Pad,
}

impl fmt::Display for FitMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Preserve => "preserve",
            Self::Crop => "crop",
            Self::Pad => "pad",
        })
    }
}

/// A still, normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Still {
    /// On the 1/60 s grid.
    pub tick: u64,
    pub size: Size,
    pub format: StillFormat,
}

/// The requested size of a still, normalised: a fit mode only where both sides are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    Width(u32),
    Height(u32),
    Box(u32, u32, FitMode),
}

/// An animation, normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Animated {
    pub start_tick: u64,
    pub end_tick: u64,
    pub width: u32,
    pub fps: u32,
    pub format: AnimatedFormat,
}

/// The frames of the video a request reads, as the published playlists know it.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub duration_ms: u64,
    /// Where the poster was taken: the default time of a still.
    pub poster_ms: u64,
    /// The video's width: a still's default is the poster's, at most 1280 and never upscaled.
    pub width: u32,
}

/// The query string as name → value, refusing names that are not `allowed` and names given twice
/// (a cache in front would otherwise keep a copy per spelling).
fn params(
    query: &str,
    allowed: &[&'static str],
) -> Result<Vec<(&'static str, String)>, BadRequest> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    if query.len() > 256 {
        return Err(bad("the query string is longer than 256 bytes"));
    }
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let Some(name) = allowed.iter().find(|a| **a == k) else {
            return Err(bad(format!(
                "unknown parameter `{}`; this image takes {}",
                k.chars().take(40).collect::<String>(),
                allowed.join(", ")
            )));
        };
        if out.iter().any(|(n, _)| n == name) {
            return Err(bad(format!("`{name}` is given twice")));
        }
        out.push((name, v.into_owned()));
    }
    Ok(out)
}

fn get<'a>(params: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

/// Seconds as a decimal number (`12`, `12.5`), finite and not negative, to the nearest tick.
fn seconds(name: &str, v: &str) -> Result<u64, BadRequest> {
    let well_formed = !v.is_empty()
        && v.len() <= 16
        && v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && v.bytes().filter(|b| *b == b'.').count() <= 1
        && v != ".";
    let secs: f64 = v
        .parse()
        .ok()
        .filter(|s: &f64| well_formed && s.is_finite() && *s >= 0.0)
        .ok_or_else(|| {
            bad(format!(
                "`{name}` must be a number of seconds, 0 or more (got `{}`)",
                v.chars().take(40).collect::<String>()
            ))
        })?;
    Ok((secs * TICKS_PER_SECOND as f64).round() as u64)
}

/// A side in pixels, within `min..=max`.
fn pixels(name: &str, v: &str, max: u32) -> Result<u32, BadRequest> {
    let n = (v.len() <= 5 && !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .then(|| v.parse::<u32>().ok())
        .flatten();
    match n {
        Some(n) if (MIN_SIDE..=max).contains(&n) => Ok(n),
        _ => Err(bad(format!(
            "`{name}` must be a whole number of pixels from {MIN_SIDE} to {max} (got `{}`)",
            v.chars().take(40).collect::<String>()
        ))),
    }
}

pub fn ms_of(tick: u64) -> u64 {
    tick * 1000 / TICKS_PER_SECOND
}

fn tick_of(ms: u64) -> u64 {
    ms * TICKS_PER_SECOND / 1000
}

/// The last tick a frame can be read at: a frame before the end (the last frame of a 20 fps video
/// starts 50 ms before it).
fn last_tick(b: &Bounds) -> u64 {
    tick_of(b.duration_ms.saturating_sub(50))
}

impl Still {
    pub fn parse(query: &str, format: StillFormat, b: &Bounds) -> Result<Self, BadRequest> {
        let p = params(query, &["time", "width", "height", "fit_mode"])?;
        let tick = match get(&p, "time") {
            Some(v) => {
                let t = seconds("time", v)?;
                if ms_of(t) > b.duration_ms {
                    return Err(bad(format!(
                        "`time` is past the end of the video ({}.{:03} s)",
                        b.duration_ms / 1000,
                        b.duration_ms % 1000
                    )));
                }
                t.min(last_tick(b))
            }
            None => tick_of(b.poster_ms).min(last_tick(b)),
        };
        let width = get(&p, "width")
            .map(|v| pixels("width", v, MAX_SIDE))
            .transpose()?;
        let height = get(&p, "height")
            .map(|v| pixels("height", v, MAX_SIDE))
            .transpose()?;
        let fit = match get(&p, "fit_mode") {
            None | Some("preserve") => FitMode::Preserve,
            Some("crop") => FitMode::Crop,
            Some("pad") => FitMode::Pad,
            Some(other) => {
                return Err(bad(format!(
                    "`fit_mode` is preserve, crop or pad (got `{}`)",
                    other.chars().take(40).collect::<String>()
                )));
            }
        };
        let size = match (width, height) {
            (Some(w), Some(h)) => Size::Box(w, h, fit),
            (Some(w), None) => Size::Width(w),
            (None, Some(h)) => Size::Height(h),
            (None, None) => Size::Width(DEFAULT_STILL_WIDTH.min(b.width).max(MIN_SIDE)),
        };
        Ok(Self { tick, size, format })
    }

    /// The stored copy's file name, from the normalised values only.
    pub fn file_name(&self) -> String {
        let size = match self.size {
            Size::Width(w) => format!("w{w}"),
            Size::Height(h) => format!("h{h}"),
            Size::Box(w, h, fit) => format!("w{w}-h{h}-{fit}"),
        };
        format!(
            "thumbnail-t{}-{size}.{}",
            self.tick,
            self.format.extension()
        )
    }

    /// Width and height a rendition must have at least for this still not to be upscaled, for a
    /// video of `aspect` (width, height).
    pub fn needs(&self, aspect: (u32, u32)) -> (u32, u32) {
        let (aw, ah) = (aspect.0.max(1) as u64, aspect.1.max(1) as u64);
        let (w, h) = match self.size {
            Size::Width(w) => (w as u64, w as u64 * ah / aw),
            Size::Height(h) => (h as u64 * aw / ah, h as u64),
            Size::Box(w, h, FitMode::Crop) => {
                let (w, h) = (w as u64, h as u64);
                // The box filled: the side that overflows is the cropped one.
                if w * ah >= h * aw {
                    (w, w * ah / aw)
                } else {
                    (h * aw / ah, h)
                }
            }
            Size::Box(w, h, _) => {
                let (w, h) = (w as u64, h as u64);
                if w * ah <= h * aw {
                    (w, w * ah / aw)
                } else {
                    (h * aw / ah, h)
                }
            }
        };
        (w as u32, h as u32)
    }

    /// ffmpeg's arguments: one frame `offset_ms` into `input` (an init segment and the media
    /// segment holding the frame), scaled, written to `out`.
    pub fn ffmpeg_args(&self, input: &str, offset_ms: u64, out: &str) -> Vec<String> {
        let scale = match self.size {
            Size::Width(w) => format!("scale={w}:-2:flags=bicubic"),
            Size::Height(h) => format!("scale=-2:{h}:flags=bicubic"),
            Size::Box(w, h, FitMode::Preserve) => {
                format!("scale={w}:{h}:force_original_aspect_ratio=decrease:flags=bicubic")
            }
            Size::Box(w, h, FitMode::Crop) => format!(
                "scale={w}:{h}:force_original_aspect_ratio=increase:flags=bicubic,crop={w}:{h}"
            ),
            Size::Box(w, h, FitMode::Pad) => format!(
                "scale={w}:{h}:force_original_aspect_ratio=decrease:flags=bicubic,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2"
            ),
        };
        let mut args = input_args(input, offset_ms);
        args.extend(
            ["-frames:v", "1", "-an", "-vf", &format!("{scale},setsar=1")].map(String::from),
        );
        let codec: &[&str] = match self.format {
            StillFormat::Jpeg => &["-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-q:v", "3"],
            StillFormat::Png => &["-c:v", "png", "-pix_fmt", "rgb24"],
            StillFormat::Webp => &["-c:v", "libwebp", "-quality", "80"],
        };
        args.extend(codec.iter().map(|s| s.to_string()));
        args.extend(["-f", "image2", "-update", "1", out].map(String::from));
        args
    }
}

impl Animated {
    pub fn parse(query: &str, format: AnimatedFormat, b: &Bounds) -> Result<Self, BadRequest> {
        let p = params(query, &["start", "end", "width", "fps"])?;
        let start_tick = get(&p, "start")
            .map(|v| seconds("start", v))
            .transpose()?
            .unwrap_or(0);
        if ms_of(start_tick) >= b.duration_ms.saturating_sub(50) {
            return Err(bad(format!(
                "`start` is at or past the end of the video ({}.{:03} s)",
                b.duration_ms / 1000,
                b.duration_ms % 1000
            )));
        }
        let end_tick = match get(&p, "end") {
            Some(v) => {
                let e = seconds("end", v)?;
                if e <= start_tick {
                    return Err(bad("`end` must be after `start`"));
                }
                if ms_of(e - start_tick) > ANIMATED_MAX_MS {
                    return Err(bad(format!(
                        "an animation is at most {} s long",
                        ANIMATED_MAX_MS / 1000
                    )));
                }
                e
            }
            None => start_tick + tick_of(ANIMATED_DEFAULT_MS),
        }
        // What a video shorter than the span has is what it shows.
        .min(tick_of(b.duration_ms));
        let width = get(&p, "width")
            .map(|v| pixels("width", v, ANIMATED_MAX_WIDTH))
            .transpose()?
            .unwrap_or(ANIMATED_DEFAULT_WIDTH);
        let fps = match get(&p, "fps") {
            None => ANIMATED_DEFAULT_FPS,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|f| v.len() <= 2 && (1..=ANIMATED_MAX_FPS).contains(f))
                .ok_or_else(|| {
                    bad(format!(
                        "`fps` must be a whole number from 1 to {ANIMATED_MAX_FPS} (got `{}`)",
                        v.chars().take(40).collect::<String>()
                    ))
                })?,
        };
        Ok(Self {
            start_tick,
            end_tick,
            width,
            fps,
            format,
        })
    }

    pub fn file_name(&self) -> String {
        format!(
            "animated-s{}-e{}-w{}-f{}.{}",
            self.start_tick,
            self.end_tick,
            self.width,
            self.fps,
            self.format.extension()
        )
    }

    /// ffmpeg's arguments: `span_ms` from `offset_ms` into `input` (an init segment and the media
    /// segments holding the span), at the animation's rate and width, looping, written to `out`.
    pub fn ffmpeg_args(&self, input: &str, offset_ms: u64, out: &str) -> Vec<String> {
        let span_ms = ms_of(self.end_tick - self.start_tick);
        let mut args = input_args(input, offset_ms);
        let frames = format!(
            "fps={},scale={}:-2:flags=lanczos,setsar=1",
            self.fps, self.width
        );
        args.extend(["-t".to_owned(), secs(span_ms), "-an".to_owned()]);
        match self.format {
            AnimatedFormat::Gif => args.extend(
                [
                    "-filter_complex",
                    &format!(
                        "[0:v]{frames},split[a][b];[a]palettegen=stats_mode=diff[p];[b][p]paletteuse=dither=bayer:bayer_scale=3"
                    ),
                    "-loop",
                    "0",
                    "-f",
                    "gif",
                ]
                .map(String::from),
            ),
            AnimatedFormat::Webp => args.extend(
                [
                    "-vf",
                    &frames,
                    "-c:v",
                    "libwebp_anim",
                    "-quality",
                    "70",
                    "-loop",
                    "0",
                    "-f",
                    "webp",
                ]
                .map(String::from),
            ),
        }
        args.push(out.to_owned());
        args
    }
}

fn input_args(input: &str, offset_ms: u64) -> Vec<String> {
    vec![
        "-f".into(),
        "mp4".into(),
        "-protocol_whitelist".into(),
        "file".into(),
        // Before -i: decode from the segment's first (key) frame, dropping frames until the
        // offset, so the frame is exact.
        "-ss".into(),
        secs(offset_ms),
        "-i".into(),
        input.into(),
    ]
}

fn secs(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// One media segment of a rendition playlist: its name and where it sits on the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub name: String,
    pub start_ms: u64,
    pub duration_ms: u64,
}

/// The init segment's name and the media segments of an HLS media playlist, from `#EXT-X-MAP`
/// and `#EXTINF` (durations to the millisecond, as the packager writes them).
pub fn read_playlist(text: &str) -> Option<(String, Vec<Segment>)> {
    let mut init = None;
    let mut segments = Vec::new();
    let mut pending: Option<u64> = None;
    let mut at = 0u64;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("#EXT-X-MAP:") {
            init = rest
                .split(',')
                .find_map(|kv| kv.strip_prefix("URI="))
                .map(|u| u.trim_matches('"').to_owned());
        } else if let Some(rest) = line.strip_prefix("#EXTINF:") {
            let secs: f64 = rest.split(',').next()?.trim().parse().ok()?;
            if !secs.is_finite() || secs < 0.0 {
                return None;
            }
            pending = Some((secs * 1000.0).round() as u64);
        } else if !line.is_empty() && !line.starts_with('#') {
            let duration_ms = pending.take()?;
            segments.push(Segment {
                name: line.to_owned(),
                start_ms: at,
                duration_ms,
            });
            at += duration_ms;
        }
    }
    Some((init?, segments))
}

/// A variant of an HLS master playlist: its size and its URI as written (relative to the master).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub width: u32,
    pub height: u32,
    pub uri: String,
}

/// The video variants of a master playlist (`#EXT-X-STREAM-INF` with a `RESOLUTION`, then its URI).
pub fn read_master(text: &str) -> Vec<Variant> {
    let mut out = Vec::new();
    let mut size: Option<(u32, u32)> = None;
    for line in text.lines().map(str::trim) {
        if let Some(attrs) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            size = attrs
                .split(',')
                .find_map(|kv| kv.strip_prefix("RESOLUTION="))
                .and_then(|r| r.split_once('x'))
                .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)));
        } else if !line.is_empty()
            && !line.starts_with('#')
            && let Some((width, height)) = size.take()
        {
            out.push(Variant {
                width,
                height,
                uri: line.to_owned(),
            });
        }
    }
    out
}

/// The segments that hold `from_ms..to_ms` (a still: `to_ms == from_ms`), and how far into the
/// first one `from_ms` is. `None` when the playlist does not reach `from_ms` (a growing video not
/// encoded that far yet).
pub fn covering(segments: &[Segment], from_ms: u64, to_ms: u64) -> Option<(&[Segment], u64)> {
    let first = segments
        .iter()
        .position(|s| from_ms < s.start_ms + s.duration_ms)?;
    let last = segments
        .iter()
        .rposition(|s| s.start_ms <= to_ms.max(from_ms))
        .unwrap_or(first)
        .max(first);
    Some((&segments[first..=last], from_ms - segments[first].start_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Bounds = Bounds {
        duration_ms: 12_000,
        poster_ms: 1_200,
        width: 1920,
    };

    fn still(q: &str) -> Result<Still, BadRequest> {
        Still::parse(q, StillFormat::Jpeg, &B)
    }

    #[test]
    fn a_still_is_normalised_so_spellings_share_one_copy() {
        let a = still("time=2&width=320").unwrap();
        let b = still("width=320&time=2.0000001").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.file_name(), "thumbnail-t120-w320.jpg");
        assert_eq!(still("").unwrap().tick, 72, "the poster's time");
        assert_eq!(
            still("").unwrap().size,
            Size::Width(DEFAULT_STILL_WIDTH),
            "the poster's width"
        );
        assert_eq!(
            still("width=320&height=320&fit_mode=crop")
                .unwrap()
                .file_name(),
            "thumbnail-t72-w320-h320-crop.jpg"
        );
        // The end is the last frame.
        assert_eq!(still("time=12").unwrap().tick, tick_of(11_950));
    }

    #[test]
    fn bad_stills_are_refused_with_a_reason() {
        for (q, says) in [
            ("time=-1", "0 or more"),
            ("time=NaN", "number of seconds"),
            ("time=inf", "number of seconds"),
            ("time=1e3", "number of seconds"),
            ("time=12.5", "past the end"),
            ("width=100000", "16 to 1920"),
            ("width=0", "16 to 1920"),
            ("height=1921", "16 to 1920"),
            ("width=1.5", "whole number"),
            ("fit_mode=stretch", "preserve, crop or pad"),
            ("time=1&time=2", "twice"),
            ("smart=1", "unknown parameter"),
        ] {
            let e = still(q).unwrap_err();
            assert!(e.0.contains(says), "{q}: {e}");
        }
    }

    #[test]
    fn animations_are_bounded() {
        let a = Animated::parse("", AnimatedFormat::Gif, &B).unwrap();
        assert_eq!(
            (a.start_tick, a.end_tick, a.width, a.fps),
            (0, 300, 320, 15)
        );
        let a = Animated::parse("start=10&end=20", AnimatedFormat::Webp, &B).unwrap();
        assert_eq!(a.end_tick, 720, "clamped to the end of the video");
        for (q, says) in [
            ("start=1&end=12", "at most 10 s"),
            ("start=3&end=2", "after `start`"),
            ("start=12", "past the end"),
            ("width=641", "16 to 640"),
            ("fps=0", "1 to 30"),
            ("fps=31", "1 to 30"),
            ("fps=NaN", "1 to 30"),
        ] {
            let e = Animated::parse(q, AnimatedFormat::Gif, &B).unwrap_err();
            assert!(e.0.contains(says), "{q}: {e}");
        }
    }

    #[test]
    fn the_rendition_needed_is_the_box_the_image_fills() {
        let s = |q| still(q).unwrap().needs((1920, 1080));
        assert_eq!(s("width=640"), (640, 360));
        assert_eq!(s("height=360"), (640, 360));
        assert_eq!(s("width=320&height=320"), (320, 180));
        assert_eq!(s("width=320&height=320&fit_mode=crop"), (568, 320));
        assert_eq!(s("width=320&height=320&fit_mode=pad"), (320, 180));
    }

    #[test]
    fn playlists_give_each_segment_its_place_on_the_timeline() {
        let text = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.000,\nseg_00001.m4s\n#EXTINF:4.000,\nseg_00002.m4s\n#EXTINF:1.500,\nseg_00003.m4s\n#EXT-X-ENDLIST\n";
        let (init, segs) = read_playlist(text).unwrap();
        assert_eq!(init, "init.mp4");
        assert_eq!(
            segs.iter().map(|s| s.start_ms).collect::<Vec<_>>(),
            [0, 2000, 6000]
        );
        let (hit, off) = covering(&segs, 2500, 2500).unwrap();
        assert_eq!(
            (hit[0].name.as_str(), hit.len(), off),
            ("seg_00002.m4s", 1, 500)
        );
        let (hit, off) = covering(&segs, 1000, 6500).unwrap();
        assert_eq!((hit.len(), off), (3, 1000));
        assert!(covering(&segs, 7500, 7500).is_none());
    }

    #[test]
    fn masters_list_their_video_variants() {
        let m = "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"audio\",URI=\"audio/index.m3u8\"\n\
                 #EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS=\"avc1.4d401e,mp4a.40.2\",AUDIO=\"aud\"\ng2/360p/index.m3u8\n\
                 #EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1280x720,CODECS=\"avc1.64001f\"\ng2/720p/index.m3u8\n";
        let v = read_master(m);
        assert_eq!(v.len(), 2);
        assert_eq!(
            (v[1].width, v[1].height, v[1].uri.as_str()),
            (1280, 720, "g2/720p/index.m3u8")
        );
    }

    proptest::proptest! {
        /// Nothing a client can put in a query string panics, and whatever is accepted is within
        /// the bounds.
        #[test]
        fn any_query_is_refused_or_bounded(q in "\\PC{0,80}") {
            if let Ok(s) = Still::parse(&q, StillFormat::Png, &B) {
                proptest::prop_assert!(ms_of(s.tick) <= B.duration_ms);
                if let Size::Box(w, h, _) = s.size {
                    proptest::prop_assert!(w <= MAX_SIDE && h <= MAX_SIDE);
                }
            }
            if let Ok(a) = Animated::parse(&q, AnimatedFormat::Gif, &B) {
                proptest::prop_assert!(a.end_tick > a.start_tick);
                proptest::prop_assert!(ms_of(a.end_tick - a.start_tick) <= ANIMATED_MAX_MS);
                proptest::prop_assert!(a.width <= ANIMATED_MAX_WIDTH && a.fps <= ANIMATED_MAX_FPS);
            }
        }
    }
}
