//! `package`: every rendition's `index.m3u8` (VOD, EXT-X-MAP, real segment durations) and the
//! `master.m3u8` (audio group; BANDWIDTH from the measured peak segment, AVERAGE-BANDWIDTH,
//! RESOLUTION, CODECS, FRAME-RATE). While the encodes go on, the same playlists of the finished
//! start of the timeline are `EVENT` playlists: players reload them and play from the start.

use std::fmt::Write;

use vodflow_core::audio_tracks::AudioTrack;
use vodflow_core::{dash, layout};
use vodflow_workflows::types::{AudioEncoded, Package, PackagedRendition, Segment};

use super::audio::AUDIO_KBPS;

pub const AUDIO_GROUP: &str = "audio";

/// One rendition's playlist; `growing`: more segments will be appended (no end yet).
pub fn media_playlist(segments: &[Segment], growing: bool) -> String {
    let target = segments
        .iter()
        .map(|s| s.duration_s.ceil() as u64)
        .max()
        .unwrap_or(1)
        .max(1);
    let mut p = String::new();
    let _ = writeln!(
        p,
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:1"
    );
    if growing {
        // Without EXT-X-START a player joins an EVENT playlist near its live end.
        p.push_str("#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-START:TIME-OFFSET=0,PRECISE=YES\n");
    } else {
        p.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
    }
    p.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init.mp4\"\n");
    for s in segments {
        let _ = writeln!(
            p,
            "#EXTINF:{:.3},\n{}",
            s.duration_s,
            layout::segment_name(s.number)
        );
    }
    if !growing {
        p.push_str("#EXT-X-ENDLIST\n");
    }
    p
}

/// (peak, average) bits per second over the segments.
pub fn bandwidths(segments: &[Segment]) -> (u64, u64) {
    let peak = segments
        .iter()
        .filter(|s| s.duration_s > 0.0)
        .map(|s| (s.bytes as f64 * 8.0 / s.duration_s) as u64)
        .max()
        .unwrap_or(0);
    let total_s: f64 = segments.iter().map(|s| s.duration_s).sum();
    let total_b: u64 = segments.iter().map(|s| s.bytes).sum();
    let avg = if total_s > 0.0 {
        (total_b as f64 * 8.0 / total_s) as u64
    } else {
        0
    };
    (peak, avg)
}

pub struct Playlists {
    /// (rendition name, playlist text)
    pub media: Vec<(String, String)>,
    pub master: String,
    pub renditions: Vec<PackagedRendition>,
    /// The DASH manifest over the same segments: finished generations only (`dash`).
    pub dash: Option<String>,
}

/// The audio segments a playlist lists: all of them, or while growing those that end by the end
/// of the last listed video chunk (so both renditions reach the same point).
fn audio_listed<'a>(job: &Package, segments: &'a [Segment]) -> &'a [Segment] {
    if !job.growing {
        return segments;
    }
    let video_end: f64 = job
        .chunks
        .iter()
        .flat_map(|c| c.renditions.first())
        .flat_map(|r| r.segments.iter())
        .map(|s| s.duration_s)
        .sum();
    let mut end = 0.0;
    let n = segments
        .iter()
        .take_while(|s| {
            end += s.duration_s;
            end <= video_end + 0.05
        })
        .count();
    &segments[..n.max(1).min(segments.len())]
}

/// One audio track as the playlists see it.
struct TrackView<'a> {
    track: std::borrow::Cow<'a, AudioTrack>,
    codecs: &'a str,
    segments: &'a [Segment],
}

/// The encode's audio tracks; for results of workers that encoded the first stream only, that
/// one, named as those runs named it.
fn audio_tracks(a: &AudioEncoded) -> Vec<TrackView<'_>> {
    if a.tracks.is_empty() {
        return vec![TrackView {
            track: std::borrow::Cow::Owned(AudioTrack {
                index: 0,
                language: "und".into(),
                name: "default".into(),
                default: true,
                commentary: false,
                descriptive: false,
            }),
            codecs: &a.codecs,
            segments: &a.segments,
        }];
    }
    a.tracks
        .iter()
        .map(|t| TrackView {
            track: std::borrow::Cow::Borrowed(&t.track),
            codecs: &t.codecs,
            segments: if t.segments.is_empty() && t.track.index == 0 {
                &a.segments
            } else {
                &t.segments
            },
        })
        .collect()
}

