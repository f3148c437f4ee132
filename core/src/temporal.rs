//! Connecting to Temporal the same way from the api, the bridge and the worker.

use std::time::Duration;

use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions};

use crate::{Config, Error, Result};

pub async fn connect(cfg: &Config, identity: &str) -> Result<Client> {
    let url = url::Url::parse(&cfg.temporal_url).map_err(|e| Error::Config {
        name: "VODFLOW_TEMPORAL_URL",
        reason: format!("{}: {e}", cfg.temporal_url),
    })?;
    let opts = ConnectionOptions::new(url)
        .identity(identity.to_owned())
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
