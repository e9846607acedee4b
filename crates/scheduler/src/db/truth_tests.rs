//! The store believes the chain, not the worker: each defect of the "hostile workers" issue at
//! the level of its queries (the end-to-end versions run against real contracts in
//! `crates/testkit/tests/hostile.rs`).

use alloy::primitives::{Address, B256};
use decloud_protocol::pool::{Report, ReportStatus};

use decloud_sql::testing::TestDb;

use super::tests::{deal, store};
use super::*;

/// The chain's word that `worker` contributed `hash` to `task` at `at`.
fn contribution(task_id: B256, worker: Address, hash: u8, at: u64) -> TaskChange {
    TaskChange::Contribution {
        task_id,
        worker,
        result_hash: B256::repeat_byte(hash),
        weight: None,
        at,
    }
}

fn report(status: ReportStatus) -> Report {
    Report {
        status,
        reason: Some("the app failed deterministically: trap".into()),
        results_location: Some("http://storage/blobs/ab".into()),
        callback_data: None,
        stages: None,
    }
}

/// A trust-1 deal's two tasks (reference time 0: one second), with `workers` registered
/// (capacity 4, score 0) at time 100.
async fn setup(store: &Store, workers: &[Address]) -> (DealRow, B256, B256) {
    let d = deal(2, 1);
    store.insert_deal(&d).await.unwrap();
    for w in workers {
        store.upsert_worker(*w, 4, 0, 100).await.unwrap();
    }
    let t0 = decloud_protocol::task_id(d.deal_id, 0);
    let t1 = decloud_protocol::task_id(d.deal_id, 1);
    (d, t0, t1)
}

/// [`setup`] with a liar and an honest worker, the liar holding the first task since 100.
async fn liar_holds_t0(store: &Store) -> (Address, Address, B256, B256) {
    let (liar, honest) = (Address::repeat_byte(1), Address::repeat_byte(2));
    let (_, t0, t1) = setup(store, &[liar, honest]).await;
    store.assign(t0, liar, 100, 1100).await.unwrap();
    (liar, honest, t0, t1)
}

async fn candidates(store: &Store, worker: Address) -> Vec<B256> {
    store
        .claim_candidates(worker, 10, 0)
        .await
        .unwrap()
        .iter()
        .map(|t| t.task_id)
        .collect()
}

async fn a_reported_contribution_is_no_stage_and_a_lost_liar_frees_the_task(db: &TestDb) {
    let store = store(db).await;
    let (liar, honest, t0, t1) = liar_holds_t0(&store).await;
    for status in [ReportStatus::Contributed, ReportStatus::Revealed] {
        assert!(store.report(t0, liar, &report(status), 101).await.unwrap());
        let r = &store.replicates(t0).await.unwrap()[0];
        assert_eq!(
            r.status,
            ReplicateStatus::Assigned,
            "{status} is only a hint"
        );
        assert_eq!(r.result_hash, None);
    }
    // While the liar is alive it is computing t0: the honest worker is offered t1 only.
    assert_eq!(candidates(&store, honest).await, vec![t1]);
    // The liar goes silent: whatever it said, t0 is nobody's.
    store.heartbeat(honest, 500).await.unwrap();
    assert_eq!(store.mark_lost(400, 600).await.unwrap(), vec![liar]);
    let r = &store.replicates(t0).await.unwrap()[0];
    assert_eq!(r.status, ReplicateStatus::Lost);
    assert_eq!(candidates(&store, honest).await, vec![t0, t1]);
    assert!(
        candidates(&store, liar).await == vec![t1],
        "a worker never gets the same task twice"
    );
    // Its transaction lands after all: the chain makes the replicate contributed again.
    store
        .apply(&[contribution(t0, liar, 9, 700)])
        .await
        .unwrap();
    let r = &store.replicates(t0).await.unwrap()[0];
    assert_eq!(
        (r.status, r.result_hash),
        (ReplicateStatus::Contributed, Some(B256::repeat_byte(9)))
    );
    assert_eq!(candidates(&store, honest).await, vec![t1]);
}

