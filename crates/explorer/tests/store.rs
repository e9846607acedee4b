//! The explorer's store on every backend (SQLite always, Postgres when
//! `DECLOUD_TEST_POSTGRES_URL` names a server): every read a page makes, on rows like a chain of
//! a thousand tasks leaves, the workers' counters and their recount, a list paged by key, and
//! the off-chain trace with the stages workers report.

mod common;

use common::synth;
use decloud_explorer::Store;
use decloud_explorer::store::{DealColumn, EventColumn, PAGE_SIZE, ReplicateRow, parse_before};
use decloud_protocol::pool::{StageTime, Stages};
use decloud_sql::testing::TestDb;

/// The synthetic chain's clock: its first task ends at this time, one more each second.
const START: u64 = 1_796_000_000;

async fn every_read_a_page_makes(db: &TestDb) {
    let store = Store::open(db.url()).await.unwrap();
    // 10 deals of 100 tasks, each task contributed and revealed by worker n % 20.
    synth::synthesize(&store, 1000).await;

    let totals = store.totals().await.unwrap();
    assert_eq!(
        (totals.deals, totals.tasks, totals.completed, totals.block),
        (10, 1000, 1000, 999)
    );
    let feed = store.feed(0).await.unwrap();
    assert_eq!(feed.rows.len(), PAGE_SIZE as usize);
    assert!(feed.more);
    assert_eq!(
        (feed.rows[0].block, feed.rows[0].kind.as_str()),
        (999, "TaskFinalize")
    );
    let (per_minute, gas) = store.per_minute(START + 3600, 60).await.unwrap();
    assert_eq!(per_minute.iter().sum::<u64>(), 1000, "{per_minute:?}");
    assert_eq!(
        gas.iter().sum::<u64>(),
        5000 * 90_000,
        "each transaction's gas once"
    );

    let deal = store.deal(&synth::deal_id(3)).await.unwrap().unwrap();
    assert_eq!(deal.volume, 100);
    let tasks = store.deal_tasks(&synth::deal_id(3), 1).await.unwrap();
    assert_eq!(tasks.rows[0].index, PAGE_SIZE);
    let latest = store.pool_tasks(&synth::workerpool(), 0).await.unwrap();
    assert_eq!(latest.rows[0].task_id, synth::task_id(999));
    let deals = store
        .deals_by(DealColumn::Workerpool, &synth::workerpool(), 0)
        .await
        .unwrap();
    assert_eq!((deals.rows.len(), deals.more), (10, false));
    let events = store
        .events_of(EventColumn::Task, &synth::task_id(42), 0)
        .await
        .unwrap();
    assert_eq!(events.rows.len(), 5);
    assert_eq!(store.tx_events(&events.rows[1].tx).await.unwrap().len(), 1);
    let task = synth::task_id(42);
    assert_eq!(
        store.resolve(&task).await.unwrap(),
        Some(format!("/task/{task}"))
    );
    let worker = synth::worker(3);
    assert_eq!(
        store.resolve(&worker).await.unwrap(),
        Some(format!("/worker/{worker}"))
    );

    // The counters, recounted from the rows, and the worker's contributions by key.
    let counters = store.worker(&worker).await.unwrap().unwrap();
    assert_eq!(
        (counters.contributions, counters.won, counters.lost),
        (50, 50, 0)
    );
    let (mut seen, mut before) = (Vec::new(), None);
    loop {
        let page = store.contributions(&worker, before).await.unwrap();
        assert!(page.rows.len() <= PAGE_SIZE as usize);
        seen.extend(page.rows.iter().map(|c| c.task_id.clone()));
        match page.next {
            Some(key) => before = Some(parse_before(&key).unwrap()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..1000)
        .rev()
        .filter(|n| n % 20 == 3)
        .map(synth::task_id)
        .collect();
    assert_eq!(seen, expected, "every contribution once, newest first");
    assert!(parse_before("12").is_err() && parse_before("a-1").is_err());
    assert!(store.membership(&worker).await.unwrap().is_empty());

    // The trace, with the stages its worker reported, read back as stored.
    let stages = Stages {
        run: Some(StageTime {
            started_ms: START * 1000,
            millis: 35,
            fuel: Some(1_234_567),
            bytes: None,
        }),
        upload: Some(StageTime {
            started_ms: START * 1000 + 40,
            millis: 8,
            bytes: Some(10_240),
            fuel: None,
        }),
        ..Stages::default()
    };
    let task = synth::task_id(7);
    let mut rows = vec![ReplicateRow {
        task_id: task.clone(),
        worker: synth::worker(7),
        status: "revealed".into(),
        reason: None,
        results_location: None,
        result_hash: None,
        weight: Some(1),
        assigned_at: START,
        updated_at: START + 1,
        stages: Some(stages),
    }];
    assert!(store.store_trace(&task, &rows, true, START).await.unwrap());
    assert_eq!(store.replicates(&task).await.unwrap(), rows);
    assert!(
        !store.store_trace(&task, &rows, true, START).await.unwrap(),
        "the same trace again changes nothing"
    );
    rows.push(ReplicateRow {
        worker: synth::worker(8),
        status: "failed".into(),
        reason: Some("cannot download the app".into()),
        stages: None,
        ..rows[0].clone()
    });
    assert!(store.store_trace(&task, &rows, true, START).await.unwrap());
    let failures = store.worker_failures(&synth::worker(8), 0).await.unwrap();
    assert_eq!(failures.rows.len(), 1);
    assert_eq!(
        failures.rows[0].reason.as_deref(),
        Some("cannot download the app")
    );
}

decloud_sql::test_on_every_backend!(every_read_a_page_makes);
