//! The DASH manifest (`manifest.mpd`) of a finished generation: one MPD over the very init and
//! media segments the HLS playlists list (no second copy), with each segment's exact decode time
//! and length in its track's timescale (`SegmentTimeline`), so a DASH player and an HLS player
//! see the same timeline. Text tracks are added by the origin ([`with_text_tracks`]), like the
//! HLS master's `SUBTITLES` group, so adding one never rewrites the stored manifest.
//!
//! Published at `ready` only (`type="static"`): a growing DASH presentation would have to be
//! `dynamic`, anchored to wall-clock availability times, which players treat as live (they join
//! at the live edge, and a later switch to `static` is a type change some refuse), while the
//! growing HLS `EVENT` playlists already serve early playback from the start.

use std::fmt::Write;

use crate::audio_tracks::AudioTrack;
use crate::layout;
use crate::segment::Segment;
use crate::text_tracks::{Kind, TextTrack, whole_path};

pub const CONTENT_TYPE: &str = "application/dash+xml";

/// One representation: a rung or the audio, with the segments its HLS playlist lists.
pub struct Representation<'a> {
    pub name: &'a str,
    pub width: u32,
    pub height: u32,
    /// Peak bits per second (as the HLS master's BANDWIDTH, without the audio).
    pub bandwidth: u64,
    pub codecs: &'a str,
    pub segments: &'a [Segment],
}

/// One audio track: its own adaptation set (language, role), as HLS has one rendition per track.
pub struct AudioSet<'a> {
    /// `audio`, `audio-2`…
    pub rendition: String,
    pub track: &'a AudioTrack,
    pub bandwidth: u64,
    pub codecs: &'a str,
    pub segments: &'a [Segment],
}

pub struct Presentation<'a> {
    pub generation: u32,
    /// Frames per second as a fraction.
    pub frame_rate: (u32, u32),
    pub video: Vec<Representation<'a>>,
    pub audio: Vec<AudioSet<'a>>,
}

/// The manifest, or `None` when a segment's exact times are not known (segments recorded by
/// older workers): a manifest of rounded durations would drift from the media.
pub fn manifest(p: &Presentation<'_>) -> Option<String> {
    let video = p
        .video
        .iter()
        .map(|r| timeline(r.segments).map(|t| (r, t)))
        .collect::<Option<Vec<_>>>()?;
    let audio = p
        .audio
        .iter()
        .map(|a| timeline(a.segments).map(|t| (a, t)))
        .collect::<Option<Vec<_>>>()?;
    let duration = if video.is_empty() {
        audio
            .iter()
            .map(|(_, t)| t.seconds())
            .fold(0.0_f64, f64::max)
    } else {
        video
            .iter()
            .map(|(_, t)| t.seconds())
            .fold(0.0_f64, f64::max)
    };
    if duration <= 0.0 {
        return None;
    }
    let mut m = String::new();
    let _ = writeln!(m, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        m,
        r#"<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="static" mediaPresentationDuration="{}" minBufferTime="PT4S">"#,
        iso_duration(duration)
    );
    m.push_str("  <Period id=\"0\" start=\"PT0S\">\n");
    let (mut next_id, gen_dir) = (0, layout::generation_dir(p.generation));
    if !video.is_empty() {
        let (w, h) = video
            .iter()
            .fold((0, 0), |(w, h), (r, _)| (w.max(r.width), h.max(r.height)));
        let (num, den) = p.frame_rate;
        let rate = if den <= 1 {
            num.to_string()
        } else {
            format!("{num}/{den}")
        };
        let _ = writeln!(
            m,
            r#"    <AdaptationSet id="{next_id}" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1" maxWidth="{w}" maxHeight="{h}" frameRate="{rate}">"#
        );
        next_id += 1;
        for (r, t) in &video {
            let _ = writeln!(
                m,
                r#"      <Representation id="{}" bandwidth="{}" codecs="{}" width="{}" height="{}" sar="1:1">"#,
                xml(r.name),
                r.bandwidth.max(1),
                xml(r.codecs),
                r.width,
                r.height
            );
            template(&mut m, &gen_dir, r.name, t);
            m.push_str("      </Representation>\n");
        }
        m.push_str("    </AdaptationSet>\n");
    }
    for (a, t) in &audio {
        let _ = writeln!(
            m,
            r#"    <AdaptationSet id="{next_id}" contentType="audio" mimeType="audio/mp4" lang="{}" segmentAlignment="true" startWithSAP="1">"#,
            xml(&a.track.language)
        );
        next_id += 1;
        let role = if a.track.commentary {
            "commentary"
        } else if a.track.descriptive {
            "description"
        } else if a.track.default {
            "main"
        } else {
            "alternate"
        };
        let _ = writeln!(
            m,
            "      <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\"{role}\"/>"
        );
        let _ = writeln!(m, "      <Label>{}</Label>", xml(&a.track.name));
        let _ = writeln!(
            m,
            r#"      <Representation id="{}" bandwidth="{}" codecs="{}" audioSamplingRate="{}">"#,
            xml(&a.rendition),
            a.bandwidth.max(1),
            xml(a.codecs),
            t.timescale
        );
        m.push_str("        <AudioChannelConfiguration schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\"2\"/>\n");
        template(&mut m, &gen_dir, &a.rendition, t);
        m.push_str("      </Representation>\n    </AdaptationSet>\n");
    }
    m.push_str("  </Period>\n</MPD>\n");
    Some(m)
}

