//! Measurements of the explorer, ignored by default (they print figures, they assert no time):
//!
//! ```sh
//! cargo nextest run --workspace --locked --run-ignored only --no-capture -E 'binary(measure)'
//! ```
//!
//! - indexing speed: a devnet pool runs `DECLOUD_MEASURE_TASKS` real tasks (default 200), then
//!   a fresh explorer indexes the chain from its deployment block;
//! - indexing speed from a chain of 10,000 tasks (`DECLOUD_MEASURE_INIT_TASKS`): deals of 1,000
//!   tasks matched on a devnet, every task initialized on chain by `initializeBatch` (a real
//!   `TaskInitialize` each, 200 to a transaction), then a fresh explorer indexes the chain;
//! - render time: 100,000 synthetic tasks (rows inserted in the explorer's database, as a chain
//!   that size would take hours to run here; the workers' counters recounted from them), then the overview and task pages are fetched
//!   many times over loopback HTTP (server time plus a loopback round trip);
//! - live-update delay: from a transaction's receipt (its block mined, instant mining) to the
//!   server-sent event announcing it.

mod common;

use std::time::{Duration, Instant};

use alloy::primitives::U256;
use common::synth;
use decloud_explorer::index::Indexer;
use decloud_explorer::store::Totals;
use decloud_explorer::{ExplorerConfig, Store};
use decloud_testkit::Devnet;
use decloud_testkit::anvil::advance_time;
use decloud_testkit::fixtures::example_app;
use decloud_testkit::pool::{DealRequest, Pool, PoolOptions};
use futures::StreamExt;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i]
}

