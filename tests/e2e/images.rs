//! Thumbnails and animated previews on demand: `playback.thumbnail` at `time=t` is the video's
//! frame at t (SSIM ≥ 0.9 against the source's frame, scaled alike, and closer to it than to a
//! frame 3 s away) at the asked size and fit; the first request makes it once (twenty at once
//! still make it once), every later one, however spelled, reads the stored copy; bad parameters
//! are a 400 problem that makes and stores nothing; `playback.animated` is a looping WebP or GIF
//! of the asked span; a signed video's images need its signature.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::media::{Spec, ffmpeg, make_video, ssim};
use common::wait_for_status;

/// How many images the api has made so far, by kind (`vodflow_images_made_seconds_count`).
async fn made(base: &str, kind: &str) -> u64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = format!("vodflow_images_made_seconds_count{{kind=\"{kind}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {line} in /metrics"))
}

fn dimensions(path: &Path) -> (u32, u32) {
    let text = common::media::ffprobe(
        &["-show_entries", "stream=width,height", "-of", "csv=p=0"],
        path,
    );
    let mut it = text.trim().split(',').map(|v| v.parse::<u32>().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thumbnails_are_the_frame_at_their_time_made_once_and_animations_loop_their_span() {
    let owned = common::processing_env(&[]).await;
    let env = &owned;
    let clip = make_video(
        &env.scratch,
        "thumbed.mp4",
        &Spec {
            width: 1280,
            height: 720,
            seconds: 10.0,
            fps: 25,
            audio: true,
        },
    );
    let token = env.token("thumbnail-owner", &["videos:read", "videos:write"]);
    common::with_platform(env, |base| async move {
        let client = reqwest::Client::new();
        let public =
            common::upload_with(&base, &token, &clip, "thumbed", &[("visibility", "public")]).await;
        let signed = common::upload(&base, &token, &clip, "thumbed, signed").await;
        for id in [&public, &signed] {
            let row =
                wait_for_status(env, id, &["ready", "failed"], Duration::from_secs(240)).await;
            assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        }
        let playback = |id: String| {
            let (base, token) = (base.clone(), token.clone());
            async move { common::video_json(&base, &token, &id).await["playback"].clone() }
        };
        let p = playback(public.clone()).await;
        let thumb = p["thumbnail"].as_str().unwrap().to_owned();
        assert_eq!(
            thumb,
            p["master"]
                .as_str()
                .unwrap()
                .replace("master.m3u8", "thumbnail.jpg")
        );
        let dir = env.scratch.join("images");
        std::fs::create_dir_all(&dir).unwrap();
        let fetch = |url: String, name: &'static str| {
            let (client, dir) = (client.clone(), dir.clone());
            async move {
                let r = client.get(&url).send().await.unwrap();
                let status = r.status().as_u16();
                let headers = r.headers().clone();
                let bytes = r.bytes().await.unwrap();
                let path = dir.join(name);
                std::fs::write(&path, &bytes).unwrap();
                (status, headers, path)
            }
        };

        // The frame at t, and no other.
        let made_before = made(&base, "thumbnail").await;
        let url = format!("{thumb}?time=3.2&width=320");
        let (s, h, still) = fetch(url.clone(), "t3.2.jpg").await;
        assert_eq!(
            s,
            200,
            "{}",
            std::fs::read_to_string(&still).unwrap_or_default()
        );
        assert_eq!(h["content-type"], "image/jpeg");
        assert_eq!(dimensions(&still), (320, 180));
        let frame_at = |t: f64, name: &str| {
            let out = dir.join(name);
            ffmpeg(&[
                "-ss",
                &format!("{t:.3}"),
                "-i",
                clip.to_str().unwrap(),
                "-frames:v",
                "1",
                "-vf",
                "scale=320:180:flags=bicubic",
                out.to_str().unwrap(),
            ]);
            out
        };
        let own = ssim(&still, &frame_at(3.2, "src-3.2.png"));
        let other = ssim(&still, &frame_at(6.2, "src-6.2.png"));
        eprintln!("thumbnail at 3.2 s: SSIM {own:.4} (against 6.2 s: {other:.4})");
        assert!(own >= 0.9 && own > other, "{own} vs {other}");
        assert_eq!(made(&base, "thumbnail").await, made_before + 1);

        // Stored: the same image however spelled, read and not made again.
        let etag = h["etag"].clone();
        for again in [url.clone(), format!("{thumb}?width=320&time=3.20001")] {
            let (s, h2, _) = fetch(again, "again.jpg").await;
            assert_eq!((s, &h2["etag"]), (200, &etag));
        }
        let r = client
            .get(&url)
            .header("if-none-match", etag.to_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 304);
        assert_eq!(made(&base, "thumbnail").await, made_before + 1);

        // Twenty at once for a new image: made once.
        let burst = format!("{thumb}?time=5&width=480");
        let answers = futures::future::join_all((0..20).map(|_| {
            let (client, burst) = (client.clone(), burst.clone());
            async move { client.get(&burst).send().await.unwrap().status().as_u16() }
        }))
        .await;
        assert!(answers.iter().all(|s| *s == 200), "{answers:?}");
        assert_eq!(made(&base, "thumbnail").await, made_before + 2);

        // Sizes and fits, in every format.
        for (q, ext, ctype, dims) in [
            (
                "width=200&height=200&fit_mode=crop",
                "png",
                "image/png",
                (200, 200),
            ),
            (
                "width=300&height=100&fit_mode=pad",
                "webp",
                "image/webp",
                (300, 100),
            ),
            ("width=300&height=100", "jpg", "image/jpeg", (178, 100)),
            ("height=90", "jpg", "image/jpeg", (160, 90)),
        ] {
            let u = format!("{}?time=1&{q}", thumb.replace(".jpg", &format!(".{ext}")));
            let (s, h, path) = fetch(u.clone(), "fit").await;
            assert_eq!(s, 200, "{u}");
            assert_eq!(h["content-type"], ctype, "{u}");
            // ffmpeg rounds a kept aspect ratio's side to the nearest pixel.
            let got = dimensions(&path);
            assert!(
                got.0.abs_diff(dims.0) <= 1 && got.1 == dims.1,
                "{u}: {got:?}"
            );
        }

        // Hostile parameters: a 400 problem each, nothing made.
        let made_now = made(&base, "thumbnail").await;
        for q in [
            "time=-1",
            "time=NaN",
            "time=inf",
            "time=99",
            "width=100000",
            "height=0",
            "fit_mode=stretch",
            "time=1&time=2",
            "cachebuster=1",
        ] {
            let r = client.get(format!("{thumb}?{q}")).send().await.unwrap();
            assert_eq!(r.status(), 400, "{q}");
            assert_eq!(
                r.headers()["content-type"],
                "application/problem+json",
                "{q}"
            );
            let body: serde_json::Value = r.json().await.unwrap();
            assert!(!body["detail"].as_str().unwrap().is_empty(), "{q}: {body}");
        }
        assert_eq!(made(&base, "thumbnail").await, made_now);

        // Animations: the span at the rate and width asked for, looping.
        let animated = p["animated"].as_str().unwrap().to_owned();
        assert!(animated.ends_with("/animated.webp"), "{animated}");
        let (s, h, gif) = fetch(
            animated.replace(".webp", ".gif") + "?start=1&end=3&width=160&fps=10",
            "a.gif",
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(h["content-type"], "image/gif");
        assert_eq!(dimensions(&gif), (160, 90));
        let frames = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-count_frames",
                "-show_entries",
                "stream=nb_read_frames",
                "-of",
                "csv=p=0",
            ])
            .arg(&gif)
            .output()
            .unwrap();
        let frames: u32 = String::from_utf8_lossy(&frames.stdout)
            .trim()
            .parse()
            .unwrap();
        assert!(
            (19..=21).contains(&frames),
            "2 s at 10 fps: {frames} frames"
        );
        let (s, h, webp) = fetch(animated.clone(), "a.webp").await;
        assert_eq!(s, 200);
        assert_eq!(h["content-type"], "image/webp");
        let bytes = std::fs::read(&webp).unwrap();
        assert_eq!((&bytes[..4], &bytes[8..12]), (&b"RIFF"[..], &b"WEBP"[..]));
        assert!(bytes.windows(4).any(|w| w == b"ANIM"), "an animated WebP");
        for q in ["start=0&end=11", "start=4&end=3", "width=641", "fps=60"] {
            let r = client.get(format!("{animated}?{q}")).send().await.unwrap();
            assert_eq!(r.status(), 400, "{q}");
        }

        // Signed: with its signature only.
        let p = playback(signed.clone()).await;
        let thumb = p["thumbnail"].as_str().unwrap().to_owned();
        let sig = thumb
            .split('/')
            .find(|s| s.starts_with("sig-"))
            .expect("a signed URL")
            .to_owned();
        let (s, _, _) = fetch(format!("{thumb}?time=2&width=160"), "signed.jpg").await;
        assert_eq!(s, 200);
        for bad in [
            thumb.replace(&sig, "sig-9999999999-AAAA"),
            thumb.replace(&format!("{sig}/"), ""),
            p["animated"].as_str().unwrap().replace(&sig, "sig-1-AAAA"),
        ] {
            assert_eq!(
                client.get(&bad).send().await.unwrap().status(),
                403,
                "{bad}"
            );
        }
    })
    .await;
    owned.cleanup().await;
}
