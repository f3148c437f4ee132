//! Starting things for the end-to-end tests: every test gets its own database, bucket and topic
//! prefix on the real local stack (`scripts/stack up`), so tests run in parallel and reruns never
//! collide.
#![allow(dead_code, unreachable_pub)]

pub mod browser;
pub mod edge;
pub mod media;
pub mod smtp;

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_s3::Client as S3;
use sqlx::PgPool;
use tokio::sync::oneshot;
use vodflow_core::Config;

pub const ADMIN_DB_URL: &str = "postgres://vodflow:vodflow@127.0.0.1:5432/vodflow";

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// Polls `f` until it returns `Some`, failing the test with `what` at the deadline.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub struct TestEnv {
    pub cfg: Config,
    /// The `VODFLOW_*` variables `cfg` was built from: what a child `vodflow` process gets.
    pub vars: Vec<(String, String)>,
    pub db_name: String,
    pub pool: PgPool,
    pub s3: S3,
    pub scratch: PathBuf,
}

impl TestEnv {
    /// A fresh database (migrated), bucket and topic prefix; `overrides` win over everything.
    pub async fn new(overrides: &[(&str, &str)]) -> Self {
        let id = unique("");
        let db_name = format!("vodflow_t_{id}");
        let admin = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(ADMIN_DB_URL)
            .await
            .expect("Postgres is not reachable: run `scripts/stack up` (or `make test`) first");
        sqlx::query(&format!("CREATE DATABASE {db_name}"))
            .execute(&admin)
            .await
            .expect("create test database");
        admin.close().await;
        let bucket = format!("t-{id}");
        let mut vars: Vec<(String, String)> = vec![
            (
                "VODFLOW_DATABASE_URL".into(),
                format!("postgres://vodflow:vodflow@127.0.0.1:5432/{db_name}"),
            ),
            ("VODFLOW_DATABASE_MAX_CONNECTIONS".into(), "5".into()),
            ("VODFLOW_S3_BUCKET".into(), bucket.clone()),
            ("VODFLOW_KAFKA_TOPIC_PREFIX".into(), format!("t{id}.")),
            // Every test has its own task queues: a workflow one test's api starts (a deletion,
            // say) is never taken by another test's worker, which has another database.
            ("VODFLOW_TASK_QUEUE_PREFIX".into(), format!("t{id}.")),
            ("VODFLOW_OUTBOX_POLL".into(), "100ms".into()),
            // Test machines' disks are shared and filled by builds: only the disk test itself
            // exercises the production floor (2 GiB).
            (
                "VODFLOW_WORK_DIR_MIN_FREE_BYTES".into(),
                (256u64 << 20).to_string(),
            ),
            (
                "VODFLOW_WORK_DIR".into(),
                std::env::temp_dir()
                    .join(format!("vodflow-{id}"))
                    .display()
                    .to_string(),
            ),
        ];
        for (k, v) in overrides {
            vars.retain(|(name, _)| name != k);
            vars.push(((*k).to_owned(), (*v).to_owned()));
        }
        let cfg = Config::from_lookup(|name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .expect("test config");
        let pool = vodflow_core::repo::connect(&cfg)
            .await
            .expect("connect test database");
        vodflow_core::repo::migrate(&pool)
            .await
            .expect("migrate test database");
        let s3 = vodflow_core::storage::s3_client(&cfg.s3);
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("S3 store is not reachable or refused CreateBucket: run `scripts/stack up`");
        let scratch = std::env::temp_dir().join(format!("vodflow-test-{id}"));
        std::fs::create_dir_all(&scratch).expect("scratch dir");
        Self {
            cfg,
            vars,
            db_name,
            pool,
            s3,
            scratch,
        }
    }

    pub fn token(&self, sub: &str, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        vodflow_api::auth::issue(
            &self.cfg.auth,
            sub,
            &scopes,
            Duration::from_secs(3600),
            None,
        )
        .expect("token")
    }

    pub async fn spawn_api(&self) -> RunningApi {
        RunningApi::start(self.cfg.clone()).await
    }

    pub async fn object_keys(&self, prefix: &str) -> Vec<String> {
        let out = self
            .s3
            .list_objects_v2()
            .bucket(&self.cfg.s3.bucket)
            .prefix(prefix)
            .send()
            .await
            .expect("list objects");
        out.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }

    pub async fn multipart_uploads(&self) -> usize {
        let out = self
            .s3
            .list_multipart_uploads()
            .bucket(&self.cfg.s3.bucket)
            .send()
            .await
            .expect("list multipart uploads");
        out.uploads().len()
    }

    pub async fn cleanup(self) {
        self.pool.close().await;
        // A processing worker of this env created its reconciler schedule: it would go on
        // starting passes on a task queue nobody polls any more.
        let _ = std::process::Command::new(cache_dir().join("bin/temporal"))
            .args([
                "schedule",
                "delete",
                "--address",
                "127.0.0.1:7233",
                "--schedule-id",
            ])
            .arg(self.cfg.task_queue("vodflow-reconciler"))
            .output();
        let _ = std::fs::remove_dir_all(&self.scratch);
        let _ = std::fs::remove_dir_all(&self.cfg.work_dir);
        // The test's bucket goes too: the store is shared by every run on this machine.
        remove_bucket(&self.s3, &self.cfg.s3.bucket).await;
        if let Ok(admin) = sqlx::PgPool::connect(ADMIN_DB_URL).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.db_name
            ))
            .execute(&admin)
            .await;
        }
    }
}

