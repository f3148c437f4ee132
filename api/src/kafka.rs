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
