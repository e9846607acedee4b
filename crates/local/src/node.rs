//! Any set of decloud services in one process, started from one [`NodeConfig`] and held by
//! one [`Node`]: a storage node, the market, a workerpool's scheduler and its workers. Each
//! service is optional and the others can be remote peers given by URL, which is how
//! `decloud node` runs one machine's share of a deployment. Dropping the [`Node`] stops every
//! service it started, workers first.
//!
//! ```no_run
//! # async fn f(profile: decloud_chain::ChainProfile) -> Result<(), decloud_local::LocalError> {
//! use decloud_local::node::{Node, NodeConfig};
//! let market = decloud_market::MarketConfig {
//!     listen: ([127, 0, 0, 1], 0).into(),
//!     database_url: "sqlite:///tmp/orders.db".into(),
//!     profile,
//!     follow_interval: std::time::Duration::from_secs(2),
//!     limits: decloud_market::MarketLimits::default(),
//!     transport: decloud_service::transport::Transport::ephemeral(),
//! };
//! let node = Node::start(NodeConfig { market: Some(market), ..NodeConfig::default() }).await?;
//! println!("order book on {}", node.market().map(|m| m.url()).unwrap_or_default());
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use decloud_beacon::node::{BeaconConfig, RunningBeacon};
use decloud_chain::ChainProfile;
use decloud_explorer::{ExplorerConfig, RunningExplorer};
use decloud_market::{MarketConfig, RunningMarket};
use decloud_scheduler::{RunningScheduler, SchedulerConfig};
use decloud_storage::{RunningStorage, StorageConfig};
use decloud_worker::{RunningWorker, WorkerConfig};

use crate::LocalError;

/// Default address of a scheduler started by `decloud node --scheduler`.
pub const DEFAULT_SCHEDULER_URL: &str = "http://127.0.0.1:7800";
/// Default address of a storage node started by `decloud node --storage`.
pub const DEFAULT_STORAGE_URL: &str = "http://127.0.0.1:7700/blobs";

/// Where a node under `home` keeps the TLS key of its `service` (`storage`, `market`,
/// `scheduler`): made at the service's first start, then the same, so its fingerprint (what
/// clients pin) does not change.
pub fn tls_key_path(home: &Path, service: &str) -> PathBuf {
    home.join("tls").join(format!("{service}.key"))
}

/// How a node under `home` serves `service`: TLS with its key file, or plain HTTP when the
/// operator asked for it (`insecure_http`).
pub fn node_transport(
    home: &Path,
    service: &str,
    insecure_http: bool,
) -> Result<decloud_service::transport::Transport, LocalError> {
    if insecure_http {
        return Ok(decloud_service::transport::Transport::InsecureHttp);
    }
    decloud_service::transport::Transport::with_key_file(&tls_key_path(home, service))
        .map_err(|e| LocalError::Tls(e.to_string()))
}

/// The URL of the `service` that a node of this machine serves at `default_url`
/// (e.g. [`DEFAULT_SCHEDULER_URL`]): pinned to that service's key when a node under `home` made
/// one (it then speaks TLS), as given otherwise.
pub fn local_service_url(home: &Path, service: &str, default_url: &str) -> String {
    let path = tls_key_path(home, service);
    if !path.exists() {
        return default_url.to_owned();
    }
    match decloud_service::tls::TlsIdentity::load_or_create(&path) {
        Ok(identity) => {
            let base = default_url.replacen("http://", "https://", 1);
            decloud_service::transport::PinnedUrl::new(&base, Some(identity.fingerprint()))
                .to_string()
        }
        Err(_) => default_url.to_owned(),
    }
}

/// Ether given to a node's accounts on a devnet when they have less (gas for a few thousand
/// transactions).
const DEVNET_ETHER: u128 = 100_000_000_000_000_000_000;
/// Tokens given to a node's accounts on a devnet when they have less (stakes): 10,000 DCT.
const DEVNET_TOKENS: u128 = 10_000_000_000_000;

