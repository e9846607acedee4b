//! A workerpool running in-process on a [`Devnet`]: a registered workerpool and a
//! [`Node`] running its storage node, scheduler and workers with their own wallets, plus the
//! calls the demo (or a test) makes as app developer and requester: deploy an app from its
//! wasm bytes, and match a deal.
//!
//! Roles by development account: 1 app developer, 2 dataset owner, 3 workerpool owner
//! (scheduler), 4 requester; workers use accounts 5 to 9, then fresh funded keys.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use decloud_local::{Devnet, pool::{Pool, PoolOptions, DealRequest}};
//! let devnet = Devnet::start().await?;
//! let pool = Pool::start(&devnet, PoolOptions::default()).await?;
//! let app = pool.deploy_app("greeting", &std::fs::read("greeting.wasm")?).await?;
//! let deal = pool.deal(&DealRequest::new(app).args("Alice")).await?;
//! pool.wait_completed(&deal.task_ids(), std::time::Duration::from_secs(60)).await?;
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::signers::local::PrivateKeySigner;
use decloud_chain::client::Client;
use decloud_chain::orders::{MatchedDeal, match_orders};
use decloud_protocol::{AppOrder, DatasetOrder, Order, RequestOrder, Tag, WorkerpoolOrder};
use decloud_scheduler::{RunningScheduler, SchedulerConfig};
use decloud_storage::{BlobStore, ContentHash, ServerConfig, StorageConfig};
use tempfile::TempDir;

use crate::node::{Node, NodeConfig, WorkerIdentity, WorkersConfig};
use crate::{Devnet, LocalError};

/// Development account of the app developer.
pub const APP_OWNER: usize = 1;
/// Development account of the dataset owner.
pub const DATASET_OWNER: usize = 2;
/// Development account of the workerpool owner, whose key the scheduler signs with.
pub const POOL_OWNER: usize = 3;
/// Development account of the requester.
pub const REQUESTER: usize = 4;
/// First development account used by workers.
pub const FIRST_WORKER: usize = 5;

/// What can go wrong setting a pool up or driving it.
pub type PoolError = LocalError;

/// How to set a pool up.
#[derive(Clone)]
pub struct PoolOptions {
    /// Number of workers.
    pub workers: usize,
    /// Replicates each worker runs at once.
    pub worker_capacity: u64,
    /// How often the scheduler reads the chain.
    pub follow_interval: Duration,
    /// Silence after which the scheduler gives a worker's work to others.
    pub heartbeat_timeout: Duration,
    /// Price of the workerpool order, per task.
    pub workerpool_price: U256,
    /// Highest trust the workerpool order offers.
    pub max_trust: u64,
    /// Volume of the workerpool order.
    pub volume: u64,
    /// Largest upload the storage node accepts.
    pub storage_max_upload: u64,
    /// What one client may ask of the scheduler (a benchmark playing thousands of workers from
    /// one address raises them).
    pub rate_limits: decloud_scheduler::limits::RateLimits,
    /// Serve the scheduler and the storage node over plain HTTP instead of TLS (a devnet may;
    /// benchmarks compare the two).
    pub plain_http: bool,
    /// Certificate authorities whose client certificates the scheduler's pool API accepts.
    pub client_cas: Vec<decloud_service::tls::CertificateDer<'static>>,
    /// The password of the pool API's administrator `admin` (none: no administrator).
    pub pool_admin_password: Option<String>,
    /// Run TEE tasks: the node also runs an SMS whose wallet is a registered attester, and the
    /// workers' enclaves are of this backend (`sim` on a devnet). `None`: no TEE.
    pub tee: Option<decloud_tee::TeeKind>,
    /// The RPC URL the workers use instead of the devnet's (a test puts a proxy there to cut
    /// the workers off the chain while the scheduler still reaches it).
    pub worker_rpc: Option<String>,
    /// Run a devnet randomness beacon (the devnet group's keys, on the chain beacon's clock)
    /// that the scheduler fetches the rounds of its random-selection deals from.
    pub beacon: bool,
    /// With [`Self::tee`]: run this many keepers (SMS nodes with `--keeper`, each a registered
    /// attester) instead of one SMS, and give the workers all of them as key holders.
    pub keepers: usize,
    /// With [`Self::keepers`]: each keeper publishes its URL in the chain's keeper registry
    /// (`decloud node --keeper --public-url`) and the workers are given no key holders: they
    /// find each task's keepers on chain.
    pub keepers_on_chain: bool,
    /// With [`Self::tee`] and no keepers: run this many whole SMS nodes (each holding whole
    /// secrets) instead of one, all given to the workers as key holders; reached like keepers
    /// ([`Pool::keeper_urls`], [`Pool::stop_keeper`]).
    pub sms_nodes: usize,
    /// With [`Self::sms_nodes`]: the last this many of them are not registered attesters (their
    /// attestations count for nothing at the hub).
    pub unregistered_sms: usize,
    /// How the workers batch their contributions and reveals (the worker's default).
    pub worker_batching: decloud_worker::Batching,
}