/// The stored manifest with one text adaptation set per track (the whole WebVTT file, as DASH
/// players read side-loaded text), placed before the period's end.
pub fn with_text_tracks(mpd: &str, tracks: &[TextTrack]) -> String {
    let Some(at) = mpd.rfind("  </Period>") else {
        return mpd.to_owned();
    };
    let mut sets = String::new();
    for (i, t) in tracks.iter().enumerate() {
        let role = match t.kind {
            Kind::Subtitles => "subtitle",
            Kind::Captions => "caption",
        };
        let _ = writeln!(
            sets,
            r#"    <AdaptationSet id="{}" contentType="text" mimeType="text/vtt" lang="{}">"#,
            100 + i,
            xml(&t.language)
        );
        let _ = writeln!(
            sets,
            "      <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\"{role}\"/>"
        );
        let _ = writeln!(sets, "      <Label>{}</Label>", xml(&t.name));
        let _ = writeln!(
            sets,
            r#"      <Representation id="text-{}" bandwidth="256"><BaseURL>{}</BaseURL></Representation>"#,
            t.id,
            xml(&whole_path(t.id))
        );
        sets.push_str("    </AdaptationSet>\n");
    }
    format!("{}{sets}{}", &mpd[..at], &mpd[at..])
}

/// A representation's segments as (start, length) runs in one timescale.
struct Timeline {
    timescale: u32,
    first_number: u32,
    /// (t, d, r): `r` more segments of length `d` follow the first at `t`.
    runs: Vec<(u64, u64, u64)>,
    end: u64,
    start: u64,
}

impl Timeline {
    fn seconds(&self) -> f64 {
        (self.end - self.start) as f64 / f64::from(self.timescale)
    }
}

fn timeline(segments: &[Segment]) -> Option<Timeline> {
    let first = segments.first()?;
    let timescale = first.timing?.timescale;
    if timescale == 0 {
        return None;
    }
    let mut runs: Vec<(u64, u64, u64)> = Vec::new();
    let mut end = first.timing?.start;
    for (i, s) in segments.iter().enumerate() {
        let t = s.timing?;
        if t.timescale != timescale || (i > 0 && s.number != segments[i - 1].number + 1) {
            return None;
        }
        match runs.last_mut() {
            Some((_, d, r)) if t.start == end && t.ticks == *d => *r += 1,
            _ => runs.push((t.start, t.ticks, 0)),
        }
        end = t.start + t.ticks;
    }
    Some(Timeline {
        timescale,
        first_number: first.number,
        start: first.timing?.start,
        runs,
        end,
    })
}

