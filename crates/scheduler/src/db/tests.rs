//! The store's behaviour, on SQLite (and on Postgres when one is given).

use alloy::primitives::{Address, B256, U256};
use decloud_protocol::pool::{Report, ReportStatus};
use decloud_protocol::typed::Deal;
use decloud_sql::testing::{Backend, TestDb};
use sqlx::Row;

use super::*;

/// The store, opened on the test's fresh database.
pub(super) async fn store(db: &TestDb) -> Store {
    Store::open(db.url()).await.unwrap()
}

pub(crate) fn deal(volume: u64, trust: u64) -> DealRow {
    let deal = Deal {
        requestHash: B256::repeat_byte(volume as u8),
        volume: U256::from(volume),
        trust: U256::from(trust),
        app: Address::repeat_byte(0xa),
        ..Default::default()
    };
    DealRow {
        deal_id: decloud_protocol::ids::deal_id_of(&deal),
        deal,
        params: r#"{"args":"x"}"#.into(),
        block_number: 7,
        start_time: 1000,
    }
}

fn consensus(task_id: B256, result_hash: B256, at: u64, block: u64) -> TaskChange {
    TaskChange::Consensus {
        task_id,
        result_hash,
        at,
        block,
    }
}

async fn deals_tasks_and_cursor_survive_a_reopen(db: &TestDb) {
    let store = store(db).await;
    assert_eq!(store.cursor().await.unwrap(), None);
    let d = deal(3, 5);
    assert!(store.insert_deal(&d).await.unwrap());
    assert!(!store.insert_deal(&d).await.unwrap(), "stored once");
    store.set_cursor(9, B256::repeat_byte(9)).await.unwrap();
    drop(store);
    let store = Store::open(db.url()).await.unwrap();
    assert_eq!(
        store.cursor().await.unwrap(),
        Some((9, B256::repeat_byte(9)))
    );
    assert_eq!(store.deal(d.deal_id).await.unwrap().unwrap(), d);
    let tasks = store.tasks_of(d.deal_id).await.unwrap();
    assert_eq!(tasks.len(), 3);
    assert_eq!(
        tasks[2].task_id,
        decloud_protocol::task_id(d.deal_id, 2),
        "task ids are the hub's"
    );
    assert!(tasks.iter().all(|t| t.status == TaskStatus::Unset));
    assert_eq!(store.open_tasks(10).await.unwrap().len(), 3);
}

/// The schema as it shipped before versioned migrations: every start ran its statements one by
/// one.
const UNVERSIONED_SCHEMA: &str = include_str!("../../migrations/0001_initial.sql");

/// A store whose database was made the way releases before versioned migrations made it.
async fn unversioned(db: &TestDb) -> Store {
    let pool = db.connect().await;
    sqlx::raw_sql(UNVERSIONED_SCHEMA)
        .execute(&pool)
        .await
        .unwrap();
    Store::on(pool)
}

