//! A ready video has a DASH manifest over its HLS segments: `playback.dash` names `manifest.mpd`
//! beside the master, whose representations point at exactly the init and media segments the HLS
//! playlists list, with the same durations; ffprobe opens it, Shaka Player (a second player,
//! independent of the page's) plays it in Chromium with the rungs, the audio and a text track; a
//! signed video's manifest needs its signature; adding a text track changes the manifest served,
//! never the one stored.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::media::{Spec, make_video};
use common::wait_for_status;

/// (segment name, seconds) of every media segment a media playlist lists, and its `EXT-X-MAP`.
fn hls_segments(playlist: &str) -> (String, Vec<(String, f64)>) {
    let map = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("EXT-X-MAP")
        .to_owned();
    let mut out = Vec::new();
    let mut duration = None;
    for line in playlist.lines() {
        if let Some(d) = line.strip_prefix("#EXTINF:") {
            duration = Some(d.trim_end_matches(',').parse::<f64>().unwrap());
        } else if !line.starts_with('#') && !line.is_empty() {
            out.push((line.to_owned(), duration.take().expect("EXTINF")));
        }
    }
    (map, out)
}

/// One representation of the manifest: id, init path, and (media path, seconds) per segment.
struct Rep {
    id: String,
    init: String,
    segments: Vec<(String, f64)>,
}

/// The value of attribute `name` in a tag's text (what follows the tag's name).
fn attr(tag: &str, name: &str) -> Option<String> {
    let tag = format!(" {tag}");
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    tag[at..].split('"').next().map(str::to_owned)
}

