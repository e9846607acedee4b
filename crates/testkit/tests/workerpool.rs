//! The workerpool end to end on a real devnet: a scheduler and workers in this process turn deals
//! into certified, paid results, and survive the faults a pool meets: a worker killed mid-task,
//! a scheduler restarted, a worker that lies, apps that trap, loop, eat memory, do not match
//! their checksum or write too much.

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::sol_types::SolEvent;
use decloud_chain::client::Client;
use decloud_chain::contracts::IHub;
use decloud_protocol::pool::{NextAction, ReplicateInfo, ReportStatus};
use decloud_protocol::result::{commitment, result_hash};
use decloud_protocol::typed::Deal;
use decloud_runtime::Limits;
use decloud_scheduler::api::TaskReport;
use decloud_scheduler::db::ReplicateStatus;
use decloud_testkit::pool::{DealRequest, Pool, PoolOptions};
use decloud_testkit::{Devnet, anvil, fixtures};
use decloud_worker::SchedulerClient;

fn app(name: &str) -> Vec<u8> {
    fixtures::example_app(name).unwrap()
}

/// Deploys example app `name` under its own name; returns its module and its id.
async fn deploy(pool: &Pool, name: &str) -> (Vec<u8>, Address) {
    let module = app(name);
    let id = pool.deploy_app(name, &module).await.unwrap();
    (module, id)
}

async fn chain(pool: &Pool) -> Client {
    Client::connect(&pool.profile, None, None).await.unwrap()
}

/// Deploys the greeting module under a checksum it does not have: every worker refuses it.
async fn deploy_mismatched(pool: &Pool) -> Address {
    let checksum = Some(B256::repeat_byte(0xba));
    pool.deploy_app_at("mismatched", &app("greeting"), checksum)
        .await
        .unwrap()
}

/// Has the pool match `request`; returns the deal's first task.
async fn first_task(pool: &Pool, request: DealRequest) -> B256 {
    pool.deal(&request).await.unwrap().task_ids()[0]
}

/// [`first_task`], once the pool has completed it.
async fn completed_task(pool: &Pool, request: DealRequest) -> B256 {
    let task = first_task(pool, request).await;
    pool.wait_completed(&[task], Duration::from_secs(120))
        .await
        .unwrap();
    task
}

/// The scheduler's view of a task.
async fn report(pool: &Pool, task: B256) -> Option<TaskReport> {
    fixtures::scheduler_task(&pool.scheduler_url()?, task).await
}

/// Waits until the scheduler shows a replicate of `task` for which `pred` holds.
async fn wait_replicate(
    pool: &Pool,
    task: B256,
    what: &str,
    pred: impl Fn(&ReplicateInfo) -> bool,
) -> ReplicateInfo {
    let what = format!("no replicate became {what}");
    let found = fixtures::eventually(Duration::from_secs(120), &what, || async {
        let r = report(pool, task).await?;
        r.replicates.iter().find(|r| pred(r)).cloned()
    })
    .await;
    match found {
        Ok(replicate) => replicate,
        Err(e) => panic!("{task}: {e}: {:?}", report(pool, task).await),
    }
}

/// Waits until the scheduler shows a replicate of `task` in `status`.
async fn wait_replicate_in(pool: &Pool, task: B256, status: ReplicateStatus) -> ReplicateInfo {
    let what = format!("{status:?}");
    wait_replicate(pool, task, &what, |r| r.status == status).await
}

/// Waits until the scheduler's own state says `task` is `status` (it follows the chain by
/// passes, so it may lag a little behind it).
async fn wait_scheduler_status(pool: &Pool, task: B256, status: &str) -> TaskReport {
    let seen = fixtures::eventually(Duration::from_secs(20), status, || async {
        Some(report(pool, task).await.unwrap()).filter(|r| r.task.status.as_str() == status)
    })
    .await;
    match seen {
        Ok(r) => r,
        Err(e) => panic!("{task}: not {e}: {:?}", report(pool, task).await),
    }
}

/// Waits until the hub has emitted event `E` for `task`.
async fn wait_event<E: SolEvent>(chain: &Client, task: B256, timeout: Duration, what: &str) {
    fixtures::eventually(timeout, what, || async {
        (!events::<E>(chain, task).await.is_empty()).then_some(())
    })
    .await
    .unwrap();
}

async fn events<E: SolEvent>(chain: &Client, task: B256) -> Vec<E> {
    fixtures::hub_events(chain, task).await.unwrap()
}

