//! Protection across deploys: histories recorded from real runs (ready, failed, cancelled, a
//! replay, a webhook delivery, a reconcile pass) are kept in `tests/histories/` and replayed
//! against the current workflow code. A change that would break runs in flight (a different
//! sequence of commands for the same history) fails here, in CI, not in production.
//!
//! Changing a workflow: guard the new behaviour with `ctx.patched("<change-id>")` so histories
//! without the marker keep the old path, run this test, then record fresh histories with
//! `cargo test --test history_replay -- --ignored record_histories` and commit both the old and the
//! new files until no run of the old code can still be open (then `deprecate_patch`).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::media::{Spec, make_video};
use temporalio_client::WorkflowHistory;
use temporalio_sdk::workflow_replayer::{WorkflowReplayer, WorkflowReplayerOptions};
use vodflow_workflows::{
    DeleteVideoWorkflow, ReconcileWorkflow, VideoProcessingWorkflow, WebhookDeliveryWorkflow,
};

/// Bump when recording after a workflow change (v0: before `bounded-encodes-v1`; v1: before
/// `notify-per-channel-v1`).
const GENERATION: &str = "v3";

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
#[ignore = "records tests/histories from real runs; run by hand when workflows change"]
async fn record_histories() {
    let (hook_addr, mut hooks) = common::callback_receiver().await;
    let owned = common::processing_env(&[
        ("VODFLOW_WEBHOOK_ALLOW_PRIVATE", "true"),
        ("VODFLOW_RECONCILE_AFTER", "1s"),
        ("VODFLOW_RECONCILE_INTERVAL", "3s"),
        ("VODFLOW_CHUNK_SECONDS", "4"),
    ])
    .await;
    let env = &owned;
    let clip = make_video(&env.scratch, "clip.mp4", &Spec::default());
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
        let deleted = common::upload(&base, &token, &long, "deleted mid-processing").await;
        let failed = common::upload(&base, &token, &fake, "failed").await;
        let cancelled = common::upload(&base, &token, &long, "cancelled").await;
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
        let deliveries = std::process::Command::new(common::cache_dir().join("bin/temporal"))
            .args(["workflow", "list", "--address", "127.0.0.1:7233", "-o", "json", "-q"])
            .arg("WorkflowType = 'WebhookDeliveryWorkflow' AND ExecutionStatus = 'Completed'")
            .output()
            .unwrap();
        let list: serde_json::Value = serde_json::from_slice(&deliveries.stdout).unwrap_or_default();
        let delivery = list[0]["execution"]["workflowId"].as_str().expect("a completed delivery").to_owned();
        save(&client, &delivery, "webhook-delivery").await;
        let passes = std::process::Command::new(common::cache_dir().join("bin/temporal"))
            .args(["workflow", "list", "--address", "127.0.0.1:7233", "-o", "json", "-q"])
            .arg(format!(
                "WorkflowType = 'ReconcileWorkflow' AND ExecutionStatus = 'Completed' AND WorkflowId STARTS_WITH '{}'",
                env.cfg.task_queue("vodflow-reconciler")
            ))
            .output()
            .unwrap();
        let list: serde_json::Value = serde_json::from_slice(&passes.stdout).unwrap_or_default();
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
    })
    .await;
    owned.cleanup().await;
}
