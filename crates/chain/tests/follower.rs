//! The chain follower against a real anvil: a range longer than `max_range` is read in several
//! `eth_getLogs` requests and gives the same logs as one request; a reorg (a snapshot reverted,
//! then other blocks mined) is reported from the exact common ancestor.

use std::sync::atomic::{AtomicUsize, Ordering};

use alloy::primitives::{Address, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{Filter, Log, TransactionRequest};
use decloud_chain::follower::{
    BlockRef, BlockSource, Cursor, Follower, FollowerError, FollowerOptions, Step, get_logs_chunked,
};
use decloud_testkit::{Devnet, anvil};

/// The devnet's provider, counting the `eth_getLogs` requests.
struct Counting {
    provider: DynProvider,
    log_requests: AtomicUsize,
}

impl BlockSource for Counting {
    async fn head(&self) -> Result<u64, FollowerError> {
        self.provider.head().await
    }

    async fn block(&self, number: u64) -> Result<Option<BlockRef>, FollowerError> {
        self.provider.block(number).await
    }

    async fn logs(&self, filter: &Filter) -> Result<Vec<Log>, FollowerError> {
        self.log_requests.fetch_add(1, Ordering::SeqCst);
        self.provider.logs(filter).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_range_is_read_in_several_requests() {
    let devnet = Devnet::start().await.unwrap();
    let provider = devnet.provider(0);
    anvil::mine(&devnet, 45).await.unwrap();
    let head = provider.get_block_number().await.unwrap();
    // The deployment's events, read in one request.
    let all = provider
        .get_logs(&Filter::new().from_block(0).to_block(head))
        .await
        .unwrap();
    assert!(!all.is_empty());

    let source = Counting {
        provider: provider.clone(),
        log_requests: AtomicUsize::new(0),
    };
    let chunked = get_logs_chunked(&source, &Filter::new(), 0, None, 10)
        .await
        .unwrap();
    assert_eq!(chunked, all);
    let requests = usize::try_from(head / 10 + 1).unwrap();
    assert_eq!(source.log_requests.swap(0, Ordering::SeqCst), requests);

    let follower = Follower::new(
        source,
        Filter::new(),
        FollowerOptions {
            max_range: 10,
            ..FollowerOptions::default()
        },
    )
    .unwrap();
    let mut cursor = Cursor::start_at(0);
    let mut logs = Vec::new();
    loop {
        match follower.poll(&cursor).await.unwrap() {
            Step::Batch(batch) => {
                assert!(batch.to - batch.from < 10);
                logs.extend(batch.logs);
                cursor = batch.cursor;
            }
            Step::Rewind(r) => panic!("no reorg happened, yet {r:?}"),
            Step::Idle => break,
        }
    }
    assert_eq!(logs, all);
    assert_eq!(
        follower.source().log_requests.load(Ordering::SeqCst),
        requests
    );
    assert_eq!(cursor.next_block(), head + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_is_reported_from_the_common_ancestor() {
    let devnet = Devnet::start().await.unwrap();
    let provider = devnet.provider(0);
    let follower =
        Follower::new(provider.clone(), Filter::new(), FollowerOptions::default()).unwrap();
    let ancestor = provider.get_block_number().await.unwrap();
    let snapshot = anvil::snapshot(&devnet).await.unwrap();
    // Two blocks with a transaction each, so that their replacements differ.
    for _ in 0..2 {
        provider
            .send_transaction(
                TransactionRequest::default()
                    .to(Address::repeat_byte(9))
                    .value(U256::from(1)),
            )
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
    }
    let mut cursor = Cursor::start_at(0);
    while let Step::Batch(batch) = follower.poll(&cursor).await.unwrap() {
        cursor = batch.cursor;
    }
    assert_eq!(cursor.next_block(), ancestor + 3);

    anvil::reorg(&devnet, snapshot, 3).await.unwrap();
    let Step::Rewind(rewind) = follower.poll(&cursor).await.unwrap() else {
        panic!("the reorg went unnoticed");
    };
    assert!(rewind.ancestor_found);
    assert_eq!(rewind.orphaned_from, ancestor + 1);
    assert_eq!(rewind.cursor.next_block(), ancestor + 1);
    let Step::Batch(batch) = follower.poll(&rewind.cursor).await.unwrap() else {
        panic!("the new blocks were not read");
    };
    assert_eq!((batch.from, batch.to), (ancestor + 1, ancestor + 3));
    assert!(matches!(
        follower.poll(&batch.cursor).await.unwrap(),
        Step::Idle
    ));
}
