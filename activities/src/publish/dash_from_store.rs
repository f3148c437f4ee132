//! The DASH manifest of a generation packaged before DASH existed, from what is in the store: the
//! master (renditions, codecs, bandwidths, audio tracks), each media playlist (segment names), each
//! init segment (timescale) and the first bytes of each media segment (its `moof`: exact decode
//! time and length). Nothing is decoded or encoded; the segments' media data is not read.

use futures::{StreamExt, TryStreamExt};
use vodflow_core::audio_tracks::AudioTrack;
use vodflow_core::{VideoId, dash, layout};
use vodflow_workflows::types::{Segment, SegmentTiming};

use temporalio_sdk::activities::ActivityContext;

use crate::Deps;
use crate::error::{Error, Result};
use crate::heartbeat::{beat, heartbeat_every};
use crate::media::fmp4;

/// A `moof` of a 4 s segment is a few kilobytes; this leaves room for hundreds of frames.
const MOOF_BYTES: u64 = 256 << 10;

/// `Ok(None)` when the generation has no master in the store.
pub(crate) async fn manifest(
    deps: &Deps,
    ctx: &ActivityContext,
    bucket: &str,
    id: VideoId,
    generation: u32,
) -> Result<Option<String>> {
    let store = &deps.storage;
    let Some(master) = store
        .get_bytes(bucket, &layout::master_playlist_key(id))
        .await?
    else {
        return Ok(None);
    };
    let master = String::from_utf8_lossy(&master).into_owned();
    let gen_dir = layout::generation_dir(generation);
    let mut video = Vec::new();
    let mut audio = Vec::new();
    let mut frame_rate = (30, 1);
    let mut lines = master.lines();
    while let Some(line) = lines.next() {
        if let Some(attrs) = line.strip_prefix("#EXT-X-MEDIA:") {
            let a = attributes(attrs);
            if get(&a, "TYPE") != Some("AUDIO") {
                continue;
            }
            let Some(rendition) = get(&a, "URI").and_then(|u| rendition_of(u, &gen_dir)) else {
                continue;
            };
            let index = match rendition.strip_prefix("audio-") {
                Some(n) => n.parse::<u32>().map_or(0, |n| n.saturating_sub(1)),
                None => 0,
            };
            let track = AudioTrack {
                index,
                language: get(&a, "LANGUAGE").unwrap_or("und").to_owned(),
                name: get(&a, "NAME").unwrap_or("default").to_owned(),
                default: get(&a, "DEFAULT") == Some("YES"),
                commentary: get(&a, "AUTOSELECT") == Some("NO"),
                descriptive: get(&a, "CHARACTERISTICS")
                    .is_some_and(|c| c.contains("describes-video")),
            };
            audio.push((rendition, track));
        } else if let Some(attrs) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            let a = attributes(attrs);
            let Some(uri) = lines.next() else { break };
            let Some(rendition) = rendition_of(uri, &gen_dir) else {
                continue;
            };
            let (w, h) = get(&a, "RESOLUTION")
                .and_then(|r| r.split_once('x'))
                .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
                .unwrap_or((0, 0));
            let codecs = get(&a, "CODECS")
                .and_then(|c| {
                    c.split(',')
                        .find(|c| c.starts_with("avc") || c.starts_with("hvc"))
                })
                .unwrap_or("avc1.64001f")
                .to_owned();
            let bandwidth = get(&a, "BANDWIDTH")
                .and_then(|b| b.parse().ok())
                .unwrap_or(0);
            if let Some(r) = get(&a, "FRAME-RATE").and_then(|f| f.parse::<f64>().ok()) {
                frame_rate = fraction(r);
            }
            video.push((rendition, w, h, bandwidth, codecs));
        }
    }
    let mut segments = std::collections::HashMap::new();
    for name in video.iter().map(|v| &v.0).chain(audio.iter().map(|a| &a.0)) {
        segments.insert(
            name.clone(),
            timed_segments(deps, ctx, bucket, id, generation, name).await?,
        );
    }
    let audio_codecs = "mp4a.40.2";
    Ok(dash::manifest(&dash::Presentation {
        generation,
        frame_rate,
        video: video
            .iter()
            .map(|(name, w, h, bandwidth, codecs)| dash::Representation {
                name,
                width: *w,
                height: *h,
                bandwidth: *bandwidth,
                codecs,
                segments: &segments[name],
            })
            .collect(),
        audio: audio
            .iter()
            .map(|(name, track)| dash::AudioSet {
                rendition: name.clone(),
                track,
                bandwidth: 128_000,
                codecs: audio_codecs,
                segments: &segments[name],
            })
            .collect(),
    }))
}

