//! `decloud node`: runs any set of decloud services in one process (storage, market, a
//! workerpool's scheduler, its workers), or each alone against remote peers by URL.

use anyhow::{Context, bail};
use clap::Args;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::services::{DEFAULT_SCHEDULER_URL, DEFAULT_STORAGE_URL, Storage, WorkerSet};
use super::shared::WalletOpts;

/// Arguments of `decloud node`.
#[derive(Args)]
#[command(after_help = "Examples:\n  \
    decloud node --storage --market                      # the shared services of a devnet\n  \
    decloud node --scheduler --workerpool 0x5f1c... --wallet pool --workers 3 --storage\n  \
    decloud node --workers 4 --scheduler-url http://pool.example:7800 --results-store s3://bucket/results\n\n\
    Each worker of --workers N has its own key in $DECLOUD_HOME/workers/worker-<i>/worker.key, made\n\
    on first start; on a devnet they are given ether and tokens, elsewhere fund them yourself.")]
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
    /// Run the scheduler of --workerpool, signing with its owner's wallet (--wallet).
    #[arg(long)]
    scheduler: bool,
    /// The workerpool the scheduler runs (`decloud workerpool deploy` prints it).
    #[arg(long, value_name = "ADDRESS")]
    workerpool: Option<alloy::primitives::Address>,
    #[command(flatten)]
    wallet: WalletOpts,
    /// Address the scheduler listens on.
    #[arg(
        long = "scheduler-listen",
        default_value = "127.0.0.1:7800",
        value_name = "ADDR"
    )]
    scheduler_listen: SocketAddr,
    /// The scheduler's database [default: sqlite under $DECLOUD_HOME/scheduler/]; or postgres://...
    #[arg(
        long = "scheduler-db",
        env = "DECLOUD_SCHEDULER_DB",
        value_name = "URL",
        hide_env_values = true
    )]
    scheduler_db: Option<String>,
    /// Milliseconds between two reads of new blocks by the scheduler.
    #[arg(long = "scheduler-follow-ms", default_value_t = 500, value_name = "MS")]
    scheduler_follow_ms: u64,
    /// Seconds of silence after which the scheduler gives a worker's work to others.
    #[arg(
        long = "heartbeat-timeout-secs",
        default_value_t = 60,
        value_name = "SECS"
    )]
    heartbeat_timeout_secs: u64,
    /// Run this many workers, each with its own wallet.
    #[arg(long, default_value_t = 0, value_name = "N")]
    workers: usize,
    /// The scheduler the workers work for [default: this node's with --scheduler, else
    /// http://127.0.0.1:7800].
    #[arg(long = "scheduler-url", env = "DECLOUD_SCHEDULER", value_name = "URL")]
    scheduler_url: Option<String>,
    /// Where the workers upload results [default: this node's storage with --storage, else
    /// http://127.0.0.1:7700/blobs]; also s3://bucket/prefix.
    #[arg(
        long = "results-store",
        env = "DECLOUD_RESULTS_STORE",
        value_name = "URL"
    )]
    results_store: Option<String>,
    /// Replicates each worker runs at once.
    #[arg(long = "worker-capacity", default_value_t = 1, value_name = "N")]
    worker_capacity: u64,
    /// Escrow balance each worker keeps deposited for its stakes (topped up from its wallet at
    /// start and whenever a stake needs more): nano-units, or tokens with a DCT suffix.
    #[arg(long = "worker-stake", default_value = "10 DCT", value_name = "AMOUNT")]
    worker_stake: String,
    /// Let workers fetch apps, datasets and inputs from loopback and private addresses and local
    /// paths [default: only on the devnet].
    #[arg(long = "allow-private-hosts")]
    allow_private_hosts: Option<bool>,
}

