//! The running pool: starting its storage node, scheduler, workers and key holders,
//! and reaching, stopping and restarting them.

use std::path::PathBuf;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use decloud_chain::client::Client;
use decloud_scheduler::{RunningScheduler, SchedulerConfig};
use decloud_storage::{ServerConfig, StorageConfig};

use super::accounts::{attester, funded_key};
use super::{POOL_OWNER, Pool, PoolError, PoolOptions, worker_keys};
use crate::node::{Node, NodeConfig, WorkerIdentity, WorkersConfig};
use crate::{Devnet, LocalError};

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
}
