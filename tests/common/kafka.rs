//! The broker as a test sees it: a private broker to stop and restart, and reads of topics and
//! committed offsets.

use std::path::PathBuf;
use std::time::Duration;

use super::env::{cache_dir, eventually, unique};
use super::processes::free_port;

/// A private Kafka-protocol broker (the stack's tansu binary) for tests that stop and restart one.
pub struct OwnBroker {
    pub port: u16,
    /// What it tells clients to connect to, when not itself (a proxy in front of it).
    advertised: Option<String>,
    dir: PathBuf,
    child: Option<std::process::Child>,
}

impl OwnBroker {
    pub async fn start(dir: PathBuf) -> Self {
        Self::start_behind(dir, free_port(), None).await
    }

    /// A broker on `port` that sends its clients to `advertised` (`host:port`), so that every
    /// connection a client makes, not only its first, goes through whatever listens there.
    pub async fn start_behind(dir: PathBuf, port: u16, advertised: Option<String>) -> Self {
        std::fs::create_dir_all(&dir).expect("broker dir");
        let mut b = Self {
            port,
            advertised,
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
        let advertised = match &self.advertised {
            Some(a) => format!("tcp://{a}"),
            None => url.clone(),
        };
        let log = std::fs::File::create(self.dir.join("tansu.log")).expect("log");
        let child = std::process::Command::new(bin)
            .current_dir(&self.dir)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised,
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

/// The value of a message's header `key`, as text; `None` when it has none.
pub fn message_header(m: &rdkafka::message::OwnedMessage, key: &str) -> Option<String> {
    use rdkafka::Message;
    use rdkafka::message::Headers;
    m.headers()?
        .iter()
        .find(|h| h.key == key)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
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
