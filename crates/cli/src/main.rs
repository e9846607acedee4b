//! `decloud`: the command-line interface to the decloud marketplace.
//!
//! Commands follow `decloud <noun> <verb>`; every read command takes `--json`; anything that
//! waits shows progress; a failure exits non-zero with a one-line message that says what to do.

mod cmd;

use clap::{Parser, Subcommand};

/// The decloud command line.
#[derive(Parser)]
#[command(
    name = "decloud",
    version,
    about = "decloud: a decentralized cloud-computing marketplace"
)]
struct Cli {
    /// Where decloud keeps its profile, wallets and service data.
    #[arg(long, global = true, env = "DECLOUD_HOME", value_name = "DIR")]
    home: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start, stop and inspect a local chain with the protocol deployed.
    Devnet(cmd::devnet::DevnetArgs),
    /// Run, inspect and test apps locally.
    App(cmd::app::AppArgs),
    /// Run decloud services in one process (`--storage`, ...).
    Node(cmd::node::NodeArgs),
    /// Create, import and show wallets (encrypted keystore files).
    Wallet(cmd::wallet::WalletArgs),
    /// Deposit to, withdraw from and show the escrow account on the hub.
    Account(cmd::account::AccountArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let home = cli
        .home
        .unwrap_or_else(decloud_chain::profile::default_home);
    let outcome = match cli.command {
        Command::Devnet(args) => cmd::devnet::run(args, &home).await,
        Command::App(args) => cmd::app::run(args, &home).await,
        Command::Node(args) => cmd::node::run(args, &home).await,
        Command::Wallet(args) => cmd::wallet::run(args, &home).await,
        Command::Account(args) => cmd::account::run(args, &home).await,
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
