//! Contributions and reveals batched into fewer transactions, end to end on a real devnet: a
//! worker of several slots sends its finished trust-1 results of a deal together
//! (`contributeAndRevealBatch`), and its replicated contributions and reveals together
//! (`contributeBatch`, `revealBatch`); the scheduler follows the hub's per-task events and
//! finalizes every task, and each task's result and payment are those of a task sent alone.

use std::collections::HashSet;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::{SolCall, SolEvent};
use decloud_chain::client::Client;
use decloud_chain::contracts::IHub;
use decloud_testkit::pool::{DealRequest, Pool, PoolOptions};
use decloud_testkit::{Devnet, fixtures};
use decloud_worker::Batching;

/// The hashes of the transactions that carried the `E` events (`TaskContribute`,
/// `TaskReveal`) of `tasks`, checking there are `per_task` of them for each task.
async fn event_transactions<E: SolEvent>(
    chain: &Client,
    tasks: &[B256],
    per_task: usize,
) -> HashSet<B256> {
    let wanted: HashSet<B256> = tasks.iter().copied().collect();
    let filter = Filter::new()
        .address(chain.profile().contracts.hub)
        .event_signature(E::SIGNATURE_HASH)
        .from_block(0);
    let logs = chain.provider().get_logs(&filter).await.unwrap();
    let mine: Vec<_> = logs
        .iter()
        .filter(|l| l.topics().get(1).is_some_and(|t| wanted.contains(t)))
        .collect();
    assert_eq!(
        mine.len(),
        tasks.len() * per_task,
        "{per_task} {} per task",
        E::SIGNATURE
    );
    mine.iter().map(|l| l.transaction_hash.unwrap()).collect()
}

/// The hashes of the transactions that carried the `TaskContribute` events of `tasks`.
async fn contribution_transactions(chain: &Client, tasks: &[B256]) -> HashSet<B256> {
    event_transactions::<IHub::TaskContribute>(chain, tasks, 1).await
}

/// How many of `txs` call the hub's function of `selector`.
async fn calls_to(chain: &Client, txs: &HashSet<B256>, selector: [u8; 4]) -> usize {
    let mut calls = 0;
    for hash in txs {
        let tx = chain
            .provider()
            .get_transaction_by_hash(*hash)
            .await
            .unwrap()
            .unwrap();
        if alloy::consensus::Transaction::input(&tx).starts_with(&selector) {
            calls += 1;
        }
    }
    calls
}

/// A devnet with a pool of `workers` workers of `capacity` slots that batch as `batching`, a
/// client of its chain, and the `greeting` app deployed.
async fn greeting_pool(
    workers: usize,
    capacity: u64,
    batching: Batching,
) -> (Devnet, Pool, Client, Address) {
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(
        &devnet,
        PoolOptions {
            workers,
            worker_capacity: capacity,
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
    (devnet, pool, chain, app)
}

async fn run(batching: Batching) -> (Vec<B256>, HashSet<B256>, Client, Pool, Devnet) {
    let (devnet, pool, chain, app) = greeting_pool(1, 4, batching).await;
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
    let batches = calls_to(&chain, &txs, IHub::contributeAndRevealBatchCall::SELECTOR).await;
    assert!(batches >= 1, "no contributeAndRevealBatch among {txs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_batch_their_replicated_contributions_and_reveals_and_every_task_is_certified_and_paid()
 {
    // A long wait: contributions close when the worker's four slots all wait, reveals when
    // every job told to reveal has handed its reveal over.
    let batching = Batching {
        max_tasks: 32,
        max_wait: Duration::from_secs(5),
    };
    let (_devnet, pool, chain, app) = greeting_pool(3, 4, batching).await;
    // Trust 5 with fresh workers (weight 2 each): three agreeing replicas per task.
    let tasks = pool
        .deal(&DealRequest::new(app).args("replicas").volume(4).trust(5))
        .await
        .unwrap()
        .task_ids();
    pool.wait_completed(&tasks, Duration::from_secs(180))
        .await
        .unwrap();
    let contributed = event_transactions::<IHub::TaskContribute>(&chain, &tasks, 3).await;
    let revealed = event_transactions::<IHub::TaskReveal>(&chain, &tasks, 3).await;
    assert!(
        contributed.len() < 3 * tasks.len(),
        "{} contributions in {} transactions: no batch was sent",
        3 * tasks.len(),
        contributed.len()
    );
    assert!(
        revealed.len() < 3 * tasks.len(),
        "{} reveals in {} transactions: no batch was sent",
        3 * tasks.len(),
        revealed.len()
    );
    assert!(calls_to(&chain, &contributed, IHub::contributeBatchCall::SELECTOR).await >= 1);
    assert!(calls_to(&chain, &revealed, IHub::revealBatchCall::SELECTOR).await >= 1);
    for task in &tasks {
        assert_eq!(chain.hub().task(*task).call().await.unwrap().status, 3);
        let finalized = fixtures::hub_events::<IHub::TaskFinalize>(&chain, *task)
            .await
            .unwrap();
        assert_eq!(finalized.len(), 1, "task {task} finalized once");
    }
    // Every stake came back and every worker won every task it contributed to.
    for i in 0..3 {
        let worker = pool.worker_address(i);
        assert_eq!(
            chain.hub().frozenOf(worker).call().await.unwrap(),
            U256::ZERO,
            "worker {i} has a stake left frozen"
        );
        assert_eq!(
            chain.hub().scoreOf(worker).call().await.unwrap(),
            U256::from(tasks.len()),
            "worker {i} won each task"
        );
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replicated_contribution_does_not_wait_for_slots_no_job_holds() {
    // Two slots per worker and one task: each worker's second slot stays free, so no second
    // write can come. The batch window is far longer than the task: a contribution that waited
    // for the free slot would hold the task past the deadline below.
    let window = Duration::from_secs(60);
    let batching = Batching {
        max_tasks: 32,
        max_wait: window,
    };
    let (_devnet, pool, chain, app) = greeting_pool(3, 2, batching).await;
    let tasks = pool
        .deal(&DealRequest::new(app).args("alone").volume(1).trust(5))
        .await
        .unwrap()
        .task_ids();
    pool.wait_completed(&tasks, window / 2)
        .await
        .expect("the contributions were sent without waiting for the batch window");
    event_transactions::<IHub::TaskContribute>(&chain, &tasks, 3).await;
}