/// Empties and deletes `bucket` (objects and open multipart uploads); best effort.
pub async fn remove_bucket(s3: &S3, bucket: &str) {
    let _ = vodflow_core::storage::abort_multipart_uploads(s3, bucket, "", None, |_| false).await;
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .into_paginator()
        .page_size(1000)
        .send();
    while let Some(Ok(page)) = pages.next().await {
        let ids: Vec<_> = page
            .contents()
            .iter()
            .filter_map(|o| {
                aws_sdk_s3::types::ObjectIdentifier::builder()
                    .key(o.key()?)
                    .build()
                    .ok()
            })
            .collect();
        if ids.is_empty() {
            continue;
        }
        if let Ok(delete) = aws_sdk_s3::types::Delete::builder()
            .set_objects(Some(ids))
            .quiet(true)
            .build()
        {
            let _ = s3
                .delete_objects()
                .bucket(bucket)
                .delete(delete)
                .send()
                .await;
        }
    }
    let _ = s3.delete_bucket().bucket(bucket).send().await;
}

/// The api served in-process on a free loopback port.
pub struct RunningApi {
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningApi {
    pub async fn start(mut cfg: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        cfg.public_url = format!("http://{addr}");
        let state = vodflow_api::state(cfg).await.expect("api state");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            vodflow_api::serve_on(state, listener, async {
                let _ = stopped.await;
            })
            .await
            .expect("api server");
        });
        Self {
            base: format!("http://{addr}"),
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

/// A private Kafka-protocol broker (the stack's tansu binary) for tests that stop and restart one.
pub struct OwnBroker {
    pub port: u16,
    dir: PathBuf,
    child: Option<std::process::Child>,
}

impl OwnBroker {
    pub async fn start(dir: PathBuf) -> Self {
        let port = free_port();
        std::fs::create_dir_all(&dir).expect("broker dir");
        let mut b = Self {
            port,
            dir,
            child: None,
        };
        b.restart().await;
        b
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub async fn restart(&mut self) {
        let bin = std::env::var("VODFLOW_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/vodflow")
            })
            .join("bin/tansu");
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::File::create(self.dir.join("tansu.log")).expect("log");
        let child = std::process::Command::new(bin)
            .current_dir(&self.dir)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "sqlite://tansu.db",
            ])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start tansu (built by scripts/install)");
        self.child = Some(child);
        let port = self.port;
        eventually(
            "own broker to accept connections",
            Duration::from_secs(30),
            || async move {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()
                    .map(|_| ())
            },
        )
        .await;
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `vodflow api` in its own process on `port`, its log in the scratch directory under `log`.
pub fn spawn_api_process(env: &TestEnv, port: u16, log: &str) -> WorkerProcess {
    let listen = format!("127.0.0.1:{port}");
    spawn_vodflow(
        env,
        &["api"],
        &[("VODFLOW_API_LISTEN", &listen)],
        &env.scratch.join(log),
    )
}

/// Waits until the api at `base` answers `/healthz`.
pub async fn wait_healthy(base: &str) {
    eventually("the api to answer", Duration::from_secs(30), || async {
        let r = reqwest::get(format!("{base}/healthz")).await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Number of messages currently on `topic` (sum over partitions of high - low watermarks).
pub fn topic_message_count(brokers: &str, topic: &str) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("count-"))
        .create()
        .expect("consumer");
    let md = c
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .expect("metadata");
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return 0;
    };
    t.partitions()
        .iter()
        .map(|p| {
            let (lo, hi) = c
                .fetch_watermarks(topic, p.id(), Duration::from_secs(5))
                .expect("watermarks");
            hi - lo
        })
        .sum()
}

/// Reads every message of `topic` from the beginning, until `expected` arrived or the deadline.
pub async fn read_topic(
    brokers: &str,
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> Vec<rdkafka::message::OwnedMessage> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    let c: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("read-"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    c.subscribe(&[topic]).expect("subscribe");
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while out.len() < expected {
        match tokio::time::timeout_at(deadline, c.recv()).await {
            Ok(Ok(m)) => out.push(m.detach()),
            Ok(Err(e)) => panic!("kafka: {e}"),
            Err(_) => break,
        }
    }
    out
}

/// Runs the whole platform in-process (api + outbox relay, bridge, workers) around `body`, on this
/// test's own database, bucket, topics and task queues. Workers are not `Send`, so they run on
/// this task next to the body.
pub async fn with_platform<F, Fut>(env: &TestEnv, body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    with_platform_roles(
        env,
        vodflow_activities::worker::Roles {
            processing: true,
            transcode: true,
        },
        body,
    )
    .await
}

pub async fn with_platform_roles<F, Fut>(
    env: &TestEnv,
    roles: vodflow_activities::worker::Roles,
    body: F,
) where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let api = env.spawn_api().await;
    let stop = tokio_util::sync::CancellationToken::new();
    let client = vodflow_core::temporal::connect(&env.cfg, "vodflow-test-bridge")
        .await
        .expect("Temporal is not reachable");
    let cfg = env.cfg.clone();
    let bridge_stop = stop.clone();
    let bridge = tokio::spawn(async move {
        vodflow_bridge::run(&cfg, &client, bridge_stop.cancelled_owned()).await
    });
    let worker =
        vodflow_activities::worker::run(env.cfg.clone(), roles, stop.clone().cancelled_owned());
    let base = api.base.clone();
    let body = async {
        body(base).await;
        stop.cancel();
    };
    let (worker_result, ()) = tokio::join!(worker, body);
    worker_result.expect("workers");
    bridge.await.expect("bridge task").expect("bridge");
    api.stop().await;
}

/// A [`TestEnv`] configured for processing ([`processing_overrides`]) plus `extra`.
pub async fn processing_env(extra: &[(&str, &str)]) -> TestEnv {
    let id = unique("");
    let mut o = processing_overrides(&id);
    o.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let refs: Vec<(&str, &str)> = o.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    TestEnv::new(&refs).await
}

/// Where scripts/install keeps its tools (the same default as the scripts).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("VODFLOW_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/vodflow")
        })
}

