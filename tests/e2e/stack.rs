//! The foundation: the broker and the store behave as vodflow needs, with the real client crates,
//! and `/readyz` tells which backing service is down.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::{TestEnv, unique};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message};

const BROKERS: &str = "127.0.0.1:9092";

fn group_consumer(group: &str) -> StreamConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", BROKERS)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .create()
        .expect("consumer")
}

#[tokio::test]
async fn kafka_idempotent_producer_and_consumer_group_with_manual_commit_survive_a_rebalance() {
    let topic = unique("stack-proof-");
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", BROKERS)
        .create()
        .unwrap();
    admin
        .create_topics(
            &[NewTopic::new(&topic, 2, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .expect("create topic");

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", BROKERS)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .unwrap();
    const N: usize = 40;
    for i in 0..N {
        let (key, payload) = (format!("k{i}"), format!("m{i}"));
        producer
            .send(
                FutureRecord::to(&topic).key(&key).payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .expect("delivery acknowledged");
    }

    let group = unique("proof-group-");
    let a = group_consumer(&group);
    a.subscribe(&[&topic]).unwrap();
    // Phase 1: one consumer owns both partitions; it commits each message after handling it.
    let mut committed: HashSet<(i32, i64)> = HashSet::new();
    while committed.len() < N / 2 {
        let m = tokio::time::timeout(Duration::from_secs(30), a.recv())
            .await
            .expect("message within 30s")
            .unwrap();
        assert!(
            committed.insert((m.partition(), m.offset())),
            "delivered twice before any rebalance"
        );
        a.commit_message(&m, CommitMode::Sync).expect("commit");
    }

    // Phase 2: a second member joins; the group rebalances and the rest is shared between them.
    let b = group_consumer(&group);
    b.subscribe(&[&topic]).unwrap();
    let mut after: HashMap<(i32, i64), &str> = HashMap::new();
    let mut b_got_partitions = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while committed.len() + after.len() < N || !b_got_partitions {
        assert!(
            tokio::time::Instant::now() < deadline,
            "rest of the messages not consumed; b assigned: {b_got_partitions}"
        );
        let (who, m) = tokio::select! {
            m = a.recv() => ("a", m),
            m = b.recv() => ("b", m),
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                b_got_partitions |= b.assignment().map(|t| t.count() > 0).unwrap_or(false);
                continue;
            }
        };
        let m = m.expect("recv");
        let key = (m.partition(), m.offset());
        assert!(
            !committed.contains(&key),
            "{key:?} was committed in phase 1 and consumed again by {who}"
        );
        assert!(
            after.insert(key, who).is_none(),
            "{key:?} consumed twice after the rebalance"
        );
        if who == "a" {
            a.commit_message(&m, CommitMode::Sync)
        } else {
            b.commit_message(&m, CommitMode::Sync)
        }
        .expect("commit");
        b_got_partitions |= b.assignment().map(|t| t.count() > 0).unwrap_or(false);
    }
    assert_eq!(committed.len() + after.len(), N);
    assert!(
        b_got_partitions,
        "the second consumer never received a partition: no rebalance"
    );
}

#[tokio::test]
async fn s3_multipart_50mib_ranged_get_presigned_get_and_delete() {
    let env = TestEnv::new(&[]).await;
    let (s3, bucket, key) = (
        &env.s3,
        env.cfg.s3.bucket.clone(),
        "proof/fifty-mib".to_owned(),
    );
    const PART: usize = 8 * 1024 * 1024;
    let data: Vec<u8> = (0..50 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();

    let up = s3
        .create_multipart_upload()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    let upload_id = up.upload_id().unwrap().to_owned();
    // An unfinished upload is listed, and aborting one removes it with its parts.
    let scrap = s3
        .create_multipart_upload()
        .bucket(&bucket)
        .key("proof/scrap")
        .send()
        .await
        .unwrap();
    s3.upload_part()
        .bucket(&bucket)
        .key("proof/scrap")
        .upload_id(scrap.upload_id().unwrap())
        .part_number(1)
        .body(ByteStream::from(vec![1u8; 1024]))
        .send()
        .await
        .unwrap();
    assert_eq!(env.multipart_uploads().await, 2);
    s3.abort_multipart_upload()
        .bucket(&bucket)
        .key("proof/scrap")
        .upload_id(scrap.upload_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(env.multipart_uploads().await, 1);

    let mut parts = Vec::new();
    for (i, chunk) in data.chunks(PART).enumerate() {
        let n = i as i32 + 1;
        let out = s3
            .upload_part()
            .bucket(&bucket)
            .key(&key)
            .upload_id(&upload_id)
            .part_number(n)
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .e_tag(out.e_tag().unwrap())
                .part_number(n)
                .build(),
        );
    }
    assert_eq!(parts.len(), 7);
    s3.complete_multipart_upload()
        .bucket(&bucket)
        .key(&key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(data.len() as i64));

    // Ranged GET across a part boundary.
    let (from, to) = (PART - 100, PART + 99);
    let got = s3
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .range(format!("bytes={from}-{to}"))
        .send()
        .await
        .unwrap();
    let bytes = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(&bytes[..], &data[from..=to]);

    // A presigned GET works with a plain HTTP client and no credentials.
    let presigned = s3
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(60)).unwrap(),
        )
        .await
        .unwrap();
    let resp = reqwest::get(presigned.uri()).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.bytes().await.unwrap();
    assert!(
        body.len() == data.len() && body[..] == data[..],
        "presigned body differs"
    );

    s3.delete_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    let gone = s3
        .head_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .unwrap_err();
    assert!(
        gone.as_service_error().is_some_and(|e| e.is_not_found()),
        "object still there after delete"
    );
    env.cleanup().await;
}

async fn readiness(env: &TestEnv, overrides: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let mut cfg = env.cfg.clone();
    for (k, v) in overrides {
        match *k {
            "postgres" => cfg.database_url = (*v).to_owned(),
            "temporal" => cfg.temporal_url = (*v).to_owned(),
            "kafka" => cfg.kafka_brokers = (*v).to_owned(),
            "s3" => cfg.s3.endpoint = Some((*v).to_owned()),
            _ => unreachable!(),
        }
    }
    // A pool that cannot connect must not prevent the api from starting: it reports instead.
    let api = common::RunningApi::start(cfg).await;
    let resp = reqwest::get(api.url("/readyz")).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap();
    api.stop().await;
    (status, body)
}

#[tokio::test]
async fn readyz_is_200_with_everything_up_and_503_naming_the_service_that_is_down() {
    let env = TestEnv::new(&[]).await;
    let (status, body) = readiness(&env, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");

    let dead = format!("127.0.0.1:{}", common::free_port());
    for (service, url) in [
        ("temporal", format!("http://{dead}")),
        ("kafka", dead.clone()),
        ("s3", format!("http://{dead}")),
        (
            "postgres",
            format!("postgres://vodflow:vodflow@{dead}/vodflow"),
        ),
    ] {
        let (status, body) = readiness(&env, &[(service, &url)]).await;
        assert_eq!(status, 503, "{service} down: {body}");
        assert_eq!(body["down"], serde_json::json!([service]), "{body}");
        assert_ne!(body["checks"][service], "ok");
    }
    env.cleanup().await;
}

#[tokio::test]
async fn healthz_docs_spec_and_metrics_are_open() {
    let env = TestEnv::new(&[]).await;
    let api = env.spawn_api().await;
    assert_eq!(
        reqwest::get(api.url("/healthz"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
    let spec: serde_json::Value = reqwest::get(api.url("/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        spec["paths"]["/v1/videos"]["post"].is_object(),
        "upload operation documented"
    );
    assert_eq!(
        spec["components"]["securitySchemes"]["BearerAuth"]["scheme"],
        "bearer"
    );
    let docs = reqwest::get(api.url("/docs/")).await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
    let metrics = reqwest::get(api.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "vodflow_http_requests_total{method=\"GET\",route=\"healthz\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    let missing = reqwest::get(api.url("/nope")).await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
    api.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let env = TestEnv::new(&[]).await;
    vodflow_core::repo::migrate(&env.pool)
        .await
        .expect("second run is a no-op");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(n, std::fs::read_dir("migrations").unwrap().count() as i64);
    env.cleanup().await;
}

/// Maintenance, not a check: removes the buckets earlier test runs left in the local store
/// (`scripts/purge-test-buckets`).
#[tokio::test]
#[ignore = "maintenance: scripts/purge-test-buckets"]
async fn purge_test_buckets() {
    let env = TestEnv::new(&[]).await;
    let buckets = env.s3.list_buckets().send().await.unwrap();
    for b in buckets.buckets() {
        if let Some(name) = b.name()
            && name.starts_with("t-")
        {
            common::remove_bucket(&env.s3, name).await;
        }
    }
    env.cleanup().await;
}
