//! A test's own slice of the stack: database, bucket, topic prefix, task queues, work dir; and
//! reads of what the platform left in them.

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_s3::Client as S3;
use sqlx::PgPool;
use vodflow_core::Config;

use super::platform::RunningApi;
use super::temporal::temporal_cli;

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
        let _ = temporal_cli(&[
            "schedule",
            "delete",
            "--schedule-id",
            self.cfg.task_queue("vodflow-reconciler").as_str(),
        ]);
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

/// Waits until at least `at_least` chunks of the video are complete in the store (each chunk
/// writes its manifest last) and returns their indexes.
pub async fn finished_chunks(env: &TestEnv, video_id: &str, at_least: usize) -> Vec<u32> {
    let prefix = format!("videos/{video_id}/hls/.chunks/");
    // Chunk manifests are `NNNNN.json`; the audio's list (`audio.json`) lives beside them.
    let index =
        |k: &String| -> Option<u32> { k.rsplit('/').next()?.strip_suffix(".json")?.parse().ok() };
    let vid: vodflow_core::VideoId = video_id.parse().expect("id");
    let keys = eventually("chunks to finish", Duration::from_secs(180), || async {
        let done: Vec<String> = env
            .object_keys_all(&prefix)
            .await
            .into_iter()
            .filter(|k| index(k).is_some())
            .collect();
        if done.len() >= at_least {
            return Some(done);
        }
        // A run that ended will finish no more chunks: say why now, not after the deadline.
        if let Ok(Some(row)) = vodflow_core::repo::get_video(&env.pool, vid, None).await {
            assert!(
                !matches!(row.status.as_str(), "failed" | "cancelled"),
                "video {video_id} is {} with {} of {at_least} chunks done: {:?} {:?}",
                row.status,
                done.len(),
                row.failure_step,
                row.failure_reason
            );
        }
        None
    })
    .await;
    keys.iter().filter_map(index).collect()
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
