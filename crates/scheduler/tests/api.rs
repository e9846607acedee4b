//! The scheduler's HTTP API on a devnet: the login challenge and its misuses, authentication,
//! malformed and oversized input (a clear 4xx, never a crash), long-polled claims, the status
//! API, and a reorg that takes a deal away before anyone worked on it.

use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use decloud_protocol::pool::{Assignment, Challenge, LoginRequest, Session};
use decloud_scheduler::{SchedulerConfig, SchedulerError};
use decloud_service::transport::api_client;
use decloud_testkit::pool::{self, DealRequest, POOL_OWNER, Pool, PoolOptions, REQUESTER};
use decloud_testkit::{Devnet, anvil};
use serde_json::{Value, json};

/// The JSON body of the answer to `request`.
async fn answer<T: serde::de::DeserializeOwned>(request: reqwest::RequestBuilder) -> T {
    request.send().await.unwrap().json().await.unwrap()
}

async fn challenge(http: &reqwest::Client, url: &str) -> Challenge {
    answer(http.get(format!("{url}/v1/login/challenge"))).await
}

fn login_request(key: &PrivateKeySigner, c: &Challenge, capacity: u64) -> LoginRequest {
    LoginRequest {
        worker: key.address(),
        nonce: c.nonce.clone(),
        deadline: c.deadline,
        signature: key
            .sign_message_sync(c.message.as_bytes())
            .unwrap()
            .to_string(),
        capacity,
        tee: Default::default(),
    }
}

/// Sends `request` and checks that it is refused with `code` and an `error` message saying
/// `says`.
async fn refused(request: reqwest::RequestBuilder, code: u16, says: &str) {
    let (status, error) = refusal(request.send().await.unwrap()).await;
    assert_eq!(status, code, "{error}");
    assert!(error.contains(says), "expected {says:?} in {error:?}");
}

/// Status and `error` message of an answer.
async fn refusal(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (
        status,
        body["error"].as_str().unwrap_or_default().to_string(),
    )
}