async fn a_database_from_before_versioned_migrations_is_upgraded_with_its_data(db: &TestDb) {
    let url = db.url();
    let old = unversioned(db).await;
    let d = deal(2, 3);
    let worker = Address::repeat_byte(1);
    let task = decloud_protocol::task_id(d.deal_id, 0);
    old.insert_deal(&d).await.unwrap();
    old.upsert_worker(worker, 2, 5, 10).await.unwrap();
    // A replicate as the first schema wrote it (no backup time).
    sqlx::query(
        "INSERT INTO replicates (taskid, worker, status, assigned_at, updated_at) \
         VALUES ($1, $2, 'assigned', 11, 11)",
    )
    .bind(task.to_string())
    .bind(worker.to_string())
    .execute(&old.pool)
    .await
    .unwrap();
    old.set_cursor(9, B256::repeat_byte(9)).await.unwrap();
    old.pool.close().await;

    let store = Store::open(url).await.unwrap();
    assert_eq!(
        decloud_sql::schema_version(&store.pool).await.unwrap(),
        Some(6)
    );
    assert_eq!(store.deal(d.deal_id).await.unwrap().unwrap(), d);
    assert_eq!(store.tasks_of(d.deal_id).await.unwrap().len(), 2);
    assert_eq!(store.worker(worker).await.unwrap().unwrap().capacity, 2);
    let replicate = &store.replicates(task).await.unwrap()[0];
    assert_eq!((replicate.worker, replicate.backup_at), (worker, None));
    assert_eq!(
        store.cursor().await.unwrap(),
        Some((9, B256::repeat_byte(9)))
    );
    // Opening it again finds the version recorded and runs nothing again (or the dropped index
    // would come back).
    sqlx::query("DROP INDEX replicates_worker")
        .execute(&store.pool)
        .await
        .unwrap();
    store.pool.close().await;
    let store = Store::open(url).await.unwrap();
    assert_eq!(
        decloud_sql::schema_version(&store.pool).await.unwrap(),
        Some(6)
    );
    let indexes = match db.backend() {
        Backend::Sqlite => {
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'replicates_worker'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) AS n FROM pg_indexes WHERE indexname = 'replicates_worker'"
        }
    };
    let index: i64 = sqlx::query(indexes)
        .fetch_one(&store.pool)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    assert_eq!(index, 0);
    assert_eq!(store.deal(d.deal_id).await.unwrap().unwrap(), d);
}

async fn replicate_lifecycle(db: &TestDb) {
    let store = &store(db).await;
    let d = deal(1, 5);
    store.insert_deal(&d).await.unwrap();
    let task = decloud_protocol::task_id(d.deal_id, 0);
    let (w1, w2) = (Address::repeat_byte(1), Address::repeat_byte(2));
    store.upsert_worker(w1, 2, 0, 100).await.unwrap();
    store.upsert_worker(w2, 1, 0, 100).await.unwrap();
    assert!(store.assign(task, w1, 100, 1100).await.unwrap());
    assert!(
        !store.assign(task, w1, 101, 1101).await.unwrap(),
        "once per worker"
    );
    assert!(store.assign(task, w2, 100, 1100).await.unwrap());
    assert_eq!(store.assigned_count(w1).await.unwrap(), 1);
    // Several in one commit: each says whether it was new.
    let d2 = deal(2, 1);
    store.insert_deal(&d2).await.unwrap();
    let (t0, t1) = (
        decloud_protocol::task_id(d2.deal_id, 0),
        decloud_protocol::task_id(d2.deal_id, 1),
    );
    assert_eq!(
        store
            .assign_many(w1, 100, &[(t0, 1100), (t1, 1100), (task, 1100)])
            .await
            .unwrap(),
        vec![true, true, false]
    );
    assert_eq!(store.assigned_count(w1).await.unwrap(), 3);

    // w2 fails with a reason; a second report changes nothing.
    let failed = Report {
        status: ReportStatus::Failed,
        reason: Some("download failed".into()),
        results_location: None,
        callback_data: None,
        stages: None,
    };
    assert!(store.report(task, w2, &failed, 102).await.unwrap());
    let contributed = Report {
        status: ReportStatus::Contributed,
        reason: None,
        results_location: None,
        callback_data: None,
        stages: None,
    };
    assert!(!store.report(task, w2, &contributed, 103).await.unwrap());
    // The chain says w1 contributed, then revealed; a replayed contribution keeps the reveal.
    let h = B256::repeat_byte(0x77);
    let contribution = |at| TaskChange::Contribution {
        task_id: task,
        worker: w1,
        result_hash: h,
        weight: Some(2),
        at,
    };
    store.apply(&[contribution(104)]).await.unwrap();
    let reveal = TaskChange::Reveal {
        task_id: task,
        worker: w1,
        at: 105,
    };
    store.apply(&[reveal]).await.unwrap();
    store.apply(&[contribution(106)]).await.unwrap();
    let reps = store.replicates(task).await.unwrap();
    assert_eq!(reps[0].worker, w1);
    assert_eq!(reps[0].status, ReplicateStatus::Revealed);
    assert_eq!(reps[0].result_hash, Some(h));
    assert_eq!(reps[1].status, ReplicateStatus::Failed);
    assert_eq!(reps[1].reason.as_deref(), Some("download failed"));

    // Consensus, reopen, finalize.
    store.apply(&[consensus(task, h, 200, 10)]).await.unwrap();
    assert_eq!(
        store.task(task).await.unwrap().unwrap().status,
        TaskStatus::Revealing
    );
    let reopen = TaskChange::Reopen {
        task_id: task,
        result_hash: h,
        at: 300,
        block: 11,
    };
    store.apply(&[reopen]).await.unwrap();
    let t = store.task(task).await.unwrap().unwrap();
    assert_eq!((t.status, t.consensus_hash), (TaskStatus::Active, None));
    assert_eq!(
        store.replicates(task).await.unwrap()[0].status,
        ReplicateStatus::Rejected
    );
    let finalized = TaskChange::Finalized {
        task_id: task,
        location: "ipfs://x".into(),
        block: 12,
    };
    let active = TaskChange::Status {
        task_id: task,
        status: TaskStatus::Active,
        block: 13,
    };
    store.apply(&[finalized]).await.unwrap();
    store.apply(&[active]).await.unwrap();
    let t = store.task(task).await.unwrap().unwrap();
    assert_eq!(t.status, TaskStatus::Completed, "a final status stays");
    assert_eq!(t.results_location.as_deref(), Some("ipfs://x"));
}

