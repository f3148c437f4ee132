//! Status that never waits: with every worker down (a processing video whose workflow has nobody
//! to answer its query), `GET /v1/videos/{id}` still answers from Postgres, without hanging on the
//! query, and says `processing`. Latencies are printed; `make bench` is where they are judged.

use crate::common;

use std::time::{Duration, Instant};

use vodflow_core::{VideoId, repo};
use vodflow_workflows::video_processing::{Run, start_run};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn status_answers_while_every_worker_is_down() {
    let env = common::processing_env(&[]).await;
    let api = env.spawn_api().await;
    let token = env.token("patient", &["videos:read"]);
    // A video whose run exists but which no worker will ever pick up.
    let id = VideoId::new();
    let row = common::insert_stranded_row(&env, id, "patient", "waiting", 1).await;
    repo::set_processing(&env.pool, id, 1).await.unwrap();
    let client = vodflow_core::temporal::connect(&env.cfg, "test")
        .await
        .unwrap();
    let run = Run::of_row(&row, &env.cfg.s3.bucket, 1);
    start_run(
        &env.cfg,
        &client,
        &run,
        temporalio_client::WorkflowIdReusePolicy::AllowDuplicate,
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let mut took = Vec::new();
    for _ in 0..40 {
        let t = Instant::now();
        let r = http
            .get(api.url(&format!("/v1/videos/{id}")))
            .bearer_auth(&token)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("an answer, not a hang");
        took.push(t.elapsed());
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["status"], "processing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    took.sort();
    eprintln!(
        "status with workers down: median {:?}, p95 {:?}, max {:?}",
        took[took.len() / 2],
        took[took.len() * 95 / 100],
        took[took.len() - 1]
    );
    // Not a benchmark: a read that waited on the query (~10 s) would show here.
    assert!(took[took.len() - 1] < Duration::from_secs(2), "{took:?}");
    let _ = common::temporal_cli(&["workflow", "terminate", "-w", id.workflow_id().as_str()]);
    api.stop().await;
    env.cleanup().await;
}