impl std::fmt::Debug for PoolOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the administrator's password: only whether there is one.
        f.debug_struct("PoolOptions")
            .field("workers", &self.workers)
            .field("worker_capacity", &self.worker_capacity)
            .field("follow_interval", &self.follow_interval)
            .field("heartbeat_timeout", &self.heartbeat_timeout)
            .field("workerpool_price", &self.workerpool_price)
            .field("max_trust", &self.max_trust)
            .field("volume", &self.volume)
            .field("storage_max_upload", &self.storage_max_upload)
            .field("rate_limits", &self.rate_limits)
            .field("plain_http", &self.plain_http)
            .field("client_cas", &self.client_cas.len())
            .field("tee", &self.tee)
            .field("worker_rpc", &self.worker_rpc)
            .field("keepers", &self.keepers)
            .field("keepers_on_chain", &self.keepers_on_chain)
            .field("sms_nodes", &self.sms_nodes)
            .field("unregistered_sms", &self.unregistered_sms)
            .field("worker_batching", &self.worker_batching)
            .field("beacon", &self.beacon)
            .field(
                "pool_admin_password",
                &self.pool_admin_password.as_ref().map(|_| "<set>"),
            )
            .finish()
    }
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            workers: 1,
            worker_capacity: 1,
            follow_interval: Duration::from_millis(200),
            heartbeat_timeout: Duration::from_secs(60),
            workerpool_price: U256::from(1_000_000_000u64),
            max_trust: 100,
            volume: 1_000_000,
            storage_max_upload: 256 << 20,
            rate_limits: decloud_scheduler::limits::RateLimits::default(),
            plain_http: false,
            client_cas: Vec::new(),
            pool_admin_password: None,
            tee: None,
            worker_rpc: None,
            keepers: 0,
            keepers_on_chain: false,
            sms_nodes: 0,
            unregistered_sms: 0,
            worker_batching: decloud_worker::Batching::default(),
            beacon: false,
        }
    }
}

/// A deal to make: the app, its arguments, trust, volume, category.
#[derive(Clone, Debug)]
pub struct DealRequest {
    /// The app.
    pub app: Address,
    /// The dataset (zero for none).
    pub dataset: Address,
    /// `params.args`.
    pub args: String,
    /// Input file URLs.
    pub input_files: Vec<String>,
    /// Trust.
    pub trust: u64,
    /// Number of tasks.
    pub volume: u64,
    /// Category.
    pub category: u64,
    /// Callback contract (zero for none).
    pub callback: Address,
    /// A TEE deal (k = 1): the request and the workerpool order carry the TEE tag.
    pub tee: bool,
    /// The requester's named secrets the app gets (`params.secrets`).
    pub secrets: Vec<String>,
    /// Random selection: the request and the workerpool order carry the random tag, so the
    /// deal's workers are drawn, not picked by the scheduler.
    pub random: bool,
    /// With [`Self::random`]: the spot-check byte q (audited with probability q/256; 0: none).
    pub spot_check: u8,
    /// More members of `params` (e.g. a proxy task's `"oracle"` destination).
    pub extra_params: Vec<(String, serde_json::Value)>,
    /// With [`Self::tee`]: the attestations the hub requires (k registered attesters).
    pub attestations: usize,
}

impl DealRequest {
    /// One task of `app` at trust 1, category 0, no arguments.
    pub fn new(app: Address) -> Self {
        Self {
            app,
            dataset: Address::ZERO,
            args: String::new(),
            input_files: Vec::new(),
            trust: 1,
            volume: 1,
            category: 0,
            callback: Address::ZERO,
            tee: false,
            secrets: Vec::new(),
            random: false,
            spot_check: 0,
            extra_params: Vec::new(),
            attestations: 1,
        }
    }