/// A rendition's segments with their exact times, read from the store.
async fn timed_segments(
    deps: &Deps,
    ctx: &ActivityContext,
    bucket: &str,
    id: VideoId,
    generation: u32,
    rendition: &str,
) -> Result<Vec<Segment>> {
    let store = &deps.storage;
    let missing = |what: &str| Error::Package(format!("{rendition}: no {what} in the store"));
    let init = store
        .get_bytes(bucket, &layout::init_key(id, generation, rendition))
        .await?
        .ok_or_else(|| missing("init segment"))?;
    let timescale = fmp4::init_timescale(&init).map_err(Error::Package)?;
    let playlist = store
        .get_bytes(bucket, &layout::playlist_key(id, generation, rendition))
        .await?
        .ok_or_else(|| missing("playlist"))?;
    let names: Vec<u32> = String::from_utf8_lossy(&playlist)
        .lines()
        .filter_map(layout::segment_number)
        .collect();
    let total = names.len().max(1) as f64;
    let mut last_beat = std::time::Instant::now();
    let mut read = futures::stream::iter(names.into_iter().map(|number| async move {
        let key = layout::segment_key(id, generation, rendition, number);
        let head = store
            .get_prefix(bucket, &key, MOOF_BYTES)
            .await?
            .ok_or_else(|| missing(&layout::segment_name(number)))?;
        let (start, ticks) = fmp4::fragment_times(&head)
            .map_err(|e| Error::Package(format!("{rendition} {number}: {e}")))?;
        Ok::<_, Error>(Segment {
            number,
            duration_s: ticks as f64 / f64::from(timescale.max(1)),
            bytes: 0,
            timing: Some(SegmentTiming {
                timescale,
                start,
                ticks,
            }),
        })
    }))
    .buffered(16);
    // Hours of video are tens of thousands of reads: the activity keeps heartbeating through them.
    let mut out = Vec::new();
    while let Some(segment) = read.try_next().await? {
        out.push(segment);
        if last_beat.elapsed() >= heartbeat_every(ctx) {
            beat(ctx, "dash", 0.0, out.len() as f64 * 100.0 / total).await;
            last_beat = std::time::Instant::now();
        }
    }
    Ok(out)
}

/// `g2/720p/index.m3u8` → `720p` when it is of the generation `gen_dir`.
fn rendition_of(uri: &str, gen_dir: &str) -> Option<String> {
    let rest = uri.strip_prefix(gen_dir)?;
    let (name, file) = rest.split_once('/')?;
    (file == "index.m3u8" && !name.is_empty()).then(|| name.to_owned())
}

/// `29.970` → 30000/1001; whole rates as N/1.
fn fraction(rate: f64) -> (u32, u32) {
    for base in [24.0, 30.0, 60.0, 120.0] {
        if (rate - base * 1000.0 / 1001.0).abs() < 0.002 {
            return ((base * 1000.0) as u32, 1001);
        }
    }
    if (rate - rate.round()).abs() < 0.001 {
        (rate.round() as u32, 1)
    } else {
        ((rate * 1000.0).round() as u32, 1000)
    }
}

/// An HLS attribute list: `KEY=VALUE` pairs, values optionally quoted (commas inside quotes kept).
fn attributes(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            let tail = q.get(end + 1..).unwrap_or("");
            (&q[..end], tail.strip_prefix(',').unwrap_or(tail))
        } else {
            match after.split_once(',') {
                Some((v, n)) => (v, n),
                None => (after, ""),
            }
        };
        out.push((key.trim().to_owned(), value.to_owned()));
        rest = next;
    }
    out
}

fn get<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_lists_keep_quoted_commas() {
        let a = attributes(
            r#"BANDWIDTH=100,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",FRAME-RATE=29.970,AUDIO="audio""#,
        );
        assert_eq!(get(&a, "CODECS"), Some("avc1.64001f,mp4a.40.2"));
        assert_eq!(get(&a, "AUDIO"), Some("audio"));
        assert_eq!(get(&a, "FRAME-RATE"), Some("29.970"));
        assert_eq!(fraction(29.970), (30000, 1001));
        assert_eq!(fraction(25.0), (25, 1));
        assert_eq!(
            rendition_of("g2/720p/index.m3u8", "g2/"),
            Some("720p".into())
        );
        assert_eq!(rendition_of("720p/index.m3u8", "g2/"), None);
        assert_eq!(
            rendition_of("audio-2/index.m3u8", ""),
            Some("audio-2".into())
        );
    }
}