/// A fresh explorer database (SQLite) indexing `devnet`'s chain from its deployment block: the
/// logs stored, the seconds it took, and the totals after.
async fn index_from_scratch(devnet: &Devnet) -> (usize, f64, Totals) {
    let db = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", db.path().join("x.db").display()))
        .await
        .unwrap();
    let (updates, _) = tokio::sync::broadcast::channel(16);
    let indexer = Indexer::new(devnet.profile(), store.clone(), updates).unwrap();
    let started = Instant::now();
    let events = indexer.catch_up().await.unwrap();
    let took = started.elapsed().as_secs_f64();
    (events, took, store.totals().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: prints figures"]
async fn indexing_speed() {
    let tasks: u64 = std::env::var("DECLOUD_MEASURE_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(
        &devnet,
        PoolOptions {
            workers: 2,
            worker_capacity: 8,
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let app = pool
        .deploy_app("greeting", &example_app("greeting").unwrap())
        .await
        .unwrap();
    let started = Instant::now();
    let deal = pool
        .deal(&DealRequest::new(app).args("measure").volume(tasks))
        .await
        .unwrap();
    pool.wait_completed(&deal.task_ids(), Duration::from_secs(3600))
        .await
        .unwrap();
    println!(
        "ran {tasks} tasks on the devnet pool in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let (events, took, totals) = index_from_scratch(&devnet).await;
    assert_eq!(totals.completed, tasks);
    println!(
        "indexed {events} logs ({} tasks) in {took:.2} s: {:.0} events/s (SQLite, 1 RPC endpoint on loopback)",
        totals.tasks,
        events as f64 / took
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: prints figures"]
async fn indexing_speed_10k_tasks() {
    const PER_DEAL: u64 = 1000;
    const PER_TX: u64 = 200;
    let tasks: u64 = std::env::var("DECLOUD_MEASURE_INIT_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let devnet = Devnet::start().await.unwrap();
    let mut pool = Pool::start(
        &devnet,
        PoolOptions {
            workers: 0,
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let app = pool
        .deploy_app("greeting", &example_app("greeting").unwrap())
        .await
        .unwrap();
    let started = Instant::now();
    let mut deals = Vec::new();
    for d in 0..tasks.div_ceil(PER_DEAL) {
        let volume = PER_DEAL.min(tasks - d * PER_DEAL);
        let request = DealRequest::new(app).args(&format!("d{d}")).volume(volume);
        deals.push(pool.deal(&request).await.unwrap());
    }
    // Nobody runs them: the scheduler stops, and anyone may initialize a deal's tasks once its
    // start plus ten reference times has passed.
    pool.kill_scheduler().await;
    let reference = u64::try_from(deals[0].matched.deal.workClockTimeRef).unwrap();
    advance_time(&devnet, 10 * reference + 1).await.unwrap();
    let client =
        decloud_chain::client::Client::connect(devnet.profile(), None, Some(devnet.signer(5)))
            .await
            .unwrap();
    let hub = client.hub();
    for deal in &deals {
        let volume = u64::try_from(deal.matched.deal.volume).unwrap();
        for first in (0..volume).step_by(PER_TX as usize) {
            let count = PER_TX.min(volume - first);
            let call = hub.initializeBatch(
                (&deal.matched.deal).into(),
                U256::from(first),
                U256::from(count),
            );
            client
                .send("initializing tasks", call.into_transaction_request())
                .await
                .unwrap();
        }
    }
    println!(
        "matched {} deals and initialized {tasks} tasks on the devnet in {:.1} s",
        deals.len(),
        started.elapsed().as_secs_f64()
    );

    let (events, took, totals) = index_from_scratch(&devnet).await;
    assert_eq!(totals.tasks, tasks);
    println!(
        "indexed a chain of {tasks} tasks from block 0: {events} logs in {took:.2} s, {:.0} \
         events/s (SQLite, 1 RPC endpoint on loopback)",
        events as f64 / took
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: prints figures"]
async fn render_time_with_100k_tasks() {
    let devnet = Devnet::start().await.unwrap();
    let db = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", db.path().join("x.db").display());
    let store = Store::open(&url).await.unwrap();
    let started = Instant::now();
    synth::synthesize(&store, 100_000).await;
    println!(
        "inserted 100,000 synthetic tasks in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    drop(store);
    let explorer = decloud_explorer::start(ExplorerConfig::new(devnet.profile().clone(), &url))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    for (name, path) in [
        ("overview", "/".to_string()),
        ("task", format!("/task/0x{:08x}{:056x}", 2, 54_321)),
        ("deal", format!("/deal/0x{:08x}{:056x}", 1, 543)),
        ("worker", format!("/worker/0x{:040x}", 0xd3)),
        (
            "worker, deep page",
            format!("/worker/0x{:040x}?before=50000-1", 0xd3),
        ),
        ("workerpool", format!("/workerpool/0x{:040x}", 0xb0)),
    ] {
        let mut samples = Vec::new();
        for i in 0..200 {
            let started = Instant::now();
            let response = http
                .get(format!("{}{path}", explorer.url()))
                .send()
                .await
                .unwrap();
            assert!(
                response.status().is_success(),
                "{name}: {}",
                response.status()
            );
            let body = response.text().await.unwrap();
            if i > 0 {
                samples.push(started.elapsed());
            }
            assert!(body.len() > 1000);
        }
        let p50 = percentile(&mut samples, 0.5);
        let p99 = percentile(&mut samples, 0.99);
        println!(
            "{name:<18} page with 100,000 tasks indexed: p50 {:.1} ms, p99 {:.1} ms ({} requests)",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            samples.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: prints figures"]
async fn live_update_delay() {
    let devnet = Devnet::start().await.unwrap();
    let db = tempfile::tempdir().unwrap();
    let explorer = decloud_explorer::start(ExplorerConfig::new(
        devnet.profile().clone(),
        &format!("sqlite://{}", db.path().join("x.db").display()),
    ))
    .await
    .unwrap();
    let client =
        decloud_chain::client::Client::connect(devnet.profile(), None, Some(devnet.signer(4)))
            .await
            .unwrap();
    let me = format!("{:#x}", devnet.signer(4).address());
    let response = reqwest::get(format!("{}/events", explorer.url()))
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    let mut samples = Vec::new();
    for _ in 0..30 {
        decloud_chain::actions::deposit(&client, U256::from(1u64))
            .await
            .unwrap();
        let mined = Instant::now();
        let mut seen = String::new();
        loop {
            let chunk = stream.next().await.unwrap().unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains(&me) {
                break;
            }
        }
        samples.push(mined.elapsed());
    }
    let p50 = percentile(&mut samples, 0.5);
    let p99 = percentile(&mut samples, 0.99);
    println!(
        "live-update delay from a block mined to its server-sent event: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} blocks, indexer polling every 200 ms)",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
        samples.len()
    );
}