/// Test configuration for processing: isolated task queues, quick failure detection.
pub fn processing_overrides(id: &str) -> Vec<(String, String)> {
    vec![
        ("VODFLOW_TASK_QUEUE_PREFIX".into(), format!("t{id}.")),
        ("VODFLOW_HEARTBEAT_TIMEOUT".into(), "10s".into()),
        ("VODFLOW_MAX_CONCURRENT_TRANSCODES".into(), "2".into()),
    ]
}

pub async fn wait_for_status(
    env: &TestEnv,
    id: &str,
    wanted: &[&str],
    timeout: Duration,
) -> vodflow_core::repo::VideoRow {
    let vid: vodflow_core::VideoId = id.parse().expect("id");
    eventually(
        &format!("video {id} to reach {wanted:?}"),
        timeout,
        || async {
            let row = vodflow_core::repo::get_video(&env.pool, vid, None)
                .await
                .ok()
                .flatten()?;
            wanted.contains(&row.status.as_str()).then_some(row)
        },
    )
    .await
}

/// Uploads through the API like a client; returns the video id.
pub async fn upload(base: &str, token: &str, path: &std::path::Path, title: &str) -> String {
    upload_with(base, token, path, title, &[]).await
}

/// The video resource as its owner reads it (`GET /v1/videos/{id}`), as JSON.
pub async fn video_json(base: &str, token: &str, id: &str) -> serde_json::Value {
    let r = reqwest::Client::new()
        .get(format!("{base}/v1/videos/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("get video");
    assert!(
        r.status().is_success(),
        "GET /v1/videos/{id}: {}",
        r.status()
    );
    r.json().await.expect("video JSON")
}

/// [`upload`] with extra form fields, e.g. `("visibility", "public")`.
pub async fn upload_with(
    base: &str,
    token: &str,
    path: &std::path::Path,
    title: &str,
    fields: &[(&str, &str)],
) -> String {
    let mut form = reqwest::multipart::Form::new().text("title", title.to_owned());
    for (k, v) in fields {
        form = form.text((*k).to_owned(), (*v).to_owned());
    }
    let form = form.part(
        "file",
        reqwest::multipart::Part::bytes(std::fs::read(path).expect("read")).file_name("v.mp4"),
    );
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/videos"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("post");
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

/// The head of the request arriving on `sock` (through its blank line), or `None` when the client
/// went away first. For the tests' own little HTTP servers.
pub async fn read_request_head(sock: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    Some(req)
}

/// `POST /v1/videos` importing `url`: the status and the JSON answer.
pub async fn import_url(base: &str, token: &str, url: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/videos"))
        .bearer_auth(token)
        .json(&serde_json::json!({"title": "imported", "source_url": url}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

/// Copies a video's HLS tree out of the store, so ffmpeg can read it as files.
pub async fn download_hls(env: &TestEnv, id: &str) -> PathBuf {
    let prefix = format!("videos/{id}/hls/");
    let dir = env.scratch.join(format!("hls-{id}"));
    for key in env.object_keys_all(&prefix).await {
        let rel = key.trim_start_matches(&prefix);
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let obj = env
            .s3
            .get_object()
            .bucket(&env.cfg.s3.bucket)
            .key(&key)
            .send()
            .await
            .expect("get");
        std::fs::write(&path, obj.body.collect().await.expect("body").into_bytes()).expect("write");
    }
    dir
}

impl TestEnv {
    async fn object_body(&self, key: &str) -> aws_sdk_s3::primitives::ByteStream {
        self.s3
            .get_object()
            .bucket(&self.cfg.s3.bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("get {key}: {e}"))
            .body
    }

    pub async fn object_bytes(&self, key: &str) -> Vec<u8> {
        let body = self.object_body(key).await;
        body.collect().await.expect("body").into_bytes().to_vec()
    }

    /// The stored object's SHA-256, streamed (never held whole).
    pub async fn object_sha256(&self, key: &str) -> String {
        use sha2::Digest;
        let mut body = self.object_body(key).await;
        let mut hasher = sha2::Sha256::new();
        while let Some(chunk) = body.try_next().await.expect("body") {
            hasher.update(&chunk);
        }
        hex::encode(hasher.finalize())
    }

    pub async fn object_keys_all(&self, prefix: &str) -> Vec<String> {
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.cfg.s3.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            keys.extend(
                page.expect("list")
                    .contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        keys
    }
}

/// Events of a workflow's latest run, as the Temporal CLI prints them (`temporal workflow show -o json`).
pub fn history(_env: &TestEnv, video_id: &str) -> Vec<serde_json::Value> {
    let bin = std::env::var("VODFLOW_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/vodflow")
        })
        .join("bin/temporal");
    let out = std::process::Command::new(bin)
        .args([
            "workflow",
            "show",
            "--address",
            "127.0.0.1:7233",
            "-o",
            "json",
            "-w",
            &format!("video-{video_id}"),
        ])
        .output()
        .expect("temporal CLI (installed by scripts/install)");
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
    let out = std::process::Command::new(cache_dir().join("bin/temporal"))
        .args([
            "workflow",
            "describe",
            "--address",
            "127.0.0.1:7233",
            "-o",
            "json",
            "-w",
        ])
        .arg(workflow_id)
        .output()
        .expect("temporal CLI (installed by scripts/install)");
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|v| v["pendingActivities"].as_array().cloned())
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

/// Sum over partitions of the offsets `group` committed on `topic`.
pub fn committed_total(brokers: &str, group: &str, topic: &str) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Offset, TopicPartitionList};
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let Ok(md) = c.fetch_metadata(Some(topic), Duration::from_secs(5)) else {
        return 0;
    };
    let mut tpl = TopicPartitionList::new();
    for t in md.topics() {
        for p in t.partitions() {
            tpl.add_partition(topic, p.id());
        }
    }
    let Ok(committed) = c.committed_offsets(tpl, Duration::from_secs(5)) else {
        return 0;
    };
    committed
        .elements()
        .iter()
        .map(|e| {
            if let Offset::Offset(o) = e.offset() {
                o
            } else {
                0
            }
        })
        .sum()
}

/// A `vodflow worker` in its own process (as on another machine: its own scratch directory), with
/// this test's configuration.
pub fn spawn_worker_process(
    env: &TestEnv,
    args: &[&str],
    work_dir: &std::path::Path,
) -> WorkerProcess {
    let mut full = vec!["worker"];
    full.extend_from_slice(args);
    spawn_vodflow(
        env,
        &full,
        &[("VODFLOW_WORK_DIR", &work_dir.display().to_string())],
        &PathBuf::from(format!("{}.log", work_dir.display())),
    )
}

/// A processing-queue worker in its own process: what runs a video's delete workflow for tests
/// that start only the api.
pub fn spawn_processing_worker(env: &TestEnv) -> WorkerProcess {
    spawn_worker_process(
        env,
        &["--queues", "processing"],
        &env.scratch.join("processing-worker"),
    )
}

/// `vodflow <args>` in its own process with this test's configuration plus `extra`; its log goes
/// to `log`.
pub fn spawn_vodflow(
    env: &TestEnv,
    args: &[&str],
    extra: &[(&str, &str)],
    log: &std::path::Path,
) -> WorkerProcess {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vodflow"));
    cmd.args(args);
    for (k, v) in &env.vars {
        cmd.env(k, v);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let child = cmd
        .env("VODFLOW_LOG", "info,temporalio_sdk_core=warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).expect("process log"))
        .spawn()
        .expect("start vodflow");
    WorkerProcess(child)
}

/// A worker process that is SIGKILLed when dropped, so a failing test leaves no worker behind.
pub struct WorkerProcess(pub std::process::Child);

impl WorkerProcess {
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.0.kill()?;
        self.0.wait().map(|_| ())
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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

/// A local HTTP receiver for callbacks: answers 200 and hands over (headers, body) of each POST.
pub async fn callback_receiver() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
) {
    scripted_receiver(Vec::new()).await
}

/// A header's value in a raw request head (as the receivers hand it over), case-insensitively.
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Checks the request's `Vodflow-Signature` (`t=…,v1=HMAC(secret, "t.body")`) as a receiver
/// would, and that it is recent; returns its timestamp.
pub fn assert_signed(head: &str, body: &str, secret: &str) -> i64 {
    let sig = header(head, vodflow_core::webhooks::SIGNATURE_HEADER)
        .unwrap_or_else(|| panic!("no signature header in {head}"));
    let t: i64 = sig
        .split(',')
        .next()
        .and_then(|p| p.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("malformed signature {sig:?}"));
    // Recomputed with openssl, not with the code under test.
    assert_eq!(
        sig,
        format!("t={t},v1={}", openssl_hmac(secret, &format!("{t}.{body}")))
    );
    assert_ne!(
        sig,
        format!("t={t},v1={}", openssl_hmac("wrong", &format!("{t}.{body}")))
    );
    assert!(
        (chrono::Utc::now().timestamp() - t).abs() < 120,
        "stale signature {sig:?}"
    );
    t
}

/// Hex HMAC-SHA256 of `msg` under `key`, by `openssl dgst`.
pub fn openssl_hmac(key: &str, msg: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-r", "-hmac", key])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(msg.as_bytes())
        .expect("write to openssl");
    let out = child.wait_with_output().expect("openssl output");
    assert!(out.status.success(), "openssl dgst failed");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_owned()
}

/// Like [`callback_receiver`], answering the statuses of `script` in turn, then 200. A status of
/// [`HOLD`] answers nothing: the request is reported and its connection kept open, unanswered,
/// for two minutes (a sender killed meanwhile has sent without learning the outcome).
pub const HOLD: u16 = 0;

pub async fn scripted_receiver(
    script: Vec<u16>,
) -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/hooks/vodflow",
        listener.local_addr().expect("addr")
    );
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut script = script.into_iter();
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut req = Vec::new();
            let mut buf = [0u8; 8192];
            let (head, body) = loop {
                let Ok(n) = sock.read(&mut buf).await else {
                    break (String::new(), String::new());
                };
                if n == 0 {
                    break (String::new(), String::new());
                }
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req).into_owned();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len: usize = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if req.len() >= end + 4 + len {
                        break (
                            text[..end].to_owned(),
                            text[end + 4..end + 4 + len].to_owned(),
                        );
                    }
                }
            };
            let status = script.next().unwrap_or(200);
            if status == HOLD {
                let _ = tx.send((head, body));
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(120)).await;
                    drop(sock);
                });
                continue;
            }
            let _ = sock
                .write_all(
                    format!("HTTP/1.1 {status} Scripted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await;
            let _ = tx.send((head, body));
        }
    });
    (url, rx)
}