/// Which services a node runs, each with its own configuration (`None`: not run here).
#[derive(Clone, Debug, Default)]
pub struct NodeConfig {
    /// The storage node.
    pub storage: Option<StorageConfig>,
    /// The market.
    pub market: Option<MarketConfig>,
    /// A workerpool's scheduler.
    pub scheduler: Option<SchedulerConfig>,
    /// Workers.
    pub workers: Option<WorkersConfig>,
    /// The explorer. With no scheduler URL it traces this node's scheduler, and with no market
    /// URL it shows this node's market.
    pub explorer: Option<ExplorerConfig>,
    /// The devnet randomness beacon (a t-of-n group of test keys, drand's evmnet format).
    pub beacon: Option<BeaconConfig>,
    /// The secret management service (key holder of TEE tasks).
    pub sms: Option<decloud_sms::SmsConfig>,
}

/// A worker's wallet and where it keeps its jobs.
#[derive(Clone, Debug)]
pub struct WorkerIdentity {
    /// The worker's wallet.
    pub signer: PrivateKeySigner,
    /// Its data directory (jobs, apps, compiled modules, results).
    pub data_dir: PathBuf,
}

/// How to run a node's workers.
#[derive(Clone, Debug)]
pub struct WorkersConfig {
    /// The chain.
    pub profile: ChainProfile,
    /// One entry per worker.
    pub identities: Vec<WorkerIdentity>,
    /// Their scheduler (`None`: this node's).
    pub scheduler_url: Option<String>,
    /// Where they upload results (`None`: this node's storage).
    pub results_store: Option<String>,
    /// Replicates each runs at once.
    pub capacity: u64,
    /// Escrow balance each keeps for stakes.
    pub stake_reserve: U256,
    /// Whether they may fetch from loopback and private hosts.
    pub allow_private_hosts: bool,
    /// How long a claim waits for work.
    pub claim_wait: Duration,
    /// The TEE backend of their enclaves (`None`: they refuse TEE tasks).
    pub tee: Option<decloud_tee::TeeKind>,
    /// The key holders (SMS) their TEE tasks ask (empty: this node's SMS).
    pub sms_urls: Vec<String>,
    /// Local datasets they hold (`--data 0xDATASET=PATH`), read from the path, never
    /// downloaded.
    pub local_data: Vec<(alloy::primitives::Address, std::path::PathBuf)>,
    /// How each batches its contributions and reveals into fewer transactions.
    pub batching: decloud_worker::Batching,
}

impl WorkersConfig {
    /// Workers with these identities on `profile`, for this node's scheduler and storage, with
    /// the worker's defaults otherwise (see [`WorkerConfig::new`]).
    pub fn new(profile: ChainProfile, identities: Vec<WorkerIdentity>) -> Self {
        Self {
            profile,
            identities,
            scheduler_url: None,
            results_store: None,
            capacity: 1,
            stake_reserve: U256::ZERO,
            allow_private_hosts: false,
            claim_wait: Duration::from_secs(25),
            tee: None,
            sms_urls: Vec::new(),
            local_data: Vec::new(),
            batching: decloud_worker::Batching::default(),
        }
    }
}

/// How a [`Node`] ended its [`Node::wait`].
#[derive(Debug)]
pub enum Stopped {
    /// The storage node stopped, with its server's error if any.
    Storage(std::io::Result<()>),
    /// The market stopped.
    Market,
    /// The scheduler stopped.
    Scheduler,
    /// The explorer stopped.
    Explorer,
    /// The beacon stopped, with its server's error if any.
    Beacon(std::io::Result<()>),
    /// The secret management service stopped.
    Sms,
}

/// Services running in this process. Dropping it stops them.
pub struct Node {
    // Field order matters: workers stop before their scheduler and storage.
    workers: Vec<Option<RunningWorker>>,
    explorer: Option<RunningExplorer>,
    scheduler: Option<RunningScheduler>,
    market: Option<RunningMarket>,
    storage: Option<RunningStorage>,
    beacon: Option<RunningBeacon>,
    sms: Option<decloud_sms::RunningSms>,
    scheduler_config: Option<SchedulerConfig>,
    workers_config: Option<WorkersConfig>,
}

/// The genesis and period of the chain's beacon contract (the random-selection facet's), if
/// it has one: a devnet beacon run beside it numbers its rounds the same way.
pub async fn chain_beacon(
    profile: &ChainProfile,
    rpc: Option<&str>,
) -> Result<Option<(u64, u64)>, LocalError> {
    let address = profile.contracts.beacon;
    if address.is_zero() {
        return Ok(None);
    }
    let client = decloud_chain::client::Client::connect(profile, rpc, None).await?;
    let beacon = decloud_chain::contracts::Beacon::new(address, client.provider().clone());
    let genesis = client
        .read("reading the beacon's genesis", beacon.genesis())
        .await?;
    let period = client
        .read("reading the beacon's period", beacon.period())
        .await?;
    Ok(Some((genesis, period)))
}

