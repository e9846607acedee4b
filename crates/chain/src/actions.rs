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
    let receipt = client.send(what, tx).await?;
    receipt
        .inner
        .logs()
        .iter()
        .find_map(|log| E::decode_log(&log.inner).ok().map(|l| id(l.data)))
        .ok_or_else(|| ChainError::tx(what, "the receipt holds no registration event"))
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