/// Waits until at least `at_least` chunks of the video are complete in the store (each chunk
/// writes its manifest last) and returns their indexes.
pub async fn finished_chunks(env: &TestEnv, video_id: &str, at_least: usize) -> Vec<u32> {
    let prefix = format!("videos/{video_id}/hls/.chunks/");
    // Chunk manifests are `NNNNN.json`; the audio's list (`audio.json`) lives beside them.
    let index =
        |k: &String| -> Option<u32> { k.rsplit('/').next()?.strip_suffix(".json")?.parse().ok() };
    let keys = eventually("chunks to finish", Duration::from_secs(180), || async {
        let done: Vec<String> = env
            .object_keys_all(&prefix)
            .await
            .into_iter()
            .filter(|k| index(k).is_some())
            .collect();
        (done.len() >= at_least).then_some(done)
    })
    .await;
    keys.iter().filter_map(index).collect()
}

/// A local HTTP server answering every GET with the current `body` (JSON); counts requests.
/// Stands in for an OAuth2 issuer's JWKS endpoint.
pub async fn json_server(
    body: std::sync::Arc<std::sync::Mutex<serde_json::Value>>,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().expect("addr")
    );
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let body = body.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                if read_request_head(&mut sock).await.is_none() {
                    return;
                }
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let json = body.lock().expect("lock").to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
                    json.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    (url, hits)
}

