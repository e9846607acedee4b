//! Trust-1 contributions batched into one transaction, end to end on a real devnet: a worker of
//! several slots sends its finished results of a deal together (`contributeAndRevealBatch`), the
//! scheduler follows the hub's per-task events and finalizes every task, and each task's result
//! and payment are those of a task contributed alone.

use std::collections::HashSet;
use std::time::Duration;

use alloy::primitives::{B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::{SolCall, SolEvent};
use decloud_chain::client::Client;
use decloud_chain::contracts::IHub;
use decloud_testkit::pool::{DealRequest, Pool, PoolOptions};
use decloud_testkit::{Devnet, fixtures};
use decloud_worker::Batching;

/// The hashes of the transactions that carried the `TaskContribute` events of `tasks`.
async fn contribution_transactions(chain: &Client, tasks: &[B256]) -> HashSet<B256> {
    let wanted: HashSet<B256> = tasks.iter().copied().collect();
    let filter = Filter::new()
        .address(chain.profile().contracts.hub)
        .event_signature(IHub::TaskContribute::SIGNATURE_HASH)
        .from_block(0);
    let logs = chain.provider().get_logs(&filter).await.unwrap();
    let mine: Vec<_> = logs
        .iter()
        .filter(|l| l.topics().get(1).is_some_and(|t| wanted.contains(t)))
        .collect();
    assert_eq!(mine.len(), tasks.len(), "one contribution per task");
    mine.iter().map(|l| l.transaction_hash.unwrap()).collect()
}

async fn run(batching: Batching) -> (Vec<B256>, HashSet<B256>, Client, Pool, Devnet) {
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(
        &devnet,
        PoolOptions {
            workers: 1,
            worker_capacity: 4,
            worker_batching: batching,
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let chain = Client::connect(&pool.profile, None, None).await.unwrap();
    let app = pool
        .deploy_app("greeting", &fixtures::example_app("greeting").unwrap())
        .await
        .unwrap();
    let tasks = pool
        .deal(&DealRequest::new(app).args("batch").volume(8))
        .await
        .unwrap()
        .task_ids();
    pool.wait_completed(&tasks, Duration::from_secs(180))
        .await
        .unwrap();
    let txs = contribution_transactions(&chain, &tasks).await;
    (tasks, txs, chain, pool, devnet)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_batches_its_trust_one_results_and_every_task_is_certified_and_paid() {
    // A long wait: a batch closes when the worker's four slots all wait in it, so eight tasks
    // take two transactions unless a slot is slow to fill.
    let (tasks, txs, chain, pool, _devnet) = run(Batching {
        max_tasks: 32,
        max_wait: Duration::from_secs(5),
    })
    .await;
    assert!(
        txs.len() < tasks.len(),
        "8 tasks contributed in {} transactions: no batch was sent",
        txs.len()
    );
    let worker = pool.worker_address(0);
    for task in &tasks {
        let view = chain.hub().task(*task).call().await.unwrap();
        assert_eq!(view.status, 3, "task {task} completed");
        assert_eq!(view.worker, worker);
        let finalized = fixtures::hub_events::<IHub::TaskFinalize>(&chain, *task)
            .await
            .unwrap();
        assert_eq!(finalized.len(), 1, "task {task} finalized once");
        let revealed = fixtures::hub_events::<IHub::TaskReveal>(&chain, *task)
            .await
            .unwrap();
        assert_eq!(revealed.len(), 1, "task {task} revealed once");
    }
    // Every stake came back: nothing of the batch is left frozen.
    assert_eq!(
        chain.hub().frozenOf(worker).call().await.unwrap(),
        U256::ZERO
    );
    // At least one of them is the batch function.
    let mut batches = 0;
    for hash in &txs {
        let tx = chain
            .provider()
            .get_transaction_by_hash(*hash)
            .await
            .unwrap()
            .unwrap();
        let input = alloy::consensus::Transaction::input(&tx);
        if input.starts_with(&IHub::contributeAndRevealBatchCall::SELECTOR) {
            batches += 1;
        }
    }
    assert!(batches >= 1, "no contributeAndRevealBatch among {txs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batching_off_sends_one_transaction_per_task() {
    let (tasks, txs, ..) = run(Batching {
        max_tasks: 1,
        max_wait: Duration::from_secs(5),
    })
    .await;
    assert_eq!(txs.len(), tasks.len());
}
