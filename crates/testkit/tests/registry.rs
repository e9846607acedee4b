//! Identities cost something: the scheduler serves only the members of its pool's on-chain
//! worker registry (staked at least the pool's minimum, or admitted by its owner), bounds what
//! each may hold by its stake or cap, takes work back from a worker that leaves, and rate-limits
//! login challenges with a fixed-size table. The workers here are the worker's own scheduler
//! client, driven by hand.

use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use decloud_chain::actions::{self, RegistryTx};
use decloud_chain::client::Client;
use decloud_scheduler::client::{ClientError, SchedulerClient};
use decloud_testkit::Devnet;
use decloud_testkit::pool::{self, DealRequest, POOL_OWNER, Pool, PoolOptions};
use serde_json::Value;

/// One token (the escrow token has 9 decimals).
const DCT: u64 = 1_000_000_000;

/// A pool with no worker of its own (the tests play the workers), whose minimum stake is the
/// devnet node's (one token), and the greeting app.
async fn pool_with_app(devnet: &Devnet) -> (Pool, Address) {
    let options = PoolOptions {
        workers: 0,
        ..PoolOptions::default()
    };
    let pool = Pool::start(devnet, options).await.unwrap();
    let greeting = decloud_testkit::fixtures::example_app("greeting").unwrap();
    let app = pool.deploy_app("greeting", &greeting).await.unwrap();
    (pool, app)
}

/// A fresh key that joined `pool` with `stake` (given ether and tokens first), with its chain
/// client.
async fn member(devnet: &Devnet, pool: &Pool, stake: u64) -> (PrivateKeySigner, Client) {
    let key = PrivateKeySigner::random();
    decloud_chain::devnet::fund(
        devnet.profile(),
        key.address(),
        U256::from(10u64).pow(U256::from(18)),
        U256::from(1_000 * DCT),
    )
    .await
    .unwrap();
    let chain = Client::connect(devnet.profile(), None, Some(key.clone()))
        .await
        .unwrap();
    actions::join_pool(&chain, pool.workerpool, U256::from(stake))
        .await
        .unwrap();
    (key, chain)
}

/// The scheduler client of worker `key`, declaring `capacity`.
fn worker(pool: &Pool, key: &PrivateKeySigner, capacity: u64) -> SchedulerClient {
    SchedulerClient::new(&pool.scheduler_url().unwrap(), key.clone(), capacity).unwrap()
}

/// The message of a refusal with `status`.
fn refused(result: Result<impl std::fmt::Debug, ClientError>, status: u16) -> String {
    match result {
        Err(ClientError::Refused { status: s, message }) if s == status => message,
        other => panic!("expected a {status} refusal, got {other:?}"),
    }
}

/// The scheduler's registered workers (`GET /v1/workers`).
async fn workers(pool: &Pool) -> Vec<Value> {
    let (base, http) =
        decloud_service::transport::api_client(&pool.scheduler_url().unwrap()).unwrap();
    let url = format!("{base}/v1/workers");
    let list: Value = http.get(url).send().await.unwrap().json().await.unwrap();
    list.as_array().unwrap().clone()
}

