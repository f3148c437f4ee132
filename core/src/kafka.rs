//! vodflow's Kafka: the topics and how every client is configured. The api, the bridge and the
//! workers all build their producers, consumers and admin clients here, so a broker setting
//! (security, timeouts) is changed in one place.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::FromClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;
use rdkafka::types::RDKafkaErrorCode;

use crate::Config;

/// Accepted uploads, one event per video (key = video id), published by the api's outbox relay.
pub const TOPIC_VIDEO_UPLOADED: &str = "video_uploaded";
/// `video_uploaded` events the bridge could not parse, with the reason in a header.
pub const TOPIC_VIDEO_UPLOADED_DLQ: &str = "video_uploaded.dlq";
/// Ready and failed videos, for downstream systems.
pub const TOPIC_VIDEO_PROCESSED: &str = "video_processed";
/// Videos whose first seconds can be watched while the rest is encoded (one per run).
pub const TOPIC_VIDEO_PLAYABLE: &str = "video_playable";
/// What viewers see of a video changed (its chapters): `video_updated`.
pub const TOPIC_VIDEO_UPDATED: &str = "video_updated";
/// The bridge's consumer group.
pub const BRIDGE_CONSUMER_GROUP: &str = "vodflow-bridge";
/// The consumer group remembering how far `vodflow dlq replay` got.
pub const DLQ_REPLAY_GROUP: &str = "vodflow-dlq-replay";

/// Header on DLQ messages saying why the event was refused.
pub const DLQ_REASON_HEADER: &str = "vodflow-dlq-reason";
/// Header on DLQ messages naming where the event came from (`topic/partition/offset`).
pub const DLQ_SOURCE_HEADER: &str = "vodflow-dlq-source";

/// librdkafka properties common to every vodflow client.
fn base(cfg: &Config) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.kafka_brokers)
        .set("client.id", "vodflow")
        // tansu and small clusters: fail fast rather than hang while the broker is away.
        .set("socket.timeout.ms", "10000");
    c
}

/// The producer: every event acknowledged by all in-sync replicas. With
/// `VODFLOW_KAFKA_IDEMPOTENCE` a retried send is never written twice; without it a retry may
/// write an event again, which consumers already tolerate (delivery is at-least-once, with the
/// event id as key).
pub fn producer(cfg: &Config) -> Result<FutureProducer, KafkaError> {
    base(cfg)
        .set(
            "enable.idempotence",
            if cfg.kafka_idempotence {
                "true"
            } else {
                "false"
            },
        )
        .set("acks", "all")
        .set("message.timeout.ms", "15000")
        .create()
}

/// A consumer in `group` (prefixed like the topics) that commits only what its owner commits and
/// starts a new group at the oldest event.
pub fn consumer<C: FromClientConfig>(cfg: &Config, group: &str) -> Result<C, KafkaError> {
    base(cfg)
        .set("group.id", cfg.topic(group))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        // Notice topics created after the subscription within seconds, not minutes.
        .set("topic.metadata.refresh.interval.ms", "10000")
        // An upload's event is the start of its processing: a broker that does not answer a
        // waiting fetch as soon as a record lands (tansu) held it for librdkafka's default 500 ms.
        // An idle consumer fetches ten times a second instead of twice: nothing on loopback or a
        // real cluster.
        .set("fetch.wait.max.ms", "100")
        .create()
}

/// Creates vodflow's topics if missing (existing ones are left as they are).
pub async fn ensure_topics(cfg: &Config) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = base(cfg).create()?;
    let names = [
        (cfg.topic(TOPIC_VIDEO_UPLOADED), 3),
        (cfg.topic(TOPIC_VIDEO_UPLOADED_DLQ), 1),
        (cfg.topic(TOPIC_VIDEO_PROCESSED), 3),
        (cfg.topic(TOPIC_VIDEO_PLAYABLE), 3),
        (cfg.topic(TOPIC_VIDEO_UPDATED), 3),
    ];
    let topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|(n, p)| NewTopic::new(n, *p, TopicReplication::Fixed(1)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for r in admin.create_topics(&topics, &opts).await? {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                tracing::warn!(%topic, "topic creation failed");
                return Err(KafkaError::AdminOp(code));
            }
        }
    }
    Ok(())
}
