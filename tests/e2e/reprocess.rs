//! Integrators replay failed encodes and cancel running ones; nothing is duplicated or lost.

use crate::common;

use std::time::Duration;

use common::media::{Spec, make_video};
use common::{TestEnv, processing_overrides, unique, upload, wait_for_status};

async fn post(base: &str, token: &str, path: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// `POST /v1/videos/{id}/reprocess?force=true`, which must be accepted.
async fn force(base: &str, token: &str, vid: &str) {
    let (s, v) = post(
        base,
        token,
        &format!("/v1/videos/{vid}/reprocess?force=true"),
    )
    .await;
    assert_eq!(s, 202, "{v}");
}

async fn get(base: &str, token: &str, path: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_encode_is_replayed_under_the_same_workflow_id_without_redoing_finished_chunks() {
    let id = unique("");
    let mut o = processing_overrides(&id);
    // One attempt only: losing the encoding machine fails the run, as after an outage.
    o.push(("VODFLOW_ACTIVITY_MAX_ATTEMPTS".into(), "1".into()));
    // Long enough that a machine busy with the rest of the suite never misses one (with one
    // attempt, a missed heartbeat fails the run before the kill this test is about).
    o.push(("VODFLOW_HEARTBEAT_TIMEOUT".into(), "10s".into()));
    o.push(("VODFLOW_CHUNK_SECONDS".into(), "4".into()));
    let refs: Vec<(&str, &str)> = o.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let owned = TestEnv::new(&refs).await;
    let env = &owned;
    let clip = make_video(
        &env.scratch,
        "clip.mp4",
        &Spec {
            width: 1280,
            height: 720,
            seconds: 32.0,
            fps: 30,
            audio: true,
        },
    );
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let roles = vodflow_activities::worker::Roles {
        processing: true,
        transcode: false,
    };
    common::with_platform_roles(env, roles, |base| async move {
        let mut worker = common::spawn_worker_process(
            env,
            &["--queues", "transcode", "--max-concurrent-transcodes", "1"],
            &env.scratch.join("w1"),
        );
        let vid = upload(&base, &token, &clip, "replayed").await;
        let done_first = common::finished_chunks(env, &vid, 2).await;
        worker.kill().unwrap();
        // The encoding machine comes back with a broken disk: every attempt fails, the run fails.
        let broken_disk = env.scratch.join("broken-disk");
        std::fs::write(&broken_disk, b"a file where a directory should be").unwrap();
        let mut broken =
            common::spawn_worker_process(env, &["--queues", "transcode"], &broken_disk);
        let row = wait_for_status(env, &vid, &["failed", "ready"], Duration::from_secs(120)).await;
        broken.kill().unwrap();
        assert_eq!(row.status, "failed");
        assert!(
            matches!(
                row.failure_step.as_deref(),
                Some("encode_chunk" | "encode_audio")
            ),
            "{:?}",
            row.failure_step
        );
        let (s, v) = get(&base, &token, &format!("/v1/videos/{vid}")).await;
        assert_eq!(s, 200);
        // Either the killed worker's heartbeat timeout or the broken disk: a reason a person can act on.
        let reason = v["failure"]["reason"].as_str().unwrap();
        assert!(
            reason.contains("Not a directory") || reason.contains("timed out (Heartbeat)"),
            "{v}"
        );
        // VODFLOW_ACTIVITY_MAX_ATTEMPTS=1 here: the failing encode made exactly one attempt.
        assert!(
            v["failure"]["activity_id"]
                .as_str()
                .is_some_and(|a| a.starts_with("encode-")),
            "{v}"
        );
        assert_eq!(v["failure"]["attempts"], 1, "{v}");

        // A ready-only replay of a failed video is fine; a second one while it runs is a conflict.
        let mut again =
            common::spawn_worker_process(env, &["--queues", "transcode"], &env.scratch.join("w2"));
        let (s, v) = post(&base, &token, &format!("/v1/videos/{vid}/reprocess")).await;
        assert_eq!(s, 202, "{v}");
        assert_eq!(v["attempt"], 2);
        let (s, v) = post(&base, &token, &format!("/v1/videos/{vid}/reprocess")).await;
        assert_eq!(s, 409, "{v}");
        assert_eq!(v["type"], "https://vodflow.dev/problems/conflict");

        let row = wait_for_status(env, &vid, &["failed", "ready"], Duration::from_secs(240)).await;
        again.kill().ok();
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        assert_eq!(row.attempt, 2);

        // Two runs under one workflow id, visible through the API (once the run has closed).
        let w = common::eventually(
            "the second run to close",
            Duration::from_secs(30),
            || async {
                let (s, w) = get(&base, &token, &format!("/v1/videos/{vid}/workflow")).await;
                (s == 200 && w["status"] == "Completed").then_some(w)
            },
        )
        .await;
        assert_eq!(w["workflow_id"], format!("video-{vid}"));
        let runs = w["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 2, "{w}");
        assert_eq!(runs[0]["status"], "Completed");
        assert_eq!(runs[1]["status"], "Failed");
        assert!(
            w["temporal_ui"]
                .as_str()
                .unwrap()
                .contains(&format!("/workflows/video-{vid}/"))
        );

        // Chunks finished by the first run were reused, not encoded again.
        let events = common::history(env, &vid);
        let results = common::completed_activities(&events);
        for &index in &done_first {
            let (_, r) = results
                .iter()
                .find(|(a, _)| *a == format!("encode-chunk-{index:04}"))
                .expect("chunk in the second run");
            assert_eq!(r["encoded"], false, "chunk {index} was encoded again");
        }
        // One row, and renditions recorded once.
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM videos")
            .fetch_one(&env.pool)
            .await
            .unwrap();
        assert_eq!(rows, 1);
        let renditions = vodflow_core::repo::renditions(&env.pool, vid.parse().unwrap())
            .await
            .unwrap();
        assert_eq!(renditions.len(), 6);

        // Ready: replay only with force.
        let (s, _) = post(&base, &token, &format!("/v1/videos/{vid}/reprocess")).await;
        assert_eq!(s, 409);
        // Another owner cannot see or replay it.
        let bob = env.token("bob", &["videos:read", "videos:write"]);
        assert_eq!(
            post(&base, &bob, &format!("/v1/videos/{vid}/reprocess"))
                .await
                .0,
            404
        );
        assert_eq!(
            get(&base, &bob, &format!("/v1/videos/{vid}/workflow"))
                .await
                .0,
            404
        );
    })
    .await;
    owned.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_video_cancelled_once_playable_withdraws_its_playlists_and_can_be_replayed() {
    let id = unique("");
    let mut o = processing_overrides(&id);
    o.push(("VODFLOW_CHUNK_SECONDS".into(), "4".into()));
    let refs: Vec<(&str, &str)> = o.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let owned = TestEnv::new(&refs).await;
    let env = &owned;
    let clip = make_video(
        &env.scratch,
        "clip.mp4",
        &Spec {
            width: 1280,
            height: 720,
            seconds: 40.0,
            fps: 30,
            audio: false,
        },
    );
    let token = env.token("alice", &["videos:read", "videos:write"]);
    // Encodes run in a worker process of their own, killed once the video is playable: nothing
    // can finish the run after that, so the cancel never races the last chunk.
    let mut encoder = Some(common::spawn_worker_process(
        env,
        &["--queues", "transcode"],
        &env.scratch.join("encoder-1"),
    ));
    let roles = vodflow_activities::worker::Roles {
        processing: true,
        transcode: false,
    };
    let encoder = &mut encoder;
    common::with_platform_roles(env, roles, |base| async move {
        let vid = upload(&base, &token, &clip, "cancelled").await;
        // Progress is visible while it encodes.
        let progress = common::eventually(
            "progress while encoding",
            Duration::from_secs(60),
            || async {
                let (_, v) = get(&base, &token, &format!("/v1/videos/{vid}")).await;
                ((v["status"] == "processing" || v["status"] == "playable")
                    && v["progress"]["chunks"]
                        .as_array()
                        .is_some_and(|c| !c.is_empty()))
                .then_some(v)
            },
        )
        .await;
        assert_eq!(
            progress["progress"]["chunks"].as_array().unwrap().len(),
            10,
            "{progress}"
        );
        // Cancelled once it is playable: its growing playlists are in the store by then.
        let hls = format!("videos/{vid}/hls/");
        common::eventually(
            "playable, its master in the store",
            Duration::from_secs(120),
            || async {
                let (_, v) = get(&base, &token, &format!("/v1/videos/{vid}")).await;
                let keys = env.object_keys_all(&hls).await;
                (v["status"] == "playable" && keys.contains(&format!("{hls}master.m3u8")))
                    .then_some(())
            },
        )
        .await;
        encoder.take().expect("the first encoder").kill().unwrap();
        let (s, v) = post(&base, &token, &format!("/v1/videos/{vid}/cancel")).await;
        assert_eq!(s, 202, "{v}");
        let row = wait_for_status(
            env,
            &vid,
            &["cancelled", "ready", "failed"],
            Duration::from_secs(180),
        )
        .await;
        assert_eq!(row.status, "cancelled");
        // The replays below need an encoder again.
        *encoder = Some(common::spawn_worker_process(
            env,
            &["--queues", "transcode"],
            &env.scratch.join("encoder-2"),
        ));
        // Its growing master and media playlists are withdrawn; the finished segments stay for a
        // replay to reuse.
        let keys = env.object_keys_all(&hls).await;
        let playlists: Vec<&String> = keys.iter().filter(|k| k.ends_with(".m3u8")).collect();
        assert!(
            playlists.is_empty(),
            "a cancelled video must not leave playlists: {playlists:?}"
        );
        assert!(keys.iter().any(|k| k.ends_with(".m4s")), "{keys:?}");
        let (_, v) = get(&base, &token, &format!("/v1/videos/{vid}")).await;
        assert!(v["playback"].is_null(), "{v}");
        let (s, _) = post(&base, &token, &format!("/v1/videos/{vid}/cancel")).await;
        assert_eq!(s, 409, "nothing left to cancel");
        // The operator's bulk replay: admins only, filtered by status.
        let bulk = |token: String, body: serde_json::Value| {
            let url = format!("{base}/v1/admin/reprocess");
            async move {
                let r = reqwest::Client::new()
                    .post(url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                (
                    r.status().as_u16(),
                    r.json::<serde_json::Value>().await.unwrap_or_default(),
                )
            }
        };
        assert_eq!(
            bulk(token.clone(), serde_json::json!({"status": "cancelled"}))
                .await
                .0,
            403
        );
        let admin = env.token("ops", &["videos:admin"]);
        let (s, v) = bulk(
            admin.clone(),
            serde_json::json!({"status": "cancelled", "since": "2020-01-01T00:00:00Z"}),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["started"], 1, "{v}");
        assert_eq!(v["videos"][0]["id"], vid.as_str());
        assert_eq!(
            bulk(admin, serde_json::json!({"status": "ready"})).await.0,
            400
        );

        // Server-sent events follow the replay to its end, in order.
        let resp = reqwest::Client::new()
            .get(format!("{base}/v1/videos/{vid}/events"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let text = tokio::time::timeout(Duration::from_secs(240), resp.text())
            .await
            .expect("stream ends at a final status")
            .unwrap();
        let events: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        let statuses: Vec<&str> = events
            .iter()
            .map(|e| e["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses.last(), Some(&"ready"), "{statuses:?}");
        // processing, then (watchable early) playable, then ready: never back.
        let rank = |s: &str| {
            ["processing", "playable", "ready"]
                .iter()
                .position(|x| *x == s)
        };
        assert!(
            statuses.iter().all(|s| rank(s).is_some())
                && statuses.windows(2).all(|w| rank(w[0]) <= rank(w[1])),
            "{statuses:?}"
        );
        let percents: Vec<f64> = events
            .iter()
            .filter_map(|e| e["percent"].as_f64())
            .collect();
        assert!(
            percents.windows(2).all(|w| w[1] >= w[0]),
            "percent never goes back: {percents:?}"
        );
        let row = wait_for_status(env, &vid, &["ready", "failed"], Duration::from_secs(10)).await;
        assert_eq!(row.status, "ready");
    })
    .await;
    owned.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forced_reencode_writes_a_new_generation_never_changes_an_immutable_object_and_keeps_the_old_one_playing()
 {
    let id = unique("");
    let o = processing_overrides(&id);
    let refs: Vec<(&str, &str)> = o.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let owned = TestEnv::new(&refs).await;
    let env = &owned;
    let clip = make_video(
        &env.scratch,
        "clip.mp4",
        &Spec {
            width: 320,
            height: 180,
            seconds: 6.0,
            fps: 30,
            audio: true,
        },
    );
    let token = env.token("alice", &["videos:read", "videos:write"]);
    common::with_platform(env, |base| async move {
        let vid =
            common::upload_with(&base, &token, &clip, "forced", &[("visibility", "public")]).await;
        let row = wait_for_status(env, &vid, &["ready", "failed"], Duration::from_secs(180)).await;
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        let hls = format!("videos/{vid}/hls/");
        let immutable = |keys: Vec<String>| -> Vec<String> {
            keys.into_iter()
                .filter(|k| k.ends_with(".m4s") || k.ends_with("init.mp4"))
                .collect()
        };
        let before = immutable(env.object_keys_all(&hls).await);
        assert!(!before.is_empty());
        let mut bytes_before = Vec::new();
        for k in &before {
            bytes_before.push(env.object_bytes(k).await);
        }

        let poster0 = env
            .object_bytes(&format!("videos/{vid}/thumbs/poster.jpg"))
            .await;
        let (_, ready) = get(&base, &token, &format!("/v1/videos/{vid}")).await;
        let master0 = ready["playback"]["master"].as_str().unwrap().to_owned();
        assert!(
            ready["playback"]["poster"]
                .as_str()
                .is_some_and(|p| p.ends_with(&format!("/play/{vid}/poster.jpg"))),
            "{ready}"
        );

        force(&base, &token, &vid).await;
        // While the new generation encodes, the finished one is what plays: `playback` is there,
        // with the published generation's poster.
        let during = common::eventually(
            "the forced run to be processing",
            Duration::from_secs(60),
            || async {
                let (_, v) = get(&base, &token, &format!("/v1/videos/{vid}")).await;
                (v["status"] == "processing").then_some(v)
            },
        )
        .await;
        assert_eq!(during["playback"]["master"], master0.as_str(), "{during}");
        assert_eq!(
            during["playback"]["poster"], ready["playback"]["poster"],
            "{during}"
        );
        assert!(
            !during["playback"]["renditions"]
                .as_array()
                .unwrap()
                .is_empty(),
            "{during}"
        );
        let row = common::eventually(
            "the forced run to finish",
            Duration::from_secs(180),
            || async {
                let row = vodflow_core::repo::get_video(&env.pool, vid.parse().unwrap(), None)
                    .await
                    .unwrap()?;
                (row.attempt == 2 && ["ready", "failed"].contains(&row.status.as_str()))
                    .then_some(row)
            },
        )
        .await;
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        assert_eq!(row.generation, 1);

        // Every object served as immutable before is byte for byte what it was.
        for (k, b) in before.iter().zip(&bytes_before) {
            assert_eq!(&env.object_bytes(k).await, b, "{k} changed under its URL");
        }
        // The new encode is under g1/, and the master now names only it.
        let after = immutable(env.object_keys_all(&format!("{hls}g1/")).await);
        assert_eq!(after.len(), before.len(), "{after:?}");
        let master =
            String::from_utf8(env.object_bytes(&format!("{hls}master.m3u8")).await).unwrap();
        let uris: Vec<&str> = master
            .lines()
            .filter(|l| l.ends_with(".m3u8") || l.contains("URI="))
            .collect();
        assert!(
            !uris.is_empty() && uris.iter().all(|l| l.contains("g1/")),
            "{master}"
        );
        // And it plays through the origin: the new generation's paths are servable.
        let client = reqwest::Client::new();
        let rel = master.lines().find(|l| l.ends_with(".m3u8")).unwrap();
        let url = format!("{base}/play/{vid}/{rel}");
        let r = client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        let playlist = r.text().await.unwrap();
        let seg = playlist.lines().find(|l| l.ends_with(".m4s")).unwrap();
        let url = format!("{base}/play/{vid}/{}", rel.replace("index.m3u8", seg));
        let r = client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");

        // The poster is served as immutable: the new generation's is a new object, shown from
        // `ready` on, and the old one is untouched.
        assert_eq!(
            env.object_bytes(&format!("videos/{vid}/thumbs/poster.jpg"))
                .await,
            poster0,
            "the published poster changed under its URL"
        );
        let (_, v) = get(&base, &token, &format!("/v1/videos/{vid}")).await;
        let poster1 = v["playback"]["poster"].as_str().unwrap().to_owned();
        assert!(
            poster1.ends_with(&format!("/play/{vid}/g1/poster.jpg")),
            "{v}"
        );
        let r = client.get(&poster1).send().await.unwrap();
        assert_eq!(r.status(), 200, "{poster1}");
        assert_eq!(
            r.bytes().await.unwrap().as_ref(),
            env.object_bytes(&format!("videos/{vid}/thumbs/g1/poster.jpg"))
                .await
                .as_slice()
        );

        // A forced run that ends without a video (cancelled at once here) leaves the published
        // generation playing, for good.
        let master1 = env.object_bytes(&format!("{hls}master.m3u8")).await;
        force(&base, &token, &vid).await;
        let (s, v) = post(&base, &token, &format!("/v1/videos/{vid}/cancel")).await;
        assert_eq!(s, 202, "{v}");
        let row = common::eventually(
            "the second forced run to end",
            Duration::from_secs(180),
            || async {
                let row = vodflow_core::repo::get_video(&env.pool, vid.parse().unwrap(), None)
                    .await
                    .unwrap()?;
                (row.attempt == 3
                    && ["ready", "failed", "cancelled"].contains(&row.status.as_str()))
                .then_some(row)
            },
        )
        .await;
        assert_eq!(row.status, "cancelled");
        assert_eq!(row.published_generation, Some(1));
        let (_, v) = get(&base, &token, &format!("/v1/videos/{vid}")).await;
        assert_eq!(v["playback"]["poster"], poster1.as_str(), "{v}");
        assert_eq!(v["playback"]["master"], master0.as_str(), "{v}");
        assert_eq!(
            env.object_bytes(&format!("{hls}master.m3u8")).await,
            master1,
            "the published master must stay"
        );
        let r = client.get(&master0).send().await.unwrap();
        assert_eq!(r.status(), 200, "{master0}");
    })
    .await;
    owned.cleanup().await;
}
