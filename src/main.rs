//! The `vodflow` binary: every role of the platform (api, bridge, worker, or all in one with `dev`)
//! and the client verbs an integrator uses from a terminal.

mod cli;
mod client;
mod logging;
mod tus_upload;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = cli::Cli::parse();
    cli::run(args).await
}
