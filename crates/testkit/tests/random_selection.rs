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
use decloud_beacon::ThresholdGroup;
use decloud_chain::client::Client;
use decloud_chain::contracts::{Beacon, IHub};
use decloud_chain::selection::{self, Wave};
use decloud_protocol::result::{result_hash, result_seal, sign_authorization};
use decloud_testkit::Devnet;
use decloud_testkit::pool::{POOL_OWNER, Pool, PoolOptions, REQUESTER};

/// The devnet beacon's default group (`decloud node --beacon`).
fn devnet_group() -> ThresholdGroup {
    ThresholdGroup::from_seed(b"decloud devnet beacon", 2, 3).unwrap()
}

/// Fails unless `e` is a refusal whose one-line reason holds `phrase`.
fn refused(e: &decloud_chain::ChainError, phrase: &str) {
    let msg = e.to_string();
    assert!(
        msg.contains(phrase),
        "expected a refusal with {phrase:?}, got {msg}"
    );
}

async fn chain_time(client: &Client) -> u64 {
    use alloy::providers::Provider;
    let block = client
        .provider()
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .unwrap()
        .unwrap();
    block.header.timestamp
}

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
    let now = chain_time(&anyone).await;
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

/// A pool of `workers` staked workers with a devnet beacon, and a category of reference
/// `reference` seconds (a wave lasts two).
async fn random_pool(workers: usize, reference: u64) -> (Devnet, Pool, u64) {
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(
        &devnet,
        PoolOptions {
            workers,
            max_trust: 5,
            beacon: true,
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let category = pool
        .create_category("test-random", reference)
        .await
        .unwrap();
    (devnet, pool, category)
}

/// The gas of every transaction that emitted an event about `task` (topic 1), plus the match
/// (`deal`'s `DealCreated`): a task's own gas, receipts with the 21k intrinsic and calldata.
async fn task_gas(client: &Client, deal: B256, task: B256) -> u64 {
    gas_of(client, &[deal, task]).await
}

/// The gas of every transaction that emitted a hub event with one of `topics` as topic 1.
async fn gas_of(client: &Client, topics: &[B256]) -> u64 {
    use alloy::providers::Provider;
    let mut txs = std::collections::BTreeSet::new();
    for &topic in topics {
        let filter = alloy::rpc::types::Filter::new()
            .address(client.profile().contracts.hub)
            .topic1(topic)
            .from_block(0);
        for log in client.provider().get_logs(&filter).await.unwrap() {
            txs.extend(log.transaction_hash);
        }
    }
    let mut gas = 0;
    for tx in txs {
        let receipt = client
            .provider()
            .get_transaction_receipt(tx)
            .await
            .unwrap()
            .unwrap();
        gas += receipt.gas_used;
    }
    gas
}

/// The deal's start on chain.
/// Wave 0 of task 0 of `deal` at `trust` and its drawn positions, computed before the wave's
/// round is due: the devnet group's keys are public, so the test signs the round itself.
async fn wave0_draw_ahead(
    reader: &Client,
    d: &IHub::Deal,
    deal_id: B256,
    workerpool: Address,
    trust: u64,
) -> (selection::Wave, Vec<selection::Drawn>) {
    let wave = selection::wave(reader, d, 0).await.unwrap();
    let start = deal_start(reader, deal_id).await;
    let snapshot = selection::deal_snapshot(reader, workerpool, start)
        .await
        .unwrap();
    let randomness = B256::from(devnet_group().sign_round(wave.round).randomness());
    let drawn = selection::drawn_positions(randomness, deal_id, 0, trust, &snapshot.workers);
    (wave, drawn)
}

async fn deal_start(client: &Client, deal: B256) -> u64 {
    client
        .read("deal", client.hub().dealRecord(deal))
        .await
        .unwrap()
        .startTime
        .saturating_to()
}

/// The workers that contributed to `task` on chain (its `TaskContribute` events: a finalized
/// task's contribution records are cleared).
async fn contributors(client: &Client, task: B256) -> Vec<Address> {
    use alloy::providers::Provider;
    use alloy::sol_types::SolEvent;
    let filter = alloy::rpc::types::Filter::new()
        .address(client.profile().contracts.hub)
        .event_signature(IHub::TaskContribute::SIGNATURE_HASH)
        .topic1(task)
        .from_block(0);
    let mut out: Vec<Address> = client
        .provider()
        .get_logs(&filter)
        .await
        .unwrap()
        .iter()
        .filter_map(|l| IHub::TaskContribute::decode_log(&l.inner).ok())
        .map(|e| e.worker)
        .collect();
    out.sort();
    out
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

/// Every token the hub holds for `who`: its free escrow balance plus what is frozen.
async fn escrow(client: &Client, who: Address) -> U256 {
    let hub = client.hub();
    let free = client.read("balance", hub.balanceOf(who)).await.unwrap();
    let frozen = client.read("frozen", hub.frozenOf(who)).await.unwrap();
    free + frozen
}

/// What the hub's token balance holds beyond the escrow of the devnet's ten accounts, the pool
/// stakes of `workers` and the kitty: constant across a settlement when every token is
/// accounted for (deposits raise both sides).
async fn unaccounted(client: &Client, pool: Address, workers: &[Address]) -> U256 {
    let profile = client.profile();
    let token =
        decloud_chain::contracts::DevToken::new(profile.contracts.token, client.provider().clone());
    let held = client
        .read("hub's tokens", token.balanceOf(profile.contracts.hub))
        .await
        .unwrap();
    let mut known = client.read("kitty", client.hub().kitty()).await.unwrap();
    for i in 0..10 {
        known += escrow(client, decloud_chain::accounts::dev_signer(i).address()).await;
    }
    for w in workers {
        known += client
            .read("member", client.hub().poolMember(pool, *w))
            .await
            .unwrap()
            .stake;
    }
    held - known
}

async fn score(client: &Client, w: Address) -> U256 {
    client.read("score", client.hub().scoreOf(w)).await.unwrap()
}

/// The auditors that contributed to `task`'s audit, sorted.
async fn audit_contributors(client: &Client, task: B256) -> Vec<Address> {
    let mut out: Vec<Address> = decloud_chain::audit::audit_contributions(client, task, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, w)| w)
        .collect();
    out.sort();
    out
}

/// What `decloud task show` prints of task 0's spot check (`lookup::spot_check`), checked
/// against the chain's verdict and the audit's contributors once the task is settled.
async fn assert_shown_audit(
    client: &Client,
    deal: B256,
    verdict: decloud_chain::audit::Verdict,
    auditors: &[Address],
) {
    let info = decloud_client::lookup::find_deal(client, deal)
        .await
        .unwrap();
    let shown = decloud_client::lookup::spot_check(client, &info, 0)
        .await
        .unwrap()
        .expect("a spot-checked deal");
    assert_eq!(shown.q, 255);
    assert_eq!(shown.verdict, Some(verdict), "task show's verdict");
    assert_eq!(
        shown.audit_id,
        decloud_protocol::spot::audit_id(decloud_protocol::task_id(deal, 0))
    );
    let mut shown_auditors: Vec<Address> = shown.auditors.iter().map(|a| a.worker).collect();
    shown_auditors.sort();
    assert_eq!(shown_auditors, auditors, "task show's auditors");
    assert!(shown.auditors.iter().all(|a| a.stage == "contributed"));
}

/// Waits until the scheduler tells `liar` to reveal its replicate of `task` (`next`).
async fn await_reveal_word(liar: &decloud_testkit::hostile::Hostile, task: B256) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        match liar
            .next(task, std::time::Duration::from_secs(10))
            .await
            .unwrap()
        {
            decloud_protocol::pool::NextAction::Reveal { .. } => return,
            decloud_protocol::pool::NextAction::Wait => {}
            other => panic!("expected to be told to reveal, got {other:?}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the scheduler told the contributors to reveal"
        );
    }
}

/// Waits for `task` to reach a final status on chain (completed or failed); returns it.
async fn wait_final(client: &Client, task: B256, timeout: std::time::Duration) -> u8 {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let view = client.read("task", client.hub().task(task)).await.unwrap();
        if view.status >= 3 {
            return view.status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "task {task} still {} after {timeout:?}",
            view.status
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A spot-checked deal at q = 255 (255 of 256 tasks audited), trust 3: the test computes wave
/// 0's draw ahead of its round (the devnet group's keys are public), stops the two drawn workers
/// and plays them as liars: same wrong digest, consensus, reveals. Nothing else is sent by the
/// test: the scheduler gets the audit round on chain, the drawn auditors (real workers) compute
/// the truth, the audit contradicts, `finalizeAudited` fails the task. The liars lose their
/// stake and their whole score, the auditors get the seized stakes and score + 1, the requester
/// is refunded, and the hub's tokens stay accounted for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_check_catches_lying_contributors_and_pays_its_auditors() {
    let (devnet, mut pool, category) = random_pool(5, 20).await;
    let workers: Vec<Address> = (0..5).map(|i| pool.worker_address(i)).collect();
    let greeting = decloud_testkit::fixtures::example_app("greeting").unwrap();
    let app = pool.deploy_app("greeting", &greeting).await.unwrap();
    let deal = pool
        .deal(
            &decloud_testkit::pool::DealRequest::new(app)
                .trust(3)
                .category(category)
                .spot_check(255),
        )
        .await
        .unwrap();
    let task = deal.task_ids()[0];
    let reader = Client::connect(devnet.profile(), None, None).await.unwrap();
    let d: IHub::Deal = (&deal.matched.deal).into();
    let (wave, drawn) = wave0_draw_ahead(&reader, &d, deal.id(), pool.workerpool, 3).await;
    assert_eq!(drawn.len(), 2, "two positions at trust 3");
    let mut liars = Vec::new();
    for p in &drawn {
        let i = workers.iter().position(|w| *w == p.worker).unwrap();
        pool.kill_worker(i).await;
        liars.push(
            decloud_testkit::hostile::Hostile::member(&pool, pool.worker_key(i), 1)
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        selection::randomness(&reader, wave.round).await.unwrap(),
        None,
        "the drawn workers were stopped before the round was on chain"
    );
    let stake = d.workerStake;
    assert!(!stake.is_zero(), "the deal has a worker stake to lose");
    let requester = decloud_chain::accounts::dev_signer(REQUESTER).address();
    let owner = decloud_chain::accounts::dev_signer(POOL_OWNER).address();
    let requester_before = escrow(&reader, requester).await;
    let owner_before = escrow(&reader, owner).await;
    let mut before = std::collections::HashMap::new();
    for w in &workers {
        before.insert(*w, (escrow(&reader, *w).await, score(&reader, *w).await));
    }
    let kitty_before = reader.read("kitty", reader.hub().kitty()).await.unwrap();
    let unaccounted_before = unaccounted(&reader, pool.workerpool, &workers).await;

    // The liars claim their drawn positions and contribute one wrong digest: consensus.
    let lie = B256::repeat_byte(0x66);
    let mut assignments = Vec::new();
    for liar in &liars {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let assignment = loop {
            if let Some(a) = liar.claim(std::time::Duration::from_secs(5)).await.unwrap()
                && a.task_id == task
            {
                break a;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the drawn liar got its task"
            );
        };
        liar.contribute_drawn(&assignment, lie).await.unwrap();
        assignments.push(assignment);
    }
    let view = reader.read("task", reader.hub().task(task)).await.unwrap();
    assert_eq!(view.status, 2, "the liars reached consensus");
    // Their digest stays hidden while the audit takes commitments: the hub refuses its reveal
    // (`reveal` always, `revealSpotChecked` until the audit's consensus), and the scheduler tells
    // them to reveal only once the auditors committed.
    for (liar, assignment) in liars.iter().zip(&assignments) {
        match liar.reveal(task, lie).await.unwrap_err() {
            decloud_testkit::hostile::HostileError::Chain(e) => refused(&e, "spot-checked deal"),
            e => panic!("expected the hub's refusal, got {e}"),
        }
        match liar.reveal_spot_checked(assignment, lie).await.unwrap_err() {
            decloud_testkit::hostile::HostileError::Chain(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("not on chain yet") || msg.contains("has no consensus yet"),
                    "expected the audit to be awaited, got {msg}"
                );
            }
            e => panic!("expected the hub's refusal, got {e}"),
        }
    }
    let audit_id = decloud_protocol::spot::audit_id(task);
    for (liar, assignment) in liars.iter().zip(&assignments) {
        await_reveal_word(liar, task).await;
        let audit = reader
            .read("audit", reader.hub().task(audit_id))
            .await
            .unwrap();
        assert_eq!(
            audit.status, 2,
            "told to reveal once the audit's commitments are in"
        );
        liar.reveal_spot_checked(assignment, lie).await.unwrap();
        liar.report(
            task,
            &decloud_testkit::hostile::Hostile::fake(
                decloud_protocol::pool::ReportStatus::Revealed,
            ),
        )
        .await
        .unwrap();
    }

    assert_eq!(
        wait_final(&reader, task, std::time::Duration::from_secs(120)).await,
        4,
        "the audit contradicted the consensus: the task failed"
    );
    let verdict = decloud_chain::audit::verdict(&reader, task, 0)
        .await
        .unwrap();
    assert_eq!(verdict, Some(decloud_chain::audit::Verdict::Contradicted));
    let auditors = audit_contributors(&reader, task).await;
    assert_eq!(auditors.len(), 2, "two auditors at trust 3: {auditors:?}");
    let liar_addresses: Vec<Address> = liars.iter().map(|l| l.address()).collect();
    assert!(
        auditors.iter().all(|a| !liar_addresses.contains(a)),
        "no liar audits itself"
    );

    // Balances: the liars lost their stakes, which the auditors share; scores follow.
    let kitty_after = reader.read("kitty", reader.hub().kitty()).await.unwrap();
    let mut lost = U256::ZERO;
    for l in &liar_addresses {
        let (e, _) = before[l];
        let now = escrow(&reader, *l).await;
        assert_eq!(now, e - stake, "liar {l} lost exactly its stake");
        lost += stake;
        assert_eq!(
            score(&reader, *l).await,
            U256::ZERO,
            "a revealed liar's score is zeroed"
        );
    }
    let mut gained = U256::ZERO;
    for a in &auditors {
        let (e, s) = before[a];
        let now = escrow(&reader, *a).await;
        assert!(now > e, "auditor {a} was paid");
        gained += now - e;
        assert_eq!(
            score(&reader, *a).await,
            s + U256::from(1),
            "auditor {a}'s score + 1"
        );
    }
    assert_eq!(
        lost,
        gained + (kitty_after - kitty_before),
        "the seized stakes went to the auditors and the kitty"
    );
    assert_eq!(
        escrow(&reader, requester).await,
        requester_before,
        "the requester got its price back"
    );
    assert_eq!(
        escrow(&reader, owner).await,
        owner_before,
        "the scheduler got its stake back and earned nothing"
    );
    assert_eq!(
        unaccounted(&reader, pool.workerpool, &workers).await,
        unaccounted_before,
        "every token of the hub is accounted for"
    );
    assert_shown_audit(
        &reader,
        deal.id(),
        decloud_chain::audit::Verdict::Contradicted,
        &auditors,
    )
    .await;
    let store = pool.scheduler().unwrap().store();
    let info = store.task(task).await.unwrap().unwrap();
    assert_eq!(
        info.status,
        decloud_protocol::TaskStatus::Failed,
        "the scheduler marked it failed"
    );
}

/// Spot checks with honest workers: a q = 255 task is audited, the audit agrees, the task is
/// certified and its auditors paid from the workers' reward; the hub's tokens stay accounted
/// for. Figures printed (not asserted): latency from the match to the certificate of an audited,
/// a not-audited (q = 1) and a non-spot random task, and the audited task's gas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_check_agrees_with_honest_workers_and_pays_its_auditors() {
    let (devnet, pool, category) = random_pool(5, 20).await;
    let workers: Vec<Address> = (0..5).map(|i| pool.worker_address(i)).collect();
    let greeting = decloud_testkit::fixtures::example_app("greeting").unwrap();
    let app = pool.deploy_app("greeting", &greeting).await.unwrap();
    let reader = Client::connect(devnet.profile(), None, None).await.unwrap();
    let request = |q: Option<u8>| {
        let r = decloud_testkit::pool::DealRequest::new(app)
            .trust(3)
            .category(category);
        match q {
            Some(q) => r.spot_check(q),
            None => r.random(),
        }
    };

    let deal = pool.deal(&request(Some(255))).await.unwrap();
    let task = deal.task_ids()[0];
    let started = std::time::Instant::now();
    let mut before = std::collections::HashMap::new();
    for w in &workers {
        before.insert(*w, (escrow(&reader, *w).await, score(&reader, *w).await));
    }
    let unaccounted_before = unaccounted(&reader, pool.workerpool, &workers).await;
    assert_eq!(
        wait_final(&reader, task, std::time::Duration::from_secs(120)).await,
        3,
        "certified"
    );
    let audited_secs = started.elapsed().as_secs_f64();
    let verdict = decloud_chain::audit::verdict(&reader, task, 0)
        .await
        .unwrap();
    let auditors = audit_contributors(&reader, task).await;
    let contributed = contributors(&reader, task).await;
    if verdict == Some(decloud_chain::audit::Verdict::NotAudited) {
        // 1 in 256: the round spared it. Nothing to check of an audit.
        println!("the q = 255 task was not audited (1 in 256)");
        return;
    }
    assert_eq!(verdict, Some(decloud_chain::audit::Verdict::Agreed));
    assert_eq!(auditors.len(), 2, "two auditors at trust 3: {auditors:?}");
    assert!(
        auditors.iter().all(|a| !contributed.contains(a)),
        "auditors are not contributors"
    );
    for a in auditors.iter().chain(&contributed) {
        let (e, s) = before[a];
        assert!(escrow(&reader, *a).await > e, "{a} was paid");
        assert_eq!(
            score(&reader, *a).await,
            s + U256::from(1),
            "{a}'s score + 1"
        );
    }
    assert_eq!(
        unaccounted(&reader, pool.workerpool, &workers).await,
        unaccounted_before,
        "every token of the hub is accounted for"
    );
    assert_shown_audit(
        &reader,
        deal.id(),
        decloud_chain::audit::Verdict::Agreed,
        &auditors,
    )
    .await;
    let audit_id = decloud_protocol::spot::audit_id(task);
    let audited_gas = gas_of(&reader, &[deal.id(), task, audit_id]).await;

    // The same task, not audited (q = 1: audited 1 time in 256), then with no spot checks.
    let spared = pool.deal(&request(Some(1))).await.unwrap();
    let spared_task = spared.task_ids()[0];
    let started = std::time::Instant::now();
    assert_eq!(
        wait_final(&reader, spared_task, std::time::Duration::from_secs(120)).await,
        3
    );
    let spared_secs = started.elapsed().as_secs_f64();
    let spared_verdict = decloud_chain::audit::verdict(&reader, spared_task, 0)
        .await
        .unwrap();
    let spared_gas = task_gas(&reader, spared.id(), spared_task).await;
    let plain = pool.deal(&request(None)).await.unwrap();
    let plain_task = plain.task_ids()[0];
    let started = std::time::Instant::now();
    assert_eq!(
        wait_final(&reader, plain_task, std::time::Duration::from_secs(120)).await,
        3
    );
    let plain_secs = started.elapsed().as_secs_f64();
    let plain_gas = task_gas(&reader, plain.id(), plain_task).await;
    println!(
        "trust-3 random task, match to certified (instant mining, 1-s beacon): audited {audited_secs:.1} s, q = 1 {spared_secs:.1} s ({spared_verdict:?}), no spot checks {plain_secs:.1} s; gas (receipts, match to finalize, 21k and calldata included, beacon rounds not counted): audited {audited_gas}, not audited {spared_gas}, no spot checks {plain_gas}"
    );
}

/// The hub events of `event` whose topic 1 is `task`, each with its block's timestamp.
async fn task_events<E: alloy::sol_types::SolEvent>(client: &Client, task: B256) -> Vec<(E, u64)> {
    use alloy::providers::Provider;
    let filter = alloy::rpc::types::Filter::new()
        .address(client.profile().contracts.hub)
        .event_signature(E::SIGNATURE_HASH)
        .topic1(task)
        .from_block(0);
    let mut out = Vec::new();
    for log in client.provider().get_logs(&filter).await.unwrap() {
        let block = client
            .provider()
            .get_block_by_number(log.block_number.unwrap().into())
            .await
            .unwrap()
            .unwrap();
        out.push((
            E::decode_log(&log.inner).unwrap().data,
            block.header.timestamp,
        ));
    }
    out
}

/// A void audit end to end: the test computes wave 0's draw ahead of its round and stops every
/// worker but the two drawn, so that the audit's drawn auditors (never a contributor) are all
/// absent. Nothing else is sent by the test: the two contributors reach consensus, the scheduler
/// puts the audit round on chain, nobody audits; the contributors are told to reveal only once
/// the window closed (no digest to copy before), each absent auditor is slashed once (the
/// deal's worker stake from its pool stake to the kitty), the task completes void and its
/// contributors are paid. Nobody else loses a token, and the hub's tokens stay accounted for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_void_audit_slashes_its_absent_auditors_once_and_the_task_completes() {
    let (devnet, mut pool, category) = random_pool(5, 20).await;
    let workers: Vec<Address> = (0..5).map(|i| pool.worker_address(i)).collect();
    let greeting = decloud_testkit::fixtures::example_app("greeting").unwrap();
    let app = pool.deploy_app("greeting", &greeting).await.unwrap();
    let deal = pool
        .deal(
            &decloud_testkit::pool::DealRequest::new(app)
                .trust(3)
                .category(category)
                .spot_check(255),
        )
        .await
        .unwrap();
    let task = deal.task_ids()[0];
    let reader = Client::connect(devnet.profile(), None, None).await.unwrap();
    let d: IHub::Deal = (&deal.matched.deal).into();
    let (_, drawn) = wave0_draw_ahead(&reader, &d, deal.id(), pool.workerpool, 3).await;
    let contributors: Vec<Address> = drawn.iter().map(|p| p.worker).collect();
    assert_eq!(contributors.len(), 2, "two positions at trust 3");
    for (i, w) in workers.iter().enumerate() {
        if !contributors.contains(w) {
            pool.kill_worker(i).await;
        }
    }
    let stake = d.workerStake;
    let mut before = std::collections::HashMap::new();
    for w in &workers {
        let member = reader
            .read("member", reader.hub().poolMember(pool.workerpool, *w))
            .await
            .unwrap();
        before.insert(*w, (escrow(&reader, *w).await, member.stake));
    }
    let unaccounted_before = unaccounted(&reader, pool.workerpool, &workers).await;

    assert_eq!(
        wait_final(&reader, task, std::time::Duration::from_secs(180)).await,
        3,
        "a void audit: the task completes"
    );
    let verdict = decloud_chain::audit::verdict(&reader, task, 0)
        .await
        .unwrap();
    assert_eq!(verdict, Some(decloud_chain::audit::Verdict::Void));
    assert!(
        audit_contributors(&reader, task).await.is_empty(),
        "nobody audited"
    );
    let slashes = task_events::<IHub::AbsentAuditorSlashed>(&reader, task).await;
    let mut slashed: Vec<Address> = slashes.iter().map(|(e, _)| e.worker).collect();
    slashed.sort();
    let mut unique = slashed.clone();
    unique.dedup();
    assert_eq!(slashed.len(), 2, "both drawn auditors slashed: {slashed:?}");
    assert_eq!(unique, slashed, "each once");
    let reveals = task_events::<IHub::TaskReveal>(&reader, task).await;
    assert_eq!(reveals.len(), 2, "both contributors revealed");
    // The window closes AUDIT_RATIO (1) ref after the consensus.
    let consensus = task_events::<IHub::TaskConsensus>(&reader, task).await;
    let closes_at = consensus[0].1 + 20;
    assert!(
        reveals.iter().all(|(_, t)| *t >= closes_at),
        "no reveal before the audit window closed at {closes_at}: {reveals:?}"
    );
    for w in &workers {
        let (e, s) = before[w];
        let now_escrow = escrow(&reader, *w).await;
        let now_stake = reader
            .read("member", reader.hub().poolMember(pool.workerpool, *w))
            .await
            .unwrap()
            .stake;
        if slashed.contains(w) {
            assert_eq!(
                now_stake,
                s - stake,
                "absent auditor {w} lost the deal's stake"
            );
            assert_eq!(now_escrow, e, "and nothing else");
        } else if contributors.contains(w) {
            assert!(now_escrow > e, "contributor {w} was paid");
            assert_eq!(now_stake, s, "and kept its pool stake");
        } else {
            assert_eq!((now_escrow, now_stake), (e, s), "{w} was not involved");
        }
    }
    assert_eq!(
        unaccounted(&reader, pool.workerpool, &workers).await,
        unaccounted_before,
        "every token of the hub is accounted for"
    );
}