async fn a_reveal_report_keeps_the_location_and_a_given_up_task_is_not_handed_out(db: &TestDb) {
    let store = &store(db).await;
    let d = deal(2, 1);
    store.insert_deal(&d).await.unwrap();
    let (t0, t1) = (
        decloud_protocol::task_id(d.deal_id, 0),
        decloud_protocol::task_id(d.deal_id, 1),
    );
    let w = Address::repeat_byte(1);
    store.upsert_worker(w, 2, 0, 100).await.unwrap();
    let revealed = Report {
        status: ReportStatus::Revealed,
        reason: None,
        results_location: Some("http://storage/blobs/ab".into()),
        callback_data: Some(alloy::primitives::Bytes::from_static(b"\x01\x02")),
        stages: None,
    };
    assert!(
        !store.report(t0, w, &revealed, 101).await.unwrap(),
        "no replicate: nothing to report on"
    );
    store.assign(t0, w, 100, 1100).await.unwrap();
    assert!(store.report(t0, w, &revealed, 101).await.unwrap());
    let r = &store.replicates(t0).await.unwrap()[0];
    assert_eq!(
        r.status,
        ReplicateStatus::Assigned,
        "a report is a hint: the stage changes when the chain shows it"
    );
    assert_eq!(
        r.results_location.as_deref(),
        Some("http://storage/blobs/ab")
    );
    assert_eq!(
        r.callback_data.as_ref().map(|b| b.to_vec()),
        Some(vec![1u8, 2])
    );
    // The stages a worker reports are kept for the status API, the latest replacing the earlier
    // ones; a report without them keeps what was there.
    let stages = decloud_protocol::pool::Stages {
        run: Some(decloud_protocol::pool::StageTime {
            started_ms: 100_000,
            millis: 7,
            fuel: Some(9),
            bytes: None,
        }),
        ..Default::default()
    };
    let with_stages = Report {
        stages: Some(stages),
        ..revealed.clone()
    };
    assert!(store.report(t0, w, &with_stages, 102).await.unwrap());
    assert!(store.report(t0, w, &revealed, 103).await.unwrap());
    assert_eq!(store.replicates(t0).await.unwrap()[0].stages, Some(stages));
    assert_eq!(store.assigned_count(w).await.unwrap(), 1);

    store.give_up(t1, "three workers failed").await.unwrap();
    store.give_up(t1, "another reason").await.unwrap();
    let t = store.task(t1).await.unwrap().unwrap();
    assert_eq!(t.given_up.as_deref(), Some("three workers failed"));
    let open: Vec<B256> = store
        .open_tasks(10)
        .await
        .unwrap()
        .iter()
        .map(|t| t.task_id)
        .collect();
    assert_eq!(open, vec![t0]);
    store
        .apply(&[consensus(t0, B256::repeat_byte(5), 150, 9)])
        .await
        .unwrap();
    let revealing = store.tasks_in(TaskStatus::Revealing, 10).await.unwrap();
    assert_eq!(revealing.len(), 1);
    assert_eq!(revealing[0].task_id, t0);
}

