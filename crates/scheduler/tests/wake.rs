//! Who a change wakes among the long polls, on a devnet with scripted workers: a claim that
//! cannot take the work it was woken for hands the wake-up on (no claim sleeps while work
//! waits), a login or a contribution report wakes no claim and a new task wakes a few of many,
//! and a worker's `next` poll is woken by its own reveal falling due while the other workers'
//! polls sleep on.

use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use decloud_protocol::pool::{NextAction, ReportStatus};
use decloud_scheduler::wake::WakeCounts;
use decloud_testkit::Devnet;
use decloud_testkit::hostile::Hostile;
use decloud_testkit::pool::{self, DealRequest, Pool, PoolOptions, REQUESTER};
use tokio::task::JoinHandle;

/// A pool with no worker (the tests play the workers), reading the chain every 100 ms, and the
/// greeting app deployed; its requester has money.
async fn workerless_pool(devnet: &Devnet) -> (Pool, Address) {
    let options = PoolOptions {
        workers: 0,
        follow_interval: Duration::from_millis(100),
        ..PoolOptions::default()
    };
    let pool = Pool::start(devnet, options).await.unwrap();
    let module = decloud_testkit::fixtures::example_app("greeting").unwrap();
    let app = pool.deploy_app("greeting", &module).await.unwrap();
    pool::deposit(devnet, REQUESTER, U256::from(10_000_000_000_000u64))
        .await
        .unwrap();
    (pool, app)
}

fn counts(pool: &Pool) -> WakeCounts {
    pool.scheduler().expect("the scheduler runs").wake_counts()
}

/// A claim of `worker` waiting up to `wait`, in the background.
fn claiming(
    worker: &Hostile,
    wait: Duration,
) -> JoinHandle<Option<decloud_protocol::pool::Assignment>> {
    let worker = worker.clone();
    tokio::spawn(async move { worker.claim(wait).await.unwrap() })
}

