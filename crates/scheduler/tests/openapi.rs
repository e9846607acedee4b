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
        include_str!("../src/api/mod.rs"),
        include_str!("../src/pool_work.rs"),
        include_str!("../../pool/src/api/mod.rs"),
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

/// `POST /v1/next` refuses what its description refuses (too many tasks, a field it does not
/// know, an id that is not one) with a one-line reason, and answers a list of the tasks with
/// something to do: a task that is not the scheduler's is done at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_for_several_tasks_answers_each_and_refuses_bad_requests() {
    let devnet = Devnet::start().await.unwrap();
    let pool = workerless_pool(&devnet).await;
    let url = pool.scheduler_url().unwrap();
    let description = description(&url).await.unwrap();
    let max = decloud_protocol::pool::NextRequest::MAX_TASKS;
    assert_eq!(
        description["components"]["schemas"]["NextRequest"]["properties"]["tasks"]["maxItems"],
        json!(max)
    );
    let key = PrivateKeySigner::random();
    decloud_testkit::pool::admit(&pool, key.address(), 1)
        .await
        .unwrap();
    let client = SchedulerClient::new(&url, key, 1).unwrap();
    let session = client.login().await.unwrap();
    let (base, http) = decloud_service::transport::api_client(&url).unwrap();
    let next = format!("{base}/v1/next?wait=0");
    let too_many: Vec<B256> = (0..=max).map(|i| B256::with_last_byte(i as u8)).collect();
    for (body, says) in [
        (json!({ "tasks": too_many }), "ask for at most"),
        (json!({"tasks": [], "wait": 3}), "unknown field"),
        (json!({"tasks": ["0x12"]}), "tasks"),
    ] {
        let response = http
            .post(&next)
            .bearer_auth(&session.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400);
        let error: Value = response.json().await.unwrap();
        let error = error["error"].as_str().unwrap();
        assert!(error.contains(says), "{error}");
        assert!(!error.contains('\n'), "one line: {error}");
    }
    let unknown = [B256::repeat_byte(1), B256::repeat_byte(2)];
    let actions = client
        .next_many(&unknown, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let answered: Vec<B256> = actions.iter().map(|a| a.task_id).collect();
    assert_eq!(answered, unknown, "every unknown task is done at once");
    assert!(
        actions
            .iter()
            .all(|a| matches!(a.action, decloud_protocol::pool::NextAction::Done { .. }))
    );
    assert!(
        client
            .next_many(&[], std::time::Duration::from_secs(0))
            .await
            .unwrap()
            .is_empty()
    );
}

/// The fuzzer sent `null` for a stage and for `stages` and the scheduler took it (serde reads
/// `null` as an absent optional field) while the description said an object: every optional
/// part of a report is now described as nullable, and the scheduler's types do take `null`.
#[test]
fn a_reports_optional_parts_may_be_null_as_described() {
    let description: Value = serde_json::from_str(include_str!("../src/openapi.json")).unwrap();
    let schemas = &description["components"]["schemas"];
    for variant in schemas["Report"]["oneOf"].as_array().unwrap() {
        assert_eq!(variant["properties"]["stages"]["nullable"], json!(true));
    }
    let stages = schemas["Stages"]["properties"].as_object().unwrap();
    assert_eq!(stages.len(), 5);
    for (name, stage) in stages {
        assert_eq!(stage["nullable"], json!(true), "stage {name}");
    }
    for field in ["bytes", "fuel"] {
        assert_eq!(
            schemas["StageTime"]["properties"][field]["nullable"],
            json!(true)
        );
    }
    let nulls = json!({
        "status": "contributed",
        "stages": {
            "download": null, "run": null, "upload": null, "contribute": null,
            "reveal": {"started_ms": 1, "millis": 2, "bytes": null, "fuel": null}
        }
    });
    let report: decloud_protocol::pool::Report = serde_json::from_value(nulls).unwrap();
    let stages = report.stages.unwrap();
    assert!(stages.run.is_none());
    assert_eq!(stages.reveal.unwrap().millis, 2);
    let report: decloud_protocol::pool::Report =
        serde_json::from_value(json!({"status": "contributed", "stages": null})).unwrap();
    assert!(report.stages.is_none());
}
