//! The scheduler's OpenAPI description (`GET /openapi.json`) against what it really serves:
//! the routes agree both ways.

use decloud_testkit::Devnet;
use decloud_testkit::openapi::route_mismatches;
use decloud_testkit::pool::{Pool, PoolOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_description_lists_exactly_the_routes_served() {
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(
        &devnet,
        PoolOptions {
            workers: 0,
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let url = pool.scheduler_url().unwrap();
    let mismatches = route_mismatches(&url, include_str!("../src/api.rs"))
        .await
        .unwrap();
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}
