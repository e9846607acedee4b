//! Identities cost something: the scheduler serves only the members of its pool's on-chain
//! worker registry (staked at least the pool's minimum, or admitted by its owner), bounds what
//! each may hold by its stake or cap, takes work back from a worker that leaves, and rate-limits
//! login challenges and claims with a fixed-size table.

use std::time::{Duration, Instant};

use alloy::primitives::U256;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use decloud_chain::actions;
use decloud_chain::client::Client;
use decloud_protocol::pool::{Assignment, Challenge, LoginRequest, Session};
use decloud_testkit::Devnet;
use decloud_testkit::pool::{self, DealRequest, POOL_OWNER, Pool, PoolOptions};
use serde_json::Value;

/// One token (the escrow token has 9 decimals).
const DCT: u64 = 1_000_000_000;

/// A pool with no worker of its own (the tests play the workers); its minimum stake is the
/// devnet node's, one token.
async fn workerless_pool(devnet: &Devnet) -> Pool {
    let options = PoolOptions {
        workers: 0,
        ..PoolOptions::default()
    };
    Pool::start(devnet, options).await.unwrap()
}

/// A fresh key with ether and tokens in its wallet, and its chain client.
async fn funded_key(devnet: &Devnet) -> (PrivateKeySigner, Client) {
    let key = PrivateKeySigner::random();
    decloud_chain::devnet::fund(
        devnet.profile(),
        key.address(),
        U256::from(10u64).pow(U256::from(18)),
        U256::from(1_000 * DCT),
    )
    .await
    .unwrap();
    let client = Client::connect(devnet.profile(), None, Some(key.clone()))
        .await
        .unwrap();
    (key, client)
}

/// A fresh key that joined `pool` with `stake`.
async fn member(devnet: &Devnet, pool: &Pool, stake: u64) -> (PrivateKeySigner, Client) {
    let (key, client) = funded_key(devnet).await;
    actions::join_pool(&client, pool.workerpool, U256::from(stake))
        .await
        .unwrap();
    (key, client)
}

