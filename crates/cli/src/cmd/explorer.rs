//! `decloud explorer`: the web explorer alone, against the chain of the profile. It indexes the
//! hub's events into its own database (resuming where it stopped), asks the given schedulers for
//! their pools' off-chain trace, and serves the pages until stopped. `decloud node --explorer`
//! runs the same explorer beside other services.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::bail;
use clap::Args;
use decloud_local::node::{DEFAULT_SCHEDULER_URL, Node, NodeConfig};

use super::shared::stop_signals;

/// Arguments of `decloud explorer`.
#[derive(Args)]
#[command(after_help = "Examples:\n  \
    decloud explorer                                   # the devnet's chain, the local scheduler\n  \
    decloud explorer --scheduler http://pool-a:7800 --scheduler http://pool-b:7800\n  \
    decloud explorer --market http://127.0.0.1:7600 --listen 0.0.0.0:7900\n  \
    decloud explorer --db postgres://explorer@db/explorer\n\n\
    Every page has a JSON twin: add ?format=json to its URL. Runs until Ctrl-C or SIGTERM.")]
pub(crate) struct ExplorerArgs {
    /// Address the web UI listens on.
    #[arg(long, default_value = "127.0.0.1:7900", value_name = "ADDR")]
    listen: SocketAddr,
    /// The explorer's database [default: sqlite under $DECLOUD_HOME/explorer/]; or postgres://...
    #[arg(
        long,
        env = "DECLOUD_EXPLORER_DB",
        value_name = "URL",
        hide_env_values = true
    )]
    db: Option<String>,
    /// A workerpool's scheduler, asked for the off-chain trace of its tasks (repeat for several
    /// pools) [default: http://127.0.0.1:7800].
    #[arg(
        long,
        env = "DECLOUD_SCHEDULER",
        value_name = "URL",
        value_delimiter = ','
    )]
    scheduler: Vec<String>,
    /// The market whose open orders the order book page shows.
    #[arg(long, env = "DECLOUD_MARKET", value_name = "URL")]
    market: Option<String>,
}

/// Runs `decloud explorer` until Ctrl-C or SIGTERM.
pub(crate) async fn run(args: ExplorerArgs, home: &Path) -> anyhow::Result<()> {
    super::node::init_logs("info");
    let stop = stop_signals();
    let profile = decloud_chain::ChainProfile::load(home)?;
    let database_url = match args.db {
        Some(url) => url,
        None => super::node::sqlite_under(home, "explorer", "explorer.db")?,
    };
    let mut config = decloud_explorer::ExplorerConfig::new(profile, &database_url);
    config.listen = args.listen;
    config.schedulers = if args.scheduler.is_empty() {
        vec![decloud_local::node::local_service_url(
            home,
            "scheduler",
            DEFAULT_SCHEDULER_URL,
        )]
    } else {
        args.scheduler
    };
    config.market = args.market.filter(|m| !m.trim().is_empty());
    let node = Node::start(NodeConfig {
        explorer: Some(config),
        ..NodeConfig::default()
    })
    .await
    .map_err(|e| match e {
        decloud_local::LocalError::Explorer(e @ decloud_explorer::ExplorerError::Listen { .. }) => {
            anyhow::Error::new(e)
        }
        e => e.into(),
    })?;
    if let Some(e) = node.explorer() {
        println!("explorer: open {} in a browser", e.url());
    }
    tokio::select! {
        _ = node.wait() => bail!("the explorer stopped"),
        signal = stop => {
            println!("explorer: stopped on {signal}");
            Ok(())
        }
    }
}
