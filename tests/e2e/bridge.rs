//! The bridge from Kafka to Temporal: a duplicated event starts one run, and a message that is
//! not an event goes to the dead-letter topic while the bridge goes on.

use std::time::Duration;

use crate::common;
use common::media::{Spec, make_video};
use common::{wait_for_status, with_platform};

const READY_WITHIN: Duration = Duration::from_secs(240);

async fn env_with(extra: &[(&str, &str)]) -> common::TestEnv {
    common::processing_env(extra).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicate_events_start_one_run_and_garbage_goes_to_the_dlq() {
    let owned = env_with(&[("VODFLOW_WEBHOOK_ALLOW_PRIVATE", "true")]).await;
    let env = &owned;
    let token = env.token("alice", &["videos:read", "videos:write"]);
    let clip = make_video(&env.scratch, "clip.mp4", &Spec::default());
    with_platform(env, |base| async move {
        use rdkafka::producer::{FutureProducer, FutureRecord};
        let producer: FutureProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &env.cfg.kafka_brokers)
            .create()
            .unwrap();
        let topic = env.cfg.topic(vodflow_core::kafka::TOPIC_VIDEO_UPLOADED);
        // Garbage first: the bridge must dead-letter it and keep going.
        producer
            .send(
                FutureRecord::to(&topic).key("junk").payload("{not json"),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        let (hook, mut hooks) = common::callback_receiver().await;
        let form = reqwest::multipart::Form::new()
            .text("title", "dup")
            .text("callback_url", hook.clone())
            .part(
                "file",
                reqwest::multipart::Part::bytes(std::fs::read(&clip).unwrap()).file_name("v.mp4"),
            );
        let resp = reqwest::Client::new()
            .post(format!("{base}/v1/videos"))
            .bearer_auth(&token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
        let created = resp.json::<serde_json::Value>().await.unwrap();
        let id = created["id"].as_str().unwrap().to_owned();
        // The callback's own secret, shown once, and never the deployment's.
        let secret = created["callback_secret"]
            .as_str()
            .expect("callback_secret")
            .to_owned();
        assert!(secret.starts_with("cbsec_") && secret != env.cfg.webhook_secret);
        let again = common::video_json(&base, &token, &id).await;
        assert!(
            again.get("callback_secret").is_none(),
            "shown only at upload"
        );
        let row = wait_for_status(env, &id, &["ready", "failed"], READY_WITHIN).await;
        assert_eq!(row.status, "ready");
        // The owner's callback: a POST signed with HMAC-SHA256 over timestamp + body.
        let (head, body) = tokio::time::timeout(Duration::from_secs(60), hooks.recv())
            .await
            .expect("callback within 60s")
            .unwrap();
        assert!(head.starts_with("POST /hooks/vodflow HTTP/1.1"), "{head}");
        common::assert_signed(&head, &body, &secret);
        let event: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (event["status"].as_str(), event["video_id"].as_str()),
            (Some("ready"), Some(id.as_str()))
        );
        // The same event twice more, after the first run finished.
        let payload: serde_json::Value =
            sqlx::query_scalar("SELECT payload FROM outbox WHERE key = $1")
                .bind(&id)
                .fetch_one(&env.pool)
                .await
                .unwrap();
        for _ in 0..2 {
            producer
                .send(
                    FutureRecord::to(&topic)
                        .key(&id)
                        .payload(&payload.to_string()),
                    Duration::from_secs(5),
                )
                .await
                .unwrap();
        }
        // Once the bridge has committed past them, there is still exactly one run.
        let group = env.cfg.topic(vodflow_core::kafka::BRIDGE_CONSUMER_GROUP);
        common::eventually(
            "the bridge to consume every event",
            Duration::from_secs(60),
            || async {
                (common::committed_total(&env.cfg.kafka_brokers, &group, &topic) == 4).then_some(())
            },
        )
        .await;
        let client = vodflow_core::temporal::connect(&env.cfg, "test")
            .await
            .unwrap();
        let runs = client
            .count_workflows(format!("WorkflowId = 'video-{id}'"), Default::default())
            .await
            .unwrap();
        assert_eq!(runs.count(), 1, "duplicates must not start runs");

        let dlq = env.cfg.topic(vodflow_core::kafka::TOPIC_VIDEO_UPLOADED_DLQ);
        let msgs =
            common::read_topic(&env.cfg.kafka_brokers, &dlq, 1, Duration::from_secs(30)).await;
        assert_eq!(msgs.len(), 1);
        use rdkafka::Message;
        let reason = common::message_header(&msgs[0], vodflow_core::kafka::DLQ_REASON_HEADER)
            .unwrap_or_default();
        assert!(reason.contains("not a video_uploaded event"), "{reason}");
        assert_eq!(msgs[0].payload(), Some(&b"{not json"[..]));

        // `vodflow dlq replay`: an event dead-lettered by a cause since fixed goes back to the
        // bridge; garbage stays; a second replay finds nothing new.
        producer
            .send(
                FutureRecord::to(&dlq)
                    .key(&id)
                    .payload(&payload.to_string()),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        let before = common::topic_message_count(&env.cfg.kafka_brokers, &topic);
        let replayed = vodflow_bridge::dlq::replay(&env.cfg).await.unwrap();
        assert_eq!(replayed.republished, 1, "{replayed:?}");
        assert_eq!(replayed.skipped.len(), 1, "{replayed:?}");
        assert!(replayed.skipped[0].1.contains("not a video_uploaded event"));
        assert_eq!(
            common::topic_message_count(&env.cfg.kafka_brokers, &topic),
            before + 1
        );
        let again = vodflow_bridge::dlq::replay(&env.cfg).await.unwrap();
        assert_eq!((again.republished, again.skipped.len()), (0, 0));
    })
    .await;
    owned.cleanup().await;
}
