//! Deleting a video while it is being processed: its run is stopped, nothing it was encoding comes
//! back after the removal, every object and multipart upload is gone, and a second DELETE answers
//! the same. Another owner still gets 404. A deletion whose effects fail at first (the CDN
//! refusing its purge) retries them until done and still announces `video.deleted`, once.

use crate::common;

use std::time::Duration;

use common::media::{Spec, make_video};
use temporalio_client::{WorkflowDescribeOptions, WorkflowExecutionStatus};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_video_mid_processing_stops_its_run_and_leaks_nothing() {
    let owned = common::processing_env(&[
        ("VODFLOW_CHUNK_SECONDS", "4"),
        ("VODFLOW_HEARTBEAT_TIMEOUT", "3s"),
    ])
    .await;
    let env = &owned;
    let clip = make_video(
        &env.scratch,
        "long.mp4",
        &Spec {
            width: 640,
            height: 360,
            seconds: 60.0,
            ..Spec::default()
        },
    );
    common::with_platform(env, |base| async move {
        let alice = env.token("alice", &["videos:read", "videos:write"]);
        let bob = env.token("bob", &["videos:read", "videos:write"]);
        let id = common::upload(&base, &alice, &clip, "to be deleted").await;
        // Mid-processing: some chunks are already in the store.
        let prefix = format!("videos/{id}/");
        common::eventually("first segments", Duration::from_secs(90), || async {
            (!env.object_keys_all(&prefix).await.is_empty()).then_some(())
        })
        .await;
        let http = reqwest::Client::new();
        let delete = |token: String| {
            let http = http.clone();
            let url = format!("{base}/v1/videos/{id}");
            async move {
                http.delete(url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        assert_eq!(
            delete(bob.clone()).await,
            404,
            "another owner's video is not found"
        );
        let first = delete(alice.clone()).await;
        assert!(first == 202 || first == 204, "{first}");
        let got = http
            .get(format!("{base}/v1/videos/{id}"))
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 404);
        let client = vodflow_core::temporal::connect(&env.cfg, "test")
            .await
            .unwrap();
        let vid: vodflow_core::VideoId = id.parse().unwrap();
        let run = client
            .get_workflow_handle::<vodflow_workflows::VideoProcessingWorkflow>(vid.workflow_id());
        let status = run
            .describe(WorkflowDescribeOptions::default())
            .await
            .unwrap()
            .status();
        assert_eq!(status, WorkflowExecutionStatus::Terminated);
        common::eventually(
            "every object to be removed",
            Duration::from_secs(60),
            || async {
                (env.object_keys_all(&prefix).await.is_empty()
                    && env
                        .object_keys_all(&format!("uploads/{id}/"))
                        .await
                        .is_empty())
                .then_some(())
            },
        )
        .await;
        // Encodes that were running have had their heartbeat's time: nothing comes back.
        tokio::time::sleep(Duration::from_secs(8)).await;
        assert!(
            env.object_keys_all(&prefix).await.is_empty(),
            "objects reappeared"
        );
        assert_eq!(env.multipart_uploads().await, 0);
        // Again: the same answer, nothing left to leak.
        assert_eq!(delete(alice.clone()).await, 204);
        let row = vodflow_core::repo::get_video_any(&env.pool, vid, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.status, "deleted");
    })
    .await;
    owned.cleanup().await;
}

/// The CDN refuses the first purges (more than the SDK's own retries): the delete workflow retries
/// the purge until CloudFront (a local listener: it cannot run here) takes it, then delivers
/// `video.deleted` once, and records the deletion finished. Before, the api tried the purge once
/// and a repeated DELETE never tried the effects again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delete_whose_cdn_purge_fails_at_first_is_retried_until_done_local_listener() {
    let (addr, mut purges) = common::flaky_cloudfront_listener(4).await;
    let endpoint = format!("http://{addr}");
    let env = common::TestEnv::new(&[
        ("VODFLOW_CLOUDFRONT_DISTRIBUTION_ID", "E2EXAMPLE"),
        ("VODFLOW_CLOUDFRONT_ENDPOINT", &endpoint),
        ("VODFLOW_WEBHOOK_ALLOW_PRIVATE", "true"),
    ])
    .await;
    let api = env.spawn_api().await;
    let _worker = common::spawn_processing_worker(&env);
    let alice = env.token("alice", &["videos:read", "videos:write"]);
    let (hook_url, mut posts) = common::scripted_receiver(Vec::new()).await;
    let http = reqwest::Client::new();
    let hook = http
        .post(api.url("/v1/webhooks"))
        .bearer_auth(&alice)
        .json(&serde_json::json!({"url": hook_url, "events": ["video.deleted"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(hook.status(), 201);
    let clip = make_video(&env.scratch, "clip.mp4", &Spec::default());
    let id = common::upload_with(&api.base, &alice, &clip, "purged", &[]).await;
    let delete = || {
        http.delete(api.url(&format!("/v1/videos/{id}")))
            .bearer_auth(&alice)
            .send()
    };
    let first = delete().await.unwrap().status().as_u16();
    assert!(first == 202 || first == 204, "{first}");
    let mut answered = Vec::new();
    while answered.last() != Some(&201) {
        let (status, req) = tokio::time::timeout(Duration::from_secs(60), purges.recv())
            .await
            .expect("the purge tried again")
            .unwrap();
        assert!(
            req.contains(&format!("<Path>/videos/{id}/*</Path>")),
            "{req}"
        );
        answered.push(status);
    }
    assert_eq!(answered, vec![503, 503, 503, 503, 201]);
    let (head, body) = tokio::time::timeout(Duration::from_secs(60), posts.recv())
        .await
        .expect("video.deleted delivered")
        .unwrap();
    assert_eq!(
        common::header(&head, "vodflow-event"),
        Some("video.deleted")
    );
    assert!(body.contains(&id), "{body}");
    let vid: vodflow_core::VideoId = id.parse().unwrap();
    common::eventually(
        "the deletion recorded finished",
        Duration::from_secs(30),
        || async {
            let removed: Option<chrono::DateTime<chrono::Utc>> =
                sqlx::query_scalar("SELECT removed_at FROM videos WHERE id = $1")
                    .bind(vid.as_uuid())
                    .fetch_one(&env.pool)
                    .await
                    .unwrap();
            removed.map(|_| ())
        },
    )
    .await;
    // Done: a second DELETE answers 204 once its (repeated, idempotent) run has finished, and
    // announces nothing again.
    assert_eq!(delete().await.unwrap().status(), 204);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(posts.try_recv().is_err(), "video.deleted delivered twice");
    assert!(env.object_keys(&format!("uploads/{id}/")).await.is_empty());
    api.stop().await;
    env.cleanup().await;
}
