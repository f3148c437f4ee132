//! An owner adds subtitles and captions to a ready video: an SRT becomes a WebVTT track, listed in
//! `playback.text_tracks`, served whole and as segmented WebVTT behind a `SUBTITLES` group of the
//! master (the stored master and the segments untouched), shown at the right times in Chromium,
//! announced as `video.updated`, and removable. Hostile files are refused with the line at fault
//! and leave nothing behind; nobody else sees or changes the tracks; a signed video's track URLs
//! need a valid signature.

use crate::common;

use std::time::Duration;

use common::media::{Spec, make_video};
use common::wait_for_status;

const SRT: &str = "1\r\n00:00:01,000 --> 00:00:03,000\r\nFirst <i>line</i>\r\n\r\n\
                   2\r\n00:00:04,000 --> 00:00:06,000\r\nSecond & more\r\n\r\n\
                   3\r\n00:00:10,500 --> 00:00:11,500\r\nThird\r\n";

async fn add_track(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
    file: Vec<u8>,
    fields: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let mut form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(file).file_name("subs.srt"),
    );
    for (k, v) in fields {
        form = form.text((*k).to_owned(), (*v).to_owned());
    }
    let r = client
        .post(format!("{base}/v1/videos/{id}/text-tracks"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

/// Sends only the head of a form upload announcing `len` bytes: the api must answer before the
/// body (a client sending the body would meet a closed connection).
async fn announced_size(base: &str, token: &str, id: &str, len: usize) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/videos/{id}/text-tracks HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {len}\r\n\r\n"
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), sock.read(&mut answer))
        .await
        .expect("an answer before the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

const ENGLISH: &[(&str, &str)] = &[
    ("language", "en"),
    ("name", "English (CC)"),
    ("kind", "captions"),
    ("default", "true"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_srt_becomes_a_webvtt_track_in_the_master_that_chromium_shows_at_its_times() {
    let owned = common::processing_env(&[]).await;
    let env = &owned;
    let clip = make_video(
        &env.scratch,
        "captioned.mp4",
        &Spec {
            width: 320,
            height: 180,
            seconds: 12.0,
            fps: 25,
            audio: true,
        },
    );
    let token = env.token("caption-owner", &["videos:read", "videos:write"]);
    let other = env.token("someone-else", &["videos:read", "videos:write"]);
    common::with_platform(env, |base| async move {
        let client = reqwest::Client::new();
        let id = common::upload(&base, &token, &clip, "captioned").await;
        let row = wait_for_status(env, &id, &["ready", "failed"], Duration::from_secs(180)).await;
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        let hls = format!("videos/{id}/hls/");
        let stored_before = env.object_keys_all(&hls).await;
        let stored_master = env.object_bytes(&format!("{hls}master.m3u8")).await;

        // Hostile files: each refused with what is wrong and where, nothing stored.
        let refused = |file: Vec<u8>, fields: &'static [(&'static str, &'static str)]| {
            let (client, base, token, id) =
                (client.clone(), base.clone(), token.clone(), id.clone());
            async move { add_track(&client, &base, &token, &id, file, fields).await }
        };
        let detail = |v: &serde_json::Value| v["detail"].as_str().unwrap_or_default().to_owned();
        let (s, v) = refused(b"hello\nworld\n".to_vec(), ENGLISH).await;
        assert_eq!(
            (s, detail(&v).contains("line 1: neither WebVTT")),
            (400, true),
            "{v}"
        );
        let bad =
            "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nok\n\n00:00:03.000 -> 00:00:04.000\nbad\n";
        let (s, v) = refused(bad.into(), ENGLISH).await;
        assert_eq!((s, detail(&v).contains("line 6")), (400, true), "{v}");
        let late = "1\n00:00:05,000 --> 00:00:30,000\nafter the end\n";
        let (s, v) = refused(late.into(), ENGLISH).await;
        assert!(
            s == 400
                && detail(&v).contains("line 2")
                && detail(&v).contains("not inside the video"),
            "{v}"
        );
        let many: String = (0..6000)
            .map(|i| {
                format!(
                    "{}\n00:00:00,{:03} --> 00:00:01,000\nx\n\n",
                    i + 1,
                    i % 1000
                )
            })
            .collect();
        let (s, v) = refused(many.into(), ENGLISH).await;
        assert!(
            s == 400 && detail(&v).contains("more than 5000 cues"),
            "{v}"
        );
        let (s, head) = announced_size(&base, &token, &id, 10 * 1024 * 1024).await;
        assert_eq!(
            s, 413,
            "a 10 MiB form is refused on its announced size: {head}"
        );
        let (s, v) = refused(
            b"1\n00:00:01,000 --> 00:00:02,000\n\xff\xfe\n".to_vec(),
            ENGLISH,
        )
        .await;
        assert!(
            s == 400 && detail(&v).contains("line 3: the file is not UTF-8"),
            "{v}"
        );
        let (s, v) = refused(SRT.into(), &[("language", "english"), ("name", "x")]).await;
        assert!(s == 400 && detail(&v).contains("BCP 47"), "{v}");
        let (s, v) = refused(
            SRT.into(),
            &[("language", "en"), ("name", "x"), ("kind", "karaoke")],
        )
        .await;
        assert!(s == 400 && detail(&v).contains("karaoke"), "{v}");
        let (s, v) = refused(SRT.into(), &[("language", "en"), ("name", "a\"b")]).await;
        assert_eq!(s, 400, "{v}");
        let (s, _) = add_track(&client, &base, &other, &id, SRT.into(), ENGLISH).await;
        assert_eq!(s, 404, "another owner cannot add one");
        let list = client
            .get(format!("{base}/v1/videos/{id}/text-tracks"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap();
        assert_eq!(
            list["text_tracks"],
            serde_json::json!([]),
            "nothing stored: {list}"
        );

        // The SRT, added: three cues, converted, listed on the video.
        let (s, track) = add_track(&client, &base, &token, &id, SRT.into(), ENGLISH).await;
        assert_eq!(s, 201, "{track}");
        assert_eq!(track["cues"], 3, "{track}");
        assert_eq!(track["kind"], "captions");
        assert_eq!(track["default"], true);
        let track_id = track["id"].as_str().unwrap().to_owned();
        let video = common::video_json(&base, &token, &id).await;
        let master_url = video["playback"]["master"].as_str().unwrap().to_owned();
        let listed = &video["playback"]["text_tracks"];
        assert_eq!(listed.as_array().map(Vec::len), Some(1), "{video}");
        assert_eq!(listed[0]["language"], "en");
        assert_eq!(listed[0]["name"], "English (CC)");
        let vtt_url = listed[0]["url"].as_str().unwrap().to_owned();
        assert_eq!(
            vtt_url,
            master_url.replace("master.m3u8", &format!("text/{track_id}.vtt"))
        );
        let r = client.get(&vtt_url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/vtt")
        );
        assert_eq!(
            r.text().await.unwrap(),
            "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nFirst <i>line</i>\n\n\
             00:00:04.000 --> 00:00:06.000\nSecond &amp; more\n\n\
             00:00:10.500 --> 00:00:11.500\nThird\n\n"
        );

        // The master the origin serves names the group from every variant; the stored master
        // and every segment are as the encode wrote them.
        let r = client.get(&master_url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let etag = r.headers()["etag"].to_str().unwrap().to_owned();
        let master = r.text().await.unwrap();
        let variants = master.matches("#EXT-X-STREAM-INF:").count();
        assert!(variants >= 1, "{master}");
        assert_eq!(
            master.matches("SUBTITLES=\"text\"").count(),
            variants,
            "{master}"
        );
        assert!(
            master.contains(
                "TYPE=SUBTITLES,GROUP-ID=\"text\",NAME=\"English (CC)\",LANGUAGE=\"en\",DEFAULT=YES"
            ),
            "{master}"
        );
        assert!(
            master.contains(&format!("URI=\"text/{track_id}/index.m3u8\"")),
            "{master}"
        );
        assert_eq!(
            env.object_bytes(&format!("{hls}master.m3u8")).await,
            stored_master
        );
        assert_eq!(env.object_keys_all(&hls).await, stored_before);
        let r = client
            .get(&master_url)
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 304, "revalidated, not reloaded");
        // Segmented WebVTT over the whole video, each segment mapped to the media timeline.
        let playlist_url =
            master_url.replace("master.m3u8", &format!("text/{track_id}/index.m3u8"));
        let playlist = client
            .get(&playlist_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let segments: Vec<&str> = playlist.lines().filter(|l| l.ends_with(".vtt")).collect();
        let duration_ms = row.duration_ms.unwrap() as u64;
        assert_eq!(
            segments.len() as u64,
            duration_ms.div_ceil(10_000),
            "{playlist}"
        );
        assert!(playlist.ends_with("#EXT-X-ENDLIST\n"), "{playlist}");
        let segment = |n: usize| {
            let url = playlist_url.replace("index.m3u8", segments[n]);
            let client = client.clone();
            async move { client.get(url).send().await.unwrap().text().await.unwrap() }
        };
        let first = segment(0).await;
        assert!(
            first.starts_with("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n"),
            "{first}"
        );
        assert!(
            first.contains("First") && first.contains("Second") && !first.contains("Third"),
            "{first}"
        );
        assert!(
            segment(1)
                .await
                .contains("00:00:10.500 --> 00:00:11.500\nThird")
        );
        let past = playlist_url.replace("index.m3u8", "seg_00099.vtt");
        assert_eq!(client.get(&past).send().await.unwrap().status(), 404);

        // A signed video's track URLs need their signature.
        if let Some(sig) = vtt_url.split('/').find(|p| p.starts_with("sig-")) {
            let forged = vtt_url.replace(sig, "sig-9999999999-AAAA");
            assert_eq!(client.get(&forged).send().await.unwrap().status(), 403);
            let unsigned = vtt_url.replace(&format!("{sig}/"), "");
            assert_eq!(client.get(&unsigned).send().await.unwrap().status(), 403);
        }

        // Chromium: the player's caption menu lists it, and each cue shows inside its times.
        let shot = common::cache_dir().join("artifacts/captions.png");
        std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
        let cues = serde_json::json!([
            {"start": 1.0, "end": 3.0, "text": "First <i>line</i>"},
            {"start": 4.0, "end": 6.0, "text": "Second &amp; more"},
            {"start": 10.5, "end": 11.5, "text": "Third"},
        ]);
        let seen = common::browser::run_script(
            "captions.cjs",
            &[
                ("BASE", base.clone()),
                ("TOKEN", token.clone()),
                ("VIDEO", id.clone()),
                ("CUES", cues.to_string()),
                ("SHOT", shot.display().to_string()),
            ],
            Duration::from_secs(120),
        )
        .await;
        assert!(
            seen["menu"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m.as_str().unwrap().contains("English (CC)")),
            "{seen}"
        );
        for (shown, want) in seen["seen"]
            .as_array()
            .unwrap()
            .iter()
            .zip(cues.as_array().unwrap())
        {
            assert_eq!(shown["start"].as_f64(), want["start"].as_f64(), "{seen}");
            assert_eq!(shown["end"].as_f64(), want["end"].as_f64(), "{seen}");
        }

        // Integrations hear about it.
        let topic = env.cfg.topic(vodflow_core::kafka::TOPIC_VIDEO_UPDATED);
        let msgs =
            common::read_topic(&env.cfg.kafka_brokers, &topic, 1, Duration::from_secs(30)).await;
        let event: serde_json::Value =
            serde_json::from_slice(rdkafka::Message::payload(&msgs[0]).unwrap()).unwrap();
        assert_eq!(event["change"], "text_tracks", "{event}");
        assert_eq!(event["added"]["id"], track_id.as_str(), "{event}");

        // Removed: only by its owner; then gone from the list, the master and the origin.
        let delete = |token: String| {
            let url = format!("{base}/v1/videos/{id}/text-tracks/{track_id}");
            let client = client.clone();
            async move {
                client
                    .delete(url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        };
        assert_eq!(delete(other.clone()).await, 404);
        assert_eq!(delete(token.clone()).await, 204);
        assert_eq!(delete(token.clone()).await, 404);
        let master = client
            .get(&master_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!master.contains("SUBTITLES"), "{master}");
        assert_eq!(master.as_bytes(), stored_master.as_slice());
        assert_eq!(client.get(&vtt_url).send().await.unwrap().status(), 404);
        assert_eq!(
            client.get(&playlist_url).send().await.unwrap().status(),
            404
        );
    })
    .await;
    owned.cleanup().await;
}
