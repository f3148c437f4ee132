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
    pub outbox_unpublished: prometheus::IntGauge,
    pub videos: prometheus::IntGaugeVec,
    pub videos_unsettled_oldest_seconds: prometheus::Gauge,
    pub playback_bytes: IntCounterVec,
    pub playback_responses: IntCounterVec,
    pub upload_pending_read_bytes: IntCounter,
    pub connections_open: prometheus::IntGauge,
    pub connections_refused: IntCounter,
    pub images_made: HistogramVec,
    /// The worker's and bridge's metrics when they run in this process (`vodflow dev`).
    extra: std::sync::Arc<std::sync::OnceLock<Registry>>,
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
        let outbox_unpublished = prometheus::IntGauge::new(
            "vodflow_outbox_unpublished",
            "Events committed with their upload but not yet published to Kafka",
        )
        .expect("static metric definition");
        let videos = prometheus::IntGaugeVec::new(
            Opts::new("vodflow_videos", "Videos by status"),
            &["status"],
        )
        .expect("static metric definition");
        let videos_unsettled_oldest_seconds = prometheus::Gauge::new(
            "vodflow_videos_unsettled_oldest_seconds",
            "How long the oldest video still uploaded or processing has been so (0 when none)",
        )
        .expect("static metric definition");
        let playback_bytes = IntCounterVec::new(
            Opts::new(
                "vodflow_playback_bytes_total",
                "Bytes the playback origin sent, by object kind",
            ),
            &["kind"],
        )
        .expect("static metric definition");
        let playback_responses = IntCounterVec::new(
            Opts::new(
                "vodflow_playback_responses_total",
                "Playback origin responses: full, partial (Range), not_modified (304), other",
            ),
            &["result"],
        )
        .expect("static metric definition");
        let upload_pending_read_bytes = IntCounter::new(
            "vodflow_upload_pending_read_bytes_total",
            "Bytes of resumable uploads' pending segments read back from the store (each once, when they fill a part)",
        )
        .expect("static metric definition");
        let connections_open = prometheus::IntGauge::new(
            "vodflow_http_connections_open",
            "HTTP connections the api has open",
        )
        .expect("static metric definition");
        let connections_refused = IntCounter::new(
            "vodflow_http_connections_refused_total",
            "Connections closed at once because their client already had VODFLOW_MAX_CONNECTIONS_PER_CLIENT open",
        )
        .expect("static metric definition");
        let images_made = HistogramVec::new(
            HistogramOpts::new(
                "vodflow_images_made_seconds",
                "On-demand thumbnails and animated previews made (not read from the store), by kind: time from the first store miss to the stored image",
            )
            .buckets(vec![0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0]),
            &["kind"],
        )
        .expect("static metric definition");
        for kind in ["thumbnail", "animated"] {
            images_made.with_label_values(&[kind]);
        }
        for kind in ["playlist", "segment", "init", "poster", "image", "text"] {
            playback_bytes.with_label_values(&[kind]);
        }
        for result in ["full", "partial", "not_modified", "other"] {
            playback_responses.with_label_values(&[result]);
        }
        for status in [
            "uploaded",
            "processing",
            "playable",
            "ready",
            "failed",
            "cancelled",
            "deleted",
        ] {
            videos.with_label_values(&[status]);
        }
        for outcome in [
            "accepted",
            "too_large",
            "unsupported",
            "bad_request",
            "idle_timeout",
            "error",
            "terminated",
            "imported",
        ] {
            uploads.with_label_values(&[outcome]);
        }
        for c in [
            Box::new(outbox_unpublished.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(videos.clone()),
            Box::new(videos_unsettled_oldest_seconds.clone()),
            Box::new(playback_bytes.clone()),
            Box::new(playback_responses.clone()),
            Box::new(http_requests.clone()),
            Box::new(http_duration.clone()),
            Box::new(upload_bytes.clone()),
            Box::new(upload_duration.clone()),
            Box::new(uploads.clone()),
            Box::new(outbox_published.clone()),
            Box::new(outbox_lag_seconds.clone()),
            Box::new(upload_pending_read_bytes.clone()),
            Box::new(connections_open.clone()),
            Box::new(connections_refused.clone()),
            Box::new(images_made.clone()),
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
            outbox_unpublished,
            videos,
            videos_unsettled_oldest_seconds,
            playback_bytes,
            playback_responses,
            upload_pending_read_bytes,
            connections_open,
            connections_refused,
            images_made,
            extra: Default::default(),
        }
    }

    /// Serves `registry` (the worker's and bridge's, in an all-in-one process) on this `/metrics`
    /// too. Only the first one counts.
    pub fn also_render(&self, registry: Registry) {
        let _ = self.extra.set(registry);
    }

    pub fn render(&self) -> String {
        let mut families = self.registry.gather();
        if let Some(extra) = self.extra.get() {
            families.extend(extra.gather());
        }
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&families, &mut buf)
            .expect("text encoding cannot fail");
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
