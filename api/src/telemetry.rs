//! Metric names in one place, registered once per process and rendered on `/metrics`.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
    TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub upload_bytes: IntCounter,
    pub upload_duration: Histogram,
    pub uploads: IntCounterVec,
    pub outbox_published: IntCounter,
    pub outbox_lag_seconds: prometheus::Gauge,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "vodflow_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["method", "route", "status"],
        )
        .expect("static metric definition");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "vodflow_http_request_duration_seconds",
                "HTTP request latency by route",
            ),
            &["method", "route"],
        )
        .expect("static metric definition");
        let upload_bytes =
            IntCounter::new("vodflow_upload_bytes_total", "Bytes of accepted uploads")
                .expect("static metric definition");
        let upload_duration = Histogram::with_opts(
            HistogramOpts::new(
                "vodflow_upload_duration_seconds",
                "Duration of upload requests, body included",
            )
            .buckets(vec![
                0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
            ]),
        )
        .expect("static metric definition");
        let uploads = IntCounterVec::new(
            Opts::new("vodflow_uploads_total", "Upload attempts by outcome"),
            &["outcome"],
        )
        .expect("static metric definition");
        let outbox_published = IntCounter::new(
            "vodflow_outbox_published_total",
            "Outbox events published to Kafka",
        )
        .expect("static metric definition");
        let outbox_lag_seconds = prometheus::Gauge::new(
            "vodflow_outbox_lag_seconds",
            "Age of the oldest event not yet published to Kafka (0 when none)",
        )
        .expect("static metric definition");
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(upload_bytes.clone()),
            Box::new(upload_duration.clone()),
            Box::new(uploads.clone()),
            Box::new(outbox_published.clone()),
            Box::new(outbox_lag_seconds.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Self {
            registry,
            http_requests,
            http_duration,
            upload_bytes,
            upload_duration,
            uploads,
            outbox_published,
            outbox_lag_seconds,
        }
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding cannot fail");
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