async fn heartbeats_flushed_together_keep_workers_alive(db: &TestDb) {
    let store = store(db).await;
    let (w1, w2) = (Address::repeat_byte(1), Address::repeat_byte(2));
    store.upsert_worker(w1, 1, 0, 100).await.unwrap();
    store.upsert_worker(w2, 1, 0, 100).await.unwrap();
    store
        .record_heartbeats(&[(w1, 500), (w2, 90)])
        .await
        .unwrap();
    assert_eq!(store.worker(w1).await.unwrap().unwrap().last_heartbeat, 500);
    assert_eq!(
        store.worker(w2).await.unwrap().unwrap().last_heartbeat,
        100,
        "an older heartbeat changes nothing"
    );
    assert_eq!(store.mark_lost(400, 600).await.unwrap(), vec![w2]);
    store.record_heartbeats(&[(w2, 700)]).await.unwrap();
    assert_eq!(
        store.worker(w2).await.unwrap().unwrap().status,
        WorkerStatus::Active,
        "a lost worker heard from again is active"
    );

    // Many workers heard in a few seconds: several statements per second, each worker its own
    // time.
    let many: Vec<(Address, u64)> = (0..1_200u64)
        .map(|i| {
            let mut bytes = [0u8; 20];
            bytes[12..].copy_from_slice(&(i + 1_000).to_be_bytes());
            (Address::from(bytes), 800 + i % 3)
        })
        .collect();
    for (worker, _) in &many {
        store.upsert_worker(*worker, 1, 0, 100).await.unwrap();
    }
    store.record_heartbeats(&many).await.unwrap();
    let stored: std::collections::HashMap<Address, u64> = store
        .workers()
        .await
        .unwrap()
        .into_iter()
        .map(|w| (w.address, w.last_heartbeat))
        .collect();
    for (worker, at) in &many {
        assert_eq!(stored[worker], *at, "{worker}");
    }
}

async fn lost_workers_release_their_assignments(db: &TestDb) {
    let store = &store(db).await;
    let d = deal(2, 1);
    store.insert_deal(&d).await.unwrap();
    let (t0, t1) = (
        decloud_protocol::task_id(d.deal_id, 0),
        decloud_protocol::task_id(d.deal_id, 1),
    );
    let (w1, w2) = (Address::repeat_byte(1), Address::repeat_byte(2));
    store.upsert_worker(w1, 2, 0, 100).await.unwrap();
    store.upsert_worker(w2, 2, 0, 100).await.unwrap();
    store.heartbeat(w2, 500).await.unwrap();
    store.assign(t0, w1, 100, 1100).await.unwrap();
    store.assign(t1, w1, 100, 1100).await.unwrap();
    let contribution = TaskChange::Contribution {
        task_id: t1,
        worker: w1,
        result_hash: B256::repeat_byte(3),
        weight: None,
        at: 110,
    };
    store.apply(&[contribution]).await.unwrap();
    assert_eq!(store.mark_lost(400, 600).await.unwrap(), vec![w1]);
    assert!(store.mark_lost(400, 600).await.unwrap().is_empty());
    let r0 = &store.replicates(t0).await.unwrap()[0];
    assert_eq!(r0.status, ReplicateStatus::Lost);
    assert!(r0.reason.as_deref().unwrap().contains("heartbeats"));
    assert_eq!(
        store.replicates(t1).await.unwrap()[0].status,
        ReplicateStatus::Contributed,
        "contributed work is on chain: not lost"
    );
    assert_eq!(
        store.worker(w1).await.unwrap().unwrap().status,
        WorkerStatus::Lost
    );
    store.heartbeat(w1, 700).await.unwrap();
    assert_eq!(
        store.worker(w1).await.unwrap().unwrap().status,
        WorkerStatus::Active
    );
}

