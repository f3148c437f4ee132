use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Text logs for people at a terminal, JSON for log pipelines (`VODFLOW_LOG_FORMAT=json`).
pub(crate) fn init(format: &str, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    if format == "json" {
        registry
            .with(fmt::layer().json().with_current_span(true))
            .init();
    } else {
        registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .init();
    }
}