    /// A random-selection deal: its workers are drawn by a beacon round.
    pub fn random(mut self) -> Self {
        self.random = true;
        self
    }

    /// A random-selection deal whose tasks are audited with probability `q`/256 (spot checks).
    pub fn spot_check(mut self, q: u8) -> Self {
        self.random = true;
        self.spot_check = q;
        self
    }

    /// Adds `key: value` to the request's `params`.
    pub fn param(mut self, key: &str, value: serde_json::Value) -> Self {
        self.extra_params.push((key.to_owned(), value));
        self
    }

    /// A TEE deal (one attestation): no replication, the result signed by the enclave.
    pub fn tee(mut self) -> Self {
        self.tee = true;
        self
    }

    /// A TEE deal whose result needs `k` attestations (k keepers' signatures).
    pub fn attestations(mut self, k: usize) -> Self {
        self.tee = true;
        self.attestations = k;
        self
    }

    /// Giving the app the requester's secret `name` as `/secrets/<name>`.
    pub fn secret(mut self, name: &str) -> Self {
        self.secrets.push(name.to_owned());
        self
    }

    /// With these arguments.
    pub fn args(mut self, args: &str) -> Self {
        self.args = args.to_owned();
        self
    }

    /// At this trust.
    pub fn trust(mut self, trust: u64) -> Self {
        self.trust = trust;
        self
    }

    /// With this many tasks.
    pub fn volume(mut self, volume: u64) -> Self {
        self.volume = volume;
        self
    }

    /// With this dataset (free, signed by the dataset owner).
    pub fn dataset(mut self, dataset: Address) -> Self {
        self.dataset = dataset;
        self
    }

    /// With this callback contract (it receives each task's callback data at finalization).
    pub fn callback(mut self, callback: Address) -> Self {
        self.callback = callback;
        self
    }

    /// In this category.
    pub fn category(mut self, category: u64) -> Self {
        self.category = category;
        self
    }
}

