//! Connecting to Temporal the same way from the api, the bridge and the worker.

use std::time::Duration;

use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions};

use crate::{Config, Error, Result};

/// How this process shows in the Temporal UI and in `progress.chunks[].worker`:
/// `VODFLOW_WORKER_IDENTITY` if set, else `role@hostname:pid`, so an operator can tell which machine
/// ran (or lost) a task.
pub fn identity(cfg: &Config, role: &str) -> String {
    if let Some(id) = cfg.worker_identity.as_deref() {
        return id.to_owned();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{role}@{host}:{}", std::process::id())
}

/// Connects as [`identity`]`(cfg, role)`.
pub async fn connect(cfg: &Config, role: &str) -> Result<Client> {
    let identity = identity(cfg, role);
    let url = url::Url::parse(&cfg.temporal_url).map_err(|e| Error::Config {
        name: "VODFLOW_TEMPORAL_URL",
        reason: format!("{}: {e}", cfg.temporal_url),
    })?;
    let opts = ConnectionOptions::new(url)
        .identity(identity)
        .connect_timeout(Duration::from_secs(5))
        .build();
    let connection = Connection::connect(opts)
        .await
        .map_err(|e| Error::Temporal(e.to_string()))?;
    Client::new(
        connection,
        ClientOptions::new(cfg.temporal_namespace.clone()).build(),
    )
    .map_err(|e| Error::Temporal(e.to_string()))
}
