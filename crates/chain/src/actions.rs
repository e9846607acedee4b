//! Everyday transactions of the marketplace's actors, as one call each: deposit into the
//! escrow (approving the hub first when needed, or only what a balance lacks) and register apps, datasets and workerpools
//! (returning their ids). The demo, the node and the tests use them; each is one or two
//! transactions sent through [`Client::send`].

use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::sol_types::SolEvent;

use crate::ChainError;
use crate::client::Client;
use crate::contracts::{AppRegistry, DatasetRegistry, WorkerpoolRegistry};

/// Moves `amount` tokens from the client's wallet into its escrow account, approving the hub
/// first if its allowance is short.
pub async fn deposit(client: &Client, amount: U256) -> Result<TransactionReceipt, ChainError> {
    let me = client
        .address()
        .ok_or_else(|| ChainError::tx("depositing", "no wallet"))?;
    let hub = client.profile().contracts.hub;
    let token = client.token();
    let allowance = client
        .read("reading the allowance", token.allowance(me, hub))
        .await?;
    if allowance < amount {
        client
            .send(
                "approving the hub",
                token.approve(hub, amount).into_transaction_request(),
            )
            .await?;
    }
    client
        .send(
            "depositing",
            client.hub().deposit(amount).into_transaction_request(),
        )
        .await
}

/// Tops up the client's free escrow balance to at least `amount`, depositing only what it lacks
/// (nothing when it has enough); returns the free balance after.
pub async fn deposit_at_least(client: &Client, amount: U256) -> Result<U256, ChainError> {
    let me = client
        .address()
        .ok_or_else(|| ChainError::tx("depositing", "no wallet"))?;
    let free = client.escrow_balance(me).await?;
    if free >= amount {
        return Ok(free);
    }
    deposit(client, amount - free).await?;
    Ok(amount)
}

/// Sends a registration transaction and returns the id its `E` event announces.
async fn register<E: SolEvent>(
    client: &Client,
    what: &str,
    tx: TransactionRequest,
    id: impl Fn(E) -> Address,
) -> Result<Address, ChainError> {
    Ok(id(client.send_for_event::<E>(what, tx).await?))
}

/// Registers an app owned by the client's wallet; returns its id.
pub async fn register_app(
    client: &Client,
    name: &str,
    uri: &str,
    checksum: B256,
    mrenclave: B256,
) -> Result<Address, ChainError> {
    let tx = client
        .app_registry()
        .register(name.into(), uri.into(), checksum, mrenclave)
        .into_transaction_request();
    register(
        client,
        "registering the app",
        tx,
        |e: AppRegistry::AppRegistered| e.app,
    )
    .await
}

/// Registers a dataset owned by the client's wallet; returns its id.
pub async fn register_dataset(
    client: &Client,
    name: &str,
    uri: &str,
    checksum: B256,
) -> Result<Address, ChainError> {
    let tx = client
        .dataset_registry()
        .register(name.into(), uri.into(), checksum)
        .into_transaction_request();
    register(
        client,
        "registering the dataset",
        tx,
        |e: DatasetRegistry::DatasetRegistered| e.dataset,
    )
    .await
}

/// Registers a workerpool scheduled by the client's wallet; returns its id.
pub async fn register_workerpool(
    client: &Client,
    description: &str,
    worker_stake_ratio: u8,
    scheduler_reward_ratio: u8,
) -> Result<Address, ChainError> {
    let tx = client
        .workerpool_registry()
        .register(
            description.into(),
            worker_stake_ratio,
            scheduler_reward_ratio,
        )
        .into_transaction_request();
    register(
        client,
        "registering the workerpool",
        tx,
        |e: WorkerpoolRegistry::WorkerpoolRegistered| e.workerpool,
    )
    .await
}

/// The fingerprint (SHA-256 of the SubjectPublicKeyInfo) of the TLS key `workerpool`'s owner
/// published for its scheduler, if any.
pub async fn scheduler_key(
    client: &Client,
    workerpool: Address,
) -> Result<Option<B256>, ChainError> {
    let key = client
        .workerpool_registry()
        .schedulerKey(workerpool)
        .call()
        .await
        .map_err(|e| client.contract_error("reading the scheduler's key", &e))?;
    Ok((!key.is_zero()).then_some(key))
}

/// Publishes `fingerprint` as the TLS key of `workerpool`'s scheduler (the client's wallet must
/// own the workerpool).
pub async fn set_scheduler_key(
    client: &Client,
    workerpool: Address,
    fingerprint: B256,
) -> Result<(), ChainError> {
    let tx = client
        .workerpool_registry()
        .setSchedulerKey(workerpool, fingerprint)
        .into_transaction_request();
    client
        .send("publishing the scheduler's TLS key", tx)
        .await
        .map(|_| ())
}