/// Reads the representations out of the manifest the way a DASH client expands them: each
/// `SegmentTemplate`'s `$Number%05d$` from `startNumber`, one segment per `S` plus its repeats.
fn dash_representations(mpd: &str) -> Vec<Rep> {
    let mut reps = Vec::new();
    for part in mpd.split("<Representation ").skip(1) {
        let head = &part[..part.find('>').unwrap()];
        let id = attr(head, "id").unwrap();
        let Some(t) = part.find("<SegmentTemplate ") else {
            continue; // a text track: one whole file
        };
        let tmpl = &part[t..t + part[t..].find('>').unwrap()];
        let timescale: f64 = attr(tmpl, "timescale").unwrap().parse().unwrap();
        let mut number: u32 = attr(tmpl, "startNumber").unwrap().parse().unwrap();
        let media = attr(tmpl, "media").unwrap();
        let init = attr(tmpl, "initialization").unwrap();
        let timeline = &part
            [part.find("<SegmentTimeline>").unwrap()..part.find("</SegmentTimeline>").unwrap()];
        let mut segments = Vec::new();
        for s in timeline.split("<S ").skip(1) {
            let d: f64 = attr(s, "d").unwrap().parse().unwrap();
            let r: u32 = attr(s, "r").map_or(0, |r| r.parse().unwrap());
            for _ in 0..=r {
                let name = media.replace("$Number%05d$", &format!("{number:05}"));
                segments.push((name, d / timescale));
                number += 1;
            }
        }
        reps.push(Rep { id, init, segments });
    }
    reps
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dash_manifest_names_the_hls_segments_and_plays_in_shaka_and_ffprobe() {
    let owned = common::processing_env(&[]).await;
    let env = &owned;
    let clip = make_video(
        &env.scratch,
        "dashed.mp4",
        &Spec {
            width: 1280,
            height: 720,
            seconds: 13.0,
            fps: 25,
            audio: true,
        },
    );
    let token = env.token("dash-owner", &["videos:read", "videos:write"]);
    common::with_platform(env, |base| async move {
        let client = reqwest::Client::new();
        let id = common::upload(&base, &token, &clip, "dashed").await;
        let row = wait_for_status(env, &id, &["ready", "failed"], Duration::from_secs(180)).await;
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        let video: serde_json::Value = common::video_json(&base, &token, &id).await;
        let master = video["playback"]["master"].as_str().unwrap().to_owned();
        let mpd_url = video["playback"]["dash"]
            .as_str()
            .expect("playback.dash")
            .to_owned();
        assert_eq!(mpd_url, master.replace("master.m3u8", "manifest.mpd"));
        let r = client.get(&mpd_url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/dash+xml");
        let mpd = r.text().await.unwrap();
        assert!(mpd.contains(r#"type="static""#), "{mpd}");

        // Every representation is an HLS rendition: the same init, the same segment names in the
        // same order, the same durations (the playlist's are rounded to the millisecond).
        let reps = dash_representations(&mpd);
        let renditions = video["playback"]["renditions"].as_array().unwrap();
        assert_eq!(reps.len(), renditions.len(), "{mpd}");
        let mut hls_urls = BTreeSet::new();
        let base_dir = master.trim_end_matches("master.m3u8").to_owned();
        for rendition in renditions {
            let name = rendition["name"].as_str().unwrap();
            let rep = reps
                .iter()
                .find(|r| r.id == name)
                .unwrap_or_else(|| panic!("{name} in {mpd}"));
            let playlist_url = rendition["url"].as_str().unwrap();
            let playlist = client
                .get(playlist_url)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let dir = playlist_url.trim_end_matches("index.m3u8");
            let (map, segments) = hls_segments(&playlist);
            assert_eq!(format!("{base_dir}{}", rep.init), format!("{dir}{map}"));
            assert_eq!(
                rep.segments.len(),
                segments.len(),
                "{name}: {mpd}\n{playlist}"
            );
            hls_urls.insert(format!("{dir}{map}"));
            for ((dash_name, dash_s), (hls_name, hls_s)) in rep.segments.iter().zip(&segments) {
                assert_eq!(format!("{base_dir}{dash_name}"), format!("{dir}{hls_name}"));
                assert!(
                    (dash_s - hls_s).abs() < 0.0006,
                    "{name} {hls_name}: {dash_s} vs {hls_s}"
                );
                hls_urls.insert(format!("{dir}{hls_name}"));
            }
        }
        let total: f64 = reps
            .iter()
            .find(|r| r.id == "audio")
            .unwrap()
            .segments
            .iter()
            .map(|s| s.1)
            .sum();
        assert!(
            (total - 13.0).abs() < 0.1,
            "audio covers the video: {total}"
        );

        // ffprobe opens it: every rung and the audio.
        let out = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_type,height",
                "-of",
                "json",
                &mpd_url,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let probed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let streams = probed["streams"].as_array().unwrap();
        let heights: BTreeSet<i64> = streams
            .iter()
            .filter_map(|s| s["height"].as_i64())
            .collect();
        let want: BTreeSet<i64> = renditions
            .iter()
            .filter_map(|r| r["height"].as_i64())
            .collect();
        assert_eq!(heights, want, "{probed}");
        assert!(
            streams.iter().any(|s| s["codec_type"] == "audio"),
            "{probed}"
        );

        // A signed video's manifest needs its signature.
        let sig = mpd_url
            .split('/')
            .find(|p| p.starts_with("sig-"))
            .expect("signed by default");
        let forged = mpd_url.replace(sig, "sig-9999999999-AAAA");
        assert_eq!(client.get(&forged).send().await.unwrap().status(), 403);
        let unsigned = mpd_url.replace(&format!("{sig}/"), "");
        assert_eq!(client.get(&unsigned).send().await.unwrap().status(), 403);

        // A text track becomes a text adaptation set of the manifest served; the stored one stays.
        let stored = env
            .object_bytes(&format!("videos/{id}/hls/manifest.mpd"))
            .await;
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(
                    b"WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nHello\n".to_vec(),
                )
                .file_name("en.vtt"),
            )
            .text("language", "en")
            .text("name", "English")
            .text("kind", "subtitles");
        let r = client
            .post(format!("{base}/v1/videos/{id}/text-tracks"))
            .bearer_auth(&token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let with_track = client
            .get(&mpd_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            with_track.contains(r#"contentType="text" mimeType="text/vtt" lang="en""#),
            "{with_track}"
        );
        assert_eq!(
            env.object_bytes(&format!("videos/{id}/hls/manifest.mpd"))
                .await,
            stored
        );

        // Shaka Player plays it from the same segment URLs.
        let shaka = common::cache_dir()
            .join("node/node_modules/shaka-player/dist/shaka-player.compiled.js");
        assert!(
            shaka.exists(),
            "{} missing: run scripts/install node",
            shaka.display()
        );
        let played = common::browser::run_script(
            "shaka.cjs",
            &[
                ("BASE", base.clone()),
                ("MPD", mpd_url.clone()),
                ("SHAKA", shaka.display().to_string()),
            ],
            Duration::from_secs(120),
        )
        .await;
        let variants = played["variants"].as_array().unwrap();
        let heights: BTreeSet<i64> = variants
            .iter()
            .filter_map(|v| v["height"].as_i64())
            .collect();
        assert_eq!(heights, want, "{played}");
        assert!(
            variants.iter().all(|v| v["audio"] == "mp4a.40.2"),
            "{played}"
        );
        assert_eq!(played["text"][0]["language"], "en", "{played}");
        let media: Vec<&str> = played["fetched"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|u| u.as_str())
            .filter(|u| u.ends_with(".m4s") || u.ends_with("init.mp4"))
            .collect();
        assert!(!media.is_empty(), "{played}");
        for u in media {
            assert!(
                hls_urls.contains(u),
                "Shaka fetched {u}, which no HLS playlist lists"
            );
        }
    })
    .await;
    owned.cleanup().await;
}