async fn a_lost_workers_replicate_reported_contributed_before_this_version_is_released(
    db: &TestDb,
) {
    let store = store(db).await;
    let (liar, honest, t0, _) = liar_holds_t0(&store).await;
    // A row written by the old report handler: contributed by word only.
    store
        .apply(&[contribution(t0, liar, 0, 101)])
        .await
        .unwrap();
    sqlx::query("UPDATE replicates SET result_hash = NULL")
        .execute(&store.pool)
        .await
        .unwrap();
    store.heartbeat(honest, 500).await.unwrap();
    store.mark_lost(400, 600).await.unwrap();
    assert_eq!(
        store.replicates(t0).await.unwrap()[0].status,
        ReplicateStatus::Lost
    );
}

async fn only_failures_from_workers_with_on_chain_history_count(db: &TestDb) {
    let store = store(db).await;
    let fresh: Vec<Address> = (1..=3).map(Address::repeat_byte).collect();
    let (scored, veteran) = (Address::repeat_byte(8), Address::repeat_byte(9));
    let (_, t0, t1) = setup(&store, &fresh).await;
    store.upsert_worker(scored, 1, 4, 100).await.unwrap();
    store.upsert_worker(veteran, 1, 0, 100).await.unwrap();
    for w in &fresh {
        store.assign(t0, *w, 100, 1100).await.unwrap();
        store
            .report(t0, *w, &report(ReportStatus::Failed), 101)
            .await
            .unwrap();
    }
    assert_eq!(store.failure_counts(t0).await.unwrap(), (3, 0));
    // A score read from the chain, or a contribution the follower saw, is history.
    store
        .apply(&[contribution(t1, veteran, 1, 102)])
        .await
        .unwrap();
    for w in [scored, veteran] {
        store.assign(t0, w, 103, 1103).await.unwrap();
        store
            .report(t0, w, &report(ReportStatus::Failed), 104)
            .await
            .unwrap();
    }
    assert_eq!(store.failure_counts(t0).await.unwrap(), (5, 2));
}

async fn overdue_assignments_are_listed_and_released_once(db: &TestDb) {
    let store = store(db).await;
    let w = Address::repeat_byte(1);
    let (d, t0, t1) = setup(&store, &[w]).await;
    store.assign(t0, w, 100, 1100).await.unwrap();
    store.assign(t1, w, 120, 1120).await.unwrap();
    let old = store.assigned_before(110, 10).await.unwrap();
    assert_eq!(old.len(), 1);
    assert_eq!((old[0].0.task_id, old[0].1), (t0, d.deal_id));
    assert!(store.release(t0, w, "overdue", 130).await.unwrap());
    assert!(!store.release(t0, w, "overdue", 131).await.unwrap());
    assert!(store.assigned_before(110, 10).await.unwrap().is_empty());
    let r = &store.replicates(t0).await.unwrap()[0];
    assert_eq!(
        (r.status, r.reason.as_deref()),
        (ReplicateStatus::Lost, Some("overdue"))
    );
    assert_eq!(store.assigned_count(w).await.unwrap(), 1);
}

async fn a_replicate_not_contributed_within_three_reference_times_goes_back_to_the_pool(
    db: &TestDb,
) {
    let store = store(db).await;
    let (hoarder, honest) = (Address::repeat_byte(1), Address::repeat_byte(2));
    // Reference time 0, counted as 1 s: 3 s to contribute.
    let (_, t0, t1) = setup(&store, &[hoarder, honest]).await;
    store.assign(t0, hoarder, 100, 1100).await.unwrap();
    store.assign(t1, hoarder, 100, 1100).await.unwrap();
    store
        .report(t0, hoarder, &report(ReportStatus::Contributed), 101)
        .await
        .unwrap();
    assert!(
        crate::driver::release_overdue(&store, 102)
            .await
            .unwrap()
            .is_empty()
    );
    let mut released = crate::driver::release_overdue(&store, 103).await.unwrap();
    released.sort();
    let mut expected = vec![(t0, hoarder), (t1, hoarder)];
    expected.sort();
    assert_eq!(released, expected, "a report saves nothing");
    assert_eq!(candidates(&store, honest).await, vec![t0, t1]);
    assert!(candidates(&store, hoarder).await.is_empty());
}

