//! Operators' view, checked for real: the alert rules pass `promtool check rules` and their unit
//! tests (`promtool test rules`); then Prometheus itself (Debian's package) scrapes a live api,
//! bridge and worker — each its own `vodflow` process — while a video is uploaded, processed and
//! played, and every query of the Grafana dashboard returns data from that scrape. Loopback only.

use crate::common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::media::{Spec, make_video};
use common::{eventually, free_port, spawn_vodflow};

fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir("deploy/prometheus")
        .output()
        .expect("promtool (Debian's prometheus package, installed by scripts/install)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[test]
fn alert_rules_are_valid_and_each_alert_has_a_passing_unit_test() {
    let checked = promtool(&["check", "rules", "alerts.yml"]);
    assert!(checked.contains("SUCCESS"), "{checked}");
    promtool(&["test", "rules", "alerts.test.yml"]);
    let rules = std::fs::read_to_string("deploy/prometheus/alerts.yml").unwrap();
    let tests = std::fs::read_to_string("deploy/prometheus/alerts.test.yml").unwrap();
    for line in rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
    {
        assert!(
            tests.contains(&format!("alertname: {line}")),
            "{line} has no unit test"
        );
    }
}

/// Every `expr` of the dashboard's panels.
fn dashboard_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string("deploy/grafana/vodflow.json").unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            out.push((
                p["title"].as_str().unwrap().to_owned(),
                t["expr"].as_str().unwrap().to_owned(),
            ));
        }
    }
    out
}

