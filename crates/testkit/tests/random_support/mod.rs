//! What the random-selection and spot-check tests share: a pool with a devnet beacon, wave 0's
//! draw computed ahead, the chain's accounts of every token, a task's contributors and gas.
// Each test binary uses a part of it.
#![allow(dead_code)]

use alloy::primitives::{Address, B256, U256};
use decloud_beacon::ThresholdGroup;
use decloud_chain::client::Client;
use decloud_chain::contracts::IHub;
use decloud_chain::selection;
use decloud_testkit::Devnet;
use decloud_testkit::pool::{Pool, PoolOptions};

/// The devnet beacon's default group (`decloud node --beacon`).
pub(crate) fn devnet_group() -> ThresholdGroup {
    ThresholdGroup::from_seed(b"decloud devnet beacon", 2, 3).unwrap()
}

/// Fails unless `e` is a refusal whose one-line reason holds `phrase`.
pub(crate) fn refused(e: &decloud_chain::ChainError, phrase: &str) {
    let msg = e.to_string();
    assert!(
        msg.contains(phrase),
        "expected a refusal with {phrase:?}, got {msg}"
    );
}

/// A pool of `workers` staked workers with a devnet beacon, and a category of reference
/// `reference` seconds (a wave lasts two).
pub(crate) async fn random_pool(workers: usize, reference: u64) -> (Devnet, Pool, u64) {
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(
        &devnet,
        PoolOptions {
            workers,
            max_trust: 5,
            beacon: true,
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let category = pool
        .create_category("test-random", reference)
        .await
        .unwrap();
    (devnet, pool, category)
}

/// The gas of every transaction that emitted an event about `task` (topic 1), plus the match
/// (`deal`'s `DealCreated`): a task's own gas, receipts with the 21k intrinsic and calldata.
pub(crate) async fn task_gas(client: &Client, deal: B256, task: B256) -> u64 {
    gas_of(client, &[deal, task]).await
}

/// The gas of every transaction that emitted a hub event with one of `topics` as topic 1.
pub(crate) async fn gas_of(client: &Client, topics: &[B256]) -> u64 {
    use alloy::providers::Provider;
    let mut txs = std::collections::BTreeSet::new();
    for &topic in topics {
        let filter = alloy::rpc::types::Filter::new()
            .address(client.profile().contracts.hub)
            .topic1(topic)
            .from_block(0);
        for log in client.provider().get_logs(&filter).await.unwrap() {
            txs.extend(log.transaction_hash);
        }
    }
    let mut gas = 0;
    for tx in txs {
        let receipt = client
            .provider()
            .get_transaction_receipt(tx)
            .await
            .unwrap()
            .unwrap();
        gas += receipt.gas_used;
    }
    gas
}

/// The deal's start on chain.
/// Wave 0 of task 0 of `deal` at `trust` and its drawn positions, computed before the wave's
/// round is due: the devnet group's keys are public, so the test signs the round itself.
pub(crate) async fn wave0_draw_ahead(
    reader: &Client,
    d: &IHub::Deal,
    deal_id: B256,
    workerpool: Address,
    trust: u64,
) -> (selection::Wave, Vec<selection::Drawn>) {
    let wave = selection::wave(reader, d, 0).await.unwrap();
    let start = deal_start(reader, deal_id).await;
    let snapshot = selection::deal_snapshot(reader, workerpool, start)
        .await
        .unwrap();
    let randomness = B256::from(devnet_group().sign_round(wave.round).randomness());
    let drawn = selection::drawn_positions(randomness, deal_id, 0, trust, &snapshot.workers);
    (wave, drawn)
}

pub(crate) async fn deal_start(client: &Client, deal: B256) -> u64 {
    client
        .read("deal", client.hub().dealRecord(deal))
        .await
        .unwrap()
        .startTime
        .saturating_to()
}

/// The workers that contributed to `task` on chain (its `TaskContribute` events: a finalized
/// task's contribution records are cleared).
pub(crate) async fn contributors(client: &Client, task: B256) -> Vec<Address> {
    use alloy::providers::Provider;
    use alloy::sol_types::SolEvent;
    let filter = alloy::rpc::types::Filter::new()
        .address(client.profile().contracts.hub)
        .event_signature(IHub::TaskContribute::SIGNATURE_HASH)
        .topic1(task)
        .from_block(0);
    let mut out: Vec<Address> = client
        .provider()
        .get_logs(&filter)
        .await
        .unwrap()
        .iter()
        .filter_map(|l| IHub::TaskContribute::decode_log(&l.inner).ok())
        .map(|e| e.worker)
        .collect();
    out.sort();
    out
}

/// Every token the hub holds for `who`: its free escrow balance plus what is frozen.
pub(crate) async fn escrow(client: &Client, who: Address) -> U256 {
    let hub = client.hub();
    let free = client.read("balance", hub.balanceOf(who)).await.unwrap();
    let frozen = client.read("frozen", hub.frozenOf(who)).await.unwrap();
    free + frozen
}

/// What the hub's token balance holds beyond the escrow of the devnet's ten accounts, the pool
/// stakes of `workers` and the kitty: constant across a settlement when every token is
/// accounted for (deposits raise both sides).
pub(crate) async fn unaccounted(client: &Client, pool: Address, workers: &[Address]) -> U256 {
    let profile = client.profile();
    let token =
        decloud_chain::contracts::DevToken::new(profile.contracts.token, client.provider().clone());
    let held = client
        .read("hub's tokens", token.balanceOf(profile.contracts.hub))
        .await
        .unwrap();
    let mut known = client.read("kitty", client.hub().kitty()).await.unwrap();
    for i in 0..10 {
        known += escrow(client, decloud_chain::accounts::dev_signer(i).address()).await;
    }
    for w in workers {
        known += client
            .read("member", client.hub().poolMember(pool, *w))
            .await
            .unwrap()
            .stake;
    }
    held - known
}

pub(crate) async fn score(client: &Client, w: Address) -> U256 {
    client.read("score", client.hub().scoreOf(w)).await.unwrap()
}