/// The result archive at `location`, unpacked.
async fn unpacked(location: &str) -> tempfile::TempDir {
    let archive = fixtures::download(location, 1 << 20).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    decloud_storage::results::unpack(&archive, dir.path(), 1 << 20).unwrap();
    dir
}

async fn score(chain: &Client, worker: Address) -> u64 {
    let s = chain.hub().scoreOf(worker).call().await.unwrap();
    u64::try_from(s).unwrap()
}

/// The digest an honest worker contributes for `task` of `deal` running `wasm` with `args`.
async fn honest_digest(wasm: &[u8], deal: &Deal, task: B256, start_time: u64, args: &str) -> B256 {
    fixtures::honest_digest(wasm, deal, task, start_time, args)
        .await
        .unwrap()
}

/// A devnet, a pool started with `options` on it, and a client that reads its chain.
async fn started_with(options: PoolOptions) -> (Devnet, Pool, Client) {
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(&devnet, options).await.unwrap();
    let chain = chain(&pool).await;
    (devnet, pool, chain)
}

/// [`started_with`] a pool of `workers` workers, every other option the default.
async fn started(workers: usize) -> (Devnet, Pool, Client) {
    started_with(PoolOptions {
        workers,
        ..PoolOptions::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_trust_one_task_is_computed_certified_paid_and_its_result_checks_out() {
    let (devnet, pool, chain) = started_with(PoolOptions::default()).await;
    let worker = pool.worker_address(0);
    let (_, app_id) = deploy(&pool, "greeting").await;
    let before = chain.hub().balanceOf(worker).call().await.unwrap();
    let task = completed_task(&pool, DealRequest::new(app_id).args("Alice Bob")).await;

    // One finalization, with the location the worker uploaded the result to.
    let finalized = events::<IHub::TaskFinalize>(&chain, task).await;
    assert_eq!(finalized.len(), 1);
    let location = String::from_utf8(finalized[0].resultsLocation.to_vec()).unwrap();
    // On the pool's storage node, with its key pinned: …/blobs/<sha256>#sha256:<key>.
    let (store, pin) = pool.storage_url.split_once('#').unwrap();
    assert!(location.starts_with(store), "{location}");
    assert!(location.ends_with(&format!("#{pin}")), "{location}");

    // The archive unpacks to the app's output, whose digest is the one certified.
    let dir = unpacked(&location).await;
    assert_eq!(
        std::fs::read_to_string(dir.path().join("result.txt")).unwrap(),
        "Hello, Alice Bob!\n"
    );
    let outcome =
        decloud_runtime::outcome_of_output(dir.path(), false, &Limits::for_category(300)).unwrap();
    let digest = B256::from(outcome.contribution(false).unwrap().digest.0);
    let consensus = events::<IHub::TaskConsensus>(&chain, task).await;
    assert_eq!(consensus[0].resultHash, result_hash(task, digest));

    // The scheduler saw every step; the worker was paid (its stake came back with a reward).
    let r = wait_scheduler_status(&pool, task, "completed").await;
    assert_eq!(r.replicates.len(), 1);
    assert_eq!(r.replicates[0].worker, worker);
    assert_eq!(r.replicates[0].status, ReplicateStatus::Revealed);
    let after = chain.hub().balanceOf(worker).call().await.unwrap();
    assert!(after > before, "the worker earned: {before} -> {after}");
    assert_eq!(
        chain.hub().frozenOf(worker).call().await.unwrap(),
        U256::ZERO
    );
    let requester = devnet.signer(decloud_testkit::pool::REQUESTER).address();
    assert_eq!(
        chain.hub().frozenOf(requester).call().await.unwrap(),
        U256::ZERO,
        "the requester's payment is released"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_fresh_workers_agree_at_trust_five_and_gain_score() {
    let (_devnet, pool, chain) = started(3).await;
    let (_, app_id) = deploy(&pool, "hash-search").await;
    let task = completed_task(&pool, DealRequest::new(app_id).args("decloud 8").trust(5)).await;
    let contributions = events::<IHub::TaskContribute>(&chain, task).await;
    assert_eq!(
        contributions.len(),
        3,
        "fresh workers weigh 2: three reach trust 5"
    );
    assert!(
        contributions
            .iter()
            .all(|c| c.resultHash == contributions[0].resultHash),
        "they agree"
    );
    assert_eq!(events::<IHub::TaskReveal>(&chain, task).await.len(), 3);
    for i in 0..3 {
        assert_eq!(score(&chain, pool.worker_address(i)).await, 1, "worker {i}");
    }
    let r = report(&pool, task).await.unwrap();
    assert!(
        r.replicates
            .iter()
            .all(|r| r.status == ReplicateStatus::Revealed),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_task_loses_it_to_another_worker() {
    let (_devnet, mut pool, _chain) = started_with(PoolOptions {
        workers: 2,
        heartbeat_timeout: Duration::from_secs(3),
        ..PoolOptions::default()
    })
    .await;
    // A search long enough to be killed in the middle of.
    let (_, app_id) = deploy(&pool, "hash-search").await;
    let task = first_task(&pool, DealRequest::new(app_id).args("decloud 21")).await;
    let first = wait_replicate_in(&pool, task, ReplicateStatus::Assigned).await;
    let (victim, survivor) = if first.worker == pool.worker_address(0) {
        (0, 1)
    } else {
        (1, 0)
    };
    pool.kill_worker(victim).await;
    pool.wait_completed(&[task], Duration::from_secs(180))
        .await
        .unwrap();
    let r = report(&pool, task).await.unwrap();
    let by = |w: Address| r.replicates.iter().find(|x| x.worker == w).unwrap();
    let lost = by(pool.worker_address(victim));
    assert_eq!(lost.status, ReplicateStatus::Lost, "{r:?}");
    assert!(lost.reason.as_deref().unwrap().contains("heartbeats"));
    assert_eq!(
        by(pool.worker_address(survivor)).status,
        ReplicateStatus::Revealed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_scheduler_loses_no_task_and_finalizes_each_once() {
    let (_devnet, mut pool, chain) = started_with(PoolOptions {
        workers: 2,
        worker_capacity: 1,
        ..PoolOptions::default()
    })
    .await;
    let (_, app_id) = deploy(&pool, "greeting").await;
    // Enough tasks for two one-slot workers that the first finalization comes long before the
    // last task is computed (with instant mining, 8 tasks were sometimes all finalized in one
    // batch before the test noticed the first).
    let deal = pool
        .deal(&DealRequest::new(app_id).args("bulk").volume(32))
        .await
        .unwrap();
    let tasks = deal.task_ids();
    // Kill the scheduler once the first task is done, while the others are in flight.
    let finished = Duration::from_secs(120);
    wait_event::<IHub::TaskFinalize>(&chain, tasks[0], finished, "no task finished").await;
    pool.kill_scheduler().await;
    // Only the scheduler finalizes, so what is unfinalized now is what the restart must recover;
    // if nothing is, the test would prove nothing about a restart.
    let mut in_flight = 0;
    for task in &tasks {
        if events::<IHub::TaskFinalize>(&chain, *task).await.is_empty() {
            in_flight += 1;
        }
    }
    assert!(
        in_flight > 0,
        "every task was finalized before the scheduler was killed"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    pool.start_scheduler().await.unwrap();
    pool.wait_completed(&tasks, Duration::from_secs(180))
        .await
        .unwrap();
    for task in &tasks {
        assert_eq!(
            events::<IHub::TaskFinalize>(&chain, *task).await.len(),
            1,
            "task {task} finalized once"
        );
        wait_scheduler_status(&pool, *task, "completed").await;
    }
}

/// A worker driven by hand, to lie at will.
struct Liar {
    address: Address,
    scheduler: SchedulerClient,
    chain: Client,
}

impl Liar {
    async fn start(devnet: &Devnet, pool: &Pool, account: usize) -> Liar {
        let key = devnet.signer(account);
        let scheduler =
            SchedulerClient::new(&pool.scheduler_url().unwrap(), key.clone(), 1).unwrap();
        let chain = decloud_testkit::pool::client(devnet, account)
            .await
            .unwrap();
        // Lying costs a stake: the scheduler serves only its pool's members. The registry's
        // stake comes on top of the escrow balance the tests count on.
        let registry_stake = U256::from(1_000_000_000u64);
        decloud_chain::actions::deposit(&chain, U256::from(10_000_000_000_000u64) + registry_stake)
            .await
            .unwrap();
        decloud_chain::actions::join_pool(&chain, pool.workerpool, registry_stake)
            .await
            .unwrap();
        scheduler.login().await.unwrap();
        Liar {
            address: key.address(),
            scheduler,
            chain,
        }
    }

    /// Has the pool match a trust-3 deal of `args` and the liar claim its task; returns the
    /// assignment, the deal and the digest an honest worker computes.
    async fn round(
        &self,
        pool: &Pool,
        app_id: Address,
        module: &[u8],
        args: &str,
    ) -> (decloud_protocol::pool::Assignment, Deal, B256) {
        let request = DealRequest::new(app_id).args(args).trust(3);
        let deal = pool.deal(&request).await.unwrap().matched.deal;
        let a = self.claim().await;
        let honest = honest_digest(module, &deal, a.task_id, a.start_time, args).await;
        (a, deal, honest)
    }

    async fn claim(&self) -> decloud_protocol::pool::Assignment {
        loop {
            if let Some(a) = self.scheduler.claim(Duration::from_secs(5)).await.unwrap() {
                return a;
            }
        }
    }

    async fn contribute(&self, a: &decloud_protocol::pool::Assignment, deal: &Deal, digest: B256) {
        let c = commitment(self.address, a.task_id, digest);
        let hub = self.chain.hub();
        let call = hub.contribute(
            deal.into(),
            U256::from(a.index),
            c.result_hash,
            c.result_seal,
            Address::ZERO,
            Default::default(),
            a.authorization.sign.clone(),
        );
        self.chain
            .send("contributing", call.into_transaction_request())
            .await
            .unwrap();
        let report = decloud_protocol::pool::Report {
            status: ReportStatus::Contributed,
            reason: None,
            results_location: None,
            callback_data: None,
            stages: None,
        };
        self.scheduler.report(a.task_id, &report).await.unwrap();
    }

    /// Waits for the scheduler's word; reveals when told to.
    async fn follow(&self, task: B256, digest: B256) -> NextAction {
        loop {
            match self
                .scheduler
                .next(task, Duration::from_secs(5))
                .await
                .unwrap()
            {
                NextAction::Wait => continue,
                action @ NextAction::Reveal { .. } => {
                    let hub = self.chain.hub();
                    self.chain
                        .send(
                            "revealing",
                            hub.reveal(task, digest).into_transaction_request(),
                        )
                        .await
                        .unwrap();
                    return action;
                }
                done => return done,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lying_worker_is_outvoted_loses_its_stake_and_its_score_drops() {
    let (devnet, mut pool, chain) = started(3).await;
    pool.kill_worker(1).await;
    pool.kill_worker(2).await;
    let (greeting, app_id) = deploy(&pool, "greeting").await;
    let liar = Liar::start(&devnet, &pool, 9).await;

    // Round 1, trust 3 (two fresh workers suffice): the liar is honest and earns a point of
    // score beside worker 0.
    let (a, deal, honest) = liar.round(&pool, app_id, &greeting, "one").await;
    liar.contribute(&a, &deal, honest).await;
    assert!(matches!(
        liar.follow(a.task_id, honest).await,
        NextAction::Reveal { .. }
    ));
    pool.wait_completed(&[a.task_id], Duration::from_secs(120))
        .await
        .unwrap();
    assert_eq!(score(&chain, liar.address).await, 1);
    let balance_before = chain.hub().balanceOf(liar.address).call().await.unwrap();

    // Round 2: it lies. One honest worker against one liar is no consensus; workers 1 and 2
    // come back, the scheduler hands them the task, and the honest group wins.
    let (a, deal, honest) = liar.round(&pool, app_id, &greeting, "two").await;
    let lie = B256::repeat_byte(0x66);
    liar.contribute(&a, &deal, lie).await;
    pool.start_worker(1).await.unwrap();
    pool.start_worker(2).await.unwrap();
    match liar.follow(a.task_id, lie).await {
        NextAction::Done { reason } => assert!(reason.contains("another result won"), "{reason}"),
        other => panic!("the liar was told {other:?}"),
    }
    pool.wait_completed(&[a.task_id], Duration::from_secs(120))
        .await
        .unwrap();

    let consensus = events::<IHub::TaskConsensus>(&chain, a.task_id).await;
    assert_eq!(
        consensus[0].resultHash,
        result_hash(a.task_id, honest),
        "the truth won"
    );
    let stake = deal.workerStake;
    assert!(stake > U256::ZERO);
    assert_eq!(
        chain.hub().balanceOf(liar.address).call().await.unwrap(),
        balance_before - stake,
        "the liar's stake is seized"
    );
    assert_eq!(
        chain.hub().frozenOf(liar.address).call().await.unwrap(),
        U256::ZERO
    );
    assert_eq!(score(&chain, liar.address).await, 0, "floor(2 × 1 / 3)");
    assert_eq!(score(&chain, pool.worker_address(0)).await, 2);
    assert_eq!(score(&chain, pool.worker_address(1)).await, 1);
    assert_eq!(score(&chain, pool.worker_address(2)).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_apps_end_with_a_reason_and_the_worker_keeps_serving() {
    let (_devnet, pool, chain) = started_with(PoolOptions {
        storage_max_upload: 1 << 20,
        ..PoolOptions::default()
    })
    .await;
    let probe_id = pool
        .deploy_app("probe", &app("sandbox-probe"))
        .await
        .unwrap();
    let mismatched = deploy_mismatched(&pool).await;
    let (_, greeting) = deploy(&pool, "greeting").await;
    // A category of 3 s: a loop stops at its fuel or wall-clock cap quickly.
    let short = pool.create_category("test-short", 3).await.unwrap();

    let run = |app: Address, args: &str| DealRequest::new(app).args(args);
    let trap = first_task(&pool, run(probe_id, "panic")).await;
    let bad_checksum = first_task(&pool, run(mismatched, "x")).await;
    let spin = first_task(&pool, run(probe_id, "spin").category(short)).await;
    let memory = first_task(&pool, run(probe_id, "alloc")).await;
    let too_big = first_task(&pool, run(probe_id, "write 3000000")).await;
    let fine = first_task(&pool, run(greeting, "still")).await;

    // Deterministic failures are results: contributed, certified, with the reason kept.
    pool.wait_completed(&[trap, memory, fine], Duration::from_secs(240))
        .await
        .unwrap();
    let reason = |r: &ReplicateInfo| r.reason.clone().unwrap_or_default();
    for (task, says) in [(trap, "trap"), (memory, "memory")] {
        let r = wait_replicate_in(&pool, task, ReplicateStatus::Revealed).await;
        assert!(reason(&r).contains(says), "{r:?}");
    }

    // The others are reported, never contributed.
    let r = wait_replicate_in(&pool, bad_checksum, ReplicateStatus::Failed).await;
    assert!(
        reason(&r).contains("does not match its registered checksum"),
        "{r:?}"
    );
    let r = wait_replicate(&pool, spin, "stopped", |r| {
        matches!(
            r.status,
            ReplicateStatus::Failed | ReplicateStatus::Revealed
        )
    })
    .await;
    assert!(
        reason(&r).contains("wall-clock cap") || reason(&r).contains("fuel"),
        "{r:?}"
    );
    let r = wait_replicate_in(&pool, too_big, ReplicateStatus::Failed).await;
    assert!(reason(&r).contains("cannot upload the result"), "{r:?}");
    for task in [bad_checksum, too_big] {
        assert!(
            events::<IHub::TaskContribute>(&chain, task)
                .await
                .is_empty(),
            "nothing contributed for {task}"
        );
    }
    // And the worker served the good task after all of them.
    let r = report(&pool, fine).await.unwrap();
    assert_eq!(r.replicates[0].status, ReplicateStatus::Revealed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_task_every_worker_fails_is_given_up_and_its_deadline_started() {
    let (_devnet, pool, chain) = started(3).await;
    // Failures count only from workers with on-chain history in the pool: each contributes once.
    let (_, greeting) = deploy(&pool, "greeting").await;
    completed_task(&pool, DealRequest::new(greeting).args("history").trust(5)).await;
    let mismatched = deploy_mismatched(&pool).await;
    let task = first_task(&pool, DealRequest::new(mismatched)).await;
    let r = fixtures::eventually(Duration::from_secs(120), "never given up", || async {
        report(&pool, task)
            .await
            .filter(|r| r.task.given_up.is_some())
    })
    .await
    .unwrap();
    assert_eq!(r.replicates.len(), 3, "each worker tried once: {r:?}");
    assert!(
        r.replicates
            .iter()
            .all(|x| x.status == ReplicateStatus::Failed),
        "{r:?}"
    );
    let given_up = r.task.given_up.unwrap_or_default();
    assert!(
        given_up.contains("given up after 3 workers failed")
            && given_up.contains("registered checksum"),
        "{given_up}"
    );
    // The scheduler starts its deadline so that the requester can claim a refund.
    let view = fixtures::eventually(Duration::from_secs(30), "never initialized", || async {
        Some(chain.hub().task(task).call().await.unwrap()).filter(|view| view.status == 1)
    })
    .await
    .unwrap();
    assert!(view.initTime > alloy::primitives::aliases::U40::ZERO);
    assert!(
        events::<IHub::TaskContribute>(&chain, task)
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_consensus_nobody_reveals_is_reopened_and_certified_by_others() {
    let (devnet, mut pool, chain) = started(2).await;
    pool.kill_worker(0).await;
    pool.kill_worker(1).await;
    let (greeting, app_id) = deploy(&pool, "greeting").await;
    // Reveal window of 2 × 3 s: short enough to wait for.
    let short = pool.create_category("test-reveal", 3).await.unwrap();
    let (a, b) = (
        Liar::start(&devnet, &pool, 8).await,
        Liar::start(&devnet, &pool, 9).await,
    );
    let deal = pool
        .deal(
            &DealRequest::new(app_id)
                .args("silent")
                .trust(3)
                .category(short),
        )
        .await
        .unwrap();
    let task = deal.task_ids()[0];
    // Two workers agree (trust 3: consensus), then neither reveals.
    let (ja, jb) = (a.claim().await, b.claim().await);
    let digest = honest_digest(&greeting, &deal.matched.deal, task, ja.start_time, "silent").await;
    a.contribute(&ja, &deal.matched.deal, digest).await;
    b.contribute(&jb, &deal.matched.deal, digest).await;
    assert_eq!(events::<IHub::TaskConsensus>(&chain, task).await.len(), 1);
    // The scheduler reopens once the reveal deadline passes (the devnet's clock is pushed).
    anvil::advance_time(&devnet, 7).await.unwrap();
    let reopened = Duration::from_secs(60);
    wait_event::<IHub::TaskReopen>(&chain, task, reopened, "never reopened").await;
    let r = wait_replicate_in(&pool, task, ReplicateStatus::Rejected).await;
    assert!(r.reason.unwrap().contains("rejected"));
    // Honest workers come back, get the task again and certify it.
    pool.start_worker(0).await.unwrap();
    pool.start_worker(1).await.unwrap();
    pool.wait_completed(&[task], Duration::from_secs(60))
        .await
        .unwrap();
    let stake = deal.matched.deal.workerStake;
    for silent in [&a, &b] {
        assert_eq!(
            chain.hub().frozenOf(silent.address).call().await.unwrap(),
            U256::ZERO
        );
        let balance = chain.hub().balanceOf(silent.address).call().await.unwrap();
        assert_eq!(
            balance,
            U256::from(10_000_000_000_000u64) - stake,
            "a silent winner loses its stake"
        );
    }
    for i in 0..2 {
        assert_eq!(score(&chain, pool.worker_address(i)).await, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_restarted_after_contributing_resumes_and_reveals() {
    let (_devnet, mut pool, chain) = started(3).await;
    let (_, app_id) = deploy(&pool, "greeting").await;
    // Only worker 0 claims at first: its contribution alone cannot make a consensus at trust
    // 5, so it is certainly waiting to reveal when it is stopped.
    pool.kill_worker(1).await;
    pool.kill_worker(2).await;
    let task = first_task(&pool, DealRequest::new(app_id).args("resume").trust(5)).await;
    let first = wait_replicate(&pool, task, "contributed", |r| r.result_hash.is_some()).await;
    let index = 0;
    assert_eq!(first.worker, pool.worker_address(index));
    pool.kill_worker(index).await;
    assert!(
        pool.worker_dir(index)
            .join("jobs")
            .read_dir()
            .unwrap()
            .next()
            .is_some(),
        "its job is saved"
    );
    // Restarted with the others: it finds its saved job, learns the consensus and reveals.
    pool.start_worker(1).await.unwrap();
    pool.start_worker(2).await.unwrap();
    pool.start_worker(index).await.unwrap();
    pool.wait_completed(&[task], Duration::from_secs(120))
        .await
        .unwrap();
    let reveals = events::<IHub::TaskReveal>(&chain, task).await;
    assert!(
        reveals.iter().any(|r| r.worker == first.worker),
        "the restarted worker revealed"
    );
    assert_eq!(
        events::<IHub::TaskContribute>(&chain, task)
            .await
            .iter()
            .filter(|c| c.worker == first.worker)
            .count(),
        1,
        "and contributed once"
    );
    assert_eq!(score(&chain, first.worker).await, 1);
    // The worker forgets the job once it hears the task is final, which may come a moment
    // after the chain says so.
    let jobs = pool.worker_dir(index).join("jobs");
    let forgotten = "the finished job is forgotten";
    fixtures::eventually(Duration::from_secs(30), forgotten, || async {
        jobs.read_dir().unwrap().next().is_none().then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_app_computes_over_a_dataset_it_downloads_and_checks() {
    let (_devnet, pool, chain) = started_with(PoolOptions::default()).await;
    let (_, stats) = deploy(&pool, "csv-stats").await;
    let dataset = pool
        .deploy_dataset("prices.csv", b"day,price\n1,10\n2,20\n3,30\n")
        .await
        .unwrap();
    let task = completed_task(&pool, DealRequest::new(stats).dataset(dataset)).await;
    let location = String::from_utf8(
        events::<IHub::TaskFinalize>(&chain, task).await[0]
            .resultsLocation
            .to_vec(),
    )
    .unwrap();
    let dir = unpacked(&location).await;
    let stats: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("stats.json")).unwrap()).unwrap();
    assert_eq!(stats["rows"], 3, "{stats}");
    assert_eq!(
        stats["columns"]["price"]["mean"].as_f64(),
        Some(20.0),
        "{stats}"
    );
    assert_eq!(
        stats["columns"]["price"]["max"].as_f64(),
        Some(30.0),
        "{stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_oracle_contract_receives_the_certified_median() {
    let (devnet, pool, chain) = started(3).await;
    let provider = devnet.provider(0);
    let oracle =
        decloud_chain::contracts::MedianOracle::deploy(&provider, pool.profile.contracts.hub)
            .await
            .unwrap();
    let (_, median) = deploy(&pool, "median").await;
    // Three replicas must agree on the callback data, not only on files.
    let request = DealRequest::new(median)
        .args("5 -1 9 3 7")
        .trust(5)
        .callback(*oracle.address());
    let task = completed_task(&pool, request).await;
    let value = oracle.valueOf(task).call().await.unwrap();
    assert_eq!(value, alloy::primitives::I256::try_from(5).unwrap());
    assert_eq!(oracle.latestTask().call().await.unwrap(), task);
    let finalized = &events::<IHub::TaskFinalize>(&chain, task).await[0];
    assert_eq!(finalized.callbackData.len(), 32);
    let consensus = &events::<IHub::TaskConsensus>(&chain, task).await[0];
    assert_eq!(
        consensus.resultHash,
        result_hash(task, alloy::primitives::keccak256(&finalized.callbackData))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_callback_is_on_record_and_a_retry_is_checked_against_it() {
    let (devnet, pool, chain) = started(1).await;
    let (_, median) = deploy(&pool, "median").await;
    // The token has no `receiveResult`: the hub's call to it reverts, without a reason.
    let consumer = pool.profile.contracts.token;
    let request = DealRequest::new(median)
        .args("5 -1 9 3 7")
        .callback(consumer);
    let task = completed_task(&pool, request).await;
    let why = decloud_client::lookup::callback_failure(&chain, task)
        .await
        .unwrap()
        .expect("the failed callback is on record");
    assert!(why.contains("without a reason"), "{why}");
    let failed = &events::<IHub::CallbackFailed>(&chain, task).await;
    assert_eq!(failed.len(), 1, "one failure event");

    let provider = devnet.provider(0);
    let hub = IHub::new(pool.profile.contracts.hub, &provider);
    let data = events::<IHub::TaskFinalize>(&chain, task).await[0]
        .callbackData
        .clone();
    // Data that is not the task's is refused with a readable reason, and changes nothing.
    let err = hub
        .retryCallback(task, consumer, b"forged".to_vec().into())
        .call()
        .await
        .expect_err("forged data is refused");
    let revert = err.as_revert_data().expect("a revert with data");
    let message = decloud_chain::revert::describe_revert(&revert);
    assert!(message.contains("no failed callback"), "{message}");
    // The real data: the consumer refuses again, so the failure stays on record.
    hub.retryCallback(task, consumer, data)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert_eq!(events::<IHub::CallbackFailed>(&chain, task).await.len(), 2);
    assert!(
        decloud_client::lookup::callback_failure(&chain, task)
            .await
            .unwrap()
            .is_some()
    );
}
