//! A video's text tracks (subtitles and captions): what an owner uploads (`POST
//! /v1/videos/{id}/text-tracks`, a WebVTT or SRT file), how it is checked and converted, and what
//! players read: the whole track as WebVTT, and, for HLS, a `SUBTITLES` rendition group in the
//! master whose playlist cuts the track into segmented WebVTT with `X-TIMESTAMP-MAP`, so cues line
//! up with the CMAF timeline (which starts at 0).
//!
//! Checked strictly, because a bad file is only noticed by a viewer otherwise: every timing line
//! parsed, every cue inside the video, and a fault named by its line in the uploaded file.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::chapters::timestamp;

/// Largest caption file accepted, in bytes. A feature film's subtitles are 60–150 KB.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// Most cues a track may hold: a two-hour film has 1,500–2,000.
pub const MAX_CUES: usize = 5_000;
/// Longest text of one cue, in characters.
pub const MAX_CUE_CHARS: usize = 1_000;
/// Most text tracks a video may have.
pub const MAX_TRACKS: usize = 20;
/// Longest track name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Length of one segment of a track's HLS playlist.
pub const SEGMENT_MS: u64 = 10_000;
/// How far past the end of the video a cue may end (subtitle tools round up); it is cut there.
const END_SLACK_MS: u64 = 1_000;

/// One track as the video lists it (the cues themselves are stored apart).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TextTrack {
    pub id: Uuid,
    /// BCP 47 (`en`, `pt-BR`).
    pub language: String,
    pub name: String,
    pub kind: Kind,
    /// The track a player shows unless the viewer picks another; at most one per video.
    pub default: bool,
    pub cues: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A translation of the dialogue.
    Subtitles,
    /// For viewers who cannot hear: dialogue and sounds.
    Captions,
}

impl Kind {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "subtitles" => Ok(Self::Subtitles),
            "captions" => Ok(Self::Captions),
            other => Err(format!(
                "kind {other:?} is neither \"subtitles\" nor \"captions\""
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subtitles => "subtitles",
            Self::Captions => "captions",
        }
    }
}

/// One cue, times in milliseconds from the start of the video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cue {
    pub start_ms: u64,
    pub end_ms: u64,
    /// Cue settings (`line:0 align:start`), only the names WebVTT defines.
    pub settings: String,
    /// The cue's text, WebVTT markup.
    pub text: String,
}

/// What is wrong with an uploaded file, and where: `line` is 1-based in the file as uploaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct FileError {
    pub line: usize,
    pub reason: String,
}

fn fault(line: usize, reason: impl Into<String>) -> FileError {
    FileError {
        line,
        reason: reason.into(),
    }
}

/// Checks `language` as a BCP 47 tag's shape: a 2–3 letter language, then subtags of 1–8 letters
/// or digits (`en`, `pt-BR`, `zh-Hant-TW`, `es-419`).
pub fn validate_language(language: &str) -> Result<(), String> {
    let mut parts = language.split('-');
    let primary = parts.next().unwrap_or_default();
    let ok = (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_alphabetic())
        && parts
            .all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
        && language.len() <= 35;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "language {language:?} is not a BCP 47 tag (like \"en\" or \"pt-BR\")"
        ))
    }
}

/// Checks a track's name: one line of 1 to 100 characters, no `"` (it is quoted in the master).
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("the track's name is empty".into());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!(
            "the track's name is longer than {MAX_NAME_CHARS} characters"
        ));
    }
    if name.chars().any(|c| c.is_control() || c == '"') {
        return Err("the track's name must be one line without '\"'".into());
    }
    Ok(())
}

