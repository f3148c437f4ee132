//! Temporal as an operator reads it: the `temporal` CLI's view of a workflow. Every call goes
//! through [`temporal_cli`], so the address and the binary are named once.

use std::time::Duration;

use super::env::{TestEnv, cache_dir, eventually};

/// `temporal <args> --address 127.0.0.1:7233`, with the CLI scripts/install keeps in the cache.
pub fn temporal_cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(cache_dir().join("bin/temporal"))
        .args(args)
        .args(["--address", "127.0.0.1:7233"])
        .output()
        .expect("temporal CLI (installed by scripts/install)")
}

/// [`temporal_cli`] with `-o json`, its output parsed; `Null` when it printed no JSON.
pub fn temporal_json(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let out = temporal_cli(&all);
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// Events of a workflow's latest run, as the Temporal CLI prints them (`temporal workflow show -o json`).
pub fn history(_env: &TestEnv, video_id: &str) -> Vec<serde_json::Value> {
    let out = temporal_cli(&[
        "workflow",
        "show",
        "-o",
        "json",
        "-w",
        &format!("video-{video_id}"),
    ]);
    assert!(
        out.status.success(),
        "temporal workflow show: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("history json");
    v["events"].as_array().cloned().unwrap_or_default()
}

/// A workflow's pending activities as `temporal workflow describe -o json` lists them (each with
/// `activityId`, `activityType.name`, `state`, `attempt`, `lastFailure`); empty if it has none or
/// cannot be described.
pub fn pending_activities(workflow_id: &str) -> Vec<serde_json::Value> {
    temporal_json(&["workflow", "describe", "-w", workflow_id])["pendingActivities"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until one of the video's chunk encodes is started on a worker (not merely scheduled:
/// finishing a chunk and polling for the next leave a gap with none) and returns its activity id.
pub async fn encode_started(video_id: &str) -> String {
    let workflow = format!("video-{video_id}");
    eventually(
        "an encode started on a worker",
        Duration::from_secs(60),
        || async {
            pending_activities(&workflow)
                .into_iter()
                .find(|a| {
                    a["activityId"]
                        .as_str()
                        .is_some_and(|s| s.starts_with("encode-chunk-"))
                        && a["state"] == "PENDING_ACTIVITY_STATE_STARTED"
                })
                .and_then(|a| a["activityId"].as_str().map(str::to_owned))
        },
    )
    .await
}

/// Workflows matching a visibility `query` (`temporal workflow list -q`), newest first.
pub fn list_workflows(query: &str) -> Vec<serde_json::Value> {
    temporal_json(&["workflow", "list", "-q", query])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Attempt numbers with which an activity (by activity id) started, in history order.
pub fn activity_attempts(events: &[serde_json::Value], activity_id: &str) -> Vec<u64> {
    let scheduled: Vec<&str> = events
        .iter()
        .filter(|e| e["activityTaskScheduledEventAttributes"]["activityId"] == activity_id)
        .filter_map(|e| e["eventId"].as_str())
        .collect();
    events
        .iter()
        .filter_map(|e| {
            let a = &e["activityTaskStartedEventAttributes"];
            scheduled
                .contains(&a["scheduledEventId"].as_str()?)
                .then(|| a["attempt"].as_u64().unwrap_or(1))
        })
        .collect()
}

/// Activity ids whose completion is recorded in `events`, with their decoded JSON results.
pub fn completed_activities(events: &[serde_json::Value]) -> Vec<(String, serde_json::Value)> {
    use base64::Engine;
    let scheduled = |id: &str| {
        events
            .iter()
            .find(|e| e["eventId"] == id)
            .and_then(|e| e["activityTaskScheduledEventAttributes"]["activityId"].as_str())
            .map(str::to_owned)
    };
    events
        .iter()
        .filter_map(|e| {
            let a = &e["activityTaskCompletedEventAttributes"];
            let activity = scheduled(a["scheduledEventId"].as_str()?)?;
            let data = a["result"]["payloads"][0]["data"]
                .as_str()
                .unwrap_or_default();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap_or_default();
            Some((
                activity,
                serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
            ))
        })
        .collect()
}

/// How many runs Temporal has of the video's workflow (`temporal workflow count`, as JSON, so
/// 10 or 11 runs can never read as 1).
pub fn workflow_runs(video: &str) -> u64 {
    let out = temporal_cli(&[
        "workflow",
        "count",
        "-o",
        "json",
        "-q",
        &format!("WorkflowId = 'video-{video}'"),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "temporal workflow count printed no JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    match &v["count"] {
        serde_json::Value::Number(n) => n.as_u64().expect("a count"),
        serde_json::Value::String(s) => s.parse().expect("a count"),
        // Protobuf's JSON leaves out a field at its default: no runs (yet) prints `{}`.
        serde_json::Value::Null if v.as_object().is_some_and(|o| o.is_empty()) => 0,
        other => panic!("no count in {v} ({other})"),
    }
}