async fn query(prom: &str, expr: &str) -> serde_json::Value {
    let r = reqwest::Client::new()
        .get(format!("{prom}/api/v1/query"))
        .query(&[("query", expr)])
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prometheus_scrapes_every_role_and_every_dashboard_query_has_data() {
    let owned = common::processing_env(&[]).await;
    let env = &owned;
    let (api_port, bridge_port, worker_port, prom_port) =
        (free_port(), free_port(), free_port(), free_port());
    let base = format!("http://127.0.0.1:{api_port}");
    let listen = |p: u16| format!("127.0.0.1:{p}");
    let mut api = common::spawn_api_process(env, api_port, "api.log");
    let mut bridge = spawn_vodflow(
        env,
        &["bridge"],
        &[("VODFLOW_METRICS_LISTEN", &listen(bridge_port))],
        &env.scratch.join("bridge.log"),
    );
    let work = env.scratch.join("work");
    let mut worker = spawn_vodflow(
        env,
        &["worker"],
        &[
            ("VODFLOW_METRICS_LISTEN", &listen(worker_port)),
            ("VODFLOW_WORK_DIR", work.to_str().unwrap()),
        ],
        &env.scratch.join("worker.log"),
    );
    // Prometheus, scraping the three roles every second.
    let prom_dir = env.scratch.join("prometheus");
    std::fs::create_dir_all(&prom_dir).unwrap();
    let config = format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n\
         - {{job_name: vodflow-api, static_configs: [{{targets: ['127.0.0.1:{api_port}']}}]}}\n\
         - {{job_name: vodflow-bridge, static_configs: [{{targets: ['127.0.0.1:{bridge_port}']}}]}}\n\
         - {{job_name: vodflow-worker, static_configs: [{{targets: ['127.0.0.1:{worker_port}']}}]}}\n\
         rule_files: ['{}']\n",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy/prometheus/alerts.yml")
            .display()
    );
    std::fs::write(prom_dir.join("prometheus.yml"), config).unwrap();
    let mut prometheus = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            prom_dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            prom_dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(env.scratch.join("prometheus.log")).unwrap())
        .spawn()
        .expect("prometheus (Debian's package, installed by scripts/install)");
    let prom = format!("http://127.0.0.1:{prom_port}");

    // Something for every panel to show: an upload, its processing, playback, a refused upload.
    let clip = make_video(
        &env.scratch,
        "clip.mp4",
        &Spec {
            width: 320,
            height: 180,
            seconds: 4.0,
            ..Spec::default()
        },
    );
    let token = env.token("alice", &["videos:read", "videos:write"]);
    common::wait_healthy(&base).await;
    let http = reqwest::Client::new();
    let text = env.scratch.join("notes.txt");
    std::fs::write(&text, "these are notes, not a video\n".repeat(100)).unwrap();
    // One round of what the panels show: an upload, its processing, playback and revalidation, a
    // refused upload (a text file is not a video: 415, counted as `unsupported`).
    let round = |n: u32| {
        let (http, base, token, clip, text) = (&http, &base, &token, &clip, &text);
        async move {
            let id = common::upload_with(
                base,
                token,
                clip,
                &format!("observed {n}"),
                &[("visibility", "public")],
            )
            .await;
            let row =
                common::wait_for_status(env, &id, &["ready", "failed"], Duration::from_secs(180))
                    .await;
            assert_eq!(row.status, "ready", "{:?}", row.failure_reason);
            let master = http
                .get(format!("{base}/play/{id}/master.m3u8"))
                .send()
                .await
                .unwrap();
            let etag = master.headers()["etag"].to_str().unwrap().to_owned();
            let again = http
                .get(format!("{base}/play/{id}/master.m3u8"))
                .header("If-None-Match", etag)
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), 304);
            let form = reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(std::fs::read(text).unwrap())
                    .file_name("notes.mp4")
                    .mime_str("video/mp4")
                    .unwrap(),
            );
            let refused = http
                .post(format!("{base}/v1/videos"))
                .bearer_auth(token)
                .multipart(form)
                .send()
                .await
                .unwrap();
            assert_eq!(refused.status(), 415);
        }
    };
    // A series made by its first event has no increase to show until its next one: a first
    // round makes every labelled series, Prometheus scrapes them, a second round moves them.
    round(1).await;
    eventually(
        "Prometheus to scrape every role",
        Duration::from_secs(60),
        || async {
            let v = query(&prom, "up").await;
            let results = v["data"]["result"].as_array()?.clone();
            let up: Vec<String> = results
                .iter()
                .filter(|r| r["value"][1] == "1")
                .filter_map(|r| r["metric"]["job"].as_str().map(str::to_owned))
                .collect();
            (["vodflow-api", "vodflow-bridge", "vodflow-worker"]
                .iter()
                .all(|j| up.iter().any(|u| u == j)))
            .then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    round(2).await;
    // Every dashboard query has data (rates need a few scrapes), and data that shows what this
    // run did: a series of zeros passes only where zero is the truth of a healthy run.
    let mut missing = Vec::new();
    for (title, expr) in dashboard_queries() {
        let want = if ZERO_WHEN_HEALTHY.iter().any(|z| expr.contains(z)) {
            Want::Series
        } else {
            Want::NonZero
        };
        if !eventually_some(&prom, &expr, want).await {
            missing.push(format!("{title}: {expr} ({want:?})"));
        }
    }
    // The refused upload is on the uploads panel by its outcome.
    if !eventually_some(
        &prom,
        "sum by (outcome) (rate(vodflow_uploads_total{outcome=\"unsupported\"}[5m]))",
        Want::NonZero,
    )
    .await
    {
        missing.push("Uploads by outcome: no refused (unsupported) upload".into());
    }
    for p in [&mut api, &mut bridge, &mut worker] {
        p.kill().ok();
    }
    prometheus.kill().ok();
    prometheus.wait().ok();
    assert!(
        missing.is_empty(),
        "queries without data:\n{}",
        missing.join("\n")
    );
    owned.cleanup().await;
}

/// Series whose value is 0 in a run where nothing went wrong and nothing waits: their panel
/// shows data, but not a number this run could make non-zero.
const ZERO_WHEN_HEALTHY: &[&str] = &[
    "vodflow_outbox_lag_seconds",
    "vodflow_outbox_unpublished",
    "vodflow_bridge_consumer_lag_messages",
    "vodflow_videos_unsettled_oldest_seconds",
    "vodflow_activity_retries_total",
    "vodflow_activity_attempts_lost_total",
    "vodflow_task_queue_backlog",
    "vodflow_webhook_deliveries_total",
    // The worker removes a finished video's source and scratch.
    "vodflow_work_dir_used_bytes",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// At least one series.
    Series,
    /// At least one series with a value other than 0 (and not NaN).
    NonZero,
}

async fn eventually_some(prom: &str, expr: &str, want: Want) -> bool {
    for _ in 0..30 {
        let v = query(prom, expr).await;
        assert_eq!(v["status"], "success", "{expr}: {v}");
        let results = v["data"]["result"].as_array().cloned().unwrap_or_default();
        let non_zero = results.iter().any(|r| {
            r["value"][1]
                .as_str()
                .and_then(|x| x.parse::<f64>().ok())
                .is_some_and(|x| x != 0.0 && !x.is_nan())
        });
        if !results.is_empty() && (want == Want::Series || non_zero) {
            return true;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    false
}
