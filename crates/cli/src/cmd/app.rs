//! `decloud app ...`: commands for app developers.

use clap::{Args, Subcommand};

/// Arguments of `decloud app`.
#[derive(Args)]
pub struct AppArgs {
    #[command(subcommand)]
    command: AppCommand,
}

#[derive(Subcommand)]
enum AppCommand {}

/// Runs `decloud app <verb>`.
pub async fn run(args: AppArgs) -> anyhow::Result<()> {
    match args.command {}
}
