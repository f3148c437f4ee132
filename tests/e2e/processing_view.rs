//! The watch page of a video being processed draws the run live from its workflow's progress: a
//! square per chunk (queued, encoding, done), a bar per rung, which worker encodes which chunk;
//! then the player once it plays. A screenshot of the picture is kept as a test artifact.

use crate::common;

use std::time::Duration;

use common::media::{Spec, make_video};
use common::wait_for_status;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_watch_page_draws_the_run_live_then_plays() {
    let owned = common::processing_env(&[("VODFLOW_CHUNK_SECONDS", "4")]).await;
    let env = &owned;
    let clip = make_video(
        &env.scratch,
        "long-enough.mp4",
        &Spec {
            width: 854,
            height: 480,
            seconds: 40.0,
            fps: 25,
            audio: true,
        },
    );
    let token = env.token("viewer", &["videos:read", "videos:write"]);
    common::with_platform(env, |base| async move {
        let id = common::upload(&base, &token, &clip, "watched while encoding").await;
        let shot = common::cache_dir().join("artifacts/processing-view.png");
        std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
        let seen = common::browser::run_script(
            "processing_view.cjs",
            &[
                ("BASE", base.clone()),
                ("TOKEN", token.clone()),
                ("VIDEO", id.clone()),
                ("SHOT", shot.display().to_string()),
            ],
            Duration::from_secs(180),
        )
        .await;
        let row = wait_for_status(env, &id, &["ready", "failed"], Duration::from_secs(60)).await;
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        assert!(
            seen["chunks"].as_u64().unwrap() >= 3,
            "a square per chunk: {seen}"
        );
        let states: Vec<&str> = seen["states"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s.as_str())
            .collect();
        assert!(states.contains(&"done"), "{seen}");
        assert!(
            states.iter().any(|s| *s == "encoding" || *s == "queued"),
            "{seen}"
        );
        let workers = seen["workers"].as_array().unwrap();
        assert!(
            !workers.is_empty(),
            "which worker encodes which chunk: {seen}"
        );
        assert!(
            workers
                .iter()
                .all(|w| w.as_str().unwrap().contains(": chunk ")),
            "{seen}"
        );
        assert!(
            seen["rungs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == "480p"),
            "{seen}"
        );
        assert_eq!(seen["shot"], true, "{seen}");
        assert_eq!(seen["player"], 1, "the player once it plays: {seen}");
    })
    .await;
    owned.cleanup().await;
}