/// Defect 3 (hoarding), at the store: a task held by a worker that does not contribute is no
/// candidate for a fresh replica, but becomes one for a backup once its holder's backup time
/// has come, and the store says when that is.
async fn a_held_task_opens_to_a_backup_at_its_backup_time(db: &TestDb) {
    let store = store(db).await;
    let (hoarder, honest) = (Address::repeat_byte(1), Address::repeat_byte(2));
    let (_, t0, t1) = setup(&store, &[hoarder, honest]).await;
    store.assign(t0, hoarder, 100, 103).await.unwrap();
    store.assign(t1, hoarder, 101, 104).await.unwrap();
    let backups = |at| {
        let store = store.clone();
        async move {
            store
                .claim_candidates(honest, 10, at)
                .await
                .unwrap()
                .iter()
                .map(|t| t.task_id)
                .collect::<Vec<_>>()
        }
    };
    assert!(
        candidates(&store, honest).await.is_empty(),
        "held: no fresh replica"
    );
    assert!(backups(102).await.is_empty(), "too early for a backup");
    assert_eq!(backups(103).await, vec![t0]);
    assert_eq!(backups(104).await, vec![t0, t1]);
    assert!(
        store
            .claim_candidates(hoarder, 10, 200)
            .await
            .unwrap()
            .is_empty(),
        "nobody backs up their own replicate"
    );
    assert_eq!(store.next_backup_at(100).await.unwrap(), Some(103));
    assert_eq!(store.next_backup_at(103).await.unwrap(), Some(104));
    assert_eq!(store.next_backup_at(104).await.unwrap(), None);
    // The backup holds it now, until its own backup time.
    store.assign(t0, honest, 103, 106).await.unwrap();
    assert_eq!(backups(105).await, vec![t1]);
}

/// Defect 3 (hoarding), the cost: a worker whose replicates are taken back past their grace
/// is paused from claiming, twice as long at each offence, and a contribution of its own on
/// chain ends the pause.
async fn holding_work_past_its_grace_pauses_the_holder_until_it_contributes(db: &TestDb) {
    let store = store(db).await;
    let (hoarder, honest) = (Address::repeat_byte(1), Address::repeat_byte(2));
    // Reference time 0, counted as 1 s: a grace of 3 s.
    let (_, t0, t1) = setup(&store, &[hoarder, honest]).await;
    assert_eq!(store.paused_until(hoarder).await.unwrap(), 0);
    store.assign(t0, hoarder, 100, 101).await.unwrap();
    assert_eq!(
        crate::driver::release_overdue(&store, 103).await.unwrap(),
        vec![(t0, hoarder)]
    );
    assert_eq!(
        store.paused_until(hoarder).await.unwrap(),
        106,
        "3 s, the grace"
    );
    store.assign(t1, hoarder, 110, 111).await.unwrap();
    // The task went on without it (certified by a backup): holding it was the offence.
    store
        .apply(&[
            contribution(t1, honest, 7, 111),
            TaskChange::Status {
                task_id: t1,
                status: TaskStatus::Completed,
                block: 9,
            },
        ])
        .await
        .unwrap();
    assert_eq!(
        crate::driver::release_overdue(&store, 113).await.unwrap(),
        vec![(t1, hoarder)]
    );
    assert_eq!(
        store.paused_until(hoarder).await.unwrap(),
        119,
        "twice as long"
    );
    assert_eq!(store.paused_until(honest).await.unwrap(), 0);
    store
        .apply(&[contribution(t0, hoarder, 7, 120)])
        .await
        .unwrap();
    assert_eq!(
        store.paused_until(hoarder).await.unwrap(),
        0,
        "a contribution on chain ends the pause"
    );
}

decloud_sql::test_on_every_backend!(
    a_reported_contribution_is_no_stage_and_a_lost_liar_frees_the_task,
    a_lost_workers_replicate_reported_contributed_before_this_version_is_released,
    only_failures_from_workers_with_on_chain_history_count,
    overdue_assignments_are_listed_and_released_once,
    a_replicate_not_contributed_within_three_reference_times_goes_back_to_the_pool,
    a_held_task_opens_to_a_backup_at_its_backup_time,
    holding_work_past_its_grace_pauses_the_holder_until_it_contributes,
);
