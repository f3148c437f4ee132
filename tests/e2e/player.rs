//! The player on the watch page, driven in Chromium with the mouse and the keyboard: hovering the
//! seek bar at 50 % shows the storyboard tile whose cue holds the middle of the video and that
//! moment's chapter; k/space play and pause, l/j and → seek by 10 s, m mutes, c turns the captions
//! on and a cue renders at its time; speed 2× from the settings menu plays twice as fast as 1×.
//! Screenshots are kept in the cache's artifacts directory.

use crate::common;

use std::time::Duration;

use common::media::{Spec, make_video};
use common::wait_for_status;

const SRT: &str = "1\n00:00:01,000 --> 00:00:04,000\nHello from the captions\n\n\
                   2\n00:00:12,000 --> 00:00:14,000\nLater on\n";

/// `HH:MM:SS.mmm` in seconds.
fn seconds(ts: &str) -> f64 {
    let (hms, ms) = ts.split_once('.').unwrap();
    let p: Vec<f64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    p[0] * 3600.0 + p[1] * 60.0 + p[2] + ms.parse::<f64>().unwrap() / 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_player_previews_seeks_captions_and_changes_speed_from_mouse_and_keyboard() {
    let owned = common::processing_env(&[]).await;
    let env = &owned;
    let clip = make_video(
        &env.scratch,
        "watched.mp4",
        &Spec {
            width: 1280,
            height: 720,
            seconds: 20.0,
            fps: 25,
            audio: true,
        },
    );
    let token = env.token("player-owner", &["videos:read", "videos:write"]);
    common::with_platform(env, |base| async move {
        let client = reqwest::Client::new();
        let id =
            common::upload_with(&base, &token, &clip, "watched", &[("visibility", "public")]).await;
        let row = wait_for_status(env, &id, &["ready", "failed"], Duration::from_secs(240)).await;
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        let r = client
            .put(format!("{base}/v1/videos/{id}/chapters"))
            .bearer_auth(&token)
            .json(&serde_json::json!([
                {"start": 0, "title": "Opening"},
                {"start": 8, "title": "The middle"},
                {"start": 14, "title": "Ending"}
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(SRT.as_bytes().to_vec()).file_name("en.srt"),
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
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
        let video = common::video_json(&base, &token, &id).await;
        let storyboard = client
            .get(
                video["playback"]["storyboard"]
                    .as_str()
                    .expect("a storyboard"),
            )
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();

        let shots = common::cache_dir().join("artifacts");
        std::fs::create_dir_all(&shots).unwrap();
        let seen = common::browser::run_script(
            "player.cjs",
            &[
                ("BASE", base.clone()),
                ("TOKEN", token.clone()),
                ("VIDEO", id.clone()),
                ("SHOTS", shots.display().to_string()),
            ],
            Duration::from_secs(180),
        )
        .await;
        eprintln!("player: {seen}");

        // The tile under the pointer is the storyboard cue that holds the previewed time, which is
        // the middle of the video.
        let duration = seen["duration"].as_f64().unwrap();
        let hover = &seen["hover"];
        // Shown, not only set: the tile's box is on screen at the tile's size, above the bar.
        let shown = &seen["hover_box"];
        assert!(
            shown["width"].as_f64() > Some(0.0)
                && shown["height"].as_f64() > Some(0.0)
                && shown["above_bar"] == true,
            "{shown}"
        );
        let at = hover["time"].as_f64().unwrap();
        assert!(
            (at - duration / 2.0).abs() < 0.05 * duration,
            "{hover} of {duration}"
        );
        let cue = storyboard
            .split("\n\n")
            .skip(1)
            .filter(|c| !c.trim().is_empty())
            .find_map(|c| {
                let (timing, target) = c.split_once('\n')?;
                let (a, b) = timing.split_once(" --> ")?;
                (seconds(a) <= at && at < seconds(b)).then(|| target.to_owned())
            })
            .expect("a cue at the previewed time");
        let (sheet, xywh) = cue.split_once("#xywh=").unwrap();
        let image = hover["image"].as_str().unwrap();
        assert!(
            image.split('#').next().unwrap().ends_with(sheet),
            "{hover} vs {cue}"
        );
        assert_eq!(
            hover["coords"]
                .as_str()
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>(),
            xywh.split(',').collect::<Vec<_>>(),
            "{hover} vs {cue}"
        );
        assert_eq!(hover["chapter"], "The middle", "{hover}");

        let keys = &seen["keys"];
        assert_eq!(keys["k_plays"], true, "{keys}");
        assert_eq!(keys["space_pauses"], true, "{keys}");
        assert!(
            (keys["l_to"].as_f64().unwrap() - 12.0).abs() < 0.5,
            "{keys}"
        );
        assert!((keys["j_to"].as_f64().unwrap() - 2.0).abs() < 0.5, "{keys}");
        assert!(
            (keys["arrow_right_to"].as_f64().unwrap() - 12.0).abs() < 0.5,
            "{keys}"
        );
        assert!(
            (keys["arrow_left_to"].as_f64().unwrap() - 2.0).abs() < 0.5,
            "{keys}"
        );
        assert_eq!(keys["f_fullscreen"], "media-controller", "{keys}");
        assert_eq!(keys["f_again_leaves"], true, "{keys}");
        assert_eq!(keys["pip_button"], 1, "{keys}");
        assert_eq!(keys["m_mutes"], true, "{keys}");
        assert_eq!(keys["c_captions"], 1, "{keys}");
        assert_eq!(seen["cue"]["text"], "Hello from the captions", "{seen}");

        let (one, two) = (
            seen["rate_1x"].as_f64().unwrap(),
            seen["rate_2x"].as_f64().unwrap(),
        );
        assert!((0.8..1.2).contains(&one), "1x played at {one}");
        assert!((1.6..2.4).contains(&two), "2x played at {two}");
        for shot in [
            "player-hover.png",
            "player-captions.png",
            "player-speed.png",
        ] {
            let png = std::fs::read(shots.join(shot)).expect("screenshot kept");
            assert!(png.starts_with(b"\x89PNG"), "{shot}");
        }
    })
    .await;
    owned.cleanup().await;
}