/// Parses an uploaded WebVTT or SRT file into cues checked against a video of `duration_ms`,
/// sorted by start.
pub fn parse(bytes: &[u8], duration_ms: u64) -> Result<Vec<Cue>, FileError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(fault(
            1,
            format!("the file is larger than {MAX_FILE_BYTES} bytes"),
        ));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        fault(line, "the file is not UTF-8 text")
    })?;
    if let Some(at) = text.find('\0') {
        return Err(fault(line_of(text, at), "the file holds a NUL character"));
    }
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = text.split('\n').collect();
    let first = lines
        .iter()
        .position(|l| !l.trim().is_empty())
        .ok_or_else(|| fault(1, "the file is empty"))?;
    let head = lines[first].trim_end();
    let mut cues = if first == 0 && head.starts_with("WEBVTT") {
        parse_webvtt(&lines)?
    } else if head.bytes().all(|b| b.is_ascii_digit()) || head.contains("-->") {
        parse_srt(&lines)?
    } else {
        return Err(fault(
            first + 1,
            "neither WebVTT (a file starting with WEBVTT) nor SRT (numbered cues timed like 00:00:01,000 --> 00:00:02,500)",
        ));
    };
    if cues.is_empty() {
        return Err(fault(lines.len(), "the file holds no cue"));
    }
    for (line, cue) in &mut cues {
        check_cue(*line, cue, duration_ms)?;
    }
    cues.sort_by_key(|(_, c)| (c.start_ms, c.end_ms));
    Ok(cues.into_iter().map(|(_, c)| c).collect())
}

fn line_of(text: &str, at: usize) -> usize {
    1 + text[..at].matches('\n').count()
}

