//! vodflow's Kafka topics, created idempotently by whichever process needs them first.

use rdkafka::ClientConfig;
use vodflow_core::Config;

/// Creates vodflow's topics if missing (existing ones are left as they are).
pub async fn ensure(cfg: &Config) -> Result<(), rdkafka::error::KafkaError> {
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
