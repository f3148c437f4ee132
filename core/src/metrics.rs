//! The metrics of the worker and bridge roles (the api has its own, in `vodflow-api`), registered
//! in a registry the process serves on VODFLOW_METRICS_LISTEN. Names follow Prometheus
//! conventions: units in the name, `_total` on counters, label values from small fixed sets.

use prometheus::{
    CounterVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, core::Collector,
};

fn register<C: Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    // A second registration of the same name (two workers in one test process sharing a
    // registry) keeps the first; both then count into it.
    let _ = registry.register(Box::new(c.clone()));
    c
}

#[derive(Clone)]
pub struct WorkerMetrics {
    /// Attempts after the first, by activity.
    pub activity_retries: IntCounterVec,
    /// Attempts that started from a previous attempt's heartbeat: that attempt was lost (its
    /// worker died or missed the heartbeat timeout) or failed after heartbeating.
    pub attempts_lost: IntCounterVec,
    /// Wall seconds spent encoding chunks, by the ladder's top rendition.
    pub encode_seconds: CounterVec,
    /// Seconds of video those encodes produced, by the ladder's top rendition.
    pub encoded_media_seconds: CounterVec,
    pub work_dir_used_bytes: IntGauge,
    pub work_dir_free_bytes: IntGauge,
    /// Processing runs that recorded their end, by status and (for failures) step.
    pub videos_finished: IntCounterVec,
    /// Webhook delivery attempts by outcome.
    pub webhook_deliveries: IntCounterVec,
    /// Notification sends after an earlier send of the same event that was not recorded (its
    /// worker died between the send and the record): the duplicates receivers may see.
    pub notification_resends: IntCounterVec,
    /// Tasks waiting in Temporal's queues (from DescribeTaskQueue).
    pub task_queue_backlog: IntGaugeVec,
}

impl WorkerMetrics {
    /// `counted_activities`: the activities whose attempts are counted (a bounded label set),
    /// whose series exist from the start.
    pub fn new(registry: &Registry, counted_activities: &[&str]) -> Self {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            register(
                registry,
                IntCounterVec::new(Opts::new(name, help), labels).expect("static metric"),
            )
        };
        let m = Self {
            activity_retries: counter(
                "vodflow_activity_retries_total",
                "Activity attempts after the first",
                &["activity"],
            ),
            attempts_lost: counter(
                "vodflow_activity_attempts_lost_total",
                "Activity attempts that resumed from a previous attempt's heartbeat (that attempt was lost or failed)",
                &["activity"],
            ),
            encode_seconds: register(
                registry,
                CounterVec::new(
                    Opts::new(
                        "vodflow_encode_seconds_total",
                        "Wall seconds spent encoding chunks, by the ladder's top rendition",
                    ),
                    &["rung"],
                )
                .expect("static metric"),
            ),
            encoded_media_seconds: register(
                registry,
                CounterVec::new(
                    Opts::new(
                        "vodflow_encoded_media_seconds_total",
                        "Seconds of video produced by chunk encodes, by the ladder's top rendition",
                    ),
                    &["rung"],
                )
                .expect("static metric"),
            ),
            work_dir_used_bytes: register(
                registry,
                IntGauge::new(
                    "vodflow_work_dir_used_bytes",
                    "Bytes of sources cached in the worker's work directory",
                )
                .expect("static metric"),
            ),
            work_dir_free_bytes: register(
                registry,
                IntGauge::new(
                    "vodflow_work_dir_free_bytes",
                    "Free bytes on the work directory's file system",
                )
                .expect("static metric"),
            ),
            videos_finished: counter(
                "vodflow_videos_finished_total",
                "Processing runs that recorded their end, by status and failing step",
                &["status", "step"],
            ),
            webhook_deliveries: counter(
                "vodflow_webhook_deliveries_total",
                "Webhook delivery attempts by outcome",
                &["outcome"],
            ),
            notification_resends: counter(
                "vodflow_notification_resends_total",
                "Notifications sent again because an earlier send of the same event was not recorded (receivers see the same idempotency key)",
                &["channel"],
            ),
            task_queue_backlog: register(
                registry,
                IntGaugeVec::new(
                    Opts::new(
                        "vodflow_task_queue_backlog",
                        "Tasks waiting in a Temporal task queue (approximate, from Temporal)",
                    ),
                    &["queue"],
                )
                .expect("static metric"),
            ),
        };
        // Series exist from the start (at 0), so rates and ratios have data before the first event.
        for a in counted_activities {
            m.activity_retries.with_label_values(&[a]);
            m.attempts_lost.with_label_values(&[a]);
        }
        for o in ["succeeded", "failed", "refused"] {
            m.webhook_deliveries.with_label_values(&[o]);
        }
        for c in ["mail", "callback"] {
            m.notification_resends.with_label_values(&[c]);
        }
        m.videos_finished.with_label_values(&["ready", "done"]);
        m.videos_finished.with_label_values(&["failed", "workflow"]);
        m.videos_finished
            .with_label_values(&["cancelled", "cancelled"]);
        m
    }
}

#[derive(Clone)]
pub struct BridgeMetrics {
    /// `video_uploaded` events by what the bridge did with them.
    pub events: IntCounterVec,
    /// Messages of the topic the bridge's group has not consumed yet, by partition.
    pub consumer_lag: IntGaugeVec,
}

impl BridgeMetrics {
    pub fn new(registry: &Registry) -> Self {
        let m = Self {
            events: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "vodflow_bridge_events_total",
                        "video_uploaded events handled, by result (started, duplicate, invalid, error)",
                    ),
                    &["result"],
                )
                .expect("static metric"),
            ),
            consumer_lag: register(
                registry,
                IntGaugeVec::new(
                    Opts::new(
                        "vodflow_bridge_consumer_lag_messages",
                        "Messages the bridge's consumer group has not consumed yet",
                    ),
                    &["partition"],
                )
                .expect("static metric"),
            ),
        };
        for r in ["started", "duplicate", "invalid", "error"] {
            m.events.with_label_values(&[r]);
        }
        m
    }
}

/// The registry's metrics in the Prometheus text format.
pub fn render(registry: &Registry) -> String {
    use prometheus::Encoder;
    let mut buf = Vec::new();
    let _ = prometheus::TextEncoder::new().encode(&registry.gather(), &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}
