//! An owner sets a ready video's chapters: they are checked (a bad one is a 400 naming it), served
//! as WebVTT under the playback base (`playback.chapters`), listed, removable, and every change is
//! announced as `video.updated` on Kafka and to the webhooks that ask for it. Nobody else can see
//! or set them.

use crate::common;

use std::time::Duration;

use common::media::{Spec, make_video};
use common::wait_for_status;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_owner_sets_chapters_that_players_read_as_webvtt_and_integrations_hear_about() {
    let owned = common::processing_env(&[("VODFLOW_WEBHOOK_ALLOW_PRIVATE", "true")]).await;
    let env = &owned;
    let clip = make_video(
        &env.scratch,
        "chaptered.mp4",
        &Spec {
            width: 320,
            height: 180,
            seconds: 6.0,
            fps: 25,
            audio: true,
        },
    );
    let token = env.token("chapter-owner", &["videos:read", "videos:write"]);
    let other = env.token("someone-else", &["videos:read", "videos:write"]);
    common::with_platform(env, |base| async move {
        let client = reqwest::Client::new();
        let (hook_url, mut posts) = common::scripted_receiver(vec![]).await;
        let r = client
            .post(format!("{base}/v1/webhooks"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"url": hook_url, "events": ["video.updated"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
        let id = common::upload(&base, &token, &clip, "chaptered").await;
        let row = wait_for_status(env, &id, &["ready", "failed"], Duration::from_secs(180)).await;
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        let url = format!("{base}/v1/videos/{id}/chapters");
        let fetch_video = || {
            let request = client
                .get(format!("{base}/v1/videos/{id}"))
                .bearer_auth(&token);
            async move {
                request
                    .send()
                    .await
                    .unwrap()
                    .json::<serde_json::Value>()
                    .await
                    .unwrap()
            }
        };
        let put = |token: String, body: serde_json::Value| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let r = client
                    .put(url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                (status, r.json::<serde_json::Value>().await.unwrap_or_default())
            }
        };

        // Checked: out of order, outside the video, an empty title; each named.
        let (s, v) = put(
            token.clone(),
            serde_json::json!([{"start": 0, "title": "Intro"}, {"start": 0, "title": "Again"}]),
        )
        .await;
        assert_eq!(s, 400, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("chapter 1"), "{v}");
        let (s, v) = put(token.clone(), serde_json::json!([{"start": 6.5, "title": "After"}])).await;
        assert_eq!(s, 400, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("not inside the video"), "{v}");
        let (s, _) = put(token.clone(), serde_json::json!([{"start": 1, "title": " "}])).await;
        assert_eq!(s, 400);
        // Another owner neither sets nor reads them.
        let (s, _) = put(other.clone(), serde_json::json!([{"start": 0, "title": "Mine"}])).await;
        assert_eq!(s, 404);

        let (s, v) = put(
            token.clone(),
            serde_json::json!([{"start": 0, "title": "Intro"}, {"start": 2.5, "title": "Q&A"}]),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["chapters"].as_array().unwrap().len(), 2, "{v}");
        let r = client.get(&url).bearer_auth(&other).send().await.unwrap();
        assert_eq!(r.status(), 404);

        // Players find them next to the master, as WebVTT cues that cover the whole video.
        let video = fetch_video().await;
        let vtt_url = video["playback"]["chapters"].as_str().unwrap().to_owned();
        let master = video["playback"]["master"].as_str().unwrap();
        assert_eq!(
            vtt_url,
            master.replace("master.m3u8", "chapters.vtt"),
            "{video}"
        );
        let r = client.get(&vtt_url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/vtt"));
        let vtt = r.text().await.unwrap();
        let duration_ms = row.duration_ms.unwrap();
        let end = format!(
            "00:00:{:02}.{:03}",
            duration_ms / 1000,
            duration_ms % 1000
        );
        assert_eq!(
            vtt,
            format!(
                "WEBVTT\n\n1\n00:00:00.000 --> 00:00:02.500\nIntro\n\n2\n00:00:02.500 --> {end}\nQ&amp;A\n"
            )
        );

        // Integrations hear about it: the webhook and Kafka carry the new chapters.
        let (_, body) = tokio::time::timeout(Duration::from_secs(60), posts.recv())
            .await
            .expect("video.updated webhook")
            .unwrap();
        let hook: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(hook["type"], "video.updated", "{hook}");
        assert_eq!(hook["data"]["video_id"], id.as_str(), "{hook}");
        assert_eq!(hook["data"]["chapters"][1]["title"], "Q&A", "{hook}");
        let topic = env.cfg.topic(vodflow_core::kafka::TOPIC_VIDEO_UPDATED);
        let msgs =
            common::read_topic(&env.cfg.kafka_brokers, &topic, 1, Duration::from_secs(30)).await;
        assert_eq!(msgs.len(), 1);
        let event: serde_json::Value =
            serde_json::from_slice(rdkafka::Message::payload(&msgs[0]).unwrap()).unwrap();
        assert_eq!(event["video_id"], id.as_str(), "{event}");
        assert_eq!(event["change"], "chapters", "{event}");
        assert!(event["event_id"].is_string(), "{event}");

        // Removed: gone from the resource and the origin.
        let (s, v) = put(token.clone(), serde_json::json!([])).await;
        assert_eq!(s, 200, "{v}");
        let video = fetch_video().await;
        assert!(video["playback"]["chapters"].is_null(), "{video}");
        assert_eq!(client.get(&vtt_url).send().await.unwrap().status(), 404);
    })
    .await;
    owned.cleanup().await;
}