async fn sessions_expire_and_a_login_is_one_transaction(db: &TestDb) {
    let store = &store(db).await;
    let w = Address::repeat_byte(1);
    store.insert_session("h1", w, 300).await.unwrap();
    assert_eq!(store.session_worker("h1", 299).await.unwrap(), Some(w));
    assert_eq!(store.session_worker("h1", 301).await.unwrap(), None);
    assert_eq!(store.session_worker("h2", 100).await.unwrap(), None);

    // Logins register their workers and open their sessions, all at once.
    let w2 = Address::repeat_byte(2);
    let w3 = Address::repeat_byte(3);
    let login = |worker, capacity, hash: &str, expires_at| NewLogin {
        now: 150,
        worker,
        capacity,
        score: 7,
        token_hash: hash.into(),
        expires_at,
        tee: decloud_protocol::pool::TeeBackend::None,
    };
    store
        .complete_logins(&[login(w2, 3, "h2", 400), login(w3, 4, "h3", 400)])
        .await
        .unwrap();
    assert_eq!(store.worker(w2).await.unwrap().unwrap().capacity, 3);
    assert_eq!(store.worker(w3).await.unwrap().unwrap().capacity, 4);
    assert_eq!(store.session("h2", 150).await.unwrap(), Some((w2, 400)));
    assert_eq!(store.session("h3", 150).await.unwrap(), Some((w3, 400)));
    // A session's hash is unique: a batch with a taken one fails whole and changes nothing.
    let w4 = Address::repeat_byte(4);
    assert!(
        store
            .complete_logins(&[login(w4, 1, "h4", 500), login(w2, 5, "h2", 500)])
            .await
            .is_err()
    );
    assert_eq!(store.worker(w4).await.unwrap(), None);
    assert_eq!(store.session("h4", 150).await.unwrap(), None);
    assert_eq!(store.worker(w2).await.unwrap().unwrap().capacity, 3);
    assert_eq!(store.session("h2", 150).await.unwrap(), Some((w2, 400)));
    store.purge_expired(350).await.unwrap();
    assert_eq!(
        store.session_worker("h1", 0).await.unwrap(),
        None,
        "h1 expired at 300"
    );
    assert_eq!(store.session_worker("h2", 0).await.unwrap(), Some(w2));
}

async fn an_unassigned_deal_can_be_forgotten_after_a_reorg(db: &TestDb) {
    let store = &store(db).await;
    let (a, b) = (deal(1, 1), deal(2, 1));
    store.insert_deal(&a).await.unwrap();
    store.insert_deal(&b).await.unwrap();
    assert_eq!(store.deals_after(6).await.unwrap().len(), 2);
    assert!(store.deals_after(7).await.unwrap().is_empty());
    store
        .assign(
            decloud_protocol::task_id(b.deal_id, 0),
            Address::repeat_byte(1),
            1,
            1_001,
        )
        .await
        .unwrap();
    // Read (and so kept in memory) before it is forgotten: forgetting drops it there too.
    assert_eq!(store.deal(a.deal_id).await.unwrap().unwrap(), a);
    assert!(store.forget_deal(a.deal_id).await.unwrap());
    assert!(!store.forget_deal(b.deal_id).await.unwrap());
    assert!(store.deal(a.deal_id).await.unwrap().is_none());
    assert!(store.tasks_of(a.deal_id).await.unwrap().is_empty());
    assert!(store.deal(b.deal_id).await.unwrap().is_some());
    // Mined again in another block after the reorg: the deal is read as stored now.
    let again = DealRow {
        block_number: 9,
        start_time: 1_500,
        ..a.clone()
    };
    assert!(store.insert_deal(&again).await.unwrap());
    assert_eq!(store.deal(a.deal_id).await.unwrap().unwrap(), again);
}