/// Waits until `workerpool`'s last registry snapshot holds its registry as it is (its scheduler
/// commits one when it changes) and the chain's clock has moved past it, so a deal matched now
/// draws over it; fails after `timeout`.
pub async fn wait_current_snapshot(
    client: &Client,
    workerpool: Address,
    timeout: Duration,
) -> Result<(), PoolError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(at) =
            decloud_chain::selection::current_snapshot_time(client, workerpool).await?
        {
            // A deal in the snapshot's own second would not draw over it; the next block
            // carries the wall clock on a devnet that mines on demand.
            let wall = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            if wall <= at {
                tokio::time::sleep(Duration::from_millis(1_000 * (at + 1 - wall))).await;
            }
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(LocalError::NoSnapshot(workerpool, timeout));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A matched deal and its task ids.
#[derive(Clone, Debug)]
pub struct Deal {
    /// The deal as matched.
    pub matched: MatchedDeal,
}

impl Deal {
    /// The deal id.
    pub fn id(&self) -> B256 {
        self.matched.deal_id
    }

    /// Its task ids, in index order.
    pub fn task_ids(&self) -> Vec<B256> {
        let volume = u64::try_from(self.matched.deal.volume).unwrap_or(0);
        decloud_protocol::ids::task_ids(self.matched.deal_id, volume).collect()
    }
}

/// A running workerpool on a devnet.
pub struct Pool {
    /// The devnet's profile.
    pub profile: decloud_chain::ChainProfile,
    /// The workerpool.
    pub workerpool: Address,
    /// Where the storage node serves blobs (`http://addr/blobs`).
    pub storage_url: String,
    options: PoolOptions,
    // Field order matters: the services stop before their directory is deleted.
    node: Node,
    keepers: Vec<Option<decloud_sms::RunningSms>>,
    keeper_urls: Vec<String>,
    keeper_keys: Vec<PrivateKeySigner>,
    worker_keys: Vec<PrivateKeySigner>,
    dir: TempDir,
    salt: std::sync::atomic::AtomicU64,
}

impl Pool {
    /// Registers a workerpool (owner: [`POOL_OWNER`]), deposits the scheduler's stake money,
    /// and starts a storage node, the scheduler and `options.workers` workers.
    pub async fn start(devnet: &Devnet, options: PoolOptions) -> Result<Self, PoolError> {
        let dir = tempfile::Builder::new()
            .prefix("decloud-pool-")
            .tempdir()
            .map_err(|source| LocalError::Io {
                path: std::env::temp_dir(),
                source,
            })?;
        let owner =
            Client::connect(devnet.profile(), None, Some(devnet.signer(POOL_OWNER))).await?;
        let workerpool =
            decloud_chain::actions::register_workerpool(&owner, "testkit pool", 30, 10).await?;
        decloud_chain::actions::deposit(&owner, U256::from(100_000) * options.workerpool_price)
            .await?;
        let worker_keys = worker_keys(devnet, options.workers).await?;
        let profile = devnet.profile().clone();
        let database_url = format!("sqlite://{}", dir.path().join("scheduler.db").display());
        let mut scheduler = SchedulerConfig::new(
            profile.clone(),
            workerpool,
            decloud_chain::accounts::dev_signer(POOL_OWNER),
            &database_url,
        );
        scheduler.follow_interval = options.follow_interval;
        scheduler.heartbeat_timeout = options.heartbeat_timeout;
        scheduler.rate_limits = options.rate_limits;
        let transport = if options.plain_http {
            decloud_service::transport::Transport::InsecureHttp
        } else {
            decloud_service::transport::Transport::ephemeral()
        };
        scheduler.transport = transport.clone();
        scheduler.client_cas = options.client_cas.clone();
        scheduler.pool.admin_password = options.pool_admin_password.clone();
        let identities = worker_keys
            .iter()
            .enumerate()
            .map(|(i, key)| WorkerIdentity {
                signer: key.clone(),
                data_dir: dir.path().join(format!("worker-{i}")),
            })
            .collect();
        let mut worker_profile = profile.clone();
        if let Some(rpc) = &options.worker_rpc {
            worker_profile.rpc_url = rpc.clone();
        }
        let mut workers = WorkersConfig::new(worker_profile, identities);
        workers.capacity = options.worker_capacity;
        workers.allow_private_hosts = true;
        // Enough for a thousand tasks' stakes: no deposit on the critical path.
        workers.stake_reserve = options.workerpool_price * U256::from(300);
        workers.claim_wait = Duration::from_secs(5);
        workers.tee = options.tee;
        workers.batching = options.worker_batching;
        let mut keepers = Vec::new();
        // Several key holders: keepers (shares), or whole SMS nodes.
        let (holders, keeper) = match options.keepers {
            0 if options.sms_nodes > 1 => (options.sms_nodes, false),
            n => (n, true),
        };
        let registered = if keeper {
            holders
        } else {
            holders.saturating_sub(options.unregistered_sms)
        };
        let mut keeper_keys = Vec::new();
        if let (Some(tee), n @ 1..) = (options.tee, holders) {
            for i in 0..n {
                let signer = if i < registered {
                    attester(devnet).await?
                } else {
                    funded_key(devnet).await?
                };
                keeper_keys.push(signer.clone());
                let keeper = decloud_sms::start(decloud_sms::SmsConfig {
                    listen: ([127, 0, 0, 1], 0).into(),
                    database_url: format!(
                        "sqlite://{}",
                        dir.path().join(format!("keeper-{i}.db")).display()
                    ),
                    profile: profile.clone(),
                    signer: signer.clone(),
                    key_path: dir.path().join(format!("tls/keeper-{i}-seal.key")),
                    tee,
                    transport: transport.clone(),
                    keeper,
                })
                .await?;
                if options.keepers_on_chain {
                    let client = Client::connect(&profile, None, Some(signer)).await?;
                    decloud_chain::keeper_registry::publish(&client, &keeper.url()).await?;
                } else {
                    workers.sms_urls.push(keeper.url());
                }
                keepers.push(Some(keeper));
            }
        }
        let sms = match options.tee {
            Some(_) if holders > 0 => None,
            Some(tee) => Some(decloud_sms::SmsConfig {
                listen: ([127, 0, 0, 1], 0).into(),
                database_url: format!("sqlite://{}", dir.path().join("sms.db").display()),
                profile: profile.clone(),
                signer: attester(devnet).await?,
                key_path: dir.path().join("tls/sms-seal.key"),
                tee,
                transport: transport.clone(),
                keeper: false,
            }),
            None => None,
        };
        let node = Node::start(NodeConfig {
            storage: Some(StorageConfig {
                transport,
                location: dir.path().join("blobs").display().to_string(),
                listen: ([127, 0, 0, 1], 0).into(),
                server: ServerConfig {
                    max_upload_bytes: options.storage_max_upload,
                    ..ServerConfig::default()
                },
            }),
            market: None,
            scheduler: Some(scheduler),
            workers: Some(workers),
            explorer: None,
            beacon: options.beacon.then(|| decloud_beacon::node::BeaconConfig {
                listen: ([127, 0, 0, 1], 0).into(),
                ..decloud_beacon::node::BeaconConfig::default()
            }),
            sms,
        })
        .await?;
        let storage_url = node
            .storage()
            .map(|s| s.url())
            .ok_or(LocalError::NotRunning("the storage node did not start"))?;
        Ok(Self {
            profile,
            workerpool,
            storage_url,
            options,
            node,
            keeper_urls: keepers.iter().flatten().map(|k| k.url()).collect(),
            keepers,
            keeper_keys,
            worker_keys,
            dir,
            salt: std::sync::atomic::AtomicU64::new(1),
        })
    }

    /// The services of this pool.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The scheduler's URL (while it runs).
    pub fn scheduler_url(&self) -> Option<String> {
        self.node.scheduler().map(RunningScheduler::url)
    }

    /// The directory every service of the pool keeps its data under (databases, blobs, the
    /// workers' state): what a test scans for leaked secrets.
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The keepers' URLs, in order (a stopped keeper's is still listed), with
    /// [`PoolOptions::keepers`].
    pub fn keeper_urls(&self) -> Vec<String> {
        self.keeper_urls.clone()
    }

    /// Keeper `i`'s wallet (its attester key), in the order of [`Self::keeper_urls`]: a test
    /// signs with it what that keeper would.
    pub fn keeper_key(&self, i: usize) -> Option<&PrivateKeySigner> {
        self.keeper_keys.get(i)
    }

    /// Stops keeper `i` (a keeper down: its shares are out of reach until it is back).
    pub async fn stop_keeper(&mut self, i: usize) {
        if let Some(keeper) = self.keepers.get_mut(i).and_then(Option::take) {
            keeper.stop().await;
        }
    }

    /// The SMS's URL, with [`PoolOptions::tee`].
    pub fn sms_url(&self) -> Option<String> {
        self.node.sms().map(decloud_sms::RunningSms::url)
    }

    /// Like [`Self::deploy_app`], for TEE tasks: registered with the `sim` runner's measurement
    /// as its `mrenclave` (the enclave runner a key holder accepts for it).
    pub async fn deploy_tee_app(&self, name: &str, wasm: &[u8]) -> Result<Address, PoolError> {
        let mrenclave = B256::from(decloud_tee::sim::sim_runner_measurements().measurement().0);
        upload_app_with(
            &self.profile,
            &self.storage_url,
            name,
            wasm,
            None,
            mrenclave,
        )
        .await
    }

    /// The scheduler (while it runs).
    pub fn scheduler(&self) -> Option<&RunningScheduler> {
        self.node.scheduler()
    }

    /// The address of worker `i`.
    pub fn worker_address(&self, i: usize) -> Address {
        self.worker_keys[i].address()
    }

    /// The key of worker `i` (a test plays a stopped worker's identity with it).
    pub fn worker_key(&self, i: usize) -> PrivateKeySigner {
        self.worker_keys[i].clone()
    }

    /// The data directory of worker `i`.
    pub fn worker_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("worker-{i}"))
    }

    /// Starts (or restarts, on the same database and listening port) the scheduler.
    pub async fn start_scheduler(&mut self) -> Result<(), PoolError> {
        self.node.start_scheduler().await
    }

    /// Stops the scheduler at once, as a crash would (its database stays).
    pub async fn kill_scheduler(&mut self) {
        self.node.stop_scheduler().await;
    }

    /// Starts (or restarts, with its saved jobs) worker `i`.
    pub async fn start_worker(&mut self, i: usize) -> Result<(), PoolError> {
        self.node.start_worker(i).await
    }

    /// Stops worker `i` at once, as a crash would.
    pub async fn kill_worker(&mut self, i: usize) {
        self.node.stop_worker(i).await;
    }

    /// Uploads a wasm module to the storage node and registers it as an app of the app
    /// developer; returns the app's id.
    pub async fn deploy_app(&self, name: &str, wasm: &[u8]) -> Result<Address, PoolError> {
        self.deploy_app_at(name, wasm, None).await
    }

    /// Like [`Self::deploy_app`], but registers `checksum` instead of the module's own (to test
    /// a module that does not match its registration).
    pub async fn deploy_app_at(
        &self,
        name: &str,
        wasm: &[u8],
        checksum: Option<B256>,
    ) -> Result<Address, PoolError> {
        upload_app(&self.profile, &self.storage_url, name, wasm, checksum).await
    }

    /// Creates a category of work of reference time `reference_secs` (its deadlines and the
    /// sandbox's limits derive from it), as the hub's admin; returns its id.
    pub async fn create_category(&self, name: &str, reference_secs: u64) -> Result<u64, PoolError> {
        let admin = Client::connect(
            &self.profile,
            None,
            Some(decloud_chain::accounts::dev_signer(0)),
        )
        .await?;
        let ext = admin.hub();
        let id = admin
            .read("reading the category count", ext.categoryCount())
            .await?;
        admin
            .send(
                "creating a category",
                ext.createCategory(name.into(), name.into(), U256::from(reference_secs))
                    .into_transaction_request(),
            )
            .await?;
        Ok(u64::try_from(id).unwrap_or_default())
    }

    /// Uploads `bytes` to the storage node and registers them as a dataset of the dataset owner
    /// ([`DATASET_OWNER`]); returns the dataset's id.
    pub async fn deploy_dataset(&self, name: &str, bytes: &[u8]) -> Result<Address, PoolError> {
        let store = BlobStore::from_url(&self.storage_url)?;
        let id = store.put(Bytes::copy_from_slice(bytes)).await?;
        let owner = Client::connect(
            &self.profile,
            None,
            Some(decloud_chain::accounts::dev_signer(DATASET_OWNER)),
        )
        .await?;
        Ok(decloud_chain::actions::register_dataset(
            &owner,
            name,
            &store.url_of(&id),
            B256::from(ContentHash::of(bytes).0),
        )
        .await?)
    }

    /// Registers a **local** dataset of [`DATASET_OWNER`]: its checksum, never its bytes
    /// (uri [`decloud_worker::LOCAL_DATASET_URI`]); only a worker holding it at a local
    /// path runs its tasks.
    pub async fn deploy_local_dataset(
        &self,
        name: &str,
        bytes: &[u8],
    ) -> Result<Address, PoolError> {
        let owner = Client::connect(
            &self.profile,
            None,
            Some(decloud_chain::accounts::dev_signer(DATASET_OWNER)),
        )
        .await?;
        Ok(decloud_chain::actions::register_dataset(
            &owner,
            name,
            decloud_worker::LOCAL_DATASET_URI,
            B256::from(ContentHash::of(bytes).0),
        )
        .await?)
    }

    fn next_salt(&self) -> B256 {
        let n = self.salt.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut salt = B256::random();
        salt.0[..8].copy_from_slice(&n.to_be_bytes());
        salt
    }

    /// Signs an app order (free), a workerpool order and the request, and matches them, sent
    /// by the requester.
    pub async fn deal(&self, request: &DealRequest) -> Result<Deal, PoolError> {
        let requester = Client::connect(
            &self.profile,
            None,
            Some(decloud_chain::accounts::dev_signer(REQUESTER)),
        )
        .await?;
        let domain = requester.domain();
        let mut tag = if request.tee {
            Tag::TEE.union(decloud_protocol::tee::tag_for_attestations(
                request.attestations.max(1),
            )?)
        } else {
            Tag::default()
        };
        // What the pool offers: a pool that offers random selection offers spot checks too (the
        // whole q byte, so any probability matches); the request asks for its own q.
        let mut offered = tag;
        if request.random {
            tag =
                decloud_protocol::spot::with_spot_byte(tag.union(Tag::RANDOM), request.spot_check);
            offered = decloud_protocol::spot::with_spot_byte(offered.union(Tag::RANDOM), 0xff);
            // The workerpool order of a random deal waits for the scheduler's snapshot of the
            // registry as it is: a deal draws over the last one committed before it starts.
            wait_current_snapshot(&requester, self.workerpool, Duration::from_secs(60)).await?;
        }
        let mut app_order = AppOrder {
            app: request.app,
            app_price: U256::ZERO,
            volume: request.volume,
            salt: self.next_salt(),
            ..Default::default()
        };
        app_order.sign_with(&decloud_chain::accounts::dev_signer(APP_OWNER), &domain)?;
        let mut pool_order = WorkerpoolOrder {
            workerpool: self.workerpool,
            workerpool_price: self.options.workerpool_price,
            volume: request.volume,
            tag: offered,
            category: request.category,
            trust: self.options.max_trust.max(request.trust),
            salt: self.next_salt(),
            ..Default::default()
        };
        pool_order.sign_with(&decloud_chain::accounts::dev_signer(POOL_OWNER), &domain)?;
        let mut params = serde_json::Map::new();
        if !request.args.is_empty() {
            params.insert("args".into(), request.args.clone().into());
        }
        if !request.input_files.is_empty() {
            params.insert("input_files".into(), request.input_files.clone().into());
        }
        if !request.secrets.is_empty() {
            params.insert("secrets".into(), request.secrets.clone().into());
        }
        for (key, value) in &request.extra_params {
            params.insert(key.clone(), value.clone());
        }
        let me = requester.address().unwrap_or_default();
        let mut order = RequestOrder {
            app: request.app,
            app_max_price: U256::ZERO,
            dataset: request.dataset,
            dataset_max_price: U256::ZERO,
            workerpool: self.workerpool,
            workerpool_max_price: self.options.workerpool_price,
            requester: me,
            volume: request.volume,
            tag,
            category: request.category,
            trust: request.trust,
            beneficiary: me,
            callback: request.callback,
            params: if params.is_empty() {
                String::new()
            } else {
                serde_json::Value::Object(params).to_string()
            },
            expiry: 0,
            salt: self.next_salt(),
            sign: Bytes::new(),
        };
        order.sign_with(&decloud_chain::accounts::dev_signer(REQUESTER), &domain)?;
        let cost = self.options.workerpool_price * U256::from(request.volume);
        decloud_chain::actions::deposit_at_least(&requester, cost).await?;
        let dataset_order = if request.dataset == Address::ZERO {
            DatasetOrder::none()
        } else {
            // The owner's order names this pool: its data goes nowhere else.
            let mut o = DatasetOrder {
                dataset: request.dataset,
                dataset_price: U256::ZERO,
                workerpool_restrict: self.workerpool,
                volume: request.volume,
                salt: self.next_salt(),
                ..Default::default()
            };
            o.sign_with(&decloud_chain::accounts::dev_signer(DATASET_OWNER), &domain)?;
            o
        };
        let matched =
            match_orders(&requester, &app_order, &dataset_order, &pool_order, &order).await?;
        Ok(Deal { matched })
    }

    /// Waits until every task is completed (or any is failed), reading the chain every 100 ms;
    /// fails after `timeout` naming the tasks still open.
    pub async fn wait_completed(&self, tasks: &[B256], timeout: Duration) -> Result<(), PoolError> {
        let chain = Client::connect(&self.profile, None, None).await?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut open = Vec::new();
            for &task in tasks {
                let view = chain.read("reading a task", chain.hub().task(task)).await?;
                match view.status {
                    3 => {}
                    4 => return Err(LocalError::TaskFailed(task)),
                    _ => open.push(task),
                }
            }
            if open.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(LocalError::NotCompleted { open, timeout });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Uploads a wasm module to the storage node at `storage_url` and registers it as an app of the
/// app developer ([`APP_OWNER`]) with `checksum`, or the module's own when `None`; returns the
/// app's id. [`Pool::deploy_app`] and the benchmarks' pools use it.
pub async fn upload_app(
    profile: &decloud_chain::ChainProfile,
    storage_url: &str,
    name: &str,
    wasm: &[u8],
    checksum: Option<B256>,
) -> Result<Address, PoolError> {
    upload_app_with(profile, storage_url, name, wasm, checksum, B256::ZERO).await
}

/// [`upload_app`] with the app's `mrenclave` (the enclave runner measurement of a TEE app).
pub async fn upload_app_with(
    profile: &decloud_chain::ChainProfile,
    storage_url: &str,
    name: &str,
    wasm: &[u8],
    checksum: Option<B256>,
    mrenclave: B256,
) -> Result<Address, PoolError> {
    let store = BlobStore::from_url(storage_url)?;
    let id = store.put(Bytes::copy_from_slice(wasm)).await?;
    let developer = Client::connect(
        profile,
        None,
        Some(decloud_chain::accounts::dev_signer(APP_OWNER)),
    )
    .await?;
    let checksum = checksum.unwrap_or(B256::from(ContentHash::of(wasm).0));
    Ok(decloud_chain::actions::register_app(
        &developer,
        name,
        &store.url_of(&id),
        checksum,
        mrenclave,
    )
    .await?)
}

/// A fresh key given ether and tokens and registered at the hub as an attester with the
/// minimum stake: the SMS's wallet, whose `EnclaveAttested` signatures the hub then counts.
async fn attester(devnet: &Devnet) -> Result<PrivateKeySigner, PoolError> {
    let key = funded_key(devnet).await?;
    let client = Client::connect(devnet.profile(), None, Some(key.clone())).await?;
    let stake = decloud_chain::attesters::min_stake(&client).await?;
    decloud_chain::attesters::register(&client, stake).await?;
    Ok(key)
}

/// Keys for `n` workers: the development accounts from [`FIRST_WORKER`] to 9, then fresh keys
/// given ether and tokens.
pub async fn worker_keys(devnet: &Devnet, n: usize) -> Result<Vec<PrivateKeySigner>, PoolError> {
    let mut keys = Vec::with_capacity(n);
    for i in 0..n {
        if FIRST_WORKER + i < 10 {
            keys.push(devnet.signer(FIRST_WORKER + i));
        } else {
            keys.push(funded_key(devnet).await?);
        }
    }
    Ok(keys)
}

/// A fresh key given 100 ether and 10,000 tokens.
async fn funded_key(devnet: &Devnet) -> Result<PrivateKeySigner, PoolError> {
    let key = PrivateKeySigner::random();
    decloud_chain::devnet::fund(
        devnet.profile(),
        key.address(),
        U256::from(100u64) * U256::from(10u64).pow(U256::from(18)),
        U256::from(10_000_000_000_000u64),
    )
    .await?;
    Ok(key)
}

/// The minimum stake per worker a devnet pool gets when it has none: one token.
pub const DEVNET_MIN_WORKER_STAKE: u64 = 1_000_000_000;

/// Makes `workers` members of `workerpool`: with its `owner`'s key, the pool gets
/// [`DEVNET_MIN_WORKER_STAKE`] as its minimum when it has none; then each worker that never
/// joined locks `capacity` minimums (deposited from its wallet, which must hold them), so its
/// scheduler serves it with that capacity. A pool without a minimum (and no owner's key here)
/// takes only admitted workers: nobody joins, and its scheduler's refusal says so.
pub async fn make_members(
    profile: &decloud_chain::ChainProfile,
    rpc: Option<&str>,
    owner: Option<&PrivateKeySigner>,
    workerpool: Address,
    workers: &[PrivateKeySigner],
    capacity: u64,
) -> Result<(), LocalError> {
    let reader = Client::connect(profile, rpc, owner.cloned()).await?;
    let config = reader
        .read(
            "reading the pool's minimum stake",
            reader.hub().poolConfig(workerpool),
        )
        .await?;
    let mut min = config.minStake;
    if min.is_zero() {
        if owner.is_none() {
            return Ok(());
        }
        min = U256::from(DEVNET_MIN_WORKER_STAKE);
        let tx = decloud_chain::actions::RegistryTx::SetMinStake(workerpool, min);
        decloud_chain::actions::registry(&reader, tx).await?;
    }
    let stake = min * U256::from(capacity.max(1));
    for key in workers {
        let worker = Client::connect(profile, rpc, Some(key.clone())).await?;
        let m = decloud_chain::actions::membership(&worker, workerpool, key.address()).await?;
        if m.joined_at == 0 {
            decloud_chain::actions::join_pool(&worker, workerpool, stake).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_options_never_print_the_administrators_password() {
        let options = super::PoolOptions {
            pool_admin_password: Some("correct horse battery staple".into()),
            ..super::PoolOptions::default()
        };
        let printed = format!("{options:?}");
        assert!(!printed.contains("correct horse"), "{printed}");
        assert!(printed.contains("<set>"), "{printed}");
    }
}