/// Stands in for the CloudFront API (which cannot run here): accepts one request, answers like
/// `CreateInvalidation` does, and hands over the raw request the SDK sent.
/// Like [`cloudfront_listener`], for many requests: the first `fail` are answered 503, the rest
/// 201; each request is reported with the status it got.
pub async fn flaky_cloudfront_listener(
    fail: usize,
) -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<(u16, String)>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut served = 0;
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut req = Vec::new();
            let mut buf = [0u8; 8192];
            let complete = loop {
                let Ok(n) = sock.read(&mut buf).await else {
                    break false;
                };
                if n == 0 {
                    break false;
                }
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req);
                if let Some(end) = text.find("\r\n\r\n") {
                    let len: usize = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if req.len() >= end + 4 + len {
                        break true;
                    }
                }
            };
            if !complete {
                continue;
            }
            served += 1;
            let resp = if served <= fail {
                let body = r#"<?xml version="1.0"?><ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>try later</Message></Error></ErrorResponse>"#;
                (
                    503,
                    format!(
                        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    ),
                )
            } else {
                let body = r#"<?xml version="1.0" encoding="UTF-8"?><Invalidation xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Id>I2J0I21PCUYOIK</Id><Status>InProgress</Status><CreateTime>2026-11-25T00:00:00Z</CreateTime><InvalidationBatch><Paths><Quantity>1</Quantity><Items><Path>/x</Path></Items></Paths><CallerReference>r</CallerReference></InvalidationBatch></Invalidation>"#;
                (
                    201,
                    format!(
                        "HTTP/1.1 201 Created\r\nContent-Type: text/xml\r\nLocation: http://{addr}/x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    ),
                )
            };
            let _ = sock.write_all(resp.1.as_bytes()).await;
            let _ = tx.send((resp.0, String::from_utf8_lossy(&req).into_owned()));
        }
    });
    (addr, rx)
}

