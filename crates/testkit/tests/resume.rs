//! A worker restarted after a crash asks the chain before it computes again: a job whose task
//! another worker certified meanwhile is dropped without running the app (the issue found it
//! recomputed first and checked the chain after).

use std::time::Duration;

use alloy::primitives::B256;
use decloud_protocol::pool::ReplicateStatus;
use decloud_scheduler::api::TaskReport;
use decloud_testkit::pool::{DealRequest, Pool, PoolOptions};
use decloud_testkit::{Devnet, fixtures};

async fn report(pool: &Pool, task: B256) -> Option<TaskReport> {
    let url = pool.scheduler_url()?;
    reqwest::get(format!("{url}/v1/tasks/{task}"))
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// The app modules worker `i` keeps (downloaded to run them).
fn cached_modules(pool: &Pool, i: usize) -> Vec<std::path::PathBuf> {
    match std::fs::read_dir(pool.worker_dir(i).join("apps")) {
        Ok(dir) => dir.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resumed_job_whose_task_is_completed_on_chain_is_not_computed_again() {
    let devnet = Devnet::start().await.unwrap();
    let mut pool = Pool::start(
        &devnet,
        PoolOptions {
            workers: 2,
            heartbeat_timeout: Duration::from_secs(3),
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    // A search long enough to be killed in the middle of.
    let module = fixtures::example_app("hash-search").unwrap();
    let app = pool.deploy_app("hash-search", &module).await.unwrap();
    let task = pool
        .deal(&DealRequest::new(app).args("decloud 21"))
        .await
        .unwrap()
        .task_ids()[0];
    let first = fixtures::eventually(Duration::from_secs(60), "never assigned", || async {
        report(&pool, task)
            .await?
            .replicates
            .into_iter()
            .find(|r| r.status == ReplicateStatus::Assigned)
    })
    .await
    .unwrap();
    let victim = usize::from(first.worker != pool.worker_address(0));
    pool.kill_worker(victim).await;
    pool.wait_completed(&[task], Duration::from_secs(180))
        .await
        .unwrap();

    // The victim's job is saved; without its module, a second run would download it again.
    let job = pool.worker_dir(victim).join(format!("jobs/{task}.json"));
    assert!(job.exists(), "the killed worker saved its job");
    for path in cached_modules(&pool, victim) {
        std::fs::remove_file(path).unwrap();
    }
    pool.start_worker(victim).await.unwrap();
    fixtures::eventually(Duration::from_secs(60), "the job never ended", || async {
        (!job.exists()).then_some(())
    })
    .await
    .unwrap();
    assert!(
        cached_modules(&pool, victim).is_empty(),
        "the app was downloaded to run again"
    );
}
