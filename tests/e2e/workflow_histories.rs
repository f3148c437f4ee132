//! Protection across deploys: histories recorded from real runs (ready, failed, cancelled, a
//! replay, a webhook delivery, a reconcile pass) are kept in `tests/histories/` and replayed
//! against the current workflow code. A change that would break runs in flight (a different
//! sequence of commands for the same history) fails here, in CI, not in production.
//!
//! Changing a workflow: guard the new behaviour with `ctx.patched("<change-id>")` so histories
//! without the marker keep the old path, run this test, then record fresh histories with
//! `scripts/record-histories` and commit both the old and the
//! new files until no run of the old code can still be open (then `deprecate_patch`).

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::media::{Spec, make_video};
use temporalio_client::WorkflowHistory;
use temporalio_sdk::workflow_replayer::{WorkflowReplayer, WorkflowReplayerOptions};
use vodflow_workflows::{
    BackfillWorkflow, DeleteVideoWorkflow, ReconcileWorkflow, VideoDownloadsWorkflow,
    VideoProcessingWorkflow, WebhookDeliveryWorkflow,
};

/// Bump when recording after a workflow change (v0: before `bounded-encodes-v1`; v1: before
/// `notify-per-channel-v1`; v3: before imports, forced re-encodes, cancels and failures with encodes
/// in flight, downloads and backfills were recorded, and before `history-bound-v1`).
const GENERATION: &str = "v4";

