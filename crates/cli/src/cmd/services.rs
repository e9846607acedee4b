//! Starting decloud's services inside this process, shared by `decloud node` and `decloud demo`:
//! the storage node, the market, a workerpool's scheduler and its workers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use anyhow::Context;
use decloud_chain::ChainProfile;
use decloud_chain::anvil::DEVNET_CHAIN_ID;
use decloud_storage::{BlobStore, ServerConfig};

/// Default address of a scheduler started by `decloud node --scheduler`.
pub const DEFAULT_SCHEDULER_URL: &str = "http://127.0.0.1:7800";
/// Default address of a storage node started by `decloud node --storage`.
pub const DEFAULT_STORAGE_URL: &str = "http://127.0.0.1:7700/blobs";

/// A storage node serving in this process.
pub struct Storage {
    /// Where its blobs are reachable: `http://addr/blobs`.
    pub url: String,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Storage {
    /// Serves `location` (a directory or an object-store URL) on `listen`.
    pub async fn start(
        location: &str,
        listen: SocketAddr,
        max_upload: u64,
    ) -> anyhow::Result<Self> {
        let store = BlobStore::from_url(location)
            .with_context(|| format!("cannot open the blob store {location}"))?;
        let config = ServerConfig {
            max_upload_bytes: max_upload,
            ..ServerConfig::default()
        };
        let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(decloud_storage::serve(store, config, listen, move |addr| {
            let _ = bound_tx.send(addr);
        }));
        match bound_rx.await {
            Ok(addr) => Ok(Self {
                url: format!("http://{addr}/blobs"),
                task: Some(task),
            }),
            Err(_) => {
                let reason = match task.await {
                    Ok(Err(e)) => e.to_string(),
                    _ => "it stopped".into(),
                };
                anyhow::bail!(
                    "the storage service cannot listen on {listen}: {reason}; pass another --storage-listen"
                )
            }
        }
    }

    /// Waits until the server stops (it runs until the process ends).
    pub async fn wait(mut self) -> anyhow::Result<()> {
        match self.task.take() {
            Some(task) => match task.await {
                Ok(result) => Ok(result?),
                Err(e) => Err(anyhow::anyhow!("the storage service stopped: {e}")),
            },
            None => Ok(()),
        }
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The key file of the node's `index`-th worker (1-based), created on first use.
pub fn worker_key_path(home: &Path, index: usize) -> PathBuf {
    home.join("workers")
        .join(format!("worker-{index}"))
        .join("worker.key")
}

/// Ether given to a node's accounts on a devnet when they have less (gas for a few thousand
/// transactions).
const DEVNET_ETHER: u128 = 100_000_000_000_000_000_000;
/// Tokens given to a node's accounts on a devnet when they have less (stakes): 10,000 DCT.
const DEVNET_TOKENS: u128 = 10_000_000_000_000;

/// On a devnet, gives `account` ether for gas and tokens for stakes when it lacks them; on any
/// other chain, checks it has ether and says how to fund it if not.
pub async fn fund_if_devnet(profile: &ChainProfile, account: Address) -> anyhow::Result<()> {
    let client = decloud_chain::client::Client::connect(profile, None, None).await?;
    let ether = client
        .provider()
        .get_balance(account)
        .await
        .map_err(|e| client.rpc_error("reading a balance", &e))?;
    let tokens = client
        .token()
        .balanceOf(account)
        .call()
        .await
        .map_err(|e| client.contract_error("reading a token balance", &e))?;
    if profile.chain_id != DEVNET_CHAIN_ID {
        if ether.is_zero() {
            anyhow::bail!(
                "account {account} has no ether to pay for gas: send it some before starting the node"
            );
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

/// How to start a node's workers.
pub struct WorkerSet {
    /// How many.
    pub count: usize,
    /// Their scheduler.
    pub scheduler_url: String,
    /// Where they upload results.
    pub results_store: String,
    /// Replicates each runs at once.
    pub capacity: u64,
    /// Whether they may fetch from loopback and private hosts.
    pub allow_private_hosts: bool,
    /// Escrow balance each keeps for stakes.
    pub stake_reserve: U256,
}

/// Starts `set.count` workers, each with its own key under `home/workers/` (funded on a
/// devnet).
pub async fn start_workers(
    home: &Path,
    profile: &ChainProfile,
    set: &WorkerSet,
) -> anyhow::Result<Vec<decloud_worker::RunningWorker>> {
    let mut workers = Vec::with_capacity(set.count);
    for index in 1..=set.count {
        let key_path = worker_key_path(home, index);
        let signer: PrivateKeySigner = decloud_chain::keyfile::load_or_create(&key_path)?;
        fund_if_devnet(profile, signer.address()).await?;
        let data_dir = key_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| home.join("workers"));
        let mut config = decloud_worker::WorkerConfig::new(
            &set.scheduler_url,
            profile.clone(),
            signer,
            data_dir,
            &set.results_store,
        );
        config.capacity = set.capacity;
        config.allow_private_hosts = set.allow_private_hosts;
        config.stake_reserve = set.stake_reserve;
        config.claim_wait = Duration::from_secs(25);
        let worker = decloud_worker::start(config)
            .await
            .with_context(|| format!("cannot start worker {index}"))?;
        workers.push(worker);
    }
    Ok(workers)
}