impl Node {
    /// Starts the configured services: storage, market, scheduler, then the workers (which
    /// default to this node's scheduler and storage).
    pub async fn start(config: NodeConfig) -> Result<Self, LocalError> {
        let count = config.workers.as_ref().map_or(0, |w| w.identities.len());
        let mut node = Self {
            workers: (0..count).map(|_| None).collect(),
            explorer: None,
            scheduler: None,
            market: None,
            storage: None,
            beacon: None,
            sms: None,
            scheduler_config: config.scheduler,
            workers_config: config.workers,
        };
        if let Some(storage) = config.storage {
            node.storage = Some(decloud_storage::start(storage).await?);
        }
        if let Some(mut beacon) = config.beacon {
            let chain = node
                .scheduler_config
                .as_ref()
                .map(|s| (s.profile.clone(), s.rpc.clone()))
                .or_else(|| {
                    node.workers_config
                        .as_ref()
                        .map(|w| (w.profile.clone(), None))
                });
            if beacon.genesis.is_none()
                && let Some((profile, rpc)) = chain
                && let Some((genesis, period)) = chain_beacon(&profile, rpc.as_deref()).await?
            {
                // The rounds the chain's beacon contract expects, on its clock.
                beacon.genesis = Some(genesis);
                beacon.period = period;
            }
            let running = decloud_beacon::node::start(beacon).await?;
            if let Some(scheduler) = node.scheduler_config.as_mut()
                && scheduler.beacon_url.is_none()
            {
                scheduler.beacon_url = Some(running.url());
            }
            node.beacon = Some(running);
        }
        if let Some(market) = config.market {
            node.market = Some(decloud_market::start(market).await?);
        }
        if let Some(sms) = config.sms {
            node.sms = Some(decloud_sms::start(sms).await?);
        }
        if node.scheduler_config.is_some() {
            node.start_scheduler().await?;
        }
        join_pools(node.scheduler_config.as_ref(), node.workers_config.as_ref()).await?;
        for i in 0..count {
            node.start_worker(i).await?;
        }
        if let Some(mut explorer) = config.explorer {
            if explorer.schedulers.is_empty() {
                explorer.schedulers.extend(node.workers_scheduler_url());
            }
            if explorer.market.is_none() {
                explorer.market = node.market.as_ref().map(RunningMarket::url);
            }
            node.explorer = Some(decloud_explorer::start(explorer).await?);
        }
        Ok(node)
    }

    /// The explorer, if this node runs it.
    pub fn explorer(&self) -> Option<&RunningExplorer> {
        self.explorer.as_ref()
    }

    /// The beacon, if this node runs it.
    pub fn beacon(&self) -> Option<&RunningBeacon> {
        self.beacon.as_ref()
    }

    /// The storage node, if this node runs one.
    pub fn storage(&self) -> Option<&RunningStorage> {
        self.storage.as_ref()
    }

    /// The market, if this node runs it.
    pub fn market(&self) -> Option<&RunningMarket> {
        self.market.as_ref()
    }

    /// The secret management service, if this node runs it.
    pub fn sms(&self) -> Option<&decloud_sms::RunningSms> {
        self.sms.as_ref()
    }

    /// The scheduler, while it runs.
    pub fn scheduler(&self) -> Option<&RunningScheduler> {
        self.scheduler.as_ref()
    }

    /// Worker `i`, while it runs.
    pub fn worker(&self, i: usize) -> Option<&RunningWorker> {
        self.workers.get(i).and_then(Option::as_ref)
    }

    /// How many workers this node has (running or not).
    pub fn worker_count(&self) -> usize {
        self.workers.len()
    }

    /// The scheduler URL the workers use (this node's scheduler unless configured otherwise).
    pub fn workers_scheduler_url(&self) -> Option<String> {
        self.workers_config
            .as_ref()
            .and_then(|w| w.scheduler_url.clone())
            .or_else(|| self.scheduler.as_ref().map(RunningScheduler::url))
    }

