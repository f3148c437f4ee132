//! The disk gate under a disk that really fills: these tests move the machine's free space, so
//! they run in a binary of their own, apart from the tests of `tests/e2e` (whose own runs would
//! open or close their gate).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::media::{Spec, make_video};
use common::{TestEnv, unique, upload, wait_for_status, with_platform};

const READY_WITHIN: Duration = Duration::from_secs(240);

async fn env_with(extra: &[(&str, &str)]) -> TestEnv {
    common::processing_env(extra).await
}

/// The disk tests move the machine's free space: one at a time, or one's filler opens or closes
/// the other's gate.
static DISK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A platform whose disk gate sits 1 GiB below today's free space (a clip's run writes far
/// less), and the path of a 2 GiB filler that takes the disk below it.
async fn disk_env() -> (TestEnv, std::path::PathBuf) {
    let work = std::env::temp_dir();
    let free = vodflow_core::work_dir::free_bytes(&work).expect("free space");
    let min_free = free.saturating_sub(1 << 30);
    let env = env_with(&[
        ("VODFLOW_CHUNK_SECONDS", "4"),
        ("VODFLOW_WORK_DIR_MIN_FREE_BYTES", &min_free.to_string()),
    ])
    .await;
    (env, work.join(format!("vodflow-filler-{}", unique(""))))
}

/// Writes the filler: really allocated, not sparse.
fn fill(filler: &Path) {
    let out = Command::new("fallocate")
        .args(["-l", "2GiB"])
        .arg(filler)
        .output()
        .expect("fallocate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_with_a_nearly_full_disk_downloads_and_encodes_nothing_until_space_is_freed() {
    let _disk = DISK.lock().await;
    let (owned, filler) = disk_env().await;
    let env = &owned;
    fill(&filler);
    let clip = make_video(
        &env.scratch,
        "clip.mp4",
        &Spec {
            width: 320,
            height: 180,
            seconds: 8.0,
            ..Spec::default()
        },
    );
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let filler_path = filler.clone();
    with_platform(env, |base| async move {
        let filler = filler_path;
        let id = upload(&base, &token, &clip, "full disk").await;
        // The probe's download passes the same gate: its attempts fail, saying why, and are
        // retried; no encode is taken either.
        let why = common::eventually(
            "the probe refused for want of room",
            Duration::from_secs(30),
            || async {
                let v: serde_json::Value = reqwest::Client::new()
                    .get(format!("{base}/v1/videos/{id}/workflow"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                v["progress"]["pending"]
                    .as_array()?
                    .iter()
                    .find(|p| p["activity_id"] == "probe")?["last_failure"]
                    .as_str()
                    .map(str::to_owned)
            },
        )
        .await;
        assert!(why.contains("work directory full"), "{why}");
        tokio::time::sleep(Duration::from_secs(4)).await;
        let chunks = env
            .object_keys_all(&format!("videos/{id}/hls/.chunks/"))
            .await;
        let row = vodflow_core::repo::get_video(&env.pool, id.parse().unwrap(), None)
            .await
            .unwrap()
            .unwrap();
        std::fs::remove_file(&filler).expect("remove the filler");
        assert_eq!(row.status, "processing");
        assert!(
            chunks.is_empty(),
            "no chunk encoded on a full disk: {chunks:?}"
        );
        let row = wait_for_status(env, &id, &["ready", "failed"], READY_WITHIN).await;
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
    })
    .await;
    let _ = std::fs::remove_file(&filler);
    owned.cleanup().await;
}

/// A pending activity's last failure in one of the video's workflows.
fn pending_failure(workflow_id: &str, activity_type: &str) -> Option<String> {
    common::pending_activities(workflow_id)
        .iter()
        .find(|a| a["activityType"]["name"] == activity_type)?["lastFailure"]["message"]
        .as_str()
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_disk_that_fills_under_a_running_platform_stops_images_and_downloads_until_space_is_freed()
 {
    let _disk = DISK.lock().await;
    // Once the video is ready, the filler takes the disk below the gate under the running
    // platform, as another tenant of the disk would.
    let (owned, filler) = disk_env().await;
    let env = &owned;
    let clip = make_video(
        &env.scratch,
        "clip.mp4",
        &Spec {
            width: 320,
            height: 180,
            seconds: 6.0,
            ..Spec::default()
        },
    );
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let client = reqwest::Client::new();
    with_platform(env, |base| {
        let filler = filler.clone();
        let client = client.clone();
        let token = token.clone();
        async move {
            let id = upload(&base, &token, &clip, "fills later").await;
            wait_for_status(env, &id, &["ready"], READY_WITHIN).await;
            let v = common::video_json(&base, &token, &id).await;
            let thumb = v["playback"]["thumbnail"].as_str().unwrap().to_owned();
            fill(&filler);
            // An image not made yet needs scratch space: refused, saying so, retryable.
            let r = client
                .get(format!("{thumb}?time=2.5&width=160"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 503);
            assert_eq!(
                r.headers()["content-type"].to_str().unwrap(),
                "application/problem+json"
            );
            let body = r.text().await.unwrap();
            assert!(body.contains("disk room"), "{body}");
            // Downloads asked for now: the remux's attempts fail for want of room and are retried.
            let r = client
                .post(format!("{base}/v1/videos/{id}/downloads"))
                .bearer_auth(&token)
                .json(&serde_json::json!({"downloads": "audio"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
            let why = common::eventually(
                "the remux refused for want of room",
                Duration::from_secs(30),
                || {
                    let id = id.clone();
                    async move { pending_failure(&format!("downloads-{id}"), "create_downloads") }
                },
            )
            .await;
            assert!(why.contains("work directory full"), "{why}");
            assert!(why.contains("VODFLOW_WORK_DIR_MIN_FREE_BYTES"), "{why}");
            let v = common::video_json(&base, &token, &id).await;
            assert_eq!(v["playback"]["downloads"], serde_json::json!([]), "{v}");
            std::fs::remove_file(&filler).expect("remove the filler");
            // Room again: the same requests succeed, nothing else was needed.
            let r = client
                .get(format!("{thumb}?time=2.5&width=160"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let v = common::eventually("the downloads are made", Duration::from_secs(120), || {
                let (base, token, id) = (base.clone(), token.clone(), id.clone());
                async move {
                    let v = common::video_json(&base, &token, &id).await;
                    (!v["playback"]["downloads"].as_array()?.is_empty()).then_some(v)
                }
            })
            .await;
            assert_eq!(v["playback"]["downloads"][0]["name"], "audio", "{v}");
        }
    })
    .await;
    let _ = std::fs::remove_file(&filler);
    owned.cleanup().await;
}