#[test]
fn statuses_round_trip() {
    for s in [
        ReplicateStatus::Assigned,
        ReplicateStatus::Contributed,
        ReplicateStatus::Revealed,
        ReplicateStatus::Failed,
        ReplicateStatus::Lost,
    ] {
        assert_eq!(s.as_str().parse::<ReplicateStatus>().unwrap(), s);
    }
    assert!("nope".parse::<TaskStatus>().is_err());
}

/// A TEE replicate is bound to one enclave: the first wins, the same one again is a retry,
/// another is answered with the bound one, and a worker without an assigned replicate gets
/// nothing.
async fn a_replicate_is_bound_to_one_enclave(db: &TestDb) {
    let store = &store(db).await;
    let d = deal(1, 5);
    store.insert_deal(&d).await.unwrap();
    let task = decloud_protocol::task_id(d.deal_id, 0);
    let (w1, w2) = (Address::repeat_byte(1), Address::repeat_byte(2));
    let (e1, e2) = (Address::repeat_byte(0xe1), Address::repeat_byte(0xe2));
    store.upsert_worker(w1, 1, 0, 100).await.unwrap();
    assert_eq!(store.bind_enclave(task, w1, e1).await.unwrap(), None);
    assert!(store.assign(task, w1, 100, 1100).await.unwrap());
    assert_eq!(store.bind_enclave(task, w1, e1).await.unwrap(), Some(e1));
    assert_eq!(store.bind_enclave(task, w1, e1).await.unwrap(), Some(e1));
    assert_eq!(store.bind_enclave(task, w1, e2).await.unwrap(), Some(e1));
    assert_eq!(store.bind_enclave(task, w2, e2).await.unwrap(), None);
}

/// A bound TEE replicate holds its task while assigned and once its worker is lost (the task
/// is then among the lost worker's enclaves until given up); a worker refused TEE work stays
/// refused, with the first reason, whatever it announces at its next login.
async fn an_enclave_holds_its_task_and_a_refused_worker_stays_refused(db: &TestDb) {
    let store = &store(db).await;
    let d = deal(1, 5);
    store.insert_deal(&d).await.unwrap();
    let task = decloud_protocol::task_id(d.deal_id, 0);
    let other = decloud_protocol::task_id(d.deal_id, 1);
    let (w1, e1) = (Address::repeat_byte(1), Address::repeat_byte(0xe1));
    store.upsert_worker(w1, 2, 0, 100).await.unwrap();
    assert!(store.assign(task, w1, 100, 1100).await.unwrap());
    assert!(store.assign(other, w1, 100, 1100).await.unwrap());
    assert_eq!(store.enclave_holder(task).await.unwrap(), None);
    store.bind_enclave(task, w1, e1).await.unwrap();
    assert_eq!(store.enclave_holder(task).await.unwrap(), Some((w1, e1)));
    assert_eq!(store.enclave_holder(other).await.unwrap(), None);
    assert_eq!(store.replicate_enclave(task, w1).await.unwrap(), Some(e1));
    assert_eq!(store.replicate_enclave(other, w1).await.unwrap(), None);
    assert!(store.lost_enclaves(w1).await.unwrap().is_empty());
    assert_eq!(store.mark_lost(200, 300).await.unwrap(), vec![w1]);
    assert_eq!(store.enclave_holder(task).await.unwrap(), Some((w1, e1)));
    assert_eq!(
        store.lost_enclaves(w1).await.unwrap(),
        vec![(task, d.deal_id, e1)]
    );
    store.give_up(task, "gone").await.unwrap();
    assert!(store.lost_enclaves(w1).await.unwrap().is_empty());

    let login = |tee| NewLogin {
        now: 400,
        worker: w1,
        capacity: 1,
        score: 0,
        token_hash: format!("h-{tee}"),
        expires_at: 1_000,
        tee,
    };
    use decloud_protocol::pool::TeeBackend;
    store
        .complete_logins(&[login(TeeBackend::Sim)])
        .await
        .unwrap();
    let w = store.worker(w1).await.unwrap().unwrap();
    assert_eq!((w.tee, w.tee_refused), (TeeBackend::Sim, None));
    store.refuse_tee(w1, "first").await.unwrap();
    store.refuse_tee(w1, "second").await.unwrap();
    store
        .complete_logins(&[login(TeeBackend::Tdx)])
        .await
        .unwrap();
    let w = store.worker(w1).await.unwrap().unwrap();
    assert_eq!(w.tee, TeeBackend::Tdx);
    assert_eq!(w.tee_refused.as_deref(), Some("first"));
}

