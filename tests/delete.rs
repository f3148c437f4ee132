//! Deleting a video while it is being processed: its run is stopped, nothing it was encoding comes
//! back after the removal, every object and multipart upload is gone, and a second DELETE answers
//! the same. Another owner still gets 404.

mod common;

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
