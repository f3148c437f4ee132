//! The api's Kafka producer: idempotent, so a retried send never writes an event twice.

use rdkafka::ClientConfig;
use rdkafka::producer::FutureProducer;
use vodflow_core::Config;

pub fn producer(cfg: &Config) -> Result<FutureProducer, rdkafka::error::KafkaError> {
    let mut c = ClientConfig::new();
    for (k, v) in cfg.kafka_properties() {
        c.set(k, v);
    }
    c.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "15000")
        .create()
}

/// Creates vodflow's topics if missing (existing ones are left as they are).
pub async fn ensure_topics(cfg: &Config) -> Result<(), rdkafka::error::KafkaError> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::types::RDKafkaErrorCode;
    use vodflow_core::names;

    let mut c = ClientConfig::new();
    for (k, v) in cfg.kafka_properties() {
        c.set(k, v);
    }
    let admin: AdminClient<DefaultClientContext> = c.create()?;
    let names = [
        (cfg.topic(names::TOPIC_VIDEO_UPLOADED), 3),
        (cfg.topic(names::TOPIC_VIDEO_UPLOADED_DLQ), 1),
        (cfg.topic(names::TOPIC_VIDEO_PROCESSED), 3),
    ];
    let topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|(n, p)| NewTopic::new(n, *p, TopicReplication::Fixed(1)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(std::time::Duration::from_secs(10)));
    for r in admin.create_topics(&topics, &opts).await? {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(rdkafka::error::KafkaError::AdminOp(code))
                    .inspect_err(|_| tracing::warn!(%topic, "topic creation failed"));
            }
        }
    }
    Ok(())
}
