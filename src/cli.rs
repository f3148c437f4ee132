use anyhow::Context;
use clap::{Parser, Subcommand};
use vodflow_core::Config;

/// vodflow: self-hostable video upload and transcoding, orchestrated by Temporal.
///
/// Every setting comes from VODFLOW_* environment variables whose defaults point at the local stack
/// (`make run` starts it); `vodflow config` lists them.
#[derive(Parser, Debug)]
#[command(name = "vodflow", version, about, long_about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the HTTP API (uploads, status, docs at /docs, metrics) and run the outbox relay.
    Api,
    /// Run api, bridge and worker in one process: the whole platform for one machine.
    Dev,
    /// Apply the database migrations (idempotent) and exit.
    Migrate,
    /// Print every configuration variable with its default and current value.
    Config,
}

pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg = Config::from_env().context("reading configuration")?;
    crate::logging::init(&cfg.log_format, &cfg.log_filter);
    match cli.command {
        Command::Api | Command::Dev => {
            let state = vodflow_api::state(cfg).await.context("starting the api")?;
            vodflow_core::repo::migrate(&state.pool)
                .await
                .context("migrating the database")?;
            vodflow_api::serve(state, shutdown_signal()).await?;
        }
        Command::Migrate => {
            let pool = vodflow_core::repo::connect(&cfg)
                .await
                .context("connecting to Postgres")?;
            vodflow_core::repo::migrate(&pool).await?;
            println!("migrations applied to {}", redact(&cfg.database_url));
        }
        Command::Config => {
            for v in vodflow_core::config::VARS {
                let current = std::env::var(v.name).ok();
                println!(
                    "{:<36} {}\n    default: {:?}{}",
                    v.name,
                    v.help,
                    v.default,
                    current
                        .map(|c| format!("\n    current: {c:?}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM, so every role drains before exiting.
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
