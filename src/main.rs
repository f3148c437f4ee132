//! The `vodflow` binary: every role of the platform (api, bridge, worker, or all in one with `dev`)
//! and the client verbs an integrator uses from a terminal.

mod allocator;
mod cli;
mod client;
mod logging;
mod metrics_server;
mod tus_upload;

use clap::Parser;

/// glibc's malloc keeps the 8 MiB upload parts freed on one thread in that thread's arena, so the
/// api's RSS crept up with the length of an upload (82 MiB at 100 MiB, 105 MiB at 2 GiB);
/// mimalloc returns them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    allocator::apply_options();
    let args = cli::Cli::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(cli::run(args))
}