pub fn build(job: &Package) -> Result<Playlists, String> {
    let id = job.video_id;
    let mut media = Vec::new();
    let mut renditions = Vec::new();
    // (rung, its segments, peak video bits per second, codecs) for the DASH manifest.
    let mut rungs: Vec<(&vodflow_core::ladder::Rendition, Vec<Segment>, u64, String)> = Vec::new();
    let mut master = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let tracks = job.audio.as_ref().map(audio_tracks).unwrap_or_default();
    let mut audio_bw = (0, 0);
    for t in &tracks {
        let (peak, avg) = bandwidths(t.segments);
        let mut line = format!(
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{AUDIO_GROUP}\",NAME=\"{}\",LANGUAGE=\"{}\",DEFAULT={},AUTOSELECT={},CHANNELS=\"2\"",
            t.track.name,
            t.track.language,
            if t.track.default { "YES" } else { "NO" },
            // A commentary is chosen by the viewer, never by the player.
            if t.track.commentary { "NO" } else { "YES" },
        );
        if t.track.descriptive {
            line.push_str(",CHARACTERISTICS=\"public.accessibility.describes-video\"");
        }
        let rendition = t.track.rendition();
        let _ = writeln!(
            master,
            "{line},URI=\"{}index.m3u8\"",
            layout::rendition_dir(job.generation, &rendition)
        );
        let listed = audio_listed(job, t.segments);
        media.push((rendition.clone(), media_playlist(listed, job.growing)));
        renditions.push(PackagedRendition {
            name: rendition.clone(),
            kind: "audio".into(),
            width: 0,
            height: 0,
            bandwidth: avg as u32,
            codecs: t.codecs.to_owned(),
            playlist_key: layout::playlist_key(id, job.generation, &rendition),
            segment_count: t.segments.len() as u32,
            bytes: t.segments.iter().map(|s| s.bytes).sum(),
        });
        // Each variant's BANDWIDTH must cover whichever track plays with it.
        audio_bw = (
            audio_bw.0.max(peak.max(u64::from(AUDIO_KBPS) * 1000)),
            audio_bw.1.max(avg),
        );
    }
    let audio_codecs = tracks.first().map(|t| t.codecs.to_owned());
    for r in &job.renditions {
        let mut segments: Vec<Segment> = Vec::new();
        let mut codecs = None;
        for c in &job.chunks {
            let rc = c
                .renditions
                .iter()
                .find(|x| x.rendition == r.name)
                .ok_or_else(|| format!("chunk {} has no {} output", c.index, r.name))?;
            segments.extend(rc.segments.iter().cloned());
            codecs.get_or_insert_with(|| rc.codecs.clone());
        }
        segments.sort_by_key(|s| s.number);
        if let Some(w) = segments.windows(2).find(|w| w[1].number != w[0].number + 1) {
            return Err(format!(
                "{}: segment {} is followed by {}",
                r.name, w[0].number, w[1].number
            ));
        }
        let (peak, avg) = bandwidths(&segments);
        let video_codecs = codecs.unwrap_or_default();
        let all_codecs = match &audio_codecs {
            Some(a) => format!("{video_codecs},{a}"),
            None => video_codecs.clone(),
        };
        let _ = write!(
            master,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},RESOLUTION={}x{},CODECS=\"{all_codecs}\",FRAME-RATE={:.3}",
            peak + audio_bw.0,
            avg + audio_bw.1,
            r.width,
            r.height,
            job.info.fps()
        );
        if audio_codecs.is_some() {
            let _ = write!(master, ",AUDIO=\"{AUDIO_GROUP}\"");
        }
        let _ = writeln!(
            master,
            "\n{}index.m3u8",
            layout::rendition_dir(job.generation, &r.name)
        );
        renditions.push(PackagedRendition {
            name: r.name.clone(),
            kind: "video".into(),
            width: r.width,
            height: r.height,
            bandwidth: (peak + audio_bw.0) as u32,
            codecs: video_codecs.clone(),
            playlist_key: layout::playlist_key(id, job.generation, &r.name),
            segment_count: segments.len() as u32,
            bytes: segments.iter().map(|s| s.bytes).sum(),
        });
        media.push((r.name.clone(), media_playlist(&segments, job.growing)));
        rungs.push((r, segments, peak, video_codecs));
    }
    let dash = if job.growing {
        None
    } else {
        dash::manifest(&dash::Presentation {
            generation: job.generation,
            frame_rate: (job.info.fps_num, job.info.fps_den),
            video: rungs
                .iter()
                .map(|(r, segments, peak, codecs)| dash::Representation {
                    name: &r.name,
                    width: r.width,
                    height: r.height,
                    bandwidth: *peak,
                    codecs,
                    segments,
                })
                .collect(),
            audio: tracks
                .iter()
                .map(|t| dash::AudioSet {
                    rendition: t.track.rendition(),
                    track: &t.track,
                    bandwidth: bandwidths(t.segments).0.max(u64::from(AUDIO_KBPS) * 1000),
                    codecs: t.codecs,
                    segments: t.segments,
                })
                .collect(),
        })
    };
    Ok(Playlists {
        media,
        master,
        renditions,
        dash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_playlist_lists_real_durations() {
        let segs = vec![
            Segment {
                number: 1,
                duration_s: 4.0,
                bytes: 1000,
                timing: None,
            },
            Segment {
                number: 2,
                duration_s: 1.5,
                bytes: 500,
                timing: None,
            },
        ];
        let p = media_playlist(&segs, false);
        assert!(p.contains("#EXT-X-TARGETDURATION:4\n"));
        assert!(p.contains(
            "#EXTINF:4.000,\nseg_00001.m4s\n#EXTINF:1.500,\nseg_00002.m4s\n#EXT-X-ENDLIST"
        ));
        assert!(p.contains("#EXT-X-MAP:URI=\"init.mp4\""));
        assert_eq!(bandwidths(&segs), (2666, 2181));
        assert!(p.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"));
    }

    #[test]
    fn a_growing_playlist_is_an_event_playlist_played_from_its_start() {
        let segs = vec![Segment {
            number: 1,
            duration_s: 4.0,
            bytes: 1000,
            timing: None,
        }];
        let p = media_playlist(&segs, true);
        assert!(p.contains("#EXT-X-PLAYLIST-TYPE:EVENT\n"), "{p}");
        assert!(p.contains("#EXT-X-START:TIME-OFFSET=0"), "{p}");
        assert!(!p.contains("#EXT-X-ENDLIST"), "{p}");
        assert!(p.contains("#EXTINF:4.000,\nseg_00001.m4s\n"), "{p}");
    }
}