async fn a_ranges_tasks_are_read_at_once_and_its_effects_move_the_cursor_with_them(db: &TestDb) {
    let store = store(db).await;
    let d = deal(3, 5);
    store.insert_deal(&d).await.unwrap();
    let ours: Vec<B256> = (0..3)
        .map(|i| decloud_protocol::task_id(d.deal_id, i))
        .collect();
    let foreign = B256::repeat_byte(0xf0);
    // More ids than one IN list holds: every group is read.
    let mut asked: Vec<B256> = (0..1200u32)
        .map(|i| alloy::primitives::keccak256(i.to_be_bytes()))
        .collect();
    asked.extend(&ours);
    asked.push(foreign);
    let found = store.tasks(&asked).await.unwrap();
    assert_eq!(found.len(), 3, "only the known deal's tasks: {found:?}");
    assert_eq!(found[&ours[2]].index, 2);
    assert_eq!(found[&ours[0]].deal_id, d.deal_id);
    assert!(store.tasks(&[]).await.unwrap().is_empty());

    let active = TaskChange::Status {
        task_id: ours[1],
        status: TaskStatus::Active,
        block: 12,
    };
    store
        .apply_and_move_cursor(&[active], Some((12, B256::repeat_byte(12))))
        .await
        .unwrap();
    assert_eq!(
        store.cursor().await.unwrap(),
        Some((12, B256::repeat_byte(12)))
    );
    assert_eq!(
        store.task(ours[1]).await.unwrap().unwrap().status,
        TaskStatus::Active
    );
    // A range without events still moves the cursor.
    store
        .apply_and_move_cursor(&[], Some((13, B256::repeat_byte(13))))
        .await
        .unwrap();
    assert_eq!(store.cursor().await.unwrap().unwrap().0, 13);
}

async fn many_tasks_replicates_and_workers_are_read_at_once(db: &TestDb) {
    let store = store(db).await;
    let d = deal(3, 5);
    store.insert_deal(&d).await.unwrap();
    let tasks: Vec<B256> = (0..3)
        .map(|i| decloud_protocol::task_id(d.deal_id, i))
        .collect();
    let (w1, w2) = (Address::repeat_byte(1), Address::repeat_byte(2));
    store.upsert_worker(w1, 2, 7, 10).await.unwrap();
    store.upsert_worker(w2, 2, 0, 10).await.unwrap();
    store
        .assign_many(w1, 20, &[(tasks[0], 99), (tasks[1], 99)])
        .await
        .unwrap();
    store.assign_many(w2, 21, &[(tasks[0], 99)]).await.unwrap();
    let by_task = store.replicates_of_tasks(&tasks).await.unwrap();
    assert_eq!(by_task.len(), 2, "a task without replicates is absent");
    let first: Vec<Address> = by_task[&tasks[0]].iter().map(|r| r.worker).collect();
    assert_eq!(first, [w1, w2], "oldest assignment first");
    assert_eq!(by_task[&tasks[1]].len(), 1);
    let workers = store
        .workers_in(&[w1, w2, Address::repeat_byte(3)])
        .await
        .unwrap();
    assert_eq!(workers.len(), 2, "an unregistered address is absent");
    assert_eq!(workers[&w1].score, 7);
    assert!(store.workers_in(&[]).await.unwrap().is_empty());
    // Each task with where one worker's replicate stands, whoever else holds it.
    store
        .apply(&[TaskChange::Contribution {
            task_id: tasks[0],
            worker: w2,
            result_hash: B256::repeat_byte(9),
            weight: Some(1),
            at: 22,
        }])
        .await
        .unwrap();
    let unknown = B256::repeat_byte(0xee);
    let for_w2 = store
        .tasks_for_worker(w2, &[tasks[0], tasks[1], tasks[2], unknown])
        .await
        .unwrap();
    assert_eq!(for_w2.len(), 3, "an unknown task is absent");
    assert_eq!(
        for_w2[&tasks[0]].mine,
        Some((ReplicateStatus::Contributed, Some(B256::repeat_byte(9))))
    );
    assert_eq!(for_w2[&tasks[1]].mine, None, "held by w1 only");
    assert_eq!(for_w2[&tasks[2]].task.index, 2);
    let for_w1 = store.tasks_for_worker(w1, &tasks).await.unwrap();
    assert_eq!(
        for_w1[&tasks[0]].mine,
        Some((ReplicateStatus::Assigned, None))
    );
}

