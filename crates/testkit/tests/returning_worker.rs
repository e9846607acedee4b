//! A worker marked lost that comes back (a partition healed, a restart) and claims at once holds
//! its task like any other worker: the scheduler does not hand the same trust-1 task to a second
//! worker in the moment before the returning worker's heartbeat is written down. Found by the
//! cluster test's partition fault (a trust-1 task computed by two workers, the second one's
//! contribution refused by the hub).

use std::time::Duration;

use decloud_local::pool::{DealRequest, Pool, PoolOptions};
use decloud_protocol::pool::{WorkerInfo, WorkerStatus};
use decloud_testkit::Devnet;
use decloud_testkit::fixtures::{eventually, example_app};
use decloud_testkit::hostile::Hostile;

/// The scheduler's view of its workers.
async fn workers(pool: &Pool) -> Vec<WorkerInfo> {
    let url = pool.scheduler_url().unwrap();
    let (base, http) = decloud_service::transport::api_client(&url).unwrap();
    let response = http.get(format!("{base}/v1/workers")).send().await.unwrap();
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_worker_back_holds_what_it_claims() {
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(
        &devnet,
        PoolOptions {
            workers: 0,
            heartbeat_timeout: Duration::from_secs(3),
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let app = pool
        .deploy_app("greeting", &example_app("greeting").unwrap())
        .await
        .unwrap();
    let back = Hostile::throwaway(&pool, 1).await.unwrap();
    let other = Hostile::throwaway(&pool, 1).await.unwrap();
    let _alive = other.pretend_alive(Duration::from_millis(300));
    // `back` says nothing until the scheduler marks it lost.
    eventually(
        Duration::from_secs(60),
        "the silent worker is never lost",
        || {
            let pool = &pool;
            let address = back.address();
            async move {
                workers(pool)
                    .await
                    .iter()
                    .any(|w| w.address == address && w.status == WorkerStatus::Lost)
                    .then_some(())
            }
        },
    )
    .await
    .unwrap();

    let deal = pool
        .deal(&DealRequest::new(app).args("once"))
        .await
        .unwrap();
    let task = deal.task_ids()[0];
    // It comes back and claims the task; the other worker, asking right after, gets nothing.
    let got = back.claim(Duration::from_secs(30)).await.unwrap();
    assert_eq!(got.map(|a| a.task_id), Some(task));
    let second = other.claim(Duration::ZERO).await.unwrap();
    assert!(
        second.is_none(),
        "a trust-1 task held by a worker back from lost went to another worker too: {second:?}"
    );
}

/// A worker keeps a plain replicate it claimed in memory only (the scheduler's record of the
/// assignment is durable already): one that crashes before computing, with nothing of its
/// replicates saved, gets them back from the scheduler when it starts again and completes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_restarted_with_nothing_saved_completes_what_it_had_claimed() {
    let devnet = Devnet::start().await.unwrap();
    let mut pool = Pool::start(
        &devnet,
        PoolOptions {
            workers: 1,
            worker_capacity: 2,
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let app = pool
        .deploy_app("greeting", &example_app("greeting").unwrap())
        .await
        .unwrap();
    pool.kill_worker(0).await;
    let deal = pool
        .deal(&DealRequest::new(app).args("held").volume(2))
        .await
        .unwrap();
    let tasks = deal.task_ids();
    // The worker's claim, as it made it just before it crashed: both replicates are its own.
    let crashed = Hostile::member(&pool, pool.worker_key(0), 2).await.unwrap();
    let mut claimed = Vec::new();
    while claimed.len() < tasks.len() {
        let got = crashed.claim(Duration::from_secs(30)).await.unwrap();
        claimed.push(got.expect("the worker's claim got a replicate").task_id);
    }
    claimed.sort();
    let mut expected = tasks.clone();
    expected.sort();
    assert_eq!(claimed, expected);
    let jobs = pool.worker_dir(0).join("jobs");
    assert!(
        jobs.read_dir().map_or(true, |mut d| d.next().is_none()),
        "nothing of them is saved"
    );

    pool.start_worker(0).await.unwrap();
    pool.wait_completed(&tasks, Duration::from_secs(120))
        .await
        .unwrap();
}
