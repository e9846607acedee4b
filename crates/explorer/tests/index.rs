//! The indexer on a real devnet: it resumes from its stored cursor after a restart (nothing
//! read twice, nothing lost) and undoes what a reorg took away, workers' counters included;
//! on every backend.

use std::time::Duration;

use alloy::primitives::U256;
use decloud_explorer::Store;
use decloud_explorer::index::Indexer;
use decloud_explorer::store::{EventColumn, WorkerRow};
use decloud_sql::testing::TestDb;
use decloud_testkit::Devnet;
use decloud_testkit::anvil::{reorg, snapshot};
use decloud_testkit::fixtures::example_app;
use decloud_testkit::pool::{DealRequest, Pool, PoolOptions};

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

async fn resumes_after_a_restart_and_undoes_a_reorg(db: &TestDb) {
    let devnet = Devnet::start().await.unwrap();
    let url = db.url().to_owned();
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

/// Every worker's counters as the indexer kept them, checked against a recount from the
/// events indexed.
async fn counters(store: &Store, workers: &[String]) -> Vec<Option<WorkerRow>> {
    let mut kept = Vec::new();
    for w in workers {
        let row = store.worker(w).await.unwrap();
        store.recount(w).await.unwrap();
        assert_eq!(
            store.worker(w).await.unwrap(),
            row,
            "the counters kept event by event equal a recount from the events"
        );
        kept.push(row);
    }
    kept
}

async fn worker_counters_follow_the_chain_and_its_reorgs(db: &TestDb) {
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(
        &devnet,
        PoolOptions {
            workers: 2,
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let workers: Vec<String> = (0..2)
        .map(|i| format!("{:#x}", pool.worker_address(i)))
        .collect();
    let app = pool
        .deploy_app("greeting", &example_app("greeting").unwrap())
        .await
        .unwrap();
    let store = Store::open(db.url()).await.unwrap();
    let indexer = indexer(&devnet, &store);

    // Trust 3: each task needs both workers, and its end moves both scores.
    let first = pool
        .deal(&DealRequest::new(app).args("one").trust(3).volume(2))
        .await
        .unwrap();
    pool.wait_completed(&first.task_ids(), Duration::from_secs(180))
        .await
        .unwrap();
    indexer.catch_up().await.unwrap();
    let after_first = counters(&store, &workers).await;
    for (w, row) in workers.iter().zip(&after_first) {
        let row = row.as_ref().expect("each worker contributed");
        assert_eq!((row.contributions, row.won, row.lost), (2, 2, 0), "{w}");
        assert!(
            row.score.is_some(),
            "{w}: a replicated task's end scores it"
        );
        assert_eq!(store.scores(w).await.unwrap().len(), 2, "{w}");
        let page = store.contributions(w, None).await.unwrap();
        assert_eq!(page.rows.len(), 2);
        assert!(
            page.rows
                .iter()
                .all(|c| c.revealed && c.status == "COMPLETED")
        );
    }

    // A second deal, then a reorg that takes it away: the counters go back to the first's.
    let before = snapshot(&devnet).await.unwrap();
    let second = pool
        .deal(&DealRequest::new(app).args("two").trust(3))
        .await
        .unwrap();
    pool.wait_completed(&second.task_ids(), Duration::from_secs(180))
        .await
        .unwrap();
    indexer.catch_up().await.unwrap();
    let after_second = counters(&store, &workers).await;
    for row in &after_second {
        let row = row.as_ref().unwrap();
        assert_eq!((row.contributions, row.won), (3, 3));
    }
    drop(pool);
    reorg(&devnet, before, 2).await.unwrap();
    let mut rewound = false;
    for _ in 0..10 {
        let step = indexer.step().await.unwrap();
        rewound |= step.rewound;
        if step.idle {
            break;
        }
    }
    assert!(rewound, "the reorg was noticed");
    assert_eq!(
        counters(&store, &workers).await,
        after_first,
        "the orphaned deal's contributions, wins and scores are undone"
    );
    for w in &workers {
        assert_eq!(store.scores(w).await.unwrap().len(), 2, "{w}");
    }
}

decloud_sql::test_on_every_backend!(
    multi_thread: resumes_after_a_restart_and_undoes_a_reorg,
    worker_counters_follow_the_chain_and_its_reorgs,
);
