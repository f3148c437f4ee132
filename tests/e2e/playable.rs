//! Watchable early: a video becomes `playable` once its first (one-segment) chunk of every rung and
//! its audio are packaged, before the rest is encoded. Its playlists are then growing HLS `EVENT`
//! playlists, briefly cached; hls.js on the web page plays it; `video_playable` goes to Kafka and
//! `video.playable` to the webhooks that asked for it. At `ready` the playlists are `VOD` with an
//! end. The transcode worker is drained (SIGTERM) right after `playable`, so the video stays
//! playable-but-unfinished for as long as the test looks at it; a second worker finishes it.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::media::{Spec, make_video};
use common::{eventually, header, wait_for_status};

async fn get_text(url: &str) -> (u16, String, String) {
    let r = reqwest::get(url).await.expect("GET");
    let status = r.status().as_u16();
    let cache = r
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, cache, r.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_video_is_playable_and_played_before_it_is_ready_and_its_playlists_end_at_ready() {
    let owned = common::processing_env(&[
        ("VODFLOW_CHUNK_SECONDS", "8"),
        ("VODFLOW_WEBHOOK_ALLOW_PRIVATE", "true"),
    ])
    .await;
    let env = &owned;
    let clip = make_video(
        &env.scratch,
        "early.mp4",
        &Spec {
            width: 640,
            height: 360,
            seconds: 44.0,
            fps: 25,
            audio: true,
        },
    );
    let token = env.token("early-user", &["videos:read", "videos:write"]);
    let roles = vodflow_activities::worker::Roles {
        processing: true,
        transcode: false,
    };
    common::with_platform_roles(env, roles, |base| async move {
        let client = reqwest::Client::new();
        let (hook_url, mut posts) = common::scripted_receiver(vec![]).await;
        let r = client
            .post(format!("{base}/v1/webhooks"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"url": hook_url, "events": ["video.playable"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());

        let mut worker = common::spawn_worker_process(
            env,
            &["--queues", "transcode", "--max-concurrent-transcodes", "1"],
            &env.scratch.join("w1"),
        );
        let id = common::upload(&base, &token, &clip, "early").await;
        let video_url = format!("{base}/v1/videos/{id}");
        let video: serde_json::Value = eventually(
            "the video to be playable",
            Duration::from_secs(180),
            || async {
                let v: serde_json::Value = client
                    .get(&video_url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                assert_ne!(v["status"], "ready", "ready without being playable first");
                (v["status"] == "playable").then_some(v)
            },
        )
        .await;
        // Drained: the chunk in hand finishes, nothing more is taken, the video stays playable.
        let pid = worker.0.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        tokio::task::spawn_blocking(move || worker.0.wait())
            .await
            .unwrap()
            .unwrap();
        let row = wait_for_status(env, &id, &["playable", "ready"], Duration::from_secs(5)).await;
        assert_eq!(
            row.status, "playable",
            "the drained worker must not have finished it"
        );

        let master = video["playback"]["master"]
            .as_str()
            .expect("a playable video has a master URL");
        let (status, cache, text) = get_text(master).await;
        assert_eq!(status, 200);
        assert!(cache.contains("max-age=1"), "{cache}");
        assert!(text.contains("#EXT-X-STREAM-INF"), "{text}");
        let media_url = master.replace("master.m3u8", "360p/index.m3u8");
        let (_, cache, media) = get_text(&media_url).await;
        assert!(media.contains("#EXT-X-PLAYLIST-TYPE:EVENT"), "{media}");
        assert!(!media.contains("#EXT-X-ENDLIST"), "{media}");
        assert!(
            cache.contains("max-age=1"),
            "growing playlists are cached briefly: {cache}"
        );
        let listed = media.matches("#EXTINF").count();
        assert!(
            (1..11).contains(&listed),
            "{listed} segments listed while playable:\n{media}"
        );
        let (_, _, audio) = get_text(&master.replace("master.m3u8", "audio/index.m3u8")).await;
        assert!(audio.contains("#EXT-X-PLAYLIST-TYPE:EVENT"), "{audio}");

        // The news: once on Kafka, once to the webhook that asked for it.
        let topic = env.cfg.topic(vodflow_core::kafka::TOPIC_VIDEO_PLAYABLE);
        let msgs =
            common::read_topic(&env.cfg.kafka_brokers, &topic, 1, Duration::from_secs(30)).await;
        assert_eq!(msgs.len(), 1);
        let event: serde_json::Value =
            serde_json::from_slice(rdkafka::Message::payload(&msgs[0]).unwrap()).unwrap();
        assert_eq!(event["status"], "playable");
        assert_eq!(event["video_id"], id.as_str());
        assert!(
            event["playback_url"]
                .as_str()
                .is_some_and(|u| u.ends_with("master.m3u8"))
        );
        let (head, body) = tokio::time::timeout(Duration::from_secs(60), posts.recv())
            .await
            .expect("a video.playable delivery within 60 s")
            .expect("receiver");
        assert_eq!(header(&head, "vodflow-event"), Some("video.playable"));
        assert!(body.contains(&id), "{body}");

        // hls.js on the page plays what there is.
        let seen = common::browser::run_script(
            "watch_playable.cjs",
            &[
                ("BASE", base.clone()),
                ("TOKEN", token.clone()),
                ("VIDEO", id.clone()),
            ],
            Duration::from_secs(180),
        )
        .await;
        eprintln!("played while playable: {seen}");
        assert_eq!(seen["live"], true, "hls.js saw a growing playlist: {seen}");
        assert!(seen["time"].as_f64().unwrap() > 1.5, "{seen}");
        let row = wait_for_status(env, &id, &["playable", "ready"], Duration::from_secs(1)).await;
        assert_eq!(row.status, "playable", "played before ready");

        // Another worker finishes it: the same playlists are now VOD, with an end.
        let mut second =
            common::spawn_worker_process(env, &["--queues", "transcode"], &env.scratch.join("w2"));
        let row = wait_for_status(env, &id, &["ready", "failed"], Duration::from_secs(240)).await;
        second.kill().ok();
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        let (_, cache, media) = get_text(&media_url).await;
        assert!(media.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{media}");
        assert!(media.ends_with("#EXT-X-ENDLIST\n"), "{media}");
        assert_eq!(media.matches("#EXTINF").count(), 11, "{media}");
        assert!(cache.contains("max-age=60"), "{cache}");
        let (_, _, audio) = get_text(&master.replace("master.m3u8", "audio/index.m3u8")).await;
        assert!(audio.ends_with("#EXT-X-ENDLIST\n"), "{audio}");
        // One playable event per run, however many growing packages followed.
        let msgs =
            common::read_topic(&env.cfg.kafka_brokers, &topic, 2, Duration::from_secs(3)).await;
        assert_eq!(msgs.len(), 1);
    })
    .await;
    owned.cleanup().await;
}