/// Logs of the services on stderr (`RUST_LOG` overrides the level).
pub fn init_logs(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn sqlite_under(home: &Path, dir: &str, file: &str) -> anyhow::Result<String> {
    let dir = home.join(dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(format!("sqlite://{}", dir.join(file).display()))
}

/// Runs `decloud node`: starts the chosen services and serves until interrupted (Ctrl-C).
pub async fn run(args: NodeArgs, home: &Path) -> anyhow::Result<()> {
    if !args.storage && !args.market && !args.scheduler && args.workers == 0 {
        bail!(
            "choose at least one service to run, e.g. `decloud node --market --storage` or `decloud node --scheduler --workerpool <address> --workers 3`"
        );
    }
    init_logs("info");
    let needs_chain = args.market || args.scheduler || args.workers > 0;
    let profile = if needs_chain {
        Some(decloud_chain::ChainProfile::load(home)?)
    } else {
        None
    };

    let storage = if args.storage {
        let location = args
            .storage_dir
            .clone()
            .unwrap_or_else(|| home.join("blobs").display().to_string());
        let storage = Storage::start(
            &location,
            args.storage_listen,
            args.storage_max_upload_mib.saturating_mul(1 << 20),
        )
        .await?;
        println!("storage: serving {location} on {}", storage.url);
        Some(storage)
    } else {
        None
    };

    let market = match (&profile, args.market) {
        (Some(profile), true) => {
            let database_url = match &args.market_db {
                Some(url) => url.clone(),
                None => sqlite_under(home, "market", "orders.db")?,
            };
            let market = decloud_market::start(decloud_market::MarketConfig {
                listen: args.market_listen,
                database_url,
                profile: profile.clone(),
                follow_interval: Duration::from_secs(args.market_follow_secs.max(1)),
            })
            .await?;
            println!("market: serving the order book on {}", market.url());
            Some(market)
        }
        _ => None,
    };

    let scheduler = match (&profile, args.scheduler) {
        (Some(profile), true) => {
            let workerpool = args.workerpool.context(
                "--scheduler needs --workerpool <address> (`decloud workerpool list --mine` shows yours)",
            )?;
            let signer = args.wallet.unlock(home)?;
            let database_url = match &args.scheduler_db {
                Some(url) => url.clone(),
                None => sqlite_under(home, "scheduler", &format!("{workerpool}.db"))?,
            };
            let mut config = decloud_scheduler::SchedulerConfig::new(
                profile.clone(),
                workerpool,
                signer,
                &database_url,
            );
            config.listen = args.scheduler_listen;
            config.follow_interval = Duration::from_millis(args.scheduler_follow_ms.max(50));
            config.heartbeat_timeout = Duration::from_secs(args.heartbeat_timeout_secs.max(3));
            let scheduler = decloud_scheduler::start(config).await?;
            println!(
                "scheduler: workerpool {workerpool}, workers log in at {}",
                scheduler.url()
            );
            Some(scheduler)
        }
        _ => None,
    };

    let workers = match &profile {
        Some(profile) if args.workers > 0 => {
            let set = WorkerSet {
                count: args.workers,
                scheduler_url: args
                    .scheduler_url
                    .clone()
                    .filter(|u| !u.trim().is_empty())
                    .or_else(|| scheduler.as_ref().map(|s| s.url()))
                    .unwrap_or_else(|| DEFAULT_SCHEDULER_URL.to_string()),
                results_store: args
                    .results_store
                    .clone()
                    .filter(|u| !u.trim().is_empty())
                    .or_else(|| storage.as_ref().map(|s| s.url.clone()))
                    .unwrap_or_else(|| DEFAULT_STORAGE_URL.to_string()),
                capacity: args.worker_capacity.max(1),
                stake_reserve: decloud_protocol::parse_amount(&args.worker_stake)
                    .context("--worker-stake is an amount, e.g. \"10 DCT\" or 2.5DCT")?,
                allow_private_hosts: args
                    .allow_private_hosts
                    .unwrap_or(profile.chain_id == decloud_chain::anvil::DEVNET_CHAIN_ID),
            };
            let workers = super::services::start_workers(home, profile, &set).await?;
            for (i, w) in workers.iter().enumerate() {
                println!(
                    "worker {}: {} working for {}",
                    i + 1,
                    w.address(),
                    set.scheduler_url
                );
            }
            workers
        }
        _ => Vec::new(),
    };

    let storage_done = async move {
        match storage {
            Some(s) => s.wait().await,
            None => std::future::pending().await,
        }
    };
    let market_done = async move {
        match market {
            Some(m) => m.wait().await,
            None => std::future::pending().await,
        }
    };
    let scheduler_done = async move {
        match scheduler {
            Some(s) => s.wait().await,
            None => std::future::pending().await,
        }
    };
    let result = tokio::select! {
        r = storage_done => r.and_then(|()| bail!("the storage service stopped")),
        () = market_done => bail!("the market stopped"),
        () = scheduler_done => bail!("the scheduler stopped"),
        _ = tokio::signal::ctrl_c() => {
            println!("node: stopping");
            Ok(())
        }
    };
    drop(workers);
    result
}