fn histories_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/histories")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_histories_replay_against_the_current_workflows() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(histories_dir())
        .expect("tests/histories")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "expected recorded histories, found {files:?}"
    );
    let mut histories = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        histories.push(
            WorkflowHistory::from_json(&bytes).unwrap_or_else(|e| panic!("{}: {e}", f.display())),
        );
    }
    let opts = WorkflowReplayerOptions::new()
        .register_workflow::<VideoProcessingWorkflow>()
        .unwrap()
        .register_workflow::<WebhookDeliveryWorkflow>()
        .unwrap()
        .register_workflow::<ReconcileWorkflow>()
        .unwrap()
        .register_workflow::<DeleteVideoWorkflow>()
        .unwrap()
        .register_workflow::<VideoDownloadsWorkflow>()
        .unwrap()
        .register_workflow::<BackfillWorkflow>()
        .unwrap()
        .build();
    let replayer = WorkflowReplayer::new(opts).expect("replayer");
    let results = replayer.replay_workflows(histories).await.expect("replay");
    let failures: Vec<String> = files
        .iter()
        .zip(&results)
        .filter_map(|(f, r)| {
            r.replay_failure
                .as_ref()
                .map(|e| format!("{}: {e}", f.display()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "workflow code no longer replays recorded runs:\n{}",
        failures.join("\n")
    );
}

/// Saves the latest run of `workflow_id` as the SDK's history JSON.
async fn save(client: &temporalio_client::Client, workflow_id: &str, name: &str) {
    let json = client
        .get_workflow_handle::<temporalio_client::UntypedWorkflow>(workflow_id.to_owned())
        .fetch_history(Default::default())
        .to_json()
        .await
        .expect("history");
    std::fs::create_dir_all(histories_dir()).unwrap();
    // Named for the code that recorded them; older generations stay to keep their runs replayable.
    std::fs::write(
        histories_dir().join(format!("{GENERATION}-{name}.json")),
        json,
    )
    .unwrap();
}

async fn post(base: &str, token: &str, path: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "records tests/histories from real runs: scripts/record-histories"]
async fn record_histories() {
    let (hook_addr, mut hooks) = common::callback_receiver().await;
    let owned = common::processing_env(&[
        ("VODFLOW_WEBHOOK_ALLOW_PRIVATE", "true"),
        ("VODFLOW_RECONCILE_AFTER", "1s"),
        ("VODFLOW_RECONCILE_INTERVAL", "3s"),
        ("VODFLOW_CHUNK_SECONDS", "4"),
        ("VODFLOW_IMPORT_ALLOW_PRIVATE", "true"),
        ("VODFLOW_ACTIVITY_MAX_ATTEMPTS", "2"),
    ])
    .await;
    let env = &owned;
    let clip = make_video(&env.scratch, "clip.mp4", &Spec::default());
    let served = file_server(std::fs::read(&clip).unwrap()).await;
    let long = make_video(
        &env.scratch,
        "long.mp4",
        &Spec {
            seconds: 30.0,
            ..Spec::default()
        },
    );
    let fake = env.scratch.join("fake.mp4");
    common::media::fake_mp4(&fake, b"not a video ");
    let (served, long) = (&served, &long);
    common::with_platform(env, |base| async move {
        let token = env.token("recorder", &["videos:read", "videos:write"]);
        let hook = reqwest::Client::new()
            .post(format!("{base}/v1/webhooks"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "url": hook_addr }))
            .send()
            .await
            .unwrap();
        assert_eq!(hook.status(), 201);
        let ready = common::upload(&base, &token, &clip, "ready").await;
        let deleted = common::upload(&base, &token, long, "deleted mid-processing").await;
        let failed = common::upload(&base, &token, &fake, "failed").await;
        let cancelled = common::upload(&base, &token, long, "cancelled").await;
        common::wait_for_status(env, &cancelled, &["processing"], Duration::from_secs(60)).await;
        assert_eq!(post(&base, &token, &format!("/v1/videos/{cancelled}/cancel")).await, 202);
        common::wait_for_status(env, &deleted, &["processing"], Duration::from_secs(60)).await;
        let del = reqwest::Client::new()
            .delete(format!("{base}/v1/videos/{deleted}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert!(del.status() == 202 || del.status() == 204);
        for (id, status) in [(&ready, "ready"), (&failed, "failed"), (&cancelled, "cancelled")] {
            let row =
                common::wait_for_status(env, id, &["ready", "failed", "cancelled"], Duration::from_secs(120)).await;
            assert_eq!(row.status, status);
        }
        let client = vodflow_core::temporal::connect(&env.cfg, "recorder").await.unwrap();
        // Closed runs only: give each its last moment after the row changed.
        tokio::time::sleep(Duration::from_secs(3)).await;
        save(&client, &format!("video-{cancelled}"), "video-cancelled").await;
        // A replay of the cancelled video: a second run under the same id.
        assert_eq!(post(&base, &token, &format!("/v1/videos/{cancelled}/reprocess")).await, 202);
        common::wait_for_status(env, &cancelled, &["ready"], Duration::from_secs(120)).await;
        let _ = tokio::time::timeout(Duration::from_secs(30), hooks.recv()).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        save(&client, &format!("video-{ready}"), "video-ready").await;
        save(&client, &format!("video-{failed}"), "video-failed").await;
        save(&client, &format!("video-{cancelled}"), "video-replayed-after-cancel").await;
        let list = serde_json::Value::Array(common::list_workflows(
            "WorkflowType = 'WebhookDeliveryWorkflow' AND ExecutionStatus = 'Completed'",
        ));
        let delivery = list[0]["execution"]["workflowId"].as_str().expect("a completed delivery").to_owned();
        save(&client, &delivery, "webhook-delivery").await;
        let list = serde_json::Value::Array(common::list_workflows(&format!(
            "WorkflowType = 'ReconcileWorkflow' AND ExecutionStatus = 'Completed' AND WorkflowId STARTS_WITH '{}'",
            env.cfg.task_queue("vodflow-reconciler")
        )));
        let pass = list[0]["execution"]["workflowId"].as_str().expect("a completed pass").to_owned();
        save(&client, &pass, "reconcile-pass").await;
        // The deletion of a video mid-processing: stop, grace timer, removal.
        let wid = format!("delete-{deleted}");
        common::eventually("the deletion to finish", Duration::from_secs(120), || async {
            let h = client.get_workflow_handle::<temporalio_client::UntypedWorkflow>(wid.clone());
            let d = h.describe(Default::default()).await.ok()?;
            (d.status() == temporalio_client::WorkflowExecutionStatus::Completed).then_some(())
        })
        .await;
        save(&client, &wid, "video-delete").await;
        record_more_shapes(env, &base, &token, &client, served, long).await;
    })
    .await;
    owned.cleanup().await;
}

/// The shapes recorded since v4: an import, a forced re-encode, a cancel and a failure while
/// encodes are in flight, a downloads run and a backfill.
async fn record_more_shapes(
    env: &common::TestEnv,
    base: &str,
    token: &str,
    client: &temporalio_client::Client,
    served: &str,
    long: &Path,
) {
    let (status, v) = common::import_url(base, token, &format!("{served}/clip.mp4")).await;
    assert_eq!(status, 202, "{v}");
    let imported = v["id"].as_str().unwrap().to_owned();
    common::wait_for_status(env, &imported, &["ready"], Duration::from_secs(120)).await;
    // Downloads asked for later: their own workflow.
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/videos/{imported}/downloads"))
        .bearer_auth(token)
        .json(&serde_json::json!({"downloads": "all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let downloads = format!("downloads-{imported}");
    closed(client, &downloads).await;
    save(client, &downloads, "video-downloads").await;
    // A forced re-encode of it: a second run, a new generation.
    assert_eq!(
        post(
            base,
            token,
            &format!("/v1/videos/{imported}/reprocess?force=true")
        )
        .await,
        202
    );
    common::eventually(
        "the forced run to end",
        Duration::from_secs(120),
        || async {
            let row = vodflow_core::repo::get_video(&env.pool, imported.parse().unwrap(), None)
                .await
                .ok()??;
            (row.attempt == 2 && row.status == "ready").then_some(())
        },
    )
    .await;
    closed(client, &format!("video-{imported}")).await;
    save(
        client,
        &format!("video-{imported}"),
        "video-imported-then-forced",
    )
    .await;
    // Cancelled with encodes in flight: once a chunk is done and others run.
    let cancelled = common::upload(base, token, long, "cancelled mid-encode").await;
    common::finished_chunks(env, &cancelled, 1).await;
    assert_eq!(
        post(base, token, &format!("/v1/videos/{cancelled}/cancel")).await,
        202
    );
    common::wait_for_status(env, &cancelled, &["cancelled"], Duration::from_secs(120)).await;
    closed(client, &format!("video-{cancelled}")).await;
    save(
        client,
        &format!("video-{cancelled}"),
        "video-cancelled-mid-encode",
    )
    .await;
    // Failed with encodes in flight: the source goes from the store and the worker's disk once
    // a chunk is done, so the chunks still to start fail their attempts.
    let failing = common::upload(base, token, long, "fails mid-encode").await;
    common::finished_chunks(env, &failing, 1).await;
    let id: vodflow_core::VideoId = failing.parse().unwrap();
    env.s3
        .delete_object()
        .bucket(&env.cfg.s3.bucket)
        .key(vodflow_core::layout::source_key(id))
        .send()
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(Path::new(&env.cfg.work_dir).join("sources").join(&failing));
    let row = common::wait_for_status(
        env,
        &failing,
        &["failed", "ready"],
        Duration::from_secs(180),
    )
    .await;
    assert_eq!(row.status, "failed", "the source was gone");
    closed(client, &format!("video-{failing}")).await;
    save(
        client,
        &format!("video-{failing}"),
        "video-failed-mid-encode",
    )
    .await;
    // A backfill over the library.
    let admin = env.token("ops", &["videos:admin"]);
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/admin/backfill"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"outputs": ["storyboard", "dash", "downloads"], "page": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let b: serde_json::Value = r.json().await.unwrap();
    let wid = format!("backfill-{}", b["id"].as_str().unwrap());
    closed(client, &wid).await;
    save(client, &wid, "backfill").await;
}

/// Waits until a workflow's latest run has closed.
async fn closed(client: &temporalio_client::Client, workflow_id: &str) {
    common::eventually("the run to close", Duration::from_secs(180), || async {
        let h = client
            .get_workflow_handle::<temporalio_client::UntypedWorkflow>(workflow_id.to_owned());
        let d = h.describe(Default::default()).await.ok()?;
        (d.status() != temporalio_client::WorkflowExecutionStatus::Running).then_some(())
    })
    .await;
}

/// Serves `data` at any path (the import's source).
async fn file_server(data: Vec<u8>) -> String {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let data = std::sync::Arc::new(data);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let data = data.clone();
            tokio::spawn(async move {
                if common::read_request_head(&mut sock).await.is_none() {
                    return;
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: {}\r\n\r\n",
                    data.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&data).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    base
}