/// A worker's membership of a workerpool, as the hub's worker registry holds it (and the pool's
/// minimum stake, which decides whether a staked worker is a member).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Membership {
    /// The workerpool.
    pub workerpool: Address,
    /// The worker.
    pub worker: Address,
    /// The stake locked in the registry (wei of the escrow token).
    pub stake: U256,
    /// When it joined or was admitted (unix seconds; 0: never).
    pub joined_at: u64,
    /// When its stake unlocks after leaving or being removed (0 while it is a member).
    pub leaving_at: u64,
    /// The replicates in flight the pool's owner allows it (0 unless admitted).
    pub cap: u64,
    /// Whether the pool's owner admitted it.
    pub admitted: bool,
    /// The pool's minimum stake per worker (0: only admitted workers).
    pub min_stake: U256,
}

impl Membership {
    /// Whether the pool serves this worker: admitted, or staked at least the pool's minimum, and
    /// not leaving.
    pub fn is_member(&self) -> bool {
        self.leaving_at == 0
            && (self.admitted || (!self.min_stake.is_zero() && self.stake >= self.min_stake))
    }

    /// How many replicates the worker may hold at once: the owner's cap when admitted, otherwise
    /// one per minimum stake it locked (0 when it is not a member).
    pub fn capacity(&self) -> u64 {
        if !self.is_member() {
            0
        } else if self.admitted {
            self.cap
        } else {
            u64::try_from(self.stake / self.min_stake).unwrap_or(u64::MAX)
        }
    }
}

/// Reads `worker`'s membership of `workerpool` from the hub.
pub async fn membership(
    client: &Client,
    workerpool: Address,
    worker: Address,
) -> Result<Membership, ChainError> {
    let hub = client.hub();
    let m = client
        .read(
            "reading the worker's membership",
            hub.poolMember(workerpool, worker),
        )
        .await?;
    let pool = client
        .read(
            "reading the pool's minimum stake",
            hub.poolConfig(workerpool),
        )
        .await?;
    let small = |v: U256| u64::try_from(v).unwrap_or(u64::MAX);
    Ok(Membership {
        workerpool,
        worker,
        stake: m.stake,
        joined_at: small(m.joinedAt),
        leaving_at: small(m.leavingAt),
        cap: small(m.cap),
        admitted: m.admitted,
        min_stake: pool.minStake,
    })
}

/// Joins `workerpool` with the client's wallet, locking `stake` from its escrow balance
/// (depositing what the balance lacks first).
pub async fn join_pool(
    client: &Client,
    workerpool: Address,
    stake: U256,
) -> Result<TransactionReceipt, ChainError> {
    deposit_at_least(client, stake).await?;
    let tx = client
        .hub()
        .joinPool(workerpool, stake)
        .into_transaction_request();
    client.send("joining the workerpool", tx).await
}

/// The other transactions of the hub's worker registry (see [`registry`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryTx {
    /// The worker leaves the workerpool: it is no longer served at once, and its stake unlocks
    /// after the hub's leave delay.
    Leave(Address),
    /// A left worker takes its unlocked stake back into its escrow balance.
    WithdrawStake(Address),
    /// The pool's owner sets the minimum stake a worker locks to join.
    SetMinStake(Address, U256),
    /// The pool's owner admits a worker without a stake, with at most `cap` replicates in
    /// flight.
    Admit {
        /// The workerpool.
        workerpool: Address,
        /// The worker.
        worker: Address,
        /// Replicates it may hold at once.
        cap: u64,
    },
    /// The pool's owner admits many workers at once (one transaction), each with at most
    /// `cap` replicates in flight.
    AdmitMany {
        /// The workerpool.
        workerpool: Address,
        /// The workers.
        workers: Vec<Address>,
        /// Replicates each may hold at once.
        cap: u64,
    },
    /// The pool's owner removes a worker.
    Remove {
        /// The workerpool.
        workerpool: Address,
        /// The worker.
        worker: Address,
    },
}

/// Sends a worker-registry transaction from the client's wallet.
pub async fn registry(client: &Client, tx: RegistryTx) -> Result<TransactionReceipt, ChainError> {
    let hub = client.hub();
    let (what, request) = match tx {
        RegistryTx::Leave(pool) => (
            "leaving the workerpool",
            hub.leavePool(pool).into_transaction_request(),
        ),
        RegistryTx::WithdrawStake(pool) => (
            "withdrawing the pool stake",
            hub.withdrawPoolStake(pool).into_transaction_request(),
        ),
        RegistryTx::SetMinStake(pool, min) => (
            "setting the minimum worker stake",
            hub.setMinWorkerStake(pool, min).into_transaction_request(),
        ),
        RegistryTx::Admit {
            workerpool,
            worker,
            cap,
        } => (
            "admitting the worker",
            hub.admitWorker(workerpool, worker, U256::from(cap))
                .into_transaction_request(),
        ),
        RegistryTx::AdmitMany {
            workerpool,
            workers,
            cap,
        } => (
            "admitting the workers",
            hub.admitWorkers(workerpool, workers, U256::from(cap))
                .into_transaction_request(),
        ),
        RegistryTx::Remove { workerpool, worker } => (
            "removing the worker",
            hub.removeWorker(workerpool, worker)
                .into_transaction_request(),
        ),
    };
    client.send(what, request).await
}
