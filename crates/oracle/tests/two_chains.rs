//! Proxy tasks end to end on two anvils: the median app runs on chain A (the real hub, pool,
//! workers and wasm runtime), three committee signers follow A and sign, a relayer carries the
//! signatures to the gateway on chain B, and example feeds there accept the results.

use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, I256, U256, keccak256};
use alloy::providers::Provider;
use decloud_oracle::contracts::{Committee, Gateway, MedianFeed, StakeVoteFeed};
use decloud_testkit::fixtures::example_app;
use decloud_testkit::oracle::{TwoChains, relay};
use decloud_testkit::pool::{Pool, PoolOptions};

/// The consumer owner on chain B.
const OWNER: usize = 1;
/// The relayer's account on chain B.
const RELAYER: usize = 9;

/// How long the relayer has to deliver.
const RELAY_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_median_computed_on_a_reaches_a_feed_on_b_through_the_committee() {
    let chains = TwoChains::start().await.unwrap();
    let b = chains.b().clone();
    let pool = Pool::start(
        &chains.a,
        PoolOptions {
            workers: 2,
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let app = pool
        .deploy_app("median", &example_app("median").unwrap())
        .await
        .unwrap();

    // On B: a median feed of 3 results, owned by OWNER, open to the pool's workerpool, funded.
    let owner_b = chains.b_provider(OWNER);
    let owner = decloud_chain::accounts::dev_signer(OWNER).address();
    let feed_id = keccak256("Price-ETH/USD-0");
    let feed = MedianFeed::deploy(
        &owner_b,
        b.gateway,
        feed_id,
        owner,
        U256::from(3),
        U256::from(500),
    )
    .await
    .unwrap();
    let fee = U256::from(1_000_000_000u64);
    chains
        .open_consumer(OWNER, *feed.address(), pool.workerpool, Some(fee))
        .await
        .unwrap();
    let gateway = Gateway::new(b.gateway, &owner_b);

    let nodes = chains.signers().await.unwrap();
    let mut relayer = chains.relayer(&nodes, RELAYER, 10).unwrap();

    // On A: a deal of three tasks calling the committee back, with B's feed as destination.
    let deal = pool
        .deal(
            &chains
                .proxy_request(app, *feed.address(), None)
                .args("3100 3090 3120 3105 3095")
                .volume(3),
        )
        .await
        .unwrap();
    let tasks = deal.task_ids();
    pool.wait_completed(&tasks, Duration::from_secs(180))
        .await
        .unwrap();

    let report = relay(&mut relayer, 3, RELAY_TIMEOUT).await.unwrap();
    assert!(report.transactions >= 1, "{report:?}");

    // The feed has the median, by round (the deal) and as the latest (EIP-2362).
    let answer = feed.valueFor(feed_id).call().await.unwrap();
    assert_eq!(answer._0, I256::try_from(3100).unwrap());
    assert_eq!(answer._2, U256::from(200));
    let by_round = feed.resultFor(deal.id()).call().await.unwrap();
    assert_eq!(
        by_round,
        Bytes::from(I256::try_from(3100).unwrap().to_be_bytes::<32>().to_vec())
    );

    // The committee on A holds what the hub certified, the gateway on B what it delivered.
    let provider_a = chains.a.provider(0);
    let committee = Committee::new(chains.profile.source.committee, &provider_a);
    let data = I256::try_from(3100).unwrap().to_be_bytes::<32>();
    for task in &tasks {
        assert_eq!(
            committee.certified(*task).call().await.unwrap(),
            keccak256(data)
        );
        let key = chains.delivery_key(*task, *feed.address());
        assert_eq!(gateway.status(key).call().await.unwrap(), 1, "delivered");
    }
    // The relayer earned the feed's fee for each result.
    let relayer_address = decloud_chain::accounts::dev_signer(RELAYER).address();
    assert_eq!(
        gateway.earned(relayer_address).call().await.unwrap(),
        fee * U256::from(3)
    );
    // A second pass finds nothing to deliver: no replay.
    let again = relayer.pass().await.unwrap();
    assert_eq!(again.delivered, 0);
    let block = chains.b_provider(0).get_block_number().await.unwrap();
    assert!(block > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_consumer_that_refuses_is_recorded_and_a_retry_delivers_once_it_is_fixed() {
    let chains = TwoChains::start().await.unwrap();
    let b = chains.b().clone();
    let pool = Pool::start(&chains.a, PoolOptions::default())
        .await
        .unwrap();
    let app = pool
        .deploy_app("median", &example_app("median").unwrap())
        .await
        .unwrap();
    let owner_b = chains.b_provider(OWNER);
    let owner = decloud_chain::accounts::dev_signer(OWNER).address();
    // A vote feed where the pool has no weight yet: its callback reverts with NoWeight.
    let feed = StakeVoteFeed::deploy(&owner_b, b.gateway, keccak256("vote"), owner)
        .await
        .unwrap();
    chains
        .open_consumer(OWNER, *feed.address(), pool.workerpool, None)
        .await
        .unwrap();
    let nodes = chains.signers().await.unwrap();
    let mut relayer = chains.relayer(&nodes, RELAYER, 10).unwrap();
    let deal = pool
        .deal(
            &chains
                .proxy_request(app, *feed.address(), Some(300_000))
                .args("7 8 9"),
        )
        .await
        .unwrap();
    let task = deal.task_ids()[0];
    pool.wait_completed(&[task], Duration::from_secs(180))
        .await
        .unwrap();
    relay(&mut relayer, 1, RELAY_TIMEOUT).await.unwrap();

    let gateway = Gateway::new(b.gateway, &owner_b);
    let key = chains.delivery_key(task, *feed.address());
    // The key the test computes is the gateway's own.
    assert_eq!(
        gateway
            .deliveryKey(
                U256::from(chains.profile.source.chain_id),
                chains.profile.source.hub,
                task,
                *feed.address(),
                alloy::primitives::FixedBytes(decloud_oracle::delivery::RECEIVE_RESULT),
            )
            .call()
            .await
            .unwrap(),
        key
    );
    assert_eq!(
        gateway.status(key).call().await.unwrap(),
        2,
        "failed, recorded"
    );
    // The failure's record says why: the consumer's NoWeight error.
    let logs = chains
        .b_provider(0)
        .get_logs(
            &alloy::rpc::types::Filter::new()
                .address(b.gateway)
                .event_signature(
                    <Gateway::CallbackFailed as alloy::sol_types::SolEvent>::SIGNATURE_HASH,
                )
                .from_block(0),
        )
        .await
        .unwrap();
    let failed = logs[0]
        .log_decode::<Gateway::CallbackFailed>()
        .unwrap()
        .inner
        .data;
    assert_eq!(failed.taskid, task);
    assert!(!failed.outOfGas);
    assert_eq!(
        &failed.reason[..4],
        &<StakeVoteFeed::NoWeight as alloy::sol_types::SolError>::SELECTOR[..]
    );

    // The owner gives the pool weight; anyone retries with the failed delivery (from the event).
    // A fresh provider: open_consumer sent from OWNER through another one (nonces).
    StakeVoteFeed::new(*feed.address(), chains.b_provider(OWNER))
        .setWeight(pool.workerpool, U256::from(1))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let delivery = decloud_oracle::delivery::DeliveryWire {
        source_chain_id: chains.profile.source.chain_id,
        source_hub: chains.profile.source.hub,
        dealid: deal.id(),
        taskid: task,
        app,
        dataset: Address::ZERO,
        workerpool: pool.workerpool,
        tag: B256::ZERO,
        trust: U256::from(1),
        digest: keccak256(&failed.data),
        consumer: *feed.address(),
        method: alloy::primitives::FixedBytes(decloud_oracle::delivery::RECEIVE_RESULT),
        gas_limit: 300_000,
    };
    let stranger = Gateway::new(b.gateway, chains.b_provider(7));
    let receipt = stranger
        .retry((&delivery).into(), failed.data.clone())
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
    assert_eq!(gateway.status(key).call().await.unwrap(), 1, "delivered");
    let answer = feed.valueFor(deal.id()).call().await.unwrap();
    assert_eq!(answer._0, I256::try_from(8).unwrap());
}