    /// Starts (or restarts, on the same database and listening address) the scheduler.
    pub async fn start_scheduler(&mut self) -> Result<(), LocalError> {
        let config = self
            .scheduler_config
            .clone()
            .ok_or(LocalError::NotRunning("this node runs no scheduler"))?;
        if let Some(previous) = self.scheduler.take() {
            previous.stop().await;
        }
        let scheduler = decloud_scheduler::start(config).await?;
        // A restart listens where the workers already look for it (port 0 picked this one).
        if let Some(config) = &mut self.scheduler_config {
            config.listen = scheduler.addr();
        }
        self.scheduler = Some(scheduler);
        Ok(())
    }

    /// Stops the scheduler at once, as a crash would (its database stays).
    pub async fn stop_scheduler(&mut self) {
        if let Some(s) = self.scheduler.take() {
            s.stop().await;
        }
    }

    /// Starts (or restarts, with its saved jobs) worker `i`.
    pub async fn start_worker(&mut self, i: usize) -> Result<(), LocalError> {
        let set = self
            .workers_config
            .as_ref()
            .ok_or(LocalError::NotRunning("this node runs no workers"))?;
        let identity = set
            .identities
            .get(i)
            .ok_or(LocalError::NotRunning("this node has no such worker"))?;
        let scheduler_url = self
            .workers_scheduler_url()
            .ok_or(LocalError::NotRunning("start the scheduler first"))?;
        let results_store = set
            .results_store
            .clone()
            .or_else(|| self.storage.as_ref().map(RunningStorage::url))
            .ok_or(LocalError::NotRunning(
                "the workers need a results store: run a storage node or give its location",
            ))?;
        let mut config = WorkerConfig::new(
            &scheduler_url,
            set.profile.clone(),
            identity.signer.clone(),
            identity.data_dir.clone(),
            &results_store,
        );
        config.capacity = set.capacity;
        config.allow_private_hosts = set.allow_private_hosts;
        config.stake_reserve = set.stake_reserve;
        config.claim_wait = set.claim_wait;
        config.local_data = set.local_data.clone();
        config.batching = set.batching;
        if let Some(kind) = set.tee {
            let attester: std::sync::Arc<dyn decloud_tee::Attester> = match kind {
                // Refused on any chain that is not a devnet.
                decloud_tee::TeeKind::Sim => std::sync::Arc::new(
                    decloud_tee::sim::SimAttester::new(set.profile.chain_id).map_err(|e| {
                        LocalError::Worker {
                            index: i,
                            source: decloud_worker::WorkerError::Config(e.to_string()),
                        }
                    })?,
                ),
                decloud_tee::TeeKind::Tdx => {
                    std::sync::Arc::new(decloud_tee::tdx::TdxAttester::new())
                }
            };
            let mut sms_urls = set.sms_urls.clone();
            if sms_urls.is_empty() {
                sms_urls.extend(self.sms.as_ref().map(decloud_sms::RunningSms::url));
            }
            config.tee = Some(decloud_worker::TeeConfig { attester, sms_urls });
        }
        let worker = decloud_worker::start(config)
            .await
            .map_err(|source| LocalError::Worker { index: i, source })?;
        if let Some(old) = self.workers[i].replace(worker) {
            old.stop().await;
        }
        Ok(())
    }

    /// Stops worker `i` at once, as a crash would.
    pub async fn stop_worker(&mut self, i: usize) {
        if let Some(w) = self.workers.get_mut(i).and_then(Option::take) {
            w.stop().await;
        }
    }

