//! Never stranded: the reconciler (a Temporal Schedule) finds videos whose status disagrees with
//! Temporal and repairs them. An upload whose event never started a run is started; a run that is
//! terminated mid-processing is recorded as failed with that reason; such a video can then be
//! reprocessed although its row still said `processing` a moment before.

use crate::common;

use std::time::Duration;

use common::media::{Spec, make_video};
use common::temporal_cli;
use vodflow_core::{VideoId, layout, repo};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stranded_videos_are_restarted_or_failed_with_the_reason() {
    let owned = common::processing_env(&[
        ("VODFLOW_RECONCILE_AFTER", "1s"),
        ("VODFLOW_RECONCILE_INTERVAL", "2s"),
        ("VODFLOW_CHUNK_SECONDS", "4"),
    ])
    .await;
    let env = &owned;
    let clip = make_video(&env.scratch, "clip.mp4", &Spec::default());
    let long = make_video(
        &env.scratch,
        "long.mp4",
        &Spec {
            seconds: 40.0,
            ..Spec::default()
        },
    );
    // An accepted upload whose event went nowhere (as if the outbox relay had died for good):
    // the row says `uploaded`, the source is stored, no workflow exists.
    let orphan = VideoId::new();
    let key = layout::source_key(orphan);
    let bytes = std::fs::read(&clip).unwrap();
    env.s3
        .put_object()
        .bucket(&env.cfg.s3.bucket)
        .key(&key)
        .body(bytes.clone().into())
        .send()
        .await
        .unwrap();
    let sha = common::media::sha256_file(&clip);
    common::insert_stranded_row(env, orphan, "stranded", "never started", bytes.len() as i64).await;
    let schedule = env.cfg.task_queue("vodflow-reconciler");
    common::with_platform(env, |base| async move {
        let orphan_id = orphan.to_string();
        let row = common::wait_for_status(
            env,
            &orphan_id,
            &["ready", "failed"],
            Duration::from_secs(120),
        )
        .await;
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
        // The digest is the worker's, from its copy of the source.
        assert_eq!(row.sha256, sha);

        // A run terminated mid-processing (an operator, a non-determinism error, a payload too
        // large): the row would stay `processing` forever without the reconciler.
        let token = env.token("victim", &["videos:read", "videos:write"]);
        let id = common::upload(&base, &token, &long, "terminated").await;
        common::wait_for_status(
            env,
            &id,
            &["processing", "playable"],
            Duration::from_secs(60),
        )
        .await;
        let out = temporal_cli(&[
            "workflow",
            "terminate",
            "-w",
            &format!("video-{id}"),
            "--reason",
            "test",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let row =
            common::wait_for_status(env, &id, &["failed", "ready"], Duration::from_secs(60)).await;
        assert_eq!(row.status, "failed");
        assert_eq!(row.failure_step.as_deref(), Some("workflow"));
        assert!(
            row.failure_reason
                .unwrap_or_default()
                .contains("terminated")
        );
        // Reprocess is allowed (no run is open) and finishes the job.
        let r = reqwest::Client::new()
            .post(format!("{base}/v1/videos/{id}/reprocess"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
        let row =
            common::wait_for_status(env, &id, &["ready", "failed"], Duration::from_secs(180)).await;
        assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
    })
    .await;
    // The schedule outlives the test's workers: remove it so it does not start passes for nobody.
    let out = temporal_cli(&["schedule", "delete", "--schedule-id", &schedule]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    owned.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_crashes_leave_behind_is_swept() {
    let owned = common::processing_env(&[
        ("VODFLOW_RECONCILE_AFTER", "1s"),
        ("VODFLOW_RECONCILE_INTERVAL", "2s"),
        ("VODFLOW_ORPHAN_AFTER", "1s"),
        ("VODFLOW_OUTBOX_RETENTION", "1s"),
    ])
    .await;
    let env = &owned;
    let bucket = env.cfg.s3.bucket.clone();
    let clip = make_video(&env.scratch, "clip.mp4", &Spec::default());
    // An api killed mid-upload: a multipart upload with a part, never completed nor aborted.
    let abandoned = layout::source_key(VideoId::new());
    let mp = env
        .s3
        .create_multipart_upload()
        .bucket(&bucket)
        .key(&abandoned)
        .send()
        .await
        .unwrap();
    env.s3
        .upload_part()
        .bucket(&bucket)
        .key(&abandoned)
        .upload_id(mp.upload_id().unwrap())
        .part_number(1)
        .body(vec![7u8; 1024].into())
        .send()
        .await
        .unwrap();
    // An api killed between completing the object and committing its row.
    let rowless = layout::source_key(VideoId::new());
    env.s3
        .put_object()
        .bucket(&bucket)
        .key(&rowless)
        .body(std::fs::read(&clip).unwrap().into())
        .send()
        .await
        .unwrap();
    assert_eq!(env.multipart_uploads().await, 1);
    // A DELETE that marked the row but never got to remove anything (Temporal was away).
    let half_deleted = VideoId::new();
    let half_key = layout::source_key(half_deleted);
    env.s3
        .put_object()
        .bucket(&bucket)
        .key(&half_key)
        .body(std::fs::read(&clip).unwrap().into())
        .send()
        .await
        .unwrap();
    common::insert_stranded_row(env, half_deleted, "keeper", "half deleted", 1).await;
    repo::mark_deleted(&env.pool, half_deleted, None)
        .await
        .unwrap();
    // Its event never mattered (the outbox would publish it to a topic that does not exist).
    sqlx::query("DELETE FROM outbox WHERE key = $1")
        .bind(half_deleted.to_string())
        .execute(&env.pool)
        .await
        .unwrap();
    common::with_platform(env, |base| async move {
        let token = env.token("keeper", &["videos:read", "videos:write"]);
        let kept = common::upload(&base, &token, &clip, "a real video").await;
        // A browser that PUT more than its direct URL allows through a part signed without a
        // size, then went away: the store holds the bytes until the sweep aborts them.
        let overfull = overfull_presigned_upload(&base, &token).await;
        common::wait_for_status(env, &kept, &["ready"], Duration::from_secs(120)).await;
        common::eventually("the sweep", Duration::from_secs(60), || async {
            let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
                .fetch_one(&env.pool)
                .await
                .ok()?;
            (env.multipart_uploads().await == 0
                && env.object_keys(&rowless).await.is_empty()
                && env.object_keys(&half_key).await.is_empty()
                && outbox == 0)
                .then_some(())
        })
        .await;
        let (state, failure): (String, Option<String>) =
            sqlx::query_as("SELECT state, failure FROM uploads WHERE s3_upload_id = $1")
                .bind(&overfull)
                .fetch_one(&env.pool)
                .await
                .unwrap();
        assert_eq!(state, "terminated");
        assert!(
            failure
                .as_deref()
                .unwrap_or_default()
                .contains("more than its maximum of 1000000 bytes"),
            "{failure:?}"
        );
        // A video with a row keeps its source.
        assert_eq!(env.object_keys(&format!("uploads/{kept}/")).await.len(), 1);
        // The half-done deletion ran to its end (objects, CDN, announcement) and says so.
        common::eventually("the deletion finished", Duration::from_secs(30), || async {
            sqlx::query_scalar::<_, Option<chrono::DateTime<chrono::Utc>>>(
                "SELECT removed_at FROM videos WHERE id = $1",
            )
            .bind(half_deleted.as_uuid())
            .fetch_one(&env.pool)
            .await
            .ok()
            .flatten()
            .map(|_| ())
        })
        .await;
    })
    .await;
    owned.cleanup().await;
}

#[tokio::test]
async fn a_restarted_worker_brings_the_schedule_to_its_configuration_and_keeps_a_pause() {
    let first = common::processing_env(&[
        ("VODFLOW_RECONCILE_INTERVAL", "60s"),
        ("VODFLOW_ORPHAN_AFTER", "1h"),
    ])
    .await;
    let client = vodflow_core::temporal::connect(&first.cfg, "vodflow-test")
        .await
        .expect("Temporal");
    use vodflow_workflows::reconcile::{Ensured, ensure_schedule};
    assert_eq!(
        ensure_schedule(&first.cfg, &client).await.unwrap(),
        Ensured::Created
    );
    let id = first
        .cfg
        .task_queue(vodflow_workflows::reconcile::SCHEDULE_ID);
    let handle = client.get_schedule_handle(id.clone());
    handle
        .pause(Some("operator: investigating"), Default::default())
        .await
        .unwrap();
    // The next deploy has other thresholds.
    let mut next = first.cfg.clone();
    next.orphan_after = Duration::from_secs(7200);
    next.reconcile_interval = Duration::from_secs(30);
    assert_eq!(
        ensure_schedule(&next, &client).await.unwrap(),
        Ensured::Updated
    );
    let d = handle.describe(Default::default()).await.unwrap();
    assert!(d.paused(), "the operator's pause survives the deploy");
    let temporalio_client::schedules::ScheduleDescriptionAction::StartWorkflow(action) = d.action()
    else {
        panic!("the schedule starts a workflow");
    };
    let input: vodflow_workflows::types::Reconcile = action.args().await.unwrap().expect("input");
    assert_eq!(input.orphan_after_s, 7200);
    let spec = format!("{:?}", d.raw().schedule.as_ref().unwrap().spec);
    assert!(spec.contains("seconds: 30"), "{spec}");
    first.cleanup().await;
}

/// 2,000 videos `processing` whose runs are open (on a task queue nobody polls) are older than
/// three stranded ones: a pass that read the oldest 500 and skipped open runs never reached them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pass_reaches_stranded_videos_behind_two_thousand_open_runs() {
    use futures::StreamExt;
    let owned = common::processing_env(&[
        ("VODFLOW_RECONCILE_AFTER", "1s"),
        ("VODFLOW_RECONCILE_INTERVAL", "3s"),
    ])
    .await;
    let env = &owned;
    let client = vodflow_core::temporal::connect(&env.cfg, "vodflow-test-open-runs")
        .await
        .expect("temporal");
    // Runs that stay open: started on a task queue of their own that no worker polls.
    let mut nobody = env.cfg.clone();
    nobody.task_queue_prefix = format!("nobody{}.", VideoId::new().0.simple());
    let open: Vec<VideoId> = (0..2000).map(|_| VideoId::new()).collect();
    futures::stream::iter(open.iter().copied())
        .map(|id| {
            let (env, client, nobody) = (env, &client, &nobody);
            async move {
                let row = common::insert_stranded_row(env, id, "crowd", "open run", 1000).await;
                let run = vodflow_workflows::video_processing::Run::of_row(&row, &env.cfg.s3.bucket, 1);
                vodflow_workflows::video_processing::start_run(
                    nobody,
                    client,
                    &run,
                    temporalio_client::WorkflowIdReusePolicy::RejectDuplicate,
                )
                .await
                .expect("start an open run");
                sqlx::query("UPDATE videos SET status = 'processing', updated_at = now() - interval '1 hour' WHERE id = $1")
                    .bind(id.0)
                    .execute(&env.pool)
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    // Three uploads whose event never started a run, each newer than every open one.
    let clip = make_video(&env.scratch, "clip.mp4", &Spec::default());
    let bytes = std::fs::read(&clip).unwrap();
    let mut stranded = Vec::new();
    for _ in 0..3 {
        let id = VideoId::new();
        env.s3
            .put_object()
            .bucket(&env.cfg.s3.bucket)
            .key(layout::source_key(id))
            .body(bytes.clone().into())
            .send()
            .await
            .unwrap();
        common::insert_stranded_row(env, id, "stranded", "behind the crowd", bytes.len() as i64)
            .await;
        sqlx::query("UPDATE videos SET updated_at = now() - interval '10 minutes' WHERE id = $1")
            .bind(id.0)
            .execute(&env.pool)
            .await
            .unwrap();
        stranded.push(id.to_string());
    }
    let schedule = env.cfg.task_queue("vodflow-reconciler");
    common::with_platform(env, |_base| async move {
        for id in &stranded {
            let row =
                common::wait_for_status(env, id, &["ready", "failed"], Duration::from_secs(180))
                    .await;
            assert_eq!(row.status, "ready", "{id}: {:?}", row.failure_reason);
        }
        // The open runs were looked at and left alone.
        let still: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM videos WHERE owner = 'crowd' AND status = 'processing'",
        )
        .fetch_one(&env.pool)
        .await
        .unwrap();
        assert_eq!(still, 2000);
    })
    .await;
    let _ = temporal_cli(&["schedule", "delete", "--schedule-id", &schedule]);
    let out = temporal_cli(&[
        "workflow",
        "terminate",
        "--yes",
        "--reason",
        "test over",
        "--query",
        &format!(
            "TaskQueue = '{}'",
            nobody.task_queue(vodflow_core::names::TASK_QUEUE_PROCESSING)
        ),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    owned.cleanup().await;
}

/// A direct upload URL of 1 MB, a presigned upload through it, and 1.5 MB PUT on part 1 (signed
/// without a size, as Uppy signs); the store's upload id.
async fn overfull_presigned_upload(base: &str, token: &str) -> String {
    let http = reqwest::Client::new();
    let (endpoint, _key, id, q) =
        common::presigned::direct_multipart(&http, base, token, 1_000_000).await;
    common::presigned::put_part(&http, &endpoint, &id, &q, None, 1_500_000).await;
    id
}
