//! The command line: the platform's roles ([`roles`]), the client verbs ([`verbs`]) and the tools
//! beside them ([`tools`]).

/// `println!` for a command's output. Rust ignores SIGPIPE, so `println!` panicked when the
/// reader went away (`vodflow floor-command … | head`); the command ends quietly instead, as
/// other Unix tools do.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        match writeln!(std::io::stdout().lock(), $($arg)*) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
            Err(e) => {
                eprintln!("vodflow: cannot write the output: {e}");
                std::process::exit(1)
            }
        }
    }};
}

mod roles;
mod tools;
mod verbs;

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
    #[command(flatten)]
    Role(roles::Role),
    #[command(flatten)]
    Verb(verbs::Verb),
    #[command(flatten)]
    Tool(tools::Tool),
}

pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg = Config::from_env().context("reading configuration")?;
    crate::logging::init(&cfg.log_format, &cfg.log_filter);
    match cli.command {
        Command::Role(role) => roles::run(role, cfg).await,
        Command::Verb(verb) => verbs::run(verb, &cfg).await,
        Command::Tool(tool) => tools::run(tool),
    }
}
