//! Every role of vodflow in one process, as `vodflow dev` runs it and as the end-to-end tests do:
//! the api (with its outbox relay) on a bound listener, the bridge, and the workers of `roles`,
//! until `stop` is cancelled. The bridge's and the workers' metrics are on the api's `/metrics`.

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use vodflow_activities::worker::Roles;
use vodflow_core::Config;

/// Runs every role until `stop` is cancelled (or one of them fails, which stops the others). The
/// workers are not `Send` (Temporal drives workflows on a local set): await this on the main task.
pub async fn all_roles(
    cfg: Config,
    listener: tokio::net::TcpListener,
    roles: Roles,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    // Whatever ends this function ends every role it started.
    let _stop_all = stop.clone().drop_guard();
    let state = vodflow_api::state(cfg.clone())
        .await
        .context("starting the api")?;
    let registry = prometheus::Registry::new();
    state.metrics.also_render(registry.clone());
    let api = tokio::spawn(vodflow_api::serve_on(
        state,
        listener,
        stop.clone().cancelled_owned(),
    ));
    let client = vodflow_core::temporal::connect(&cfg, "bridge")
        .await
        .context("connecting to Temporal")?;
    let bridge = {
        let (cfg, registry, stop) = (cfg.clone(), registry.clone(), stop.clone());
        tokio::spawn(async move {
            vodflow_bridge::run_with(&cfg, &client, &registry, stop.cancelled_owned()).await
        })
    };
    let workers =
        vodflow_activities::worker::run_with(cfg, roles, &registry, stop.clone().cancelled_owned())
            .await;
    stop.cancel();
    api.await.context("api task")?.context("api")?;
    bridge.await.context("bridge task")?.context("bridge")?;
    workers.context("workers")?;
    Ok(())
}
