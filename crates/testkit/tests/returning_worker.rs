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
