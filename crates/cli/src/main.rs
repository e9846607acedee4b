//! `decloud`: the command-line interface to the decloud marketplace.
//!
//! Commands follow `decloud <noun> <verb>`; every read command honours the global `--json`;
//! anything that waits shows progress; a failure exits non-zero with a one-line message that says
//! what to do. The work itself is `decloud-client`'s.

// The doc comments of the argument types are the `--help` pages people read, written for a
// terminal: `<checksum>` is a placeholder there and `[default: ...]` clap's own notation, not
// HTML or links for rustdoc.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

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
    /// Print the result as JSON on stdout (read commands, and those that report what they did).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start, stop and inspect a local chain with the protocol deployed.
    Devnet(cmd::devnet::DevnetArgs),
    /// Add, list, show and switch the chain profiles of chains decloud is deployed on.
    Chain(cmd::chain::ChainArgs),
    /// Deploy, show and list apps, and run one locally in the sandbox a worker uses.
    App(cmd::app::AppArgs),
    /// Run decloud services in one process: storage, market, a scheduler and its workers, a beacon.
    Node(Box<cmd::node::NodeArgs>),
    /// Create, import and show wallets (encrypted keystore files).
    Wallet(cmd::wallet::WalletArgs),
    /// Deposit to, withdraw from and show the escrow account on the hub.
    Account(cmd::account::AccountArgs),
    /// Deploy, show and list datasets on chain.
    Dataset(DatasetArgs),
    /// Deploy, show and list workerpools on chain; admit and remove their workers.
    Workerpool(WorkerpoolArgs),
    /// Join, leave and show a workerpool's membership (a scheduler serves only its members).
    Worker(cmd::worker::WorkerArgs),
    /// Register, leave, withdraw, show and list the hub's attesters (the key holders whose
    /// signatures vouch for TEE enclaves).
    Attester(cmd::attester::AttesterArgs),
    /// List the keepers' URLs published on chain, and publish the wallet's.
    Keeper(cmd::keeper::KeeperArgs),
    /// List the hub's categories of work.
    Category(cmd::category::CategoryArgs),
    /// Write, sign, publish, cancel and show orders.
    Order(cmd::order::OrderArgs),
    /// Browse the market's open orders, cheapest first.
    Orderbook(cmd::orderbook::OrderbookArgs),
    /// Run an app: match the cheapest compatible orders into a deal.
    Run(Box<cmd::run::RunArgs>),
    /// Show deals.
    Deal(cmd::deal::DealArgs),
    /// Show, follow and claim tasks.
    Task(cmd::task::TaskArgs),
    /// Download and check certified results.
    Result(cmd::result::ResultArgs),
    /// Push and show your named secrets in a secret management service (for TEE tasks).
    Secret(cmd::secret::SecretArgs),
    /// Run the whole marketplace on this machine: a chain, a workerpool and two tasks.
    Demo(cmd::demo::DemoArgs),
    /// Browse every deal and task, on chain and off chain, in a web page.
    Explorer(cmd::explorer::ExplorerArgs),
    /// The pool's own client API: users, groups, apps, data, workers, jobs, access bits.
    Pool(cmd::pool::PoolArgs),
    /// Simulate Proof-of-Contribution: wrong-result rates and costs for a trust and a population.
    Sim(Box<cmd::sim::SimArgs>),
}

/// Arguments of `decloud dataset`.
#[derive(clap::Args)]
struct DatasetArgs {
    #[command(subcommand)]
    verb: cmd::resource::DatasetVerbs,
}

/// Arguments of `decloud workerpool`.
#[derive(clap::Args)]
struct WorkerpoolArgs {
    #[command(subcommand)]
    verb: cmd::resource::WorkerpoolVerbs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let home = cli
        .home
        .unwrap_or_else(decloud_chain::profile::default_home);
    let json = cli.json;
    let outcome = match cli.command {
        Command::Devnet(args) => cmd::devnet::run(args, &home, json).await,
        Command::Chain(args) => cmd::chain::run(args, &home, json).await,
        Command::App(args) => cmd::app::run(args, &home, json).await,
        Command::Node(args) => cmd::node::run(*args, &home).await,
        Command::Wallet(args) => cmd::wallet::run(args, &home, json).await,
        Command::Account(args) => cmd::account::run(args, &home, json).await,
        Command::Dataset(args) => cmd::resource::run_dataset(args.verb, &home, json).await,
        Command::Workerpool(args) => cmd::resource::run_workerpool(args.verb, &home, json).await,
        Command::Worker(args) => cmd::worker::run(args, &home, json).await,
        Command::Attester(args) => cmd::attester::run(args, &home, json).await,
        Command::Keeper(args) => cmd::keeper::run(args, &home, json).await,
        Command::Category(args) => cmd::category::run(args, &home, json).await,
        Command::Order(args) => cmd::order::run(args, &home, json).await,
        Command::Orderbook(args) => cmd::orderbook::run(args, &home, json).await,
        Command::Run(args) => cmd::run::run(*args, &home, json).await,
        Command::Deal(args) => cmd::deal::run(args, &home, json).await,
        Command::Task(args) => cmd::task::run(args, &home, json).await,
        Command::Result(args) => cmd::result::run(args, &home, json).await,
        Command::Secret(args) => cmd::secret::run(args, &home, json).await,
        Command::Demo(args) => cmd::demo::run(args, &home, json).await,
        Command::Explorer(args) => cmd::explorer::run(args, &home).await,
        Command::Sim(args) => cmd::sim::run(*args, json),
        Command::Pool(args) => cmd::pool::run(args, &home, json).await,
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // The chain of causes may hold a service's error body or a name from the network.
            eprintln!("error: {}", cmd::shared::Untrusted(format_args!("{err:#}")));
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_valid() {
        super::Cli::command().debug_assert();
    }
}
