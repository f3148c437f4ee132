//! The platform's processes: each role alone (api, bridge, worker) or all in one (`dev`), and the
//! migrations they need.

use anyhow::Context;
use clap::Subcommand;
use vodflow_core::Config;

#[derive(Subcommand, Debug)]
pub(super) enum Role {
    /// Serve the HTTP API (uploads, status, webhooks, playback at /play, the web page at /, docs at /docs, metrics) and run the outbox relay.
    Api,
    /// Run api, bridge and worker in one process: the whole platform for one machine.
    Dev {
        #[command(flatten)]
        worker: WorkerArgs,
    },
    /// Consume `video_uploaded` and start one Temporal workflow per video (idempotent), DLQ for garbage.
    Bridge,
    /// Run Temporal workers: the processing workflow and light activities, and/or the encodes.
    Worker {
        #[command(flatten)]
        worker: WorkerArgs,
    },
    /// Apply the database migrations (idempotent) and exit.
    Migrate,
}

#[derive(clap::Args, Debug)]
pub(super) struct WorkerArgs {
    /// Task queues to serve: `processing` (workflows + light activities), `transcode` (encodes), or both.
    #[arg(long, value_delimiter = ',', default_value = "processing,transcode")]
    queues: Vec<String>,
    /// Parallel encode activities on this worker (default: VODFLOW_MAX_CONCURRENT_TRANSCODES, 0 = cores).
    #[arg(long)]
    max_concurrent_transcodes: Option<usize>,
}

impl WorkerArgs {
    fn roles(&self) -> anyhow::Result<vodflow_activities::worker::Roles> {
        let mut roles = vodflow_activities::worker::Roles {
            processing: false,
            transcode: false,
        };
        for q in &self.queues {
            match q.as_str() {
                "processing" => roles.processing = true,
                "transcode" => roles.transcode = true,
                other => anyhow::bail!("unknown queue {other:?}: expected processing or transcode"),
            }
        }
        Ok(roles)
    }
}

pub(super) async fn run(role: Role, cfg: Config) -> anyhow::Result<()> {
    match role {
        Role::Api => {
            cfg.check_secrets(Some(&cfg.api_listen))?;
            let state = vodflow_api::state(cfg).await.context("starting the api")?;
            vodflow_core::repo::migrate(&state.pool)
                .await
                .context("migrating the database")?;
            vodflow_api::serve(state, shutdown_signal()).await?;
        }
        Role::Bridge => {
            cfg.check_secrets(None)?;
            let client = vodflow_core::temporal::connect(&cfg, "bridge")
                .await
                .context("connecting to Temporal")?;
            let registry = prometheus::Registry::new();
            tokio::spawn(serve_metrics(cfg.metrics_listen.clone(), registry.clone()));
            vodflow_bridge::run_with(&cfg, &client, &registry, shutdown_signal()).await?;
        }
        Role::Worker { worker } => {
            cfg.check_secrets(None)?;
            let roles = worker.roles()?;
            let mut cfg = cfg;
            if let Some(n) = worker.max_concurrent_transcodes {
                cfg.max_concurrent_transcodes = n.max(1);
            }
            let registry = prometheus::Registry::new();
            tokio::spawn(serve_metrics(cfg.metrics_listen.clone(), registry.clone()));
            vodflow_activities::worker::run_with(cfg, roles, &registry, shutdown_signal()).await?;
        }
        Role::Dev { worker } => {
            cfg.check_secrets(Some(&cfg.api_listen))?;
            let roles = worker.roles()?;
            let mut cfg = cfg;
            if let Some(n) = worker.max_concurrent_transcodes {
                cfg.max_concurrent_transcodes = n.max(1);
            }
            let pool = vodflow_core::repo::connect(&cfg)
                .await
                .context("connecting to Postgres")?;
            vodflow_core::repo::migrate(&pool)
                .await
                .context("migrating the database")?;
            pool.close().await;
            let listener = tokio::net::TcpListener::bind(&cfg.api_listen)
                .await
                .with_context(|| format!("listening on {}", cfg.api_listen))?;
            let stop = tokio_util::sync::CancellationToken::new();
            let signal_stop = stop.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                signal_stop.cancel();
            });
            vodflow::platform::all_roles(cfg, listener, roles, stop).await?;
        }
        Role::Migrate => {
            let pool = vodflow_core::repo::connect(&cfg)
                .await
                .context("connecting to Postgres")?;
            vodflow_core::repo::migrate(&pool).await?;
            println!("migrations applied to {}", redact(&cfg.database_url));
        }
    }
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

async fn serve_metrics(listen: String, registry: prometheus::Registry) {
    if let Err(e) = crate::metrics_server::serve(&listen, registry).await {
        tracing::error!(error = %e, "metrics endpoint not served");
    }
}
