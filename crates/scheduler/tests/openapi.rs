//! The scheduler's OpenAPI description (`GET /openapi.json`) against what it really serves:
//! the routes agree both ways, and what the API fuzzer (`scripts/api-fuzz`) found is fixed.

use alloy::primitives::B256;
use alloy::signers::local::PrivateKeySigner;
use decloud_scheduler::api::{MAX_CALLBACK_DATA_BYTES, MAX_LOCATION_CHARS};
use decloud_scheduler::client::SchedulerClient;
use decloud_testkit::Devnet;
use decloud_testkit::openapi::{description, route_mismatches};
use decloud_testkit::pool::{Pool, PoolOptions};
use serde_json::{Value, json};

/// A pool whose scheduler has no worker of its own.
async fn workerless_pool(devnet: &Devnet) -> Pool {
    let options = PoolOptions {
        workers: 0,
        ..PoolOptions::default()
    };
    Pool::start(devnet, options).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_description_lists_exactly_the_routes_served() {
    let devnet = Devnet::start().await.unwrap();
    let pool = workerless_pool(&devnet).await;
    let url = pool.scheduler_url().unwrap();
    // The scheduler's router merges the pool's worker routes and the pool's client API.
    let routers = [
        include_str!("../src/api.rs"),
        include_str!("../src/pool_work.rs"),
        include_str!("../../pool/src/api.rs"),
    ]
    .concat();
    let mismatches = route_mismatches(&url, &routers).await.unwrap();
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

/// The fuzzer found reports the description allowed and the scheduler refused (a failure
/// without a reason): the description now says what each status needs, with the scheduler's
/// own limits, and the scheduler refuses exactly those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_need_what_the_description_says() {
    let devnet = Devnet::start().await.unwrap();
    let pool = workerless_pool(&devnet).await;
    let url = pool.scheduler_url().unwrap();
    let description = description(&url).await.unwrap();
    let variants = description["components"]["schemas"]["Report"]["oneOf"]
        .as_array()
        .unwrap();
    let variant = |status: &str| {
        variants
            .iter()
            .find(|v| v["properties"]["status"]["enum"][0] == status)
            .unwrap()
            .clone()
    };
    assert_eq!(variant("failed")["required"], json!(["status", "reason"]));
    let revealed = variant("revealed");
    assert_eq!(revealed["required"], json!(["status", "results_location"]));
    assert_eq!(
        revealed["properties"]["results_location"]["maxLength"],
        json!(MAX_LOCATION_CHARS)
    );
    assert_eq!(
        revealed["properties"]["callback_data"]["maxLength"],
        json!(2 + 2 * MAX_CALLBACK_DATA_BYTES)
    );

    // Only members log in: the pool's owner admits this key.
    let key = PrivateKeySigner::random();
    decloud_testkit::pool::admit(&pool, key.address(), 1)
        .await
        .unwrap();
    let session = SchedulerClient::new(&url, key, 1)
        .unwrap()
        .login()
        .await
        .unwrap();
    let (base, http) = decloud_service::transport::api_client(&url).unwrap();
    let report = format!("{base}/v1/tasks/{}/report", B256::repeat_byte(7));
    let too_long = "x".repeat(MAX_LOCATION_CHARS + 1);
    for (body, says) in [
        (json!({"status": "failed"}), "a failure needs a reason"),
        (
            json!({"status": "failed", "reason": "  "}),
            "a failure needs a reason",
        ),
        (
            json!({"status": "revealed"}),
            "a reveal needs the results location",
        ),
        (
            json!({"status": "revealed", "results_location": too_long}),
            "a reveal needs the results location",
        ),
    ] {
        let response = http
            .post(&report)
            .bearer_auth(&session.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error"].as_str().unwrap().contains(says),
            "{body}: {error}"
        );
    }
}