async fn challenge(http: &reqwest::Client, url: &str) -> Challenge {
    http.get(format!("{url}/v1/login/challenge"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Logs `key` in with `capacity` on a fresh challenge; the raw answer.
async fn login(
    http: &reqwest::Client,
    url: &str,
    key: &PrivateKeySigner,
    capacity: u64,
) -> reqwest::Response {
    let c = challenge(http, url).await;
    let body = LoginRequest {
        worker: key.address(),
        nonce: c.nonce.clone(),
        deadline: c.deadline,
        signature: key
            .sign_message_sync(c.message.as_bytes())
            .unwrap()
            .to_string(),
        capacity,
    };
    http.post(format!("{url}/v1/login"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Logs `key` in and returns its session token.
async fn session(
    http: &reqwest::Client,
    url: &str,
    key: &PrivateKeySigner,
    capacity: u64,
) -> String {
    let answer = login(http, url, key, capacity).await;
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    answer.json::<Session>().await.unwrap().token
}

/// Status and `error` message of a refusal.
async fn refusal(answer: reqwest::Response) -> (u16, String) {
    let status = answer.status().as_u16();
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn workers(http: &reqwest::Client, url: &str) -> Vec<Value> {
    let list: Value = http
        .get(format!("{url}/v1/workers"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.as_array().unwrap().clone()
}

/// Claims once, waiting up to `wait` seconds: the assignment, or `None` on 204.
async fn claim(http: &reqwest::Client, url: &str, token: &str, wait: u64) -> Option<Assignment> {
    let answer = http
        .post(format!("{url}/v1/claim?wait={wait}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    match answer.status().as_u16() {
        200 => Some(answer.json().await.unwrap()),
        204 => None,
        other => panic!("claim answered {other}: {}", answer.text().await.unwrap()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_and_understaked_workers_are_refused_and_admitted_ones_log_in() {
    let devnet = Devnet::start().await.unwrap();
    let pool = workerless_pool(&devnet).await;
    let url = pool.scheduler_url().unwrap();
    let http = reqwest::Client::new();

    // A throwaway key: no stake, no admission. Refused with what to do; nothing stored.
    let stranger = PrivateKeySigner::random();
    let (status, error) = refusal(login(&http, &url, &stranger, 4).await).await;
    assert_eq!(status, 403, "{error}");
    assert!(error.contains("is not a member"), "{error}");
    assert!(
        error.contains("decloud worker join --workerpool"),
        "{error}"
    );
    assert!(!error.contains('\n'), "one line: {error}");
    assert!(
        workers(&http, &url).await.is_empty(),
        "a refused login stored a worker"
    );

    // A member logs in; its capacity is what its stake pays for (3 minimums), not what it asks.
    let (staked, _) = member(&devnet, &pool, 3 * DCT).await;
    session(&http, &url, &staked, 200).await;
    let listed = workers(&http, &url).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["capacity"], 3);

    // The owner raises the minimum: a worker whose stake is now below it is refused.
    let owner = pool::client(&devnet, POOL_OWNER).await.unwrap();
    let (below, _) = member(&devnet, &pool, DCT).await;
    actions::set_min_worker_stake(&owner, pool.workerpool, U256::from(2 * DCT))
        .await
        .unwrap();
    let (status, error) = refusal(login(&http, &url, &below, 1).await).await;
    assert_eq!(status, 403, "{error}");
    assert!(error.contains("below the pool's minimum 2 DCT"), "{error}");
    assert_eq!(workers(&http, &url).await.len(), 1, "nothing stored");

    // An admitted worker needs no stake; its capacity is the owner's cap.
    let admitted = PrivateKeySigner::random();
    actions::admit_worker(&owner, pool.workerpool, admitted.address(), 2)
        .await
        .unwrap();
    session(&http, &url, &admitted, 50).await;
    let listed = workers(&http, &url).await;
    let row = listed
        .iter()
        .find(|w| {
            w["address"]
                .as_str()
                .is_some_and(|a| a.eq_ignore_ascii_case(&admitted.address().to_string()))
        })
        .expect("the admitted worker is listed");
    assert_eq!(row["capacity"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_gets_no_more_than_its_stake_allows() {
    let devnet = Devnet::start().await.unwrap();
    let pool = workerless_pool(&devnet).await;
    let url = pool.scheduler_url().unwrap();
    let http = reqwest::Client::new();
    let app = pool
        .deploy_app(
            "greeting",
            &decloud_testkit::fixtures::example_app("greeting").unwrap(),
        )
        .await
        .unwrap();
    // One minimum staked: one replicate at a time, whatever capacity it declares.
    let (key, _) = member(&devnet, &pool, DCT).await;
    let token = session(&http, &url, &key, 256).await;
    let deal = pool.deal(&DealRequest::new(app).volume(3)).await.unwrap();
    let first = claim(&http, &url, &token, 20).await.expect("a task");
    assert!(deal.task_ids().contains(&first.task_id));
    assert!(
        claim(&http, &url, &token, 2).await.is_none(),
        "a worker at its stake's capacity got another task"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_leaves_loses_its_session_and_its_task_goes_to_another() {
    let devnet = Devnet::start().await.unwrap();
    let pool = workerless_pool(&devnet).await;
    let url = pool.scheduler_url().unwrap();
    let http = reqwest::Client::new();
    let app = pool
        .deploy_app(
            "greeting",
            &decloud_testkit::fixtures::example_app("greeting").unwrap(),
        )
        .await
        .unwrap();
    let (leaver, leaver_chain) = member(&devnet, &pool, DCT).await;
    let (other, _) = member(&devnet, &pool, DCT).await;
    let leaver_token = session(&http, &url, &leaver, 1).await;
    let other_token = session(&http, &url, &other, 1).await;
    let deal = pool.deal(&DealRequest::new(app)).await.unwrap();
    let held = claim(&http, &url, &leaver_token, 20).await.expect("a task");
    assert_eq!(held.task_id, deal.task_ids()[0]);
    assert!(
        claim(&http, &url, &other_token, 1).await.is_none(),
        "one task, held"
    );

    actions::leave_pool(&leaver_chain, pool.workerpool)
        .await
        .unwrap();
    // Within the scheduler's membership interval the session ends...
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = http
            .post(format!("{url}/v1/heartbeat"))
            .bearer_auth(&leaver_token)
            .send()
            .await
            .unwrap()
            .status();
        if status == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "the leaver kept its session");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // ...and the task goes to the worker still in the pool.
    let taken = claim(&http, &url, &other_token, 20)
        .await
        .expect("the leaver's task was not given to another worker");
    assert_eq!(taken.task_id, held.task_id);
    // Logging in again is refused, saying the worker left.
    let (status, error) = refusal(login(&http, &url, &leaver, 1).await).await;
    assert_eq!(status, 403, "{error}");
    assert!(error.contains("has left workerpool"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenge_flood_gets_429_and_the_challenge_table_stays_bounded() {
    let devnet = Devnet::start().await.unwrap();
    let pool = workerless_pool(&devnet).await;
    let url = pool.scheduler_url().unwrap();
    let http = reqwest::Client::new();
    let defaults = decloud_scheduler::limits::RateLimits::default();
    let mut refused = 0;
    let started = Instant::now();
    for _ in 0..200 {
        let answer = http
            .get(format!("{url}/v1/login/challenge"))
            .send()
            .await
            .unwrap();
        match answer.status().as_u16() {
            200 => {}
            429 => {
                refused += 1;
                let retry: u64 = answer.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(retry >= 1);
                let (_, error) = refusal(answer).await;
                assert!(error.contains("too many login challenges"), "{error}");
            }
            other => panic!("a challenge answered {other}"),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert!(refused > 100, "only {refused} of 200 refused");
    // Only the accepted ones were stored: the burst and what the refill added during the flood.
    let stored = pool
        .scheduler()
        .unwrap()
        .store()
        .challenge_count()
        .await
        .unwrap();
    assert_eq!(stored, 200 - refused);
    let allowed = f64::from(defaults.challenges.burst) + defaults.challenges.per_sec * elapsed;
    assert!(
        stored as f64 <= allowed + 1.0,
        "{stored} stored, {allowed} allowed"
    );
}
