//! `decloud node`: runs a set of decloud services in one process.

use anyhow::{Context, bail};
use clap::Args;
use decloud_storage::{BlobStore, ServerConfig};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// Arguments of `decloud node`.
#[derive(Args)]
pub struct NodeArgs {
    /// Run the storage service: a content-addressed blob server for apps, datasets and results.
    #[arg(long)]
    storage: bool,
    /// Address the storage service listens on.
    #[arg(
        long = "storage-listen",
        alias = "listen",
        default_value = "127.0.0.1:7700",
        value_name = "ADDR"
    )]
    storage_listen: SocketAddr,
    /// Where the storage service keeps blobs [default: $DECLOUD_HOME/blobs]; also s3://bucket/prefix.
    #[arg(long = "storage-dir", alias = "dir", value_name = "DIR|URL")]
    storage_dir: Option<String>,
    /// Largest upload the storage service accepts, in MiB.
    #[arg(
        long = "storage-max-upload-mib",
        default_value_t = 256,
        value_name = "MIB"
    )]
    storage_max_upload_mib: u64,
    /// Run the market: the order book of signed orders, following the chain of the profile.
    #[arg(long)]
    market: bool,
    /// Address the market listens on.
    #[arg(
        long = "market-listen",
        default_value = "127.0.0.1:7600",
        value_name = "ADDR"
    )]
    market_listen: SocketAddr,
    /// The market's database [default: sqlite under $DECLOUD_HOME/market/]; or postgres://...
    #[arg(
        long = "market-db",
        env = "DECLOUD_MARKET_DB",
        value_name = "URL",
        hide_env_values = true
    )]
    market_db: Option<String>,
    /// Seconds between two reads of new blocks by the market.
    #[arg(long = "market-follow-secs", default_value_t = 2, value_name = "SECS")]
    market_follow_secs: u64,
}

/// Runs `decloud node`: starts the chosen services and serves until interrupted (Ctrl-C).
pub async fn run(args: NodeArgs, home: &Path) -> anyhow::Result<()> {
    if !args.storage && !args.market {
        bail!("choose at least one service to run, e.g. `decloud node --market --storage`");
    }
    let market = if args.market {
        let profile = decloud_chain::ChainProfile::load(home)?;
        let database_url = match &args.market_db {
            Some(url) => url.clone(),
            None => {
                let dir = home.join("market");
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                format!("sqlite://{}", dir.join("orders.db").display())
            }
        };
        let market = decloud_market::start(decloud_market::MarketConfig {
            listen: args.market_listen,
            database_url,
            profile,
            follow_interval: Duration::from_secs(args.market_follow_secs.max(1)),
        })
        .await?;
        println!("market: serving the order book on {}", market.url());
        Some(market)
    } else {
        None
    };
    let market_done = async move {
        match market {
            Some(m) => m.wait().await,
            None => std::future::pending().await,
        }
    };
    if !args.storage {
        tokio::select! {
            () = market_done => bail!("the market stopped"),
            _ = tokio::signal::ctrl_c() => {
                println!("node: stopping");
                return Ok(());
            }
        }
    }
    let location = args
        .storage_dir
        .clone()
        .unwrap_or_else(|| home.join("blobs").display().to_string());
    let store = BlobStore::from_url(&location)
        .with_context(|| format!("cannot open the blob store {location}"))?;
    let config = ServerConfig {
        max_upload_bytes: args.storage_max_upload_mib.saturating_mul(1 << 20),
        ..ServerConfig::default()
    };
    let storage = decloud_storage::serve(store, config, args.storage_listen, |addr| {
        println!("storage: serving {location} on http://{addr}/blobs");
    });
    tokio::select! {
        result = storage => result.with_context(|| format!("the storage service on {} stopped", args.storage_listen)),
        () = market_done => bail!("the market stopped"),
        _ = tokio::signal::ctrl_c() => {
            println!("node: stopping");
            Ok(())
        }
    }
}
