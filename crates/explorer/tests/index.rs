//! The indexer on a real devnet: it resumes from its stored cursor after a restart (nothing
//! read twice, nothing lost) and undoes what a reorg took away.

use alloy::primitives::U256;
use decloud_explorer::Store;
use decloud_explorer::index::Indexer;
use decloud_explorer::store::EventColumn;
use decloud_testkit::Devnet;
use decloud_testkit::anvil::{reorg, snapshot};

async fn deposit(devnet: &Devnet, index: usize) {
    let client =
        decloud_chain::client::Client::connect(devnet.profile(), None, Some(devnet.signer(index)))
            .await
            .unwrap();
    decloud_chain::actions::deposit(&client, U256::from(5u64))
        .await
        .unwrap();
}

async fn deposits(store: &Store, devnet: &Devnet, index: usize) -> usize {
    let account = format!("{:#x}", devnet.signer(index).address());
    store
        .recent_events_of(EventColumn::Account, &account, 0)
        .await
        .unwrap()
        .rows
        .iter()
        .filter(|e| e.kind == "Deposit")
        .count()
}

fn indexer(devnet: &Devnet, store: &Store) -> Indexer {
    let (updates, _) = tokio::sync::broadcast::channel(16);
    Indexer::new(devnet.profile(), store.clone(), updates).unwrap()
}

#[tokio::test]
async fn resumes_after_a_restart_and_undoes_a_reorg() {
    let devnet = Devnet::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("explorer.db").display());
    let store = Store::open(&url).await.unwrap();
    let first = indexer(&devnet, &store);
    let deployment_events = first.catch_up().await.unwrap();
    assert!(deployment_events > 0, "the deployment's events are indexed");

    deposit(&devnet, 6).await;
    assert!(first.catch_up().await.unwrap() >= 1);
    assert_eq!(deposits(&store, &devnet, 6).await, 1);
    drop(first);

    // A restart on the same database reads only what is new.
    let store = Store::open(&url).await.unwrap();
    let second = indexer(&devnet, &store);
    assert_eq!(second.catch_up().await.unwrap(), 0, "nothing is read twice");
    deposit(&devnet, 6).await;
    second.catch_up().await.unwrap();
    assert_eq!(deposits(&store, &devnet, 6).await, 2);

    // A reorg drops the block of a third deposit: its row goes, later blocks are read.
    let before = snapshot(&devnet).await.unwrap();
    deposit(&devnet, 7).await;
    second.catch_up().await.unwrap();
    assert_eq!(deposits(&store, &devnet, 7).await, 1);
    reorg(&devnet, before, 3).await.unwrap();
    let mut rewound = false;
    for _ in 0..10 {
        let step = second.step().await.unwrap();
        rewound |= step.rewound;
        if step.idle {
            break;
        }
    }
    assert!(rewound, "the reorg was noticed");
    assert_eq!(
        deposits(&store, &devnet, 7).await,
        0,
        "the orphaned deposit is gone"
    );
    assert_eq!(deposits(&store, &devnet, 6).await, 2, "older blocks stay");
    deposit(&devnet, 7).await;
    second.catch_up().await.unwrap();
    assert_eq!(deposits(&store, &devnet, 7).await, 1);
}