fn template(m: &mut String, gen_dir: &str, name: &str, t: &Timeline) {
    let dir = xml(&format!("{gen_dir}{name}/"));
    let _ = writeln!(
        m,
        r#"        <SegmentTemplate timescale="{}" initialization="{dir}init.mp4" media="{dir}seg_$Number%05d$.m4s" startNumber="{}">"#,
        t.timescale, t.first_number
    );
    m.push_str("          <SegmentTimeline>");
    let mut expected = None;
    for &(start, d, r) in &t.runs {
        // `t` only where a run does not follow on from the one before (a gap or an overlap).
        if expected == Some(start) {
            let _ = write!(m, r#"<S d="{d}""#);
        } else {
            let _ = write!(m, r#"<S t="{start}" d="{d}""#);
        }
        if r > 0 {
            let _ = write!(m, r#" r="{r}""#);
        }
        m.push_str("/>");
        expected = Some(start + d * (r + 1));
    }
    m.push_str("</SegmentTimeline>\n        </SegmentTemplate>\n");
}

/// `PT1M2.345S` as `PT62.345S` (ISO 8601 seconds are enough; players read both).
fn iso_duration(seconds: f64) -> String {
    format!("PT{seconds:.3}S")
}

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::SegmentTiming;

    fn seg(number: u32, start: u64, ticks: u64, timescale: u32) -> Segment {
        Segment {
            number,
            duration_s: ticks as f64 / f64::from(timescale),
            bytes: 1000,
            timing: Some(SegmentTiming {
                timescale,
                start,
                ticks,
            }),
        }
    }

    fn main_track() -> &'static AudioTrack {
        static T: std::sync::OnceLock<AudioTrack> = std::sync::OnceLock::new();
        T.get_or_init(|| AudioTrack {
            index: 0,
            language: "en".into(),
            name: "English".into(),
            default: true,
            commentary: false,
            descriptive: false,
        })
    }

    fn presentation<'a>(v: &'a [Segment], a: &'a [Segment], generation: u32) -> Presentation<'a> {
        Presentation {
            generation,
            frame_rate: (30, 1),
            video: vec![Representation {
                name: "720p",
                width: 1280,
                height: 720,
                bandwidth: 2_000_000,
                codecs: "avc1.64001f",
                segments: v,
            }],
            audio: vec![AudioSet {
                rendition: "audio".into(),
                track: main_track(),
                bandwidth: 128_000,
                codecs: "mp4a.40.2",
                segments: a,
            }],
        }
    }

    #[test]
    fn equal_segments_become_one_run_and_a_short_last_one_its_own() {
        let v = [
            seg(1, 0, 61_440, 15_360),
            seg(2, 61_440, 61_440, 15_360),
            seg(3, 122_880, 61_440, 15_360),
            seg(4, 184_320, 7_680, 15_360),
        ];
        let a = [seg(1, 0, 192_000, 48_000), seg(2, 192_000, 120_000, 48_000)];
        let m = manifest(&presentation(&v, &a, 0)).unwrap();
        assert!(
            m.contains(
                r#"<SegmentTimeline><S t="0" d="61440" r="2"/><S d="7680"/></SegmentTimeline>"#
            ),
            "{m}"
        );
        assert!(m.contains(r#"media="720p/seg_$Number%05d$.m4s" startNumber="1""#));
        assert!(m.contains(r#"initialization="audio/init.mp4""#));
        assert!(
            m.contains(r#"mediaPresentationDuration="PT12.500S""#),
            "{m}"
        );
        assert!(m.contains(r#"type="static""#));
        assert!(m.contains(r#"audioSamplingRate="48000""#));
    }

    #[test]
    fn each_audio_track_is_a_set_with_its_language_and_role() {
        let v = [seg(1, 0, 90_000, 90_000)];
        let commentary = AudioTrack {
            index: 1,
            language: "fr".into(),
            name: "Commentaire".into(),
            default: false,
            commentary: true,
            descriptive: false,
        };
        let mut p = presentation(&v, &v, 0);
        p.audio.push(AudioSet {
            rendition: "audio-2".into(),
            track: &commentary,
            bandwidth: 128_000,
            codecs: "mp4a.40.2",
            segments: &v,
        });
        let m = manifest(&p).unwrap();
        assert!(
            m.contains(r#"contentType="audio" mimeType="audio/mp4" lang="en""#),
            "{m}"
        );
        assert!(
            m.contains(r#"contentType="audio" mimeType="audio/mp4" lang="fr""#),
            "{m}"
        );
        assert!(m.contains(r#"value="main"/>"#) && m.contains(r#"value="commentary"/>"#));
        assert!(m.contains(r#"<Representation id="audio-2""#));
        assert!(m.contains(r#"media="audio-2/seg_$Number%05d$.m4s""#), "{m}");
    }

    #[test]
    fn a_later_generation_points_at_its_own_directory() {
        let v = [seg(1, 0, 90_000, 90_000)];
        let m = manifest(&presentation(&v, &v, 3)).unwrap();
        assert!(m.contains(r#"media="g3/720p/seg_$Number%05d$.m4s""#), "{m}");
        assert!(m.contains(r#"initialization="g3/audio/init.mp4""#), "{m}");
    }

    #[test]
    fn a_gap_in_decode_times_is_written_as_a_new_start() {
        let v = [seg(1, 0, 100, 1000), seg(2, 150, 100, 1000)];
        let m = manifest(&presentation(&v, &v, 0)).unwrap();
        assert!(
            m.contains(r#"<S t="0" d="100"/><S t="150" d="100"/>"#),
            "{m}"
        );
    }

    #[test]
    fn segments_without_exact_times_give_no_manifest() {
        let mut v = vec![seg(1, 0, 100, 1000)];
        v[0].timing = None;
        let a = [seg(1, 0, 100, 1000)];
        assert!(manifest(&presentation(&v, &a, 0)).is_none());
    }

    #[test]
    fn text_tracks_are_sets_of_their_own_with_escaped_names() {
        let v = [seg(1, 0, 100, 1000)];
        let m = manifest(&presentation(&v, &v, 0)).unwrap();
        let track = TextTrack {
            id: uuid::Uuid::nil(),
            language: "pt-BR".into(),
            name: "Português <CC> & \"more\"".into(),
            kind: Kind::Captions,
            default: false,
            cues: 3,
        };
        let with = with_text_tracks(&m, &[track]);
        assert!(with.contains(r#"contentType="text" mimeType="text/vtt" lang="pt-BR""#));
        assert!(with.contains("<Label>Português &lt;CC&gt; &amp; &quot;more&quot;</Label>"));
        assert!(with.contains("value=\"caption\""));
        assert!(
            with.contains("<BaseURL>text/00000000-0000-0000-0000-000000000000.vtt</BaseURL>"),
            "{with}"
        );
        assert!(with.trim_end().ends_with("</Period>\n</MPD>"));
    }
}