pub async fn cloudfront_listener() -> (std::net::SocketAddr, tokio::task::JoinHandle<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = sock.read(&mut buf).await.unwrap();
            req.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&req);
            if let Some(end) = text.find("\r\n\r\n") {
                let len: usize = text
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if req.len() >= end + 4 + len {
                    break;
                }
            }
        }
        let body = r#"<?xml version="1.0" encoding="UTF-8"?><Invalidation xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Id>I2J0I21PCUYOIK</Id><Status>InProgress</Status><CreateTime>2026-11-25T00:00:00Z</CreateTime><InvalidationBatch><Paths><Quantity>1</Quantity><Items><Path>/x</Path></Items></Paths><CallerReference>r</CallerReference></InvalidationBatch></Invalidation>"#;
        let resp = format!(
            "HTTP/1.1 201 Created\r\nContent-Type: text/xml\r\nLocation: http://{addr}/x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        sock.write_all(resp.as_bytes()).await.unwrap();
        String::from_utf8_lossy(&req).into_owned()
    });
    (addr, server)
}

/// A video row as an accepted upload leaves it (`uploaded`), with its event queued to a topic
/// nobody reads: the state a crash between the API and the bridge leaves behind.
pub async fn insert_stranded_row(
    env: &TestEnv,
    id: vodflow_core::VideoId,
    owner: &str,
    title: &str,
    size_bytes: i64,
) -> vodflow_core::repo::VideoRow {
    let key = vodflow_core::layout::source_key(id);
    let new = vodflow_core::repo::NewVideo {
        id,
        owner,
        title,
        description: "",
        source_key: &key,
        size_bytes,
        content_type: "video/mp4",
        callback_url: None,
        callback_secret: None,
        visibility: vodflow_core::playback::Visibility::Signed,
        owner_email: None,
        source_url: None,
        import_cap: None,
        downloads: vodflow_core::downloads::Choice::None,
        normalize_audio: false,
    };
    vodflow_core::repo::insert_uploaded(
        &env.pool,
        &new,
        "nowhere.video_uploaded",
        &serde_json::json!({}),
        None,
    )
    .await
    .expect("insert row")
    .expect("a new row")
}

/// How many runs Temporal has of the video's workflow (`temporal workflow count`, as JSON, so
/// 10 or 11 runs can never read as 1).
pub fn workflow_runs(video: &str) -> u64 {
    let out = std::process::Command::new(cache_dir().join("bin/temporal"))
        .args([
            "workflow",
            "count",
            "--address",
            "127.0.0.1:7233",
            "-o",
            "json",
            "-q",
        ])
        .arg(format!("WorkflowId = 'video-{video}'"))
        .output()
        .expect("temporal workflow count");
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
        other => panic!("no count in {v} ({other})"),
    }
}
