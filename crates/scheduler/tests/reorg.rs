//! The scheduler's chain follower through a reorg, driven by hand: a deal seen in a block the
//! chain then drops is forgotten, and the blocks of the new chain are read.

use std::time::Duration;

use alloy::primitives::U256;
use alloy::providers::Provider;
use decloud_chain::client::Client;
use decloud_scheduler::db::Store;
use decloud_scheduler::follower::{FollowerOptions, follow_once};
use decloud_sql::testing::TestDb;
use decloud_testkit::pool::{self, DealRequest, Pool, PoolOptions, REQUESTER};
use decloud_testkit::{Devnet, anvil, fixtures};

/// On every backend: the follower's rewind is SQL too (a deal and its tasks deleted).
async fn a_deal_of_an_orphaned_block_is_forgotten(db: &TestDb) {
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(
        &devnet,
        PoolOptions {
            workers: 0,
            // The pool's own scheduler (another database) stays out of the way.
            follow_interval: Duration::from_secs(3600),
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let greeting = fixtures::example_app("greeting").unwrap();
    let app = pool.deploy_app("greeting", &greeting).await.unwrap();
    // Fund the requester first, so that the snapshot keeps the deposit and drops the deal.
    pool::deposit(&devnet, REQUESTER, U256::from(10_000_000_000_000u64))
        .await
        .unwrap();

    let store = Store::open(db.url()).await.unwrap();
    let client = Client::connect(devnet.profile(), None, None).await.unwrap();
    let options = FollowerOptions::default();
    follow_once(&client, &store, pool.workerpool, options)
        .await
        .unwrap();

    let snapshot = anvil::snapshot(&devnet).await.unwrap();
    let deal = pool.deal(&DealRequest::new(app)).await.unwrap();
    let progress = follow_once(&client, &store, pool.workerpool, options)
        .await
        .unwrap();
    assert_eq!(progress.new_deals, vec![deal.id()]);
    assert!(store.deal(deal.id()).await.unwrap().is_some());

    // The chain forgets the match and grows past the old head.
    anvil::reorg(&devnet, snapshot, 3).await.unwrap();
    let head = devnet.provider(0).get_block_number().await.unwrap();
    let progress = follow_once(&client, &store, pool.workerpool, options)
        .await
        .unwrap();
    assert!(progress.reorg);
    assert_eq!(progress.block, head);
    assert!(
        store.deal(deal.id()).await.unwrap().is_none(),
        "the scheduler kept a deal the chain no longer has"
    );
    // Nothing more to undo.
    let progress = follow_once(&client, &store, pool.workerpool, options)
        .await
        .unwrap();
    assert!(!progress.reorg);
}

decloud_sql::test_on_every_backend!(multi_thread: a_deal_of_an_orphaned_block_is_forgotten);
