//! Spot checks end to end on a real chain with a real pool of five workers and the devnet
//! beacon over HTTP (docs/randomness.md#spot-checks): lying contributors caught by an audit, an
//! audit agreeing with honest ones, and a void audit whose absent auditors are slashed. Nothing
//! in a spot check is sent by the tests but the liars' own transactions; every outcome is read
//! back from the chain.

use alloy::primitives::{Address, B256, U256};
use decloud_chain::client::Client;
use decloud_chain::contracts::IHub;
use decloud_chain::selection;
use decloud_testkit::pool::{POOL_OWNER, REQUESTER};

mod random_support;
use random_support::*;

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

/// A spot-checked deal at q = 255 (255 of 256 tasks audited), trust 3: the test computes wave
/// 0's draw ahead of its round (the devnet group's keys are public), stops the two drawn workers
/// and plays them as liars: same wrong digest, consensus, reveals. Nothing else is sent by the
/// test: the scheduler gets the audit round on chain, the drawn auditors (real workers) compute
/// the truth, the audit contradicts, `finalizeAudited` fails the task. The liars lose their
/// stake and their whole score, the auditors get the seized stakes and score + 1, the requester
/// is refunded, and the hub's tokens stay accounted for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_check_catches_lying_contributors_and_pays_its_auditors() {
    let SpotChecked {
        devnet: _devnet,
        mut pool,
        workers,
        deal,
        task,
        reader,
        d,
        wave,
        drawn,
    } = spot_checked_deal().await;
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

/// A void audit end to end: the test computes wave 0's draw ahead of its round and stops every
/// worker but the two drawn, so that the audit's drawn auditors (never a contributor) are all
/// absent. Nothing else is sent by the test: the two contributors reach consensus, the scheduler
/// puts the audit round on chain, nobody audits; the contributors are told to reveal only once
/// the window closed (no digest to copy before), each absent auditor is slashed once (the
/// deal's worker stake from its pool stake to the kitty), the task completes void and its
/// contributors are paid. Nobody else loses a token, and the hub's tokens stay accounted for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_void_audit_slashes_its_absent_auditors_once_and_the_task_completes() {
    let SpotChecked {
        devnet: _devnet,
        mut pool,
        workers,
        task,
        reader,
        d,
        drawn,
        ..
    } = spot_checked_deal().await;
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

/// A five-worker random-selection pool with a trust-3 deal of `greeting` spot-checked at
/// q = 255, and wave 0's draw computed ahead of its round.
struct SpotChecked {
    devnet: decloud_testkit::Devnet,
    pool: decloud_testkit::pool::Pool,
    workers: Vec<Address>,
    deal: decloud_local::pool::Deal,
    task: B256,
    reader: Client,
    d: IHub::Deal,
    wave: selection::Wave,
    drawn: Vec<selection::Drawn>,
}

async fn spot_checked_deal() -> SpotChecked {
    let (devnet, pool, category) = random_pool(5, 20).await;
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
    SpotChecked {
        devnet,
        pool,
        workers,
        deal,
        task,
        reader,
        d,
        wave,
        drawn,
    }
}
