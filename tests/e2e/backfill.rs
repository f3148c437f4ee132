//! Backfill: 20 ready videos made "before" storyboards, DASH and downloads (those outputs taken
//! away from the rows and the store) are brought up to date by one `BackfillWorkflow` that pages
//! through them five at a time (continuing as new after each page), holds when paused, survives
//! its worker being killed mid-way (another worker carries on from the last completed batch), and
//! skips a video deleted after its page was read. Every remaining video then has a storyboard, a
//! DASH manifest that ffprobe opens, and its download, with nothing encoded again.

use crate::common;

use std::time::Duration;

use common::media::{Spec, make_video};
use common::wait_for_status;

const VIDEOS: usize = 20;

async fn backfill(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    id: &str,
) -> serde_json::Value {
    client
        .get(format!("{base}/v1/admin/backfill/{id}"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backfill_brings_old_videos_up_to_date_through_a_kill_and_a_delete() {
    let owned = common::processing_env(&[]).await;
    let env = &owned;
    let clip = make_video(
        &env.scratch,
        "old.mp4",
        &Spec {
            width: 426,
            height: 240,
            seconds: 3.0,
            fps: 25,
            audio: true,
        },
    );
    let token = env.token("library-owner", &["videos:read", "videos:write"]);
    let admin = env.token("operator", &["videos:admin"]);
    let mut ids = Vec::new();
    // The library, made with today's pipeline.
    common::with_platform(env, |base| {
        let (token, ids) = (token.clone(), &mut ids);
        async move {
            for i in 0..VIDEOS {
                ids.push(common::upload(&base, &token, &clip, &format!("old {i}")).await);
            }
            for id in ids.iter() {
                let row =
                    wait_for_status(env, id, &["ready", "failed"], Duration::from_secs(300)).await;
                assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
            }
        }
    })
    .await;
    // ... as it was before these outputs existed: no storyboard, no manifest, no download, and a
    // download asked for.
    sqlx::query(
        "UPDATE videos SET storyboard_generation = NULL, dash_generation = NULL, downloads = 'highest',
                downloads_made = '[]', downloads_generation = NULL WHERE owner = 'library-owner'",
    )
    .execute(&env.pool)
    .await
    .unwrap();
    for id in &ids {
        for key in env.object_keys_all(&format!("videos/{id}/")).await {
            if key.contains("storyboard")
                || key.ends_with("manifest.mpd")
                || key.contains("/download/")
            {
                env.s3
                    .delete_object()
                    .bucket(&env.cfg.s3.bucket)
                    .key(&key)
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
    let m4s = |keys: Vec<String>| keys.iter().filter(|k| k.ends_with(".m4s")).count();
    let segments_before = m4s(env.object_keys_all("videos/").await);

    // The backfill runs on a worker in its own process, to be killed.
    let api = env.spawn_api().await;
    let base = api.base.clone();
    let client = reqwest::Client::new();
    let mut worker = common::spawn_processing_worker(env);
    let r = client
        .post(format!("{base}/v1/admin/backfill"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"outputs": ["storyboard", "dash", "downloads", "text_track_masters"],
                                  "owner": "library-owner", "concurrency": 2, "page": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let started: serde_json::Value = r.json().await.unwrap();
    let bid = started["id"].as_str().unwrap().to_owned();
    assert!(
        started["workflow"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/workflows/backfill-{bid}"))
    );
    // Refused: an unknown output (beside a known one), a caller without videos:admin.
    for (body, who, want) in [
        (serde_json::json!({"outputs": ["posters"]}), &admin, 400),
        (
            serde_json::json!({"outputs": ["loudness", "posters"]}),
            &admin,
            400,
        ),
        (
            serde_json::json!({"outputs": ["dash"], "concurrency": 99}),
            &admin,
            400,
        ),
        (serde_json::json!({"outputs": ["dash"]}), &token, 403),
    ] {
        let r = client
            .post(format!("{base}/v1/admin/backfill"))
            .bearer_auth(who)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), want, "{body}");
    }

    // Under way: pause, and it holds.
    common::eventually("five videos examined", Duration::from_secs(120), || {
        let (client, base, admin, bid) = (client.clone(), base.clone(), admin.clone(), bid.clone());
        async move {
            (backfill(&client, &base, &admin, &bid).await["progress"]["examined"].as_u64()? >= 5)
                .then_some(())
        }
    })
    .await;
    let r = client
        .post(format!("{base}/v1/admin/backfill/{bid}/pause"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    tokio::time::sleep(Duration::from_secs(5)).await; // the batch under way finishes
    let held = backfill(&client, &base, &admin, &bid).await;
    assert_eq!(held["progress"]["paused"], true, "{held}");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let still = backfill(&client, &base, &admin, &bid).await;
    assert_eq!(
        still["progress"]["examined"], held["progress"]["examined"],
        "paused: {still}"
    );
    let examined = held["progress"]["examined"].as_u64().unwrap() as usize;
    assert!(examined < VIDEOS, "paused before the end: {held}");

    // The worker dies; the next video in line (its page already read, at the start of this run)
    // is deleted meanwhile; another worker takes over.
    worker.kill().unwrap();
    let doomed = ids[examined].clone();
    let doomed_segments = m4s(env.object_keys_all(&format!("videos/{doomed}/")).await);
    let r = client
        .delete(format!("{base}/v1/videos/{doomed}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let _worker = common::spawn_processing_worker(env);
    let r = client
        .post(format!("{base}/v1/admin/backfill/{bid}/resume"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let done = common::eventually("the backfill completes", Duration::from_secs(300), || {
        let (client, base, admin, bid) = (client.clone(), base.clone(), admin.clone(), bid.clone());
        async move {
            let b = backfill(&client, &base, &admin, &bid).await;
            (b["status"] == "completed").then_some(b)
        }
    })
    .await;
    eprintln!("paused at {held}\nfinished: {done}");
    let p = &done["progress"];
    assert_eq!(p["finished"], true, "{done}");
    assert_eq!(p["failed"], 0, "{done}");
    assert_eq!(p["skipped"], 1, "the deleted one: {done}");
    assert_eq!(
        p["updated"].as_u64().unwrap() as usize,
        VIDEOS - 1,
        "{done}"
    );
    assert_eq!(p["examined"].as_u64().unwrap() as usize, VIDEOS, "{done}");
    assert!(
        p["runs"].as_u64().unwrap() >= 4,
        "continued as new after each page: {done}"
    );

    for id in ids.iter().filter(|i| **i != doomed) {
        let v: serde_json::Value = common::video_json(&base, &token, id).await;
        let pb = &v["playback"];
        assert!(pb["storyboard"].is_string(), "{v}");
        assert_eq!(pb["downloads"][0]["name"], "highest", "{v}");
        let mpd = pb["dash"].as_str().unwrap_or_else(|| panic!("dash: {v}"));
        if id == &ids[0] {
            let out = std::process::Command::new("ffprobe")
                .args([
                    "-v",
                    "error",
                    "-show_entries",
                    "stream=codec_type",
                    "-of",
                    "csv=p=0",
                    mpd,
                ])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let kinds = String::from_utf8_lossy(&out.stdout);
            assert!(
                kinds.contains("video") && kinds.contains("audio"),
                "{kinds}"
            );
        }
    }
    // Nothing encoded again: the same segments, less the deleted video's (gone with it).
    common::eventually(
        "the deleted video's objects are gone",
        Duration::from_secs(60),
        || async {
            (m4s(env.object_keys_all("videos/").await) + doomed_segments == segments_before)
                .then_some(())
        },
    )
    .await;
    api.stop().await;
    drop(_worker);
    owned.cleanup().await;
}