fn check_cue(line: usize, cue: &mut Cue, duration_ms: u64) -> Result<(), FileError> {
    if cue.end_ms <= cue.start_ms {
        return Err(fault(
            line,
            format!(
                "the cue ends ({}) before it starts ({})",
                timestamp(cue.end_ms),
                timestamp(cue.start_ms)
            ),
        ));
    }
    if cue.start_ms >= duration_ms || cue.end_ms > duration_ms + END_SLACK_MS {
        return Err(fault(
            line,
            format!(
                "the cue ({} --> {}) is not inside the video ({} long)",
                timestamp(cue.start_ms),
                timestamp(cue.end_ms),
                timestamp(duration_ms)
            ),
        ));
    }
    cue.end_ms = cue.end_ms.min(duration_ms);
    if cue.text.chars().count() > MAX_CUE_CHARS {
        return Err(fault(
            line,
            format!("the cue's text is longer than {MAX_CUE_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Blocks of non-blank lines, each with the 1-based number of its first line.
fn blocks<'a>(lines: &[&'a str], from: usize) -> Vec<(usize, Vec<&'a str>)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, Vec<&str>)> = None;
    for (i, l) in lines.iter().enumerate().skip(from) {
        if l.trim().is_empty() {
            out.extend(current.take());
        } else {
            current
                .get_or_insert_with(|| (i + 1, Vec::new()))
                .1
                .push(*l);
        }
    }
    out.extend(current);
    out
}

fn push_cue(cues: &mut Vec<(usize, Cue)>, line: usize, cue: Cue) -> Result<(), FileError> {
    if cues.len() == MAX_CUES {
        return Err(fault(line, format!("more than {MAX_CUES} cues")));
    }
    cues.push((line, cue));
    Ok(())
}

fn parse_webvtt(lines: &[&str]) -> Result<Vec<(usize, Cue)>, FileError> {
    let header = lines[0].trim_end();
    if header != "WEBVTT" && !header.starts_with("WEBVTT ") && !header.starts_with("WEBVTT\t") {
        return Err(fault(
            1,
            "the WebVTT header must be WEBVTT alone or followed by a space",
        ));
    }
    // The header block runs to the first blank line.
    let body = lines
        .iter()
        .position(|l| l.trim().is_empty())
        .unwrap_or(lines.len());
    let mut cues = Vec::new();
    for (at, block) in blocks(lines, body) {
        let first = block[0].trim_end();
        if ["NOTE", "STYLE", "REGION"].iter().any(|k| {
            first == *k
                || first.starts_with(&format!("{k} "))
                || first.starts_with(&format!("{k}\t"))
        }) {
            continue;
        }
        // An identifier line may come before the timing line.
        let (timing_at, rest) = if first.contains("-->") {
            (0, &block[1..])
        } else if block.len() > 1 && block[1].contains("-->") {
            (1, &block[2..])
        } else {
            return Err(fault(
                at,
                "expected a cue timing line like 00:00:01.000 --> 00:00:02.500",
            ));
        };
        let line = at + timing_at;
        let (start_ms, end_ms, settings) = timing(block[timing_at], line, false)?;
        let text = payload(rest, line + 1, |l| l.to_owned())?;
        push_cue(
            &mut cues,
            line,
            Cue {
                start_ms,
                end_ms,
                settings,
                text,
            },
        )?;
    }
    Ok(cues)
}

fn parse_srt(lines: &[&str]) -> Result<Vec<(usize, Cue)>, FileError> {
    let mut cues = Vec::new();
    for (at, block) in blocks(lines, 0) {
        // The cue number is optional in practice; the timing line is not.
        let (timing_at, rest) = if block[0].contains("-->") {
            (0, &block[1..])
        } else if block[0].trim().bytes().all(|b| b.is_ascii_digit())
            && block.len() > 1
            && block[1].contains("-->")
        {
            (1, &block[2..])
        } else {
            return Err(fault(
                at,
                "expected a cue number, then a timing line like 00:00:01,000 --> 00:00:02,500",
            ));
        };
        let line = at + timing_at;
        // SRT's position hints after the times (`X1:… Y1:…`) have no WebVTT equivalent.
        let (start_ms, end_ms, _) = timing(block[timing_at], line, true)?;
        let text = payload(rest, line + 1, srt_to_webvtt)?;
        push_cue(
            &mut cues,
            line,
            Cue {
                start_ms,
                end_ms,
                settings: String::new(),
                text,
            },
        )?;
    }
    Ok(cues)
}

/// A cue's text lines, each converted by `convert`; `-->` may not appear in them.
fn payload(
    lines: &[&str],
    first_line: usize,
    convert: impl Fn(&str) -> String,
) -> Result<String, FileError> {
    let mut out = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        if l.contains("-->") {
            return Err(fault(
                first_line + i,
                "cue text may not contain \"-->\" (a missing blank line between two cues?)",
            ));
        }
        out.push(convert(l.trim_end()));
    }
    Ok(out.join("\n"))
}

/// `start --> end [settings]`. SRT writes `,` before the milliseconds, WebVTT `.`.
fn timing(line_text: &str, line: usize, srt: bool) -> Result<(u64, u64, String), FileError> {
    let (start, rest) = line_text
        .split_once("-->")
        .ok_or_else(|| fault(line, "expected a timing line"))?;
    let rest = rest.trim_start();
    let (end, settings) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let start_ms = time(start.trim(), srt)
        .ok_or_else(|| fault(line, format!("{:?} is not a timestamp", start.trim())))?;
    let end_ms =
        time(end, srt).ok_or_else(|| fault(line, format!("{end:?} is not a timestamp")))?;
    let settings = if srt {
        String::new()
    } else {
        cue_settings(settings)
    };
    Ok((start_ms, end_ms, settings))
}

/// `[hh:]mm:ss.ttt` (WebVTT), `hh:mm:ss,ttt` (SRT, which also meets `.` and short milliseconds).
fn time(s: &str, srt: bool) -> Option<u64> {
    let (clock, frac) = s.split_once(if srt && s.contains(',') { ',' } else { '.' })?;
    let frac_ok = if srt {
        (1..=3).contains(&frac.len())
    } else {
        frac.len() == 3
    };
    if !frac_ok || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms: u64 = format!("{frac:0<3}").parse().ok()?;
    let parts: Vec<&str> = clock.split(':').collect();
    let digits = |p: &&str, len: std::ops::RangeInclusive<usize>| {
        (len.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse::<u64>().ok())
            .flatten()
    };
    let (h, m, sec) = match parts.as_slice() {
        [m, sec] if !srt => (0, digits(m, 2..=2)?, digits(sec, 2..=2)?),
        [h, m, sec] => (
            digits(h, if srt { 1..=3 } else { 2..=3 })?,
            digits(m, if srt { 1..=2 } else { 2..=2 })?,
            digits(sec, if srt { 1..=2 } else { 2..=2 })?,
        ),
        _ => return None,
    };
    if m > 59 || sec > 59 {
        return None;
    }
    Some(((h * 60 + m) * 60 + sec) * 1000 + ms)
}

/// Keeps the settings WebVTT defines (`vertical`, `line`, `position`, `size`, `align`); browsers
/// ignore the rest, so they are dropped rather than refused.
fn cue_settings(s: &str) -> String {
    s.split_whitespace()
        .filter(|t| {
            t.split_once(':').is_some_and(|(name, value)| {
                ["vertical", "line", "position", "size", "align"].contains(&name)
                    && !value.is_empty()
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"%.,-".contains(&b))
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// SRT text as WebVTT markup: `<b>`, `<i>` and `<u>` stay; `<font>` and `{\an8}`-style overrides
/// go; any other `<` or a bare `&` is escaped so it shows as written.
fn srt_to_webvtt(line: &str) -> String {
    const KEPT: [&str; 6] = ["<b>", "</b>", "<i>", "</i>", "<u>", "</u>"];
    const ENTITIES: [&str; 6] = ["&amp;", "&lt;", "&gt;", "&nbsp;", "&lrm;", "&rlm;"];
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        let lower = rest
            .chars()
            .take(7)
            .collect::<String>()
            .to_ascii_lowercase();
        if c == '<' {
            if let Some(tag) = KEPT.iter().find(|t| lower.starts_with(**t)) {
                out.push_str(tag);
                rest = &rest[tag.len()..];
                continue;
            }
            if (lower.starts_with("<font") || lower.starts_with("</font"))
                && let Some(end) = rest.find('>')
            {
                rest = &rest[end + 1..];
                continue;
            }
            out.push_str("&lt;");
        } else if c == '{' && rest.starts_with("{\\") && rest.contains('}') {
            rest = &rest[rest.find('}').unwrap_or(0) + 1..];
            continue;
        } else if c == '&' {
            match ENTITIES.iter().find(|e| lower.starts_with(**e)) {
                Some(e) => {
                    out.push_str(e);
                    rest = &rest[e.len()..];
                    continue;
                }
                None => out.push_str("&amp;"),
            }
        } else if c == '>' {
            out.push_str("&gt;");
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn push_cues<'a>(out: &mut String, cues: impl Iterator<Item = &'a Cue>) {
    for c in cues {
        out.push_str(&timestamp(c.start_ms));
        out.push_str(" --> ");
        out.push_str(&timestamp(c.end_ms));
        if !c.settings.is_empty() {
            out.push(' ');
            out.push_str(&c.settings);
        }
        out.push('\n');
        out.push_str(&c.text);
        out.push_str("\n\n");
    }
}

/// The whole track as one WebVTT file (for `<track>` elements and downloads).
pub fn webvtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    push_cues(&mut out, cues.iter());
    out
}

/// Segments of a track's HLS playlist for a video of `duration_ms`.
pub fn segment_count(duration_ms: u64) -> u64 {
    duration_ms.div_ceil(SEGMENT_MS)
}

/// Segment `n`: every cue showing during it (a cue across a boundary is in both, with the same
/// times; players keep one). `X-TIMESTAMP-MAP` maps cue time 0 to media time 0, where the CMAF
/// segments' timeline starts.
pub fn segment(cues: &[Cue], n: u64, duration_ms: u64) -> Option<String> {
    if n >= segment_count(duration_ms) {
        return None;
    }
    let (from, to) = (n * SEGMENT_MS, ((n + 1) * SEGMENT_MS).min(duration_ms));
    let mut out = String::from("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n\n");
    push_cues(
        &mut out,
        cues.iter().filter(|c| c.start_ms < to && c.end_ms > from),
    );
    Some(out)
}

/// `seg_00003.vtt`.
pub fn segment_name(n: u64) -> String {
    format!("seg_{n:05}.vtt")
}

/// The track's HLS media playlist: fixed-length WebVTT segments over the whole video.
pub fn playlist(duration_ms: u64) -> String {
    let mut out = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n",
        SEGMENT_MS / 1000
    );
    for n in 0..segment_count(duration_ms) {
        let len = ((n + 1) * SEGMENT_MS).min(duration_ms) - n * SEGMENT_MS;
        out.push_str(&format!(
            "#EXTINF:{}.{:03},\n{}\n",
            len / 1000,
            len % 1000,
            segment_name(n)
        ));
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// The `SUBTITLES` group every variant of the master names.
const GROUP: &str = "text";

/// The relative URL of a whole track, from the master's directory.
pub fn whole_path(track: Uuid) -> String {
    format!("text/{track}.vtt")
}

/// The relative URL of a track's playlist, from the master's directory.
pub fn playlist_path(track: Uuid) -> String {
    format!("text/{track}/index.m3u8")
}

/// `master` with `tracks` as a `SUBTITLES` rendition group that every variant names. The stored
/// master never has them: tracks are added and removed without rewriting what the encode wrote.
pub fn master_with_tracks(master: &str, tracks: &[TextTrack]) -> String {
    if tracks.is_empty() {
        return master.to_owned();
    }
    let mut media = String::new();
    for t in tracks {
        let yes = |b: bool| if b { "YES" } else { "NO" };
        media.push_str(&format!(
            "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"{GROUP}\",NAME=\"{}\",LANGUAGE=\"{}\",DEFAULT={},AUTOSELECT=YES,FORCED=NO,",
            t.name,
            t.language,
            yes(t.default)
        ));
        if t.kind == Kind::Captions {
            media.push_str("CHARACTERISTICS=\"public.accessibility.transcribes-spoken-dialog,public.accessibility.describes-music-and-sound\",");
        }
        media.push_str(&format!("URI=\"{}\"\n", playlist_path(t.id)));
    }
    let mut out = String::with_capacity(master.len() + media.len() + 64);
    let mut placed = false;
    for line in master.lines() {
        if line.starts_with("#EXT-X-STREAM-INF:") {
            if !placed {
                out.push_str(&media);
                placed = true;
            }
            out.push_str(line);
            if !line.contains("SUBTITLES=") {
                out.push_str(&format!(",SUBTITLES=\"{GROUP}\""));
            }
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    #[test]
    fn an_srt_becomes_webvtt_with_the_same_times_and_safe_markup() {
        let srt = "\u{feff}1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>Hello</i> & <font color=\"red\">world</font>\r\n\r\n\
                   2\r\n00:00:03,000 --> 00:00:04,000 X1:10 Y1:10\r\n{\\an8}Top a<b\r\n\r\n\
                   3\r\n00:00:05,5 --> 00:00:06,000\r\nTwo\r\nlines\r\n";
        let cues = parse(srt.as_bytes(), MIN).unwrap();
        assert_eq!(
            webvtt(&cues),
            "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\n<i>Hello</i> &amp; world\n\n\
             00:00:03.000 --> 00:00:04.000\nTop a&lt;b\n\n\
             00:00:05.500 --> 00:00:06.000\nTwo\nlines\n\n"
        );
    }

    #[test]
    fn webvtt_keeps_ids_out_settings_in_and_skips_notes() {
        let vtt = "WEBVTT - a title\nKind: captions\n\nNOTE a comment\nspanning lines\n\n\
                   intro\n00:01.000 --> 00:02.000 align:start line:0 bogus:1\nHi\n\n\
                   00:00:00.500 --> 00:00:01.000\nFirst\n";
        let cues = parse(vtt.as_bytes(), MIN).unwrap();
        assert_eq!(cues.len(), 2);
        assert_eq!(cues[0].start_ms, 500);
        assert_eq!(cues[1].settings, "align:start line:0");
        let again = parse(webvtt(&cues).as_bytes(), MIN).unwrap();
        assert_eq!(again, cues, "its own output parses back to the same cues");
    }

    #[test]
    fn each_fault_names_its_line() {
        let err = |s: &str| parse(s.as_bytes(), MIN).unwrap_err();
        assert_eq!(err("hello\nworld\n").line, 1);
        assert!(err("hello\n").reason.contains("neither WebVTT"));
        assert_eq!(err("WEBVTTX\n").line, 1);
        let e = err(
            "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nok\n\n00:00:03.000 -> 00:00:04.000\nbad\n",
        );
        assert_eq!(e.line, 6, "{e}");
        let e = err("WEBVTT\n\n00:00:01.000 --> 00:00:61.000\nx\n");
        assert_eq!(e.line, 3, "{e}");
        assert!(e.reason.contains("not a timestamp"), "{e}");
        let e = err("1\n00:00:02,000 --> 00:00:01,000\nbackwards\n");
        assert_eq!(
            (e.line, e.reason.contains("before it starts")),
            (2, true),
            "{e}"
        );
        let e = err("1\n00:00:02,000 --> 00:05:00,000\nlate\n");
        assert!(e.reason.contains("not inside the video"), "{e}");
        let e =
            err("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\na\n00:00:03.000 --> 00:00:04.000\nb\n");
        assert_eq!(e.line, 5, "{e}");
        assert_eq!(err("").reason, "the file is empty");
        assert!(err("WEBVTT\n\nNOTE only\n").reason.contains("no cue"));
        assert!(
            err("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\na\0\n")
                .reason
                .contains("NUL")
        );
        assert_eq!(
            parse(b"1\n00:00:01,000 --> 00:00:02,000\n\xff\n", MIN)
                .unwrap_err()
                .line,
            3
        );
        let many: String = (0..=MAX_CUES)
            .map(|i| {
                format!(
                    "{}\n00:00:{:02},{:03} --> 00:00:{:02},{:03}\nx\n\n",
                    i + 1,
                    i / 100 % 60,
                    i % 100,
                    i / 100 % 60,
                    i % 100 + 1
                )
            })
            .collect();
        assert!(err(&many).reason.contains("more than 5000 cues"));
        assert!(
            err(&"x".repeat(MAX_FILE_BYTES + 1))
                .reason
                .contains("larger than")
        );
    }

    #[test]
    fn a_cue_ending_just_past_the_video_is_cut_at_its_end() {
        let cues = parse(b"1\n00:00:59,000 --> 00:01:00,800\nlast\n", MIN).unwrap();
        assert_eq!(cues[0].end_ms, MIN);
    }

    #[test]
    fn segments_cover_the_video_and_carry_the_cues_showing_in_them() {
        let cues = parse(b"1\n00:00:09,000 --> 00:00:11,000\nacross\n\n2\n00:00:21,000 --> 00:00:22,000\nthird\n", 25_000).unwrap();
        let list = playlist(25_000);
        assert!(list.contains("#EXTINF:10.000,\nseg_00000.vtt\n#EXTINF:10.000,\nseg_00001.vtt\n#EXTINF:5.000,\nseg_00002.vtt\n#EXT-X-ENDLIST"), "{list}");
        assert!(segment(&cues, 0, 25_000).unwrap().contains("across"));
        assert!(segment(&cues, 1, 25_000).unwrap().contains("across"));
        let third = segment(&cues, 2, 25_000).unwrap();
        assert!(third.starts_with("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n"));
        assert!(third.contains("third") && !third.contains("across"));
        assert_eq!(segment(&cues, 3, 25_000), None);
    }

    #[test]
    fn the_master_names_the_group_from_every_variant() {
        let master = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"a\",URI=\"audio/index.m3u8\"\n\
                      #EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO=\"aud\"\n720p/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2\n1080p/index.m3u8\n";
        let id = Uuid::nil();
        let t = TextTrack {
            id,
            language: "en".into(),
            name: "English CC".into(),
            kind: Kind::Captions,
            default: true,
            cues: 3,
        };
        let out = master_with_tracks(master, std::slice::from_ref(&t));
        assert_eq!(out.matches("SUBTITLES=\"text\"").count(), 2, "{out}");
        assert!(out.contains(&format!("LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,FORCED=NO,CHARACTERISTICS=\"public.accessibility.transcribes-spoken-dialog,public.accessibility.describes-music-and-sound\",URI=\"text/{id}/index.m3u8\"\n#EXT-X-STREAM-INF:BANDWIDTH=1")), "{out}");
        assert_eq!(master_with_tracks(master, &[]), master);
    }

    #[test]
    fn languages_and_names_are_checked() {
        for ok in ["en", "pt-BR", "zh-Hant-TW", "es-419", "fil"] {
            validate_language(ok).unwrap();
        }
        for bad in ["", "e", "english", "en_US", "en-", "en-toolongsubtag", "1a"] {
            assert!(validate_language(bad).is_err(), "{bad}");
        }
        validate_name("English (CC)").unwrap();
        for bad in ["", "  ", "a\"b", "a\nb", &"n".repeat(101)] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }
}