    /// Runs until one of the servers stops (they run until the process ends); workers alone
    /// run forever. Every service stops when this returns or is dropped.
    pub async fn wait(mut self) -> Stopped {
        let storage = self.storage.take();
        let market = self.market.take();
        let scheduler = self.scheduler.take();
        let explorer = self.explorer.take();
        let beacon = self.beacon.take();
        let sms = self.sms.take();
        let sms_done = async move {
            match sms {
                Some(s) => s.wait().await,
                None => std::future::pending().await,
            }
        };
        let beacon_done = async move {
            match beacon {
                Some(b) => b.wait().await,
                None => std::future::pending().await,
            }
        };
        let explorer_done = async move {
            match explorer {
                Some(e) => e.wait().await,
                None => std::future::pending().await,
            }
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
        tokio::select! {
            r = storage_done => Stopped::Storage(r),
            () = market_done => Stopped::Market,
            () = scheduler_done => Stopped::Scheduler,
            () = explorer_done => Stopped::Explorer,
            r = beacon_done => Stopped::Beacon(r),
            () = sms_done => Stopped::Sms,
        }
    }
}

/// The key file of a node's `index`-th worker (1-based) under `home`, created on first use.
pub fn worker_key_path(home: &Path, index: usize) -> PathBuf {
    home.join("workers")
        .join(format!("worker-{index}"))
        .join("worker.key")
}

/// The identities of a node's `count` workers: keys under `home/workers/worker-<i>/` (made on
/// first start), each directory its worker's data directory; on a devnet they are funded.
pub async fn home_workers(
    home: &Path,
    profile: &ChainProfile,
    count: usize,
) -> Result<Vec<WorkerIdentity>, LocalError> {
    let mut identities = Vec::with_capacity(count);
    for index in 1..=count {
        let key_path = worker_key_path(home, index);
        let signer: PrivateKeySigner = decloud_chain::keyfile::load_or_create(&key_path)?;
        fund_if_devnet(profile, signer.address()).await?;
        let data_dir = key_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| home.join("workers"));
        identities.push(WorkerIdentity { signer, data_dir });
    }
    Ok(identities)
}

/// The minimum stake per worker a devnet node gives its own workerpool when it has none: one
/// token.
pub const DEVNET_MIN_WORKER_STAKE: u64 = 1_000_000_000;

/// On a devnet, makes a node's workers members of the workerpool they work for, as its
/// scheduler requires (see [`crate::pool::make_members`]): the node's own pool, whose owner the
/// node holds (it gets a minimum stake when it has none, even with no workers here), or the pool
/// of the remote scheduler they point at (read from its `/v1/info`). On another chain, workers
/// join with `decloud worker join` instead.
async fn join_pools(
    scheduler: Option<&SchedulerConfig>,
    workers: Option<&WorkersConfig>,
) -> Result<(), LocalError> {
    let profile = match (scheduler, workers) {
        (Some(s), _) => &s.profile,
        (None, Some(w)) => &w.profile,
        (None, None) => return Ok(()),
    };
    if !profile.is_devnet() {
        return Ok(());
    }
    let keys: Vec<PrivateKeySigner> = workers
        .map(|w| w.identities.iter().map(|i| i.signer.clone()).collect())
        .unwrap_or_default();
    let capacity = workers.map_or(1, |w| w.capacity);
    let remote = workers.and_then(|w| w.scheduler_url.as_deref());
    if let Some(s) = scheduler {
        let own = if remote.is_none() { &keys[..] } else { &[] };
        let rpc = s.rpc.as_deref();
        crate::pool::make_members(profile, rpc, Some(&s.signer), s.workerpool, own, capacity)
            .await?;
    }
    if let (Some(url), Some(first)) = (remote, keys.first()) {
        let scheduler_error = |e| LocalError::Worker {
            index: 0,
            source: decloud_worker::WorkerError::Scheduler(e),
        };
        let client = decloud_worker::SchedulerClient::new(url, first.clone(), capacity)
            .map_err(scheduler_error)?;
        let pool = client.info().await.map_err(scheduler_error)?.workerpool;
        crate::pool::make_members(profile, None, None, pool, &keys, capacity).await?;
    }
    Ok(())
}

/// On a devnet, gives `account` ether for gas and tokens for stakes when it lacks them; on any
/// other chain, checks it has ether.
pub async fn fund_if_devnet(profile: &ChainProfile, account: Address) -> Result<(), LocalError> {
    let client = decloud_chain::client::Client::connect(profile, None, None).await?;
    let ether = client
        .provider()
        .get_balance(account)
        .await
        .map_err(|e| client.rpc_error("reading a balance", &e))?;
    let tokens = client.token_balance(account).await?;
    if !profile.is_devnet() {
        if ether.is_zero() {
            return Err(LocalError::Unfunded(account));
        }
        return Ok(());
    }
    let want_ether = U256::from(DEVNET_ETHER);
    let want_tokens = U256::from(DEVNET_TOKENS);
    let ether = if ether < want_ether / U256::from(10) {
        want_ether
    } else {
        U256::ZERO
    };
    let tokens = if tokens < want_tokens / U256::from(10) {
        want_tokens
    } else {
        U256::ZERO
    };
    if !(ether.is_zero() && tokens.is_zero()) {
        decloud_chain::devnet::fund(profile, account, ether, tokens).await?;
    }
    Ok(())
}
