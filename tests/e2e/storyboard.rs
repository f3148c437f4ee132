//! A ready video has a storyboard: `playback.storyboard` is a WebVTT file whose cues cover the
//! whole video with no gap, a tile a second for a short video, each pointing into a sprite sheet
//! beside the poster; every tile is the video's frame at its cue's start (SSIM ≥ 0.9 against the
//! source's frame at that time, scaled alike); a signed video's storyboard needs its signature.

use crate::common;

use std::time::Duration;

use common::media::{Spec, ffmpeg, make_video, ssim};
use common::wait_for_status;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_tile_of_the_storyboard_is_the_frame_at_its_cue_start() {
    let owned = common::processing_env(&[]).await;
    let env = &owned;
    let clip = make_video(
        &env.scratch,
        "storyboarded.mp4",
        &Spec {
            width: 1280,
            height: 720,
            seconds: 12.0,
            fps: 25,
            audio: true,
        },
    );
    let token = env.token("storyboard-owner", &["videos:read", "videos:write"]);
    common::with_platform(env, |base| async move {
        let client = reqwest::Client::new();
        let id = common::upload(&base, &token, &clip, "storyboarded").await;
        let row = wait_for_status(env, &id, &["ready", "failed"], Duration::from_secs(180)).await;
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        let video: serde_json::Value = common::video_json(&base, &token, &id).await;
        let master = video["playback"]["master"].as_str().unwrap();
        let vtt_url = video["playback"]["storyboard"]
            .as_str()
            .expect("a storyboard")
            .to_owned();
        assert_eq!(vtt_url, master.replace("master.m3u8", "storyboard.vtt"));
        let r = client.get(&vtt_url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/vtt")
        );
        let vtt = r.text().await.unwrap();
        assert!(vtt.starts_with("WEBVTT\n\n"), "{vtt}");

        // Cues back to back from 0 to the end, one a second.
        let parse_ts = |s: &str| -> f64 {
            let (hms, ms) = s.split_once('.').unwrap();
            let p: Vec<f64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
            p[0] * 3600.0 + p[1] * 60.0 + p[2] + ms.parse::<f64>().unwrap() / 1000.0
        };
        let cues: Vec<(f64, f64, String)> = vtt
            .split("\n\n")
            .skip(1)
            .filter(|c| !c.trim().is_empty())
            .map(|c| {
                let (timing, target) = c.split_once('\n').unwrap();
                let (a, b) = timing.split_once(" --> ").unwrap();
                (parse_ts(a), parse_ts(b), target.to_owned())
            })
            .collect();
        let duration = row.duration_ms.unwrap() as f64 / 1000.0;
        assert_eq!(cues.len(), duration.ceil() as usize, "{vtt}");
        assert_eq!(cues[0].0, 0.0);
        for w in cues.windows(2) {
            assert_eq!(w[0].1, w[1].0, "no gap: {vtt}");
        }
        assert!((cues.last().unwrap().1 - duration).abs() < 0.001, "{vtt}");

        // Each tile against the source's frame at its cue start.
        let dir = env.scratch.join("storyboard");
        std::fs::create_dir_all(&dir).unwrap();
        let mut sheets = std::collections::HashMap::new();
        let mut scores = Vec::new();
        for (i, (start, _, target)) in cues.iter().enumerate() {
            let (sheet, xywh) = target.split_once("#xywh=").unwrap();
            let sheet_path = match sheets.get(sheet) {
                Some(p) => std::path::PathBuf::clone(p),
                None => {
                    let url = vtt_url.replace("storyboard.vtt", sheet);
                    let r = client.get(&url).send().await.unwrap();
                    assert_eq!(r.status(), 200, "{url}");
                    assert_eq!(r.headers()["content-type"], "image/jpeg");
                    let p = dir.join(sheet);
                    std::fs::write(&p, r.bytes().await.unwrap()).unwrap();
                    sheets.insert(sheet.to_owned(), p.clone());
                    p
                }
            };
            let v: Vec<u32> = xywh.split(',').map(|x| x.parse().unwrap()).collect();
            let (x, y, w, h) = (v[0], v[1], v[2], v[3]);
            assert_eq!((w, h), (160, 90), "{target}");
            let tile = dir.join(format!("tile-{i}.png"));
            ffmpeg(&[
                "-i",
                sheet_path.to_str().unwrap(),
                "-vf",
                &format!("crop={w}:{h}:{x}:{y}"),
                tile.to_str().unwrap(),
            ]);
            let frame_at = |t: f64, name: String| {
                let p = dir.join(name);
                ffmpeg(&[
                    "-ss",
                    &format!("{t:.3}"),
                    "-i",
                    clip.to_str().unwrap(),
                    "-frames:v",
                    "1",
                    "-vf",
                    &format!("scale={w}:{h}:flags=bicubic"),
                    p.to_str().unwrap(),
                ]);
                p
            };
            let own = ssim(&tile, &frame_at(*start, format!("ref-{i}.png")));
            assert!(own >= 0.9, "tile {i} at {start} s: SSIM {own}");
            // And it is that moment, not another: a frame 3 s away matches it less.
            let other = (*start + 3.0) % duration;
            let elsewhere = ssim(&tile, &frame_at(other, format!("other-{i}.png")));
            assert!(
                own > elsewhere,
                "tile {i}: {own} at {start} s, {elsewhere} at {other} s"
            );
            scores.push(own);
        }
        eprintln!(
            "storyboard: {} tiles, SSIM min {:.4}",
            scores.len(),
            scores.iter().cloned().fold(1.0, f64::min)
        );

        // Signed: a forged signature is refused.
        if let Some(sig) = vtt_url.split('/').find(|p| p.starts_with("sig-")) {
            let forged = vtt_url.replace(sig, "sig-9999999999-AAAA");
            assert_eq!(client.get(&forged).send().await.unwrap().status(), 403);
            let sheet = vtt_url
                .replace("storyboard.vtt", "storyboard-0.jpg")
                .replace(sig, "sig-1-AAAA");
            assert_eq!(client.get(&sheet).send().await.unwrap().status(), 403);
        }
    })
    .await;
    owned.cleanup().await;
}
