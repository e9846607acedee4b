//! Random worker selection end to end on a real chain: a pool's staked members, a committed
//! registry snapshot, a random-selection deal, its beacon round signed by the devnet group
//! (`decloud-beacon`) and submitted to the real `Beacon` contract, and the drawn workers
//! contributing with the proof of their positions (rebuilt from the chain) until consensus.
//! A scheduler that lies — it authorizes a worker of its choice, or sends that worker to prove
//! a position it doesn't hold — is refused on chain with the hub's named errors; so are a wrong
//! beacon signature, a round too far ahead and a replayed round.
//!
//! Then the same with a real pool and no transaction from the test: the scheduler commits the
//! registry snapshot, submits the round from the devnet beacon's HTTP API, tells the drawn
//! workers, which contribute with their proofs, and finalizes; a drawn worker that is stopped
//! is slashed after its wave and the next wave's draw replaces it.

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::signers::local::PrivateKeySigner;
use decloud_chain::client::Client;
use decloud_chain::contracts::{Beacon, IHub};
use decloud_chain::selection::{self, Wave};
use decloud_protocol::result::{result_hash, result_seal, sign_authorization};
use decloud_testkit::Devnet;
use decloud_testkit::pool::{POOL_OWNER, Pool, PoolOptions};

mod random_support;
use random_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drawn_workers_certify_and_a_lying_scheduler_is_refused() {
    let devnet = Devnet::start().await.unwrap();
    let profile = devnet.profile().clone();
    assert!(
        !profile.contracts.beacon.is_zero(),
        "the devnet deploys a beacon"
    );

    // the devnet key is the default group's
    let key = devnet_group().public_key().to_bytes();
    assert_eq!(
        alloy::hex::encode(key),
        decloud_chain::deploy::DEVNET_BEACON_PUBLIC_KEY,
        "the devnet beacon's key is decloud node --beacon's default group key"
    );

    // a pool with no worker process: the test plays five staked members
    let pool = Pool::start(
        &devnet,
        PoolOptions {
            workers: 0,
            max_trust: 5,
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let keys: Vec<PrivateKeySigner> = decloud_local::pool::worker_keys(&devnet, 5).await.unwrap();
    let owner = devnet.signer(POOL_OWNER);
    decloud_local::pool::make_members(&profile, None, Some(&owner), pool.workerpool, &keys, 2)
        .await
        .unwrap();
    let anyone = Client::connect(&profile, None, Some(devnet.signer(0)))
        .await
        .unwrap();
    let index = selection::commit_snapshot(&anyone, pool.workerpool)
        .await
        .unwrap();
    assert_eq!(index, 0, "the pool's first snapshot");
    // a deal draws over a snapshot committed strictly before its start
    decloud_testkit::anvil::advance_time(&devnet, 1)
        .await
        .unwrap();

    let greeting = decloud_testkit::fixtures::example_app("greeting").unwrap();
    let app = pool.deploy_app("greeting", &greeting).await.unwrap();
    let deal = pool
        .deal(
            &decloud_testkit::pool::DealRequest::new(app)
                .trust(5)
                .random(),
        )
        .await
        .unwrap();
    let d: IHub::Deal = (&deal.matched.deal).into();
    let deal_id = deal.id();
    let task_id = deal.task_ids()[0];
    let start: u64 = anyone
        .read("deal", anyone.hub().dealRecord(deal_id))
        .await
        .unwrap()
        .startTime
        .saturating_to();
    let wave: Wave = selection::wave(&anyone, &d, 0).await.unwrap();
    let beacon = Beacon::new(profile.contracts.beacon, anyone.provider().clone());
    let round_at_start = anyone
        .read("roundAt", beacon.roundAt(U256::from(start)))
        .await
        .unwrap();
    assert_eq!(
        wave.round,
        round_at_start + 2,
        "wave 0's round is two after the start's"
    );

    // the beacon: too far ahead, a wrong signature, then the round, then a replay
    let group = devnet_group();
    let sig = group.sign_round(wave.round).to_bytes();
    let due: u64 = anyone
        .read("roundTime", beacon.roundTime(wave.round))
        .await
        .unwrap()
        .saturating_to();
    // a round well ahead of the chain's clock (a group that signs early can't get it in early)
    let ahead = wave.round + 10;
    let e = selection::submit_round(&anyone, ahead, &group.sign_round(ahead).to_bytes())
        .await
        .unwrap_err();
    refused(&e, "is due at");
    let now = decloud_testkit::anvil::now(&devnet).await.unwrap();
    decloud_testkit::anvil::advance_time(&devnet, due.saturating_sub(now) + 1)
        .await
        .unwrap();
    let wrong = group.sign_round(wave.round - 1).to_bytes();
    let e = selection::submit_round(&anyone, wave.round, &wrong)
        .await
        .unwrap_err();
    refused(&e, "not the beacon group's signature");
    selection::submit_round(&anyone, wave.round, &sig)
        .await
        .unwrap();
    let e = selection::submit_round(&anyone, wave.round, &sig)
        .await
        .unwrap_err();
    refused(&e, "already on chain");

    // the draw, rebuilt from the chain
    let (snapshot, drawn) = selection::task_draw(&anyone, &d, start, 0, &wave)
        .await
        .unwrap();
    let drawn = drawn.expect("the round is on chain");
    assert_eq!(snapshot.workers.len(), 5, "five staked members");
    assert_eq!(drawn.len(), 3, "three positions at trust 5");
    // what `decloud task show` prints: the wave open now and who the beacon drew in it
    let info = decloud_client::lookup::find_deal(&anyone, deal_id)
        .await
        .unwrap();
    let shown = decloud_client::lookup::random_selection(&anyone, &info, 0)
        .await
        .unwrap()
        .expect("a random-selection deal");
    assert_eq!(shown.wave, wave, "the wave open now");
    assert_eq!(
        shown.drawn.as_deref(),
        Some(&drawn[..]),
        "task show's drawn workers"
    );
    let key_of = |a: Address| keys.iter().find(|k| k.address() == a).unwrap().clone();
    let undrawn = keys
        .iter()
        .find(|k| drawn.iter().all(|p| p.worker != k.address()))
        .expect("five members, three drawn")
        .clone();

    // the lying scheduler: an authorization for its favourite...
    let favourite = Client::connect(&profile, None, Some(undrawn.clone()))
        .await
        .unwrap();
    let digest = B256::repeat_byte(0x42);
    let auth = sign_authorization(&owner, undrawn.address(), task_id, Address::ZERO).unwrap();
    let tx = favourite
        .hub()
        .contribute(
            d.clone(),
            U256::ZERO,
            result_hash(task_id, digest),
            result_seal(undrawn.address(), task_id, digest),
            Address::ZERO,
            Bytes::new(),
            auth,
        )
        .into_transaction_request();
    let e = favourite.send("contributing", tx).await.unwrap_err();
    refused(&e, "only its drawn workers contribute");
    // ...and its favourite sent to prove a drawn position it doesn't hold
    let e = selection::contribute_drawn(
        &favourite,
        d.clone(),
        0,
        result_hash(task_id, digest),
        result_seal(undrawn.address(), task_id, digest),
        selection::proof(&snapshot, 0, drawn[0].position),
    )
    .await
    .unwrap_err();
    refused(&e, &format!("is held by {}", drawn[0].worker));
    refused(&e, "only the drawn worker");

    // the drawn workers contribute and reach consensus; nobody else got in
    let mut drawn_gas = Vec::new();
    for p in &drawn {
        let w = Client::connect(&profile, None, Some(key_of(p.worker)))
            .await
            .unwrap();
        // the contribution's stake comes from the worker's free escrow balance
        decloud_chain::actions::deposit_at_least(&w, U256::from(10_000_000_000u64))
            .await
            .unwrap();
        let receipt = selection::contribute_drawn(
            &w,
            d.clone(),
            0,
            result_hash(task_id, digest),
            result_seal(p.worker, task_id, digest),
            selection::proof(&snapshot, 0, p.position),
        )
        .await
        .unwrap();
        drawn_gas.push(receipt.gas_used);
    }
    let view = anyone
        .read("task", anyone.hub().task(task_id))
        .await
        .unwrap();
    assert_eq!(view.status, 2, "consensus: revealing");
    assert_eq!(
        view.contributions, 3,
        "only the three drawn workers contributed"
    );
    let c = anyone
        .read(
            "contribution",
            anyone.hub().contribution(task_id, undrawn.address()),
        )
        .await
        .unwrap();
    assert_eq!(c.status, 0, "the scheduler's favourite has no contribution");

    // the drawn workers reveal; the scheduler finalizes as for any replicated task
    for p in &drawn {
        let w = Client::connect(&profile, None, Some(key_of(p.worker)))
            .await
            .unwrap();
        let tx = w.hub().reveal(task_id, digest).into_transaction_request();
        w.send("revealing", tx).await.unwrap();
    }

    // the same three workers, authorized by the scheduler on a trust-5 deal without the tag: the
    // receipts' difference is the position proof's gas (printed, not asserted)
    let plain = pool
        .deal(&decloud_testkit::pool::DealRequest::new(app).trust(5))
        .await
        .unwrap();
    let pd: IHub::Deal = (&plain.matched.deal).into();
    let plain_task = plain.task_ids()[0];
    for (p, drawn_gas) in drawn.iter().zip(&drawn_gas) {
        let w = Client::connect(&profile, None, Some(key_of(p.worker)))
            .await
            .unwrap();
        let auth = sign_authorization(&owner, p.worker, plain_task, Address::ZERO).unwrap();
        let tx = w
            .hub()
            .contribute(
                pd.clone(),
                U256::ZERO,
                result_hash(plain_task, digest),
                result_seal(p.worker, plain_task, digest),
                Address::ZERO,
                Bytes::new(),
                auth,
            )
            .into_transaction_request();
        let authorized = w.send("contributing", tx).await.unwrap().gas_used;
        println!(
            "contribution gas (receipts, 5-worker snapshot): drawn {drawn_gas}, authorized {authorized}, position proof {}",
            *drawn_gas as i64 - authorized as i64
        );
    }
}

/// The `DrawnContribution` events of `task`: (worker, wave).
async fn drawn_contributions(client: &Client, task: B256) -> Vec<(Address, u64)> {
    use alloy::providers::Provider;
    use alloy::sol_types::SolEvent;
    let filter = alloy::rpc::types::Filter::new()
        .address(client.profile().contracts.hub)
        .event_signature(IHub::DrawnContribution::SIGNATURE_HASH)
        .topic1(task)
        .from_block(0);
    client
        .provider()
        .get_logs(&filter)
        .await
        .unwrap()
        .iter()
        .filter_map(|l| IHub::DrawnContribution::decode_log(&l.inner).ok())
        .map(|e| (e.worker, e.wave.saturating_to()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_certifies_a_random_task_with_only_its_drawn_workers() {
    let (devnet, pool, category) = random_pool(5, 20).await;
    let greeting = decloud_testkit::fixtures::example_app("greeting").unwrap();
    let app = pool.deploy_app("greeting", &greeting).await.unwrap();
    // Pool::deal waits for the scheduler's snapshot of the registry before it signs the
    // workerpool order; nothing else here sends a transaction but the requester's match.
    let deal = pool
        .deal(
            &decloud_testkit::pool::DealRequest::new(app)
                .trust(5)
                .category(category)
                .random(),
        )
        .await
        .unwrap();
    let task = deal.task_ids()[0];
    let started = std::time::Instant::now();
    pool.wait_completed(&[task], std::time::Duration::from_secs(120))
        .await
        .unwrap();
    let random_secs = started.elapsed().as_secs_f64();

    let reader = Client::connect(devnet.profile(), None, None).await.unwrap();
    let d: IHub::Deal = (&deal.matched.deal).into();
    let wave = selection::wave(&reader, &d, 0).await.unwrap();
    let start = deal_start(&reader, deal.id()).await;
    let (snapshot, drawn) = selection::task_draw(&reader, &d, start, 0, &wave)
        .await
        .unwrap();
    assert_eq!(
        snapshot.workers.len(),
        5,
        "the snapshot holds the five staked workers"
    );
    let mut drawn: Vec<Address> = drawn
        .expect("the scheduler put wave 0's round on chain")
        .iter()
        .map(|p| p.worker)
        .collect();
    drawn.sort();
    assert_eq!(drawn.len(), 3, "three positions at trust 5");
    assert_eq!(
        contributors(&reader, task).await,
        drawn,
        "exactly the workers the beacon drew contributed"
    );
    let events = drawn_contributions(&reader, task).await;
    assert_eq!(
        events.len(),
        3,
        "every contribution proved a drawn position"
    );
    assert!(
        events.iter().all(|(_, w)| *w == 0),
        "all in wave 0: {events:?}"
    );

    // The two undrawn workers claimed all along and were given nothing of the task.
    let store = pool.scheduler().unwrap().store();
    let mut held: Vec<Address> = store
        .replicates(task)
        .await
        .unwrap()
        .iter()
        .map(|r| r.worker)
        .collect();
    held.sort();
    assert_eq!(
        held, drawn,
        "the scheduler handed the task to the drawn workers only"
    );
    let view = reader.read("task", reader.hub().task(task)).await.unwrap();
    assert_eq!(view.status, 3, "completed");

    // Figures, printed (not asserted): the task's gas and its latency, against the same trust-5
    // task whose workers the scheduler chooses.
    let random_gas = task_gas(&reader, deal.id(), task).await;
    let round_gas = {
        use alloy::providers::Provider;
        let filter = alloy::rpc::types::Filter::new()
            .address(devnet.profile().contracts.beacon)
            .from_block(0);
        let mut gas = 0;
        for log in reader.provider().get_logs(&filter).await.unwrap() {
            if let Some(tx) = log.transaction_hash {
                gas += reader
                    .provider()
                    .get_transaction_receipt(tx)
                    .await
                    .unwrap()
                    .unwrap()
                    .gas_used;
            }
        }
        gas
    };
    let started = std::time::Instant::now();
    let chosen = pool
        .deal(
            &decloud_testkit::pool::DealRequest::new(app)
                .trust(5)
                .category(category),
        )
        .await
        .unwrap();
    let chosen_task = chosen.task_ids()[0];
    pool.wait_completed(&[chosen_task], std::time::Duration::from_secs(120))
        .await
        .unwrap();
    let chosen_secs = started.elapsed().as_secs_f64();
    let chosen_gas = task_gas(&reader, chosen.id(), chosen_task).await;
    println!(
        "trust-5 task gas (receipts, match to finalize): random selection {random_gas} (+ its beacon round {round_gas}, shared by every task of the wave), chosen by the scheduler {chosen_gas} ({} contributions); latency {random_secs:.1} s random, {chosen_secs:.1} s chosen (instant mining)",
        contributors(&reader, chosen_task).await.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absent_drawn_worker_is_slashed_and_replaced() {
    let (devnet, mut pool, category) = random_pool(6, 6).await;
    let workers: Vec<Address> = (0..6).map(|i| pool.worker_address(i)).collect();
    let greeting = decloud_testkit::fixtures::example_app("greeting").unwrap();
    let app = pool.deploy_app("greeting", &greeting).await.unwrap();
    let deal = pool
        .deal(
            &decloud_testkit::pool::DealRequest::new(app)
                .trust(5)
                .category(category)
                .random(),
        )
        .await
        .unwrap();
    let task = deal.task_ids()[0];
    let reader = Client::connect(devnet.profile(), None, None).await.unwrap();
    let d: IHub::Deal = (&deal.matched.deal).into();
    // The devnet group's keys are public: the test computes wave 0's draw before its round is
    // due and stops a drawn worker before it can hear of it.
    let (wave, drawn) = wave0_draw_ahead(&reader, &d, deal.id(), pool.workerpool, 5).await;
    let absent = drawn[0].worker;
    let i = workers.iter().position(|w| *w == absent).unwrap();
    pool.kill_worker(i).await;
    assert_eq!(
        selection::randomness(&reader, wave.round).await.unwrap(),
        None,
        "the worker was stopped before the round was on chain"
    );
    let stake_before = reader
        .read("member", reader.hub().poolMember(pool.workerpool, absent))
        .await
        .unwrap()
        .stake;

    pool.wait_completed(&[task], std::time::Duration::from_secs(180))
        .await
        .unwrap();
    let stake_after = reader
        .read("member", reader.hub().poolMember(pool.workerpool, absent))
        .await
        .unwrap()
        .stake;
    assert!(
        stake_after < stake_before,
        "the absent drawn worker lost stake: {stake_before} -> {stake_after}"
    );
    let got = contributors(&reader, task).await;
    assert_eq!(got.len(), 3, "three contributions certified it: {got:?}");
    assert!(
        !got.contains(&absent),
        "the absent worker never contributed"
    );
    let events = drawn_contributions(&reader, task).await;
    assert!(
        events.iter().any(|(_, w)| *w >= 1),
        "a later wave's draw replaced the absent worker: {events:?}"
    );
    let view = reader.read("task", reader.hub().task(task)).await.unwrap();
    assert_eq!(view.status, 3, "completed");
}
