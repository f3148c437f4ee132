//! An API client uploads videos: what lands in the store, the database and on the topic, and every
//! way an upload can be refused.

use crate::common;

use std::time::Duration;

use common::media::{Spec, make_video};
use common::{TestEnv, eventually, topic_message_count};
use reqwest::multipart::{Form, Part};
use serde_json::Value;

const WRITER: &[&str] = &["videos:read", "videos:write"];

fn form_with(file: Vec<u8>, title: &str) -> Form {
    Form::new()
        .text("title", title.to_owned())
        .part("file", Part::bytes(file).file_name("clip.mp4"))
}

async fn post(api: &common::RunningApi, token: &str, form: Form) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(api.url("/v1/videos"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status >= 400 {
        assert_eq!(
            ct, "application/problem+json",
            "error {status} must be problem JSON: {body}"
        );
        assert!(
            body["type"]
                .as_str()
                .unwrap()
                .starts_with("https://vodflow.dev/problems/"),
            "{body}"
        );
    }
    (status, body)
}

async fn published(env: &TestEnv, id: &str) -> bool {
    sqlx::query_scalar::<_, bool>("SELECT published_at IS NOT NULL FROM outbox WHERE key = $1")
        .bind(id)
        .fetch_optional(&env.pool)
        .await
        .unwrap()
        .unwrap_or(false)
}

#[tokio::test]
async fn upload_lands_in_store_database_and_topic_exactly_once() {
    let env = TestEnv::new(&[]).await;
    let api = env.spawn_api().await;
    let file = make_video(&env.scratch, "clip.mp4", &Spec::default());
    let bytes = std::fs::read(&file).unwrap();
    let token = env.token("alice", WRITER);

    let (status, video) = post(
        &api,
        &token,
        form_with(bytes.clone(), "My first clip").text("description", "testsrc2"),
    )
    .await;
    assert_eq!(status, 202, "{video}");
    let id = video["id"].as_str().unwrap().to_owned();
    assert_eq!(video["status"], "uploaded");
    assert_eq!(video["owner"], "alice");
    assert_eq!(video["content_type"], "video/mp4");
    assert_eq!(video["size"], bytes.len() as u64);
    // The digest is the worker's (from its copy of the source), not the upload path's.
    assert!(video.get("sha256").is_none(), "{video}");
    assert_eq!(
        video["links"]["self"],
        format!("{}/v1/videos/{id}", api.base)
    );
    assert!(
        video["links"]["workflow"]
            .as_str()
            .unwrap()
            .ends_with("/workflow")
    );

    // The store has the same bytes.
    let obj = env
        .s3
        .get_object()
        .bucket(&env.cfg.s3.bucket)
        .key(format!("uploads/{id}/source"))
        .send()
        .await
        .unwrap();
    let stored = obj.body.collect().await.unwrap().into_bytes();
    assert_eq!(stored.len(), bytes.len());
    assert!(stored[..] == bytes[..]);

    // The row.
    let row = vodflow_core::repo::get_video(&env.pool, id.parse().unwrap(), Some("alice"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, "uploaded");
    assert_eq!(row.description, "testsrc2");

    // Exactly one event with the documented payload.
    eventually(
        "the outbox row to be published",
        Duration::from_secs(30),
        || async { published(&env, &id).await.then_some(()) },
    )
    .await;
    let topic = env.cfg.topic(vodflow_core::kafka::TOPIC_VIDEO_UPLOADED);
    assert_eq!(topic_message_count(&env.cfg.kafka_brokers, &topic), 1);
    let msgs = common::read_topic(&env.cfg.kafka_brokers, &topic, 1, Duration::from_secs(30)).await;
    use rdkafka::Message;
    assert_eq!(msgs[0].key(), Some(id.as_bytes()));
    let ev: Value = serde_json::from_slice(msgs[0].payload().unwrap()).unwrap();
    let keys: Vec<&str> = ev.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "bucket",
            "content_type",
            "key",
            "owner",
            "schema_version",
            "size",
            "title",
            "uploaded_at",
            "video_id"
        ]
    );
    assert_eq!(ev["schema_version"], 1);
    assert_eq!(ev["video_id"], id.as_str());
    assert_eq!(ev["key"], format!("uploads/{id}/source"));
    // The event validates against the published schema's rules.
    vodflow_core::events::VideoUploaded::from_json(msgs[0].payload().unwrap())
        .expect("valid event");

    api.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn bad_uploads_are_refused_with_the_right_problem_and_leave_nothing_behind() {
    let env = TestEnv::new(&[("VODFLOW_MAX_UPLOAD_BYTES", "6000000")]).await;
    let api = env.spawn_api().await;
    let token = env.token("alice", WRITER);
    let clip = std::fs::read(make_video(&env.scratch, "clip.mp4", &Spec::default())).unwrap();

    let (s, b) = post(&api, &token, form_with(Vec::new(), "empty")).await;
    assert_eq!(
        (s, b["detail"].as_str().unwrap()),
        (400, "the file is empty")
    );

    let (s, _) = post(
        &api,
        &token,
        form_with(
            b"hello, I am a text file named clip.mp4".repeat(100),
            "text",
        ),
    )
    .await;
    assert_eq!(s, 415);

    // Too large: a real MP4 header followed by more bytes than allowed.
    let mut big = clip.clone();
    big.resize(7_000_000, 0);
    let (s, b) = post(&api, &token, form_with(big, "big")).await;
    assert_eq!(s, 413, "{b}");

    let (s, b) = post(
        &api,
        &token,
        Form::new().part("file", Part::bytes(clip.clone()).file_name("a.mp4")),
    )
    .await;
    assert_eq!(
        (s, b["detail"].as_str().unwrap()),
        (400, "missing `title` field")
    );

    let (s, b) = post(
        &api,
        &token,
        Form::new()
            .text("title", "x")
            .part("video", Part::bytes(clip.clone())),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        b["detail"]
            .as_str()
            .unwrap()
            .contains("unknown multipart field \"video\""),
        "{b}"
    );

    let (s, _) = post(&api, &token, form_with(clip.clone(), "   ")).await;
    assert_eq!(s, 400);
    for bad in [
        "ftp://example/x",
        "not a url",
        // SSRF: the cloud metadata service, loopback and private ranges are refused.
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:8080/v1/videos",
        "http://[::1]/x",
        "http://10.0.0.7/hook",
    ] {
        let (s, b) = post(
            &api,
            &token,
            form_with(clip.clone(), "t").text("callback_url", bad),
        )
        .await;
        assert_eq!(s, 400, "{bad}: {b}");
        assert!(
            b["detail"].as_str().unwrap().contains("callback_url"),
            "{b}"
        );
    }

    // Not multipart at all.
    let resp = reqwest::Client::new()
        .post(api.url("/v1/videos"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Truncated multipart: the closing boundary never comes.
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nt\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\r\n";
    let mut truncated = body.as_bytes().to_vec();
    truncated.extend_from_slice(&clip[..clip.len() / 2]);
    let resp = reqwest::Client::new()
        .post(api.url("/v1/videos"))
        .bearer_auth(&token)
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body(truncated)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Authentication and scope.
    let resp = reqwest::Client::new()
        .post(api.url("/v1/videos"))
        .multipart(form_with(clip.clone(), "t"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let reader = env.token("alice", &["videos:read"]);
    let (s, _) = post(&api, &reader, form_with(clip.clone(), "t")).await;
    assert_eq!(s, 403);

    // Nothing was recorded or stored, and no multipart upload is left open.
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM videos")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    eventually(
        "aborted multipart uploads to be gone",
        Duration::from_secs(10),
        || async { (env.multipart_uploads().await == 0).then_some(()) },
    )
    .await;
    assert!(env.object_keys("uploads/").await.is_empty());
    api.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_client_disconnecting_halfway_leaves_no_row_object_or_part() {
    let env = TestEnv::new(&[("VODFLOW_UPLOAD_PART_BYTES", "5242880")]).await;
    let api = env.spawn_api().await;
    let token = env.token("alice", WRITER);
    let clip = std::fs::read(make_video(&env.scratch, "clip.mp4", &Spec::default())).unwrap();

    // Announce 40 MB, send the header and 12 MB (two full parts reach the store), then hang up.
    use tokio::io::AsyncWriteExt;
    let addr = api.base.trim_start_matches("http://").to_owned();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = "--B\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhalf\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\r\n";
    let req = format!(
        "POST /v1/videos HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: 40000000\r\n\r\n{head}"
    );
    sock.write_all(req.as_bytes()).await.unwrap();
    sock.write_all(&clip).await.unwrap();
    let filler = vec![0u8; 1024 * 1024];
    for _ in 0..12 {
        sock.write_all(&filler).await.unwrap();
    }
    sock.flush().await.unwrap();
    // The store sees the multipart upload begin before we hang up.
    eventually(
        "the upload to reach the store",
        Duration::from_secs(20),
        || async { (env.multipart_uploads().await > 0).then_some(()) },
    )
    .await;
    drop(sock);

    eventually(
        "the multipart upload to be aborted",
        Duration::from_secs(20),
        || async { (env.multipart_uploads().await == 0).then_some(()) },
    )
    .await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM videos")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    assert!(env.object_keys("uploads/").await.is_empty());
    api.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn uploads_are_accepted_while_the_broker_is_down_and_published_once_when_it_returns() {
    let mut broker =
        common::OwnBroker::start(std::env::temp_dir().join(common::unique("vodflow-broker-")))
            .await;
    let brokers = broker.addr();
    let env = TestEnv::new(&[("VODFLOW_KAFKA_BROKERS", &brokers)]).await;
    let api = env.spawn_api().await;
    let token = env.token("bob", WRITER);
    let clip = std::fs::read(make_video(&env.scratch, "clip.mp4", &Spec::default())).unwrap();
    // Prove the path works, so the topic exists before the outage.
    let (s, first) = post(&api, &token, form_with(clip.clone(), "before")).await;
    assert_eq!(s, 202);
    let first_id = first["id"].as_str().unwrap().to_owned();
    eventually("first event published", Duration::from_secs(30), || async {
        published(&env, &first_id).await.then_some(())
    })
    .await;

    broker.stop();
    let mut ids = Vec::new();
    for i in 0..3 {
        let (s, v) = post(
            &api,
            &token,
            form_with(clip.clone(), &format!("during outage {i}")),
        )
        .await;
        assert_eq!(s, 202, "uploads must not depend on the broker: {v}");
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        assert!(!published(&env, id).await);
    }

    broker.restart().await;
    for id in &ids {
        eventually(
            "events published after the broker returned",
            Duration::from_secs(90),
            || async { published(&env, id).await.then_some(()) },
        )
        .await;
    }
    let topic = env.cfg.topic(vodflow_core::kafka::TOPIC_VIDEO_UPLOADED);
    let msgs = common::read_topic(&brokers, &topic, 4, Duration::from_secs(30)).await;
    use rdkafka::Message;
    let mut keys: Vec<String> = msgs
        .iter()
        .map(|m| String::from_utf8(m.key().unwrap().to_vec()).unwrap())
        .collect();
    keys.sort();
    let mut expected = ids.clone();
    expected.push(first_id);
    expected.sort();
    assert_eq!(keys, expected, "every event exactly once");
    assert_eq!(topic_message_count(&brokers, &topic), 4);
    api.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn list_get_and_delete_only_ever_show_the_callers_videos() {
    let env = TestEnv::new(&[]).await;
    let api = env.spawn_api().await;
    let alice = env.token("alice", WRITER);
    let bob = env.token("bob", WRITER);
    let clip = std::fs::read(make_video(&env.scratch, "clip.mp4", &Spec::default())).unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let (s, v) = post(&api, &alice, form_with(clip.clone(), &format!("alice {i}"))).await;
        assert_eq!(s, 202);
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    let (s, bobs) = post(&api, &bob, form_with(clip.clone(), "bob's")).await;
    assert_eq!(s, 202);
    let http = reqwest::Client::new();
    let get = |path: String, token: String| {
        let http = http.clone();
        let url = api.url(&path);
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };

    // Pages of two, newest first, only Alice's.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor
            .as_ref()
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default();
        let (s, page) = get(format!("/v1/videos?limit=2{q}"), alice.clone()).await;
        assert_eq!(s, 200, "{page}");
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    let (s, page) = get("/v1/videos?status=uploaded".into(), bob.clone()).await;
    assert_eq!(s, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["id"], bobs["id"]);
    let (s, page) = get("/v1/videos?status=ready".into(), alice.clone()).await;
    assert_eq!((s, page["items"].as_array().unwrap().len()), (200, 0));

    // Bad parameters are 400 with the reason.
    for bad in [
        "/v1/videos?status=nope",
        "/v1/videos?limit=0",
        "/v1/videos?limit=1000",
        "/v1/videos?cursor=garbage",
        "/v1/videos/not-a-uuid",
    ] {
        let (s, b) = get(bad.into(), alice.clone()).await;
        assert_eq!(s, 400, "{bad}: {b}");
        assert!(!b["detail"].as_str().unwrap().is_empty());
    }

    // Another owner's video is indistinguishable from a missing one.
    let (s, _) = get(format!("/v1/videos/{}", ids[0]), bob.clone()).await;
    assert_eq!(s, 404);
    let r = http
        .delete(api.url(&format!("/v1/videos/{}", ids[0])))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Delete: gone from the API and from the store (its delete workflow runs on a processing
    // worker).
    let _worker = common::spawn_processing_worker(&env);
    let r = http
        .delete(api.url(&format!("/v1/videos/{}", ids[0])))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (s, _) = get(format!("/v1/videos/{}", ids[0]), alice.clone()).await;
    assert_eq!(s, 404);
    assert!(
        env.object_keys(&format!("uploads/{}/", ids[0]))
            .await
            .is_empty()
    );
    assert_eq!(
        env.object_keys(&format!("uploads/{}/", ids[1])).await.len(),
        1
    );

    // Metrics saw the uploads.
    let metrics = reqwest::get(api.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("vodflow_uploads_total{outcome=\"accepted\"} 6"),
        "{metrics}"
    );
    assert!(
        metrics.contains("route=\"uploadVideo\",status=\"202\"} 6"),
        "{metrics}"
    );
    api.stop().await;
    env.cleanup().await;
}

/// Mid-upload database writes (tus progress, leases) wait out an exhausted pool instead of
/// answering 503: ten big and a hundred small concurrent uploads on 2 cores held every connection
/// for over the pool's 5 s acquire timeout.
#[tokio::test]
async fn a_mid_upload_write_waits_for_a_busy_pool_instead_of_failing() {
    let env = TestEnv::new(&[]).await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_millis(300))
        .connect(&format!(
            "postgres://vodflow:vodflow@127.0.0.1:5432/{}",
            env.db_name
        ))
        .await
        .unwrap();
    let select = || async {
        Ok::<i32, vodflow_core::Error>(
            sqlx::query_scalar::<_, i32>("SELECT 1")
                .fetch_one(&pool)
                .await?,
        )
    };

    let held = pool.acquire().await.unwrap();
    assert!(
        matches!(
            select().await,
            Err(vodflow_core::Error::Database(sqlx::Error::PoolTimedOut))
        ),
        "without patience, a held pool times out"
    );
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        drop(held);
    });
    let started = std::time::Instant::now();
    assert_eq!(vodflow_core::uploads::patiently(select).await.unwrap(), 1);
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "it waited for the connection to come back ({:?})",
        started.elapsed()
    );
    release.await.unwrap();
    pool.close().await;
    env.cleanup().await;
}