/// A claim's one read of its worker agrees with the separate reads: its row, its pause and the
/// replicates it holds on open tasks (not those contributed, nor those of finished tasks).
async fn a_claimant_is_read_in_one_query(db: &TestDb) {
    let store = &store(db).await;
    let (w, other) = (Address::repeat_byte(1), Address::repeat_byte(2));
    assert!(store.claimant(w).await.unwrap().is_none(), "not registered");
    store.upsert_worker(w, 4, 9, 100).await.unwrap();
    store.upsert_worker(other, 4, 0, 100).await.unwrap();
    let fresh = store.claimant(w).await.unwrap().unwrap();
    assert_eq!((fresh.worker.capacity, fresh.worker.score), (4, 9));
    assert_eq!((fresh.paused_until, fresh.held), (0, 0));
    let d = deal(3, 3);
    store.insert_deal(&d).await.unwrap();
    let task = |i| decloud_protocol::task_id(d.deal_id, i);
    store
        .assign_many(w, 100, &[(task(0), 200), (task(1), 200), (task(2), 200)])
        .await
        .unwrap();
    store.assign(task(0), other, 100, 200).await.unwrap();
    // One contributed (no longer held), one on a task that completed.
    store
        .apply(&[TaskChange::Contribution {
            task_id: task(0),
            worker: w,
            result_hash: B256::repeat_byte(5),
            weight: Some(1),
            at: 101,
        }])
        .await
        .unwrap();
    store
        .apply(&[TaskChange::Finalized {
            task_id: task(1),
            location: String::new(),
            block: 102,
        }])
        .await
        .unwrap();
    let until = store.strike(w, 60, 110).await.unwrap();
    let read = store.claimant(w).await.unwrap().unwrap();
    assert_eq!(read.held, 1);
    assert_eq!(read.held, store.assigned_count(w).await.unwrap());
    assert_eq!(read.paused_until, until);
    assert_eq!(read.paused_until, store.paused_until(w).await.unwrap());
    assert_eq!(store.claimant(other).await.unwrap().unwrap().held, 1);
}

decloud_sql::test_on_every_backend!(
    a_claimant_is_read_in_one_query,
    an_enclave_holds_its_task_and_a_refused_worker_stays_refused,
    a_replicate_is_bound_to_one_enclave,
    deals_tasks_and_cursor_survive_a_reopen,
    a_ranges_tasks_are_read_at_once_and_its_effects_move_the_cursor_with_them,
    many_tasks_replicates_and_workers_are_read_at_once,
    a_database_from_before_versioned_migrations_is_upgraded_with_its_data,
    replicate_lifecycle,
    a_reveal_report_keeps_the_location_and_a_given_up_task_is_not_handed_out,
    sessions_expire_and_a_login_is_one_transaction,
    an_unassigned_deal_can_be_forgotten_after_a_reorg,
    lost_workers_release_their_assignments,
    heartbeats_flushed_together_keep_workers_alive,
);