/// Lets requests sent in the background reach the scheduler and start waiting.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(700)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_woken_for_work_it_cannot_take_hands_the_wake_up_on() {
    let devnet = Devnet::start().await.unwrap();
    let (pool, app) = workerless_pool(&devnet).await;
    let busy = Hostile::throwaway(&pool, 1).await.unwrap();
    let free = Hostile::throwaway(&pool, 1).await.unwrap();
    pool.deal(&DealRequest::new(app)).await.unwrap();
    let held = busy
        .claim(Duration::from_secs(20))
        .await
        .unwrap()
        .expect("the first task");

    // The worker at capacity waits longest, so a one-task change wakes it first.
    let busy_claim = claiming(&busy, Duration::from_secs(40));
    settle().await;
    let free_claim = claiming(&free, Duration::from_secs(40));
    settle().await;
    let before = counts(&pool);
    let started = Instant::now();
    pool.deal(&DealRequest::new(app)).await.unwrap();
    let got = free_claim
        .await
        .unwrap()
        .expect("the free worker gets the new task");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the free worker slept {:?} of its 40 s wait while the task waited",
        started.elapsed()
    );
    assert_ne!(got.task_id, held.task_id);
    let woken = counts(&pool).claims - before.claims;
    assert!(
        (2..=3).contains(&woken),
        "the busy claim, then the free one: {woken} woken"
    );
    assert!(!busy_claim.is_finished(), "the busy worker got nothing");
    busy_claim.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_and_contributions_wake_no_claim_and_one_task_wakes_few() {
    let devnet = Devnet::start().await.unwrap();
    let (pool, app) = workerless_pool(&devnet).await;
    let mut workers = Vec::new();
    for _ in 0..8 {
        workers.push(Hostile::throwaway(&pool, 1).await.unwrap());
    }
    let mut claims: Vec<_> = workers
        .iter()
        .map(|w| claiming(w, Duration::from_secs(40)))
        .collect();
    settle().await;

    // A login adds capacity, not work.
    let before = counts(&pool);
    let _late = Hostile::throwaway(&pool, 1).await.unwrap();
    settle().await;
    assert_eq!(counts(&pool).claims, before.claims, "a login woke claims");

    // One task: one claim takes it and the one it hands on to finds nothing left.
    pool.deal(&DealRequest::new(app)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let winner = loop {
        if let Some(i) = claims.iter().position(JoinHandle::is_finished) {
            break i;
        }
        assert!(Instant::now() < deadline, "no waiting claim got the task");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let task = claims
        .remove(winner)
        .await
        .unwrap()
        .expect("the task")
        .task_id;
    settle().await;
    let after_deal = counts(&pool);
    let woken = after_deal.claims - before.claims;
    assert!(
        woken <= 3,
        "one task woke {woken} of 8 waiting claims (a herd)"
    );
    assert!(
        after_deal.claim_attempts - before.claim_attempts <= 4,
        "{} attempts for one task",
        after_deal.claim_attempts - before.claim_attempts
    );
    assert!(
        claims.iter().all(|c| !c.is_finished()),
        "one task, one claim"
    );

    // A contribution frees the contributor's slot, and no task.
    workers[winner]
        .lie(task, ReportStatus::Contributed)
        .await
        .unwrap();
    settle().await;
    assert_eq!(
        counts(&pool).claims,
        after_deal.claims,
        "a report woke claims"
    );
    for claim in claims {
        claim.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_poll_wakes_when_its_own_reveal_is_due_and_no_other() {
    let devnet = Devnet::start().await.unwrap();
    let (pool, app) = workerless_pool(&devnet).await;
    let stake = U256::from(10_000_000_000_000u64);
    let first = Hostile::funded(&pool, 1, stake).await.unwrap();
    let second = Hostile::funded(&pool, 1, stake).await.unwrap();
    // Trust 3: two fresh workers suffice.
    pool.deal(&DealRequest::new(app).trust(3)).await.unwrap();
    let mine = first.claim(Duration::from_secs(20)).await.unwrap().unwrap();
    let theirs = second
        .claim(Duration::from_secs(20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mine.task_id, theirs.task_id);

    // Bystanders hold replicates of another deal and wait for their own next step.
    pool.deal(&DealRequest::new(app).trust(3).volume(2))
        .await
        .unwrap();
    let mut bystanders = Vec::new();
    for _ in 0..3 {
        let worker = Hostile::throwaway(&pool, 1).await.unwrap();
        let a = worker
            .claim(Duration::from_secs(20))
            .await
            .unwrap()
            .unwrap();
        bystanders.push(tokio::spawn(async move {
            worker
                .next(a.task_id, Duration::from_secs(40))
                .await
                .unwrap()
        }));
    }

    let digest = B256::repeat_byte(7);
    first
        .contribute_with(&mine, digest, mine.authorization.sign.clone())
        .await
        .unwrap();
    first
        .lie(mine.task_id, ReportStatus::Contributed)
        .await
        .unwrap();
    let waiting = {
        let first = first.clone();
        tokio::spawn(async move { first.next(mine.task_id, Duration::from_secs(40)).await })
    };
    settle().await;
    let before = counts(&pool);
    let started = Instant::now();
    second
        .contribute_with(&theirs, digest, theirs.authorization.sign.clone())
        .await
        .unwrap();
    let action = waiting.await.unwrap().unwrap();
    assert!(
        matches!(action, NextAction::Reveal { .. }),
        "told {action:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the reveal waited {:?} of the 40 s poll",
        started.elapsed()
    );
    let woken = counts(&pool).next - before.next;
    assert!(
        woken <= 2,
        "{woken} next polls woken: the bystanders' were too"
    );
    assert!(
        bystanders.iter().all(|b| !b.is_finished()),
        "a bystander's poll ended"
    );
    for bystander in bystanders {
        bystander.abort();
    }
}

/// A trust-1 result is contributed and revealed in one transaction and reported once, as
/// revealed. The slot is freed when the follower sees the contribution on chain, and that wakes
/// the contributor's waiting claim, which takes the next task at once (it slept until an
/// unrelated change while only a contribution's report woke it: trust-1 throughput fell from
/// 93 to 18 tasks/s in the dev profile).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revealed_report_wakes_the_reporters_waiting_claim() {
    let devnet = Devnet::start().await.unwrap();
    let (pool, app) = workerless_pool(&devnet).await;
    let worker = Hostile::funded(&pool, 1, U256::from(10_000_000_000_000u64))
        .await
        .unwrap();
    pool.deal(&DealRequest::new(app).volume(2)).await.unwrap();
    let first = worker
        .claim(Duration::from_secs(20))
        .await
        .unwrap()
        .expect("the first task");
    // At capacity: the claim waits while the second task waits for a free slot.
    let waiting = claiming(&worker, Duration::from_secs(40));
    settle().await;
    assert!(!waiting.is_finished(), "a claim beyond capacity got work");
    // What a trust-1 worker does: one contributeAndReveal, then one report, as revealed.
    worker
        .contribute_with(
            &first,
            B256::repeat_byte(7),
            first.authorization.sign.clone(),
        )
        .await
        .unwrap();
    let started = Instant::now();
    worker
        .lie(first.task_id, ReportStatus::Revealed)
        .await
        .unwrap();
    let second = waiting
        .await
        .unwrap()
        .expect("the freed slot takes the second task");
    assert_ne!(second.task_id, first.task_id);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the claim slept {:?} after its worker's slot was freed",
        started.elapsed()
    );
}