/// The capacity the scheduler stored for `address`.
async fn capacity_of(pool: &Pool, address: Address) -> Option<u64> {
    workers(pool)
        .await
        .iter()
        .find(|w| {
            w["address"]
                .as_str()
                .is_some_and(|a| a.eq_ignore_ascii_case(&address.to_string()))
        })
        .and_then(|w| w["capacity"].as_u64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_and_understaked_workers_are_refused_and_admitted_ones_log_in() {
    let devnet = Devnet::start().await.unwrap();
    let (pool, _) = pool_with_app(&devnet).await;

    // A throwaway key: no stake, no admission. Refused with what to do; nothing stored.
    let stranger = worker(&pool, &PrivateKeySigner::random(), 4);
    let error = refused(stranger.login().await, 403);
    assert!(error.contains("is not a member"), "{error}");
    assert!(
        error.contains("decloud worker join --workerpool"),
        "{error}"
    );
    assert!(!error.contains('\n'), "one line: {error}");
    assert!(
        workers(&pool).await.is_empty(),
        "a refused login stored a worker"
    );

    // A member logs in; its capacity is what its stake pays for (3 minimums), not what it asks.
    let (staked, _) = member(&devnet, &pool, 3 * DCT).await;
    worker(&pool, &staked, 200).login().await.unwrap();
    assert_eq!(capacity_of(&pool, staked.address()).await, Some(3));

    // The owner raises the minimum: a worker whose stake is now below it is refused.
    let owner = pool::client(&devnet, POOL_OWNER).await.unwrap();
    let (below, _) = member(&devnet, &pool, DCT).await;
    actions::registry(
        &owner,
        RegistryTx::SetMinStake(pool.workerpool, U256::from(2 * DCT)),
    )
    .await
    .unwrap();
    let error = refused(worker(&pool, &below, 1).login().await, 403);
    assert!(error.contains("below the pool's minimum 2 DCT"), "{error}");
    // The member logged in before gets the capacity its stake pays for now (3 DCT at a 2 DCT
    // minimum: one), from the event of the new minimum: the full re-read comes only every 60 s.
    let deadline = Instant::now() + Duration::from_secs(30);
    while capacity_of(&pool, staked.address()).await != Some(1) {
        assert!(
            Instant::now() < deadline,
            "the member's capacity did not follow the new minimum"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        capacity_of(&pool, below.address()).await,
        None,
        "nothing stored"
    );

    // An admitted worker needs no stake; its capacity is the owner's cap.
    let admitted = PrivateKeySigner::random();
    actions::registry(
        &owner,
        RegistryTx::Admit {
            workerpool: pool.workerpool,
            worker: admitted.address(),
            cap: 2,
        },
    )
    .await
    .unwrap();
    worker(&pool, &admitted, 50).login().await.unwrap();
    assert_eq!(capacity_of(&pool, admitted.address()).await, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_gets_no_more_than_its_stake_allows() {
    let devnet = Devnet::start().await.unwrap();
    let (pool, app) = pool_with_app(&devnet).await;
    // One minimum staked: one replicate at a time, whatever capacity it declares.
    let (key, _) = member(&devnet, &pool, DCT).await;
    let hoarder = worker(&pool, &key, 256);
    let deal = pool.deal(&DealRequest::new(app).volume(3)).await.unwrap();
    let first = hoarder.claim(Duration::from_secs(20)).await.unwrap();
    assert!(deal.task_ids().contains(&first.expect("a task").task_id));
    let second = hoarder.claim(Duration::from_secs(2)).await.unwrap();
    assert!(
        second.is_none(),
        "a worker at its stake's capacity got another task"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_leaves_loses_its_session_and_its_task_goes_to_another() {
    let devnet = Devnet::start().await.unwrap();
    let (pool, app) = pool_with_app(&devnet).await;
    let (leaver_key, leaver_chain) = member(&devnet, &pool, DCT).await;
    let (other_key, _) = member(&devnet, &pool, DCT).await;
    let (leaver, other) = (worker(&pool, &leaver_key, 1), worker(&pool, &other_key, 1));
    leaver.login().await.unwrap();
    other.login().await.unwrap();
    let deal = pool.deal(&DealRequest::new(app)).await.unwrap();
    let held = leaver.claim(Duration::from_secs(20)).await.unwrap();
    let held = held.expect("a task").task_id;
    assert_eq!(held, deal.task_ids()[0]);
    let nothing = other.claim(Duration::from_secs(1)).await.unwrap();
    assert!(nothing.is_none(), "one task, held");

    actions::registry(&leaver_chain, RegistryTx::Leave(pool.workerpool))
        .await
        .unwrap();
    // Within the scheduler's membership interval the session ends (the client's automatic
    // login again is refused, saying why)...
    let deadline = Instant::now() + Duration::from_secs(30);
    let error = loop {
        match leaver.heartbeat().await {
            Ok(_) => {}
            Err(e) => break refused(Err::<(), _>(e), 403),
        }
        assert!(Instant::now() < deadline, "the leaver kept its session");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(error.contains("has left workerpool"), "{error}");
    // ...and the task goes to the worker still in the pool.
    let taken = other.claim(Duration::from_secs(20)).await.unwrap();
    let taken = taken.expect("the leaver's task was not given to another worker");
    assert_eq!(taken.task_id, held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenge_flood_gets_429_and_the_open_challenges_stay_bounded() {
    let devnet = Devnet::start().await.unwrap();
    let (pool, _) = pool_with_app(&devnet).await;
    let (base, http) =
        decloud_service::transport::api_client(&pool.scheduler_url().unwrap()).unwrap();
    let url = format!("{base}/v1/login/challenge");
    let limits = decloud_scheduler::limits::RateLimits::default();
    let mut refusals = 0;
    let started = Instant::now();
    for _ in 0..200 {
        let answer = http.get(&url).send().await.unwrap();
        match answer.status().as_u16() {
            200 => {}
            429 => {
                refusals += 1;
                let retry = answer.headers()["retry-after"].to_str().unwrap();
                assert!(retry.parse::<u64>().unwrap() >= 1, "{retry}");
                let body: Value = answer.json().await.unwrap();
                let error = body["error"].as_str().unwrap();
                assert!(error.contains("too many login challenges"), "{error}");
            }
            other => panic!("a challenge answered {other}"),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert!(refusals > 100, "only {refusals} of 200 refused");
    // Only the accepted ones were kept: the burst and what the refill added during the flood.
    let stored = pool.scheduler().unwrap().open_challenges() as u64;
    assert_eq!(stored, 200 - refusals);
    let allowed = f64::from(limits.challenges.burst) + limits.challenges.per_sec * elapsed;
    assert!(
        stored as f64 <= allowed + 1.0,
        "{stored} stored, {allowed} allowed"
    );
}