/// A pool with no worker: these tests play the workers themselves.
async fn workerless_pool(devnet: &Devnet, follow_interval: Option<Duration>) -> Pool {
    let defaults = PoolOptions::default();
    let options = PoolOptions {
        workers: 0,
        follow_interval: follow_interval.unwrap_or(defaults.follow_interval),
        ..defaults
    };
    Pool::start(devnet, options).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_sessions_and_bad_input_get_clear_refusals() {
    let devnet = Devnet::start().await.unwrap();
    let pool = workerless_pool(&devnet, None).await;
    let (url, http) = api_client(&pool.scheduler_url().unwrap()).unwrap();
    let key = PrivateKeySigner::random();
    // Only members log in: the pool's owner admits this key (its own tests cover the refusals).
    pool::admit(&pool, key.address(), 2).await.unwrap();

    let login = |body: &LoginRequest| http.post(format!("{url}/v1/login")).json(body);

    // A good login, then the same challenge again: single use.
    let c = challenge(&http, &url).await;
    assert!(c.message.contains(&c.nonce));
    let good = login_request(&key, &c, 2);
    let session: Session = answer(login(&good)).await;
    assert_eq!(session.worker, key.address());
    refused(login(&good), 401, "used or expired").await;

    // Signed by someone else, malformed, out of range.
    let c = challenge(&http, &url).await;
    let mut forged = login_request(&PrivateKeySigner::random(), &c, 1);
    forged.worker = key.address();
    refused(login(&forged), 401, "not by the worker").await;
    let mut garbled = login_request(&key, &c, 1);
    garbled.signature = "0x1234".into();
    refused(login(&garbled), 400, "malformed login signature").await;
    let zero = login_request(&key, &c, 0);
    refused(login(&zero), 400, "capacity 0").await;
    refused(
        http.post(format!("{url}/v1/login"))
            .header("content-type", "application/json")
            .body("{not json"),
        400,
        "invalid request body",
    )
    .await;
    // (A connection of its own: the server closes it without reading the whole body. Just over
    // the limit, so that the whole body is written before the answer comes, TLS or not.)
    let (status, _) = refusal(
        api_client(&pool.scheduler_url().unwrap())
            .unwrap()
            .1
            .post(format!("{url}/v1/login"))
            .header("content-type", "application/json")
            .body(vec![b' '; decloud_scheduler::api::MAX_BODY_BYTES + 1])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 413, "oversized bodies are refused");

    // Worker endpoints need the token.
    refused(http.post(format!("{url}/v1/heartbeat")), 401, "Bearer").await;
    refused(
        http.post(format!("{url}/v1/heartbeat"))
            .bearer_auth("dcs_not_a_token"),
        401,
        "",
    )
    .await;
    let authed = |path: &str| {
        http.post(format!("{url}{path}"))
            .bearer_auth(&session.token)
    };
    let ok = authed("/v1/heartbeat").send().await.unwrap();
    assert_eq!(ok.status(), 200);

    // No work: a claim waits, then says so with 204.
    let started = Instant::now();
    let none = authed("/v1/claim?wait=1").send().await.unwrap();
    assert_eq!(none.status(), 204);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "it long-polls"
    );
    refused(authed("/v1/claim?wait=soon"), 400, "").await;

    // Reports: unknown and malformed task ids, reasons required.
    let task = B256::repeat_byte(7);
    let report = |body: Value| authed(&format!("/v1/tasks/{task}/report")).json(&body);
    refused(
        report(json!({"status": "failed", "reason": "x"})),
        404,
        "holds no replicate",
    )
    .await;
    refused(report(json!({"status": "failed"})), 400, "needs a reason").await;
    refused(report(json!({"status": "exploded"})), 400, "").await;
    refused(
        http.get(format!("{url}/v1/tasks/0x12")),
        400,
        "64 hex digits",
    )
    .await;
    refused(http.get(format!("{url}/v1/tasks/{task}")), 404, "").await;

    // The session's worker is listed; nothing above changed anything else.
    let workers: Value = answer(http.get(format!("{url}/v1/workers"))).await;
    assert_eq!(workers.as_array().unwrap().len(), 1);
    assert_eq!(workers[0]["capacity"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_starts_only_with_its_pool_owners_key() {
    let devnet = Devnet::start().await.unwrap();
    let owner = pool::client(&devnet, POOL_OWNER).await.unwrap();
    let pool = decloud_chain::actions::register_workerpool(&owner, "p", 30, 10)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    let wrong = SchedulerConfig::new(devnet.profile().clone(), pool, devnet.signer(1), &db);
    match decloud_scheduler::start(wrong).await {
        Err(SchedulerError::Config(m)) => assert!(m.contains("pool owner's wallet"), "{m}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a stranger's key ran the pool"),
    }
    let unknown = SchedulerConfig::new(
        devnet.profile().clone(),
        Address::repeat_byte(0x42),
        devnet.signer(POOL_OWNER),
        &db,
    );
    match decloud_scheduler::start(unknown).await {
        Err(SchedulerError::Config(m)) => assert!(m.contains("not registered"), "{m}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("an unknown pool was run"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deal_a_reorg_removes_is_forgotten() {
    let devnet = Devnet::start().await.unwrap();
    let pool = workerless_pool(&devnet, Some(Duration::from_millis(100))).await;
    let url = pool.scheduler_url().unwrap();
    let app = pool
        .deploy_app(
            "greeting",
            &decloud_testkit::fixtures::example_app("greeting").unwrap(),
        )
        .await
        .unwrap();
    // Fund the requester first, so that the snapshot keeps the deposit and drops the deal.
    pool::deposit(&devnet, REQUESTER, U256::from(10_000_000_000_000u64))
        .await
        .unwrap();
    let snapshot = anvil::snapshot(&devnet).await.unwrap();
    let deal = pool.deal(&DealRequest::new(app)).await.unwrap();
    let seen = |id: B256| {
        let (url, http) = api_client(&url).unwrap();
        async move {
            http.get(format!("{url}/v1/deals/{id}"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let wait_for = |status: u16, failure: &'static str| {
        let seen = &seen;
        let id = deal.id();
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            while seen(id).await != status {
                assert!(Instant::now() < deadline, "{failure}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait_for(200, "the scheduler never saw the deal").await;
    // The chain forgets the match and grows past the old head.
    anvil::reorg(&devnet, snapshot, 3).await.unwrap();
    wait_for(404, "the scheduler kept a deal the chain no longer has").await;
}

/// A claim with `max` takes the worker's free slots in one request (each a distinct task, never
/// more than its capacity), every answer says the scheduler's own handling time
/// (`Server-Timing`, the long poll's wait left out), and reports sent at once are each answered
/// and stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_takes_the_free_slots_at_once_and_says_its_handling_time() {
    let devnet = Devnet::start().await.unwrap();
    let pool = workerless_pool(&devnet, Some(Duration::from_millis(100))).await;
    let (url, http) = api_client(&pool.scheduler_url().unwrap()).unwrap();
    let app = pool
        .deploy_app(
            "greeting",
            &decloud_testkit::fixtures::example_app("greeting").unwrap(),
        )
        .await
        .unwrap();
    pool::deposit(&devnet, REQUESTER, U256::from(10_000_000_000_000u64))
        .await
        .unwrap();
    let key = PrivateKeySigner::random();
    pool::admit(&pool, key.address(), 3).await.unwrap();
    let c = challenge(&http, &url).await;
    let session: Session = answer(
        http.post(format!("{url}/v1/login"))
            .json(&login_request(&key, &c, 3)),
    )
    .await;
    let authed = |path: &str| {
        http.post(format!("{url}{path}"))
            .bearer_auth(&session.token)
    };
    let handling = |r: &reqwest::Response| {
        decloud_scheduler::api::handling_time(r.headers()).expect("a Server-Timing header")
    };

    // Before any deal: a one-second long poll, of which the scheduler worked a fraction.
    let started = Instant::now();
    let none = authed("/v1/claim?wait=1&max=3").send().await.unwrap();
    let took = started.elapsed();
    assert_eq!(none.status(), 204);
    assert!(took >= Duration::from_millis(900), "it long-polls");
    assert!(
        handling(&none) < Duration::from_millis(500),
        "the wait is not handling: {:?} of {took:?}",
        handling(&none)
    );

    let mut request = DealRequest::new(app);
    request.volume = 5;
    let deal = pool.deal(&request).await.unwrap();
    let started = Instant::now();
    let got = authed("/v1/claim?wait=20&max=10").send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert!(handling(&got) <= started.elapsed());
    let works: Vec<Assignment> = got.json().await.unwrap();
    assert_eq!(works.len(), 3, "as many as the worker's capacity");
    let mut tasks: Vec<B256> = works.iter().map(|a| a.task_id).collect();
    tasks.sort();
    tasks.dedup();
    assert_eq!(tasks.len(), 3, "three distinct tasks");
    assert!(works.iter().all(|a| a.deal_id == deal.id()));
    // At capacity: nothing more, however many it asks for.
    let busy = authed("/v1/claim?wait=1&max=10").send().await.unwrap();
    assert_eq!(busy.status(), 204);

    // Three reports at once (they share a commit): each answered, each stored.
    let reports = tasks.iter().map(|task| {
        authed(&format!("/v1/tasks/{task}/report"))
            .json(&json!({"status": "failed", "reason": "the test gives it back"}))
            .send()
    });
    for answer in futures::future::join_all(reports).await {
        let answer = answer.unwrap();
        assert_eq!(answer.status(), 200);
        assert!(handling(&answer) < Duration::from_secs(5));
    }
    for task in &tasks {
        let report: Value = answer(http.get(format!("{url}/v1/tasks/{task}"))).await;
        assert_eq!(report["replicates"][0]["status"], "failed", "{report}");
    }
    // Its slots are free again: the last two tasks (one claim without `max`: one, bare).
    let one = authed("/v1/claim?wait=5").send().await.unwrap();
    assert_eq!(one.status(), 200);
    let one: Assignment = one.json().await.unwrap();
    assert!(!tasks.contains(&one.task_id));
}
