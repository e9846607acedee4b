//! The in-process workerpool of `decloud-local` ([`Pool`]), with the roles, requests and
//! helpers tests use, plus test-only conveniences.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use decloud_testkit::{Devnet, pool::{Pool, PoolOptions, DealRequest}};
//! let devnet = Devnet::start().await?;
//! let pool = Pool::start(&devnet, PoolOptions::default()).await?;
//! let app = pool.deploy_app("greeting", &std::fs::read("greeting.wasm")?).await?;
//! let deal = pool.deal(&DealRequest::new(app).args("Alice")).await?;
//! pool.wait_completed(&deal.task_ids(), std::time::Duration::from_secs(60)).await?;
//! # Ok(()) }
//! ```

use alloy::primitives::{Address, U256};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use decloud_chain::ChainError;
use decloud_chain::client::Client;

pub use decloud_local::pool::*;

use crate::Devnet;

/// A client of the devnet signing with development account `index`.
pub async fn client(devnet: &Devnet, index: usize) -> Result<Client, ChainError> {
    Client::connect(devnet.profile(), None, Some(devnet.signer(index))).await
}

/// Moves `amount` of development account `index`'s tokens into its escrow account, so that it
/// can pay for deals or stake.
pub async fn deposit(devnet: &Devnet, index: usize, amount: U256) -> Result<(), ChainError> {
    decloud_chain::actions::deposit(&client(devnet, index).await?, amount).await?;
    Ok(())
}

/// Sends `tx` (a call built on any contract instance) from development account `index`; returns
/// its receipt once mined, or the decoded revert.
pub async fn send_as(
    devnet: &Devnet,
    index: usize,
    what: &str,
    tx: TransactionRequest,
) -> Result<TransactionReceipt, ChainError> {
    client(devnet, index).await?.send(what, tx).await
}

/// Has the owner of `pool` admit `worker` to it without a stake, with at most `cap` replicates
/// at once: how a test gets a key of its own past the scheduler's worker-registry check.
pub async fn admit(pool: &Pool, worker: Address, cap: u64) -> Result<(), ChainError> {
    admit_many(pool, vec![worker], cap).await
}

/// [`admit`] for many workers, in transactions of at most [`ADMIT_BATCH`].
pub async fn admit_many(pool: &Pool, workers: Vec<Address>, cap: u64) -> Result<(), ChainError> {
    let owner = Client::connect(
        &pool.profile,
        None,
        Some(decloud_chain::accounts::dev_signer(POOL_OWNER)),
    )
    .await?;
    for batch in workers.chunks(ADMIT_BATCH) {
        decloud_chain::actions::registry(
            &owner,
            decloud_chain::actions::RegistryTx::AdmitMany {
                workerpool: pool.workerpool,
                workers: batch.to_vec(),
                cap,
            },
        )
        .await?;
    }
    Ok(())
}

/// Most workers [`admit_many`] admits in one transaction (≈ 50k gas each, well under a block).
pub const ADMIT_BATCH: usize = 200;
