//! Group commit: writes that arrive together share one transaction.
//!
//! A write the scheduler acknowledges must be durable first (an acknowledged session, claim or
//! report survives a restart or a power cut), and on SQLite every commit is a sync of the log
//! through the one writer connection: when many requests each wait for a commit of their own,
//! the syncs are what bounds the scheduler. A [`GroupCommit`] queues the writes of one kind to
//! one writer loop, which takes every write waiting when it is free, applies them in one
//! transaction with one commit (one sync), then answers each. A batch that fails is applied
//! again one write at a time, so each write gets its own answer and one bad row does not fail
//! the others. Nothing is answered before its commit returned: a crash mid-batch loses only
//! writes nobody was told about.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

use crate::SchedulerError;
use crate::db::{NewLogin, ReportWrite, Store};

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 256;

/// A kind of write that can be committed in batches.
pub(crate) trait Batch: Send + Sync + 'static {
    /// One write.
    type Write: Send + 'static;
    /// What its writer is told once it is durable.
    type Answer: Send + 'static;
    /// Applies `writes` in one transaction, all or none, and answers each in order.
    fn commit(
        &self,
        writes: &[Self::Write],
    ) -> impl Future<Output = Result<Vec<Self::Answer>, SchedulerError>> + Send;
}

/// Logins: the worker's row and its session ([`Store::complete_logins`]).
pub(crate) struct Logins(pub(crate) Store);

impl Batch for Logins {
    type Write = NewLogin;
    type Answer = ();
    async fn commit(&self, writes: &[NewLogin]) -> Result<Vec<()>, SchedulerError> {
        self.0.complete_logins(writes).await?;
        Ok(vec![(); writes.len()])
    }
}

/// Workers' reports on their replicates ([`Store::apply_reports`]): each one's replicate when
/// it changed it.
pub(crate) struct Reports(pub(crate) Store);

impl Batch for Reports {
    type Write = ReportWrite;
    type Answer = Option<crate::db::ReplicateInfo>;
    async fn commit(
        &self,
        writes: &[ReportWrite],
    ) -> Result<Vec<Option<crate::db::ReplicateInfo>>, SchedulerError> {
        self.0.apply_reports(writes).await
    }
}

/// Releases of the pool jobs held by workers that logged in anew ([`decloud_pool::Pool::release_jobs`]):
/// how many each held. A login storm releases thousands of workers, almost none holding a job;
/// together they are a few reads instead of one write each on the pool's database.
pub(crate) struct PoolReleases(pub(crate) decloud_pool::Pool);

impl Batch for PoolReleases {
    type Write = alloy::primitives::Address;
    type Answer = u64;
    async fn commit(
        &self,
        writes: &[alloy::primitives::Address],
    ) -> Result<Vec<u64>, SchedulerError> {
        self.0
            .release_jobs(writes)
            .await
            .map_err(crate::pool_work::refusal)
    }
}

type Pending<B> = (
    <B as Batch>::Write,
    oneshot::Sender<Result<<B as Batch>::Answer, SchedulerError>>,
);

/// The sending side: [`GroupCommit::commit`] returns once the write is committed.
pub(crate) struct GroupCommit<B: Batch> {
    queue: mpsc::Sender<Pending<B>>,
}

impl<B: Batch> std::fmt::Debug for GroupCommit<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl<B: Batch> GroupCommit<B> {
    /// A writer and the loop to run that commits what it is given with `batch`.
    pub(crate) fn new(batch: B) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let (queue, receiver) = mpsc::channel(4 * MAX_BATCH);
        (Self { queue }, run(batch, receiver))
    }

    /// Commits `write` (with the others waiting at the same time); its answer once durable.
    pub(crate) async fn commit(&self, write: B::Write) -> Result<B::Answer, SchedulerError> {
        let (done, answer) = oneshot::channel();
        self.queue
            .send((write, done))
            .await
            .map_err(|_| SchedulerError::Stopping)?;
        answer.await.map_err(|_| SchedulerError::Stopping)?
    }
}

/// Commits the queued writes, as many together as are waiting, until every sender is gone.
async fn run<B: Batch>(batch: B, mut receiver: mpsc::Receiver<Pending<B>>) {
    let mut pending: Vec<Pending<B>> = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut pending, MAX_BATCH).await > 0 {
        let (writes, waiters): (Vec<B::Write>, Vec<_>) = pending.drain(..).unzip();
        match batch.commit(&writes).await {
            Ok(answers) if answers.len() == writes.len() => {
                for (answer, done) in answers.into_iter().zip(waiters) {
                    let _ = done.send(Ok(answer));
                }
            }
            outcome => {
                if let Err(e) = outcome {
                    tracing::warn!(error = %e, writes = writes.len(), "a batch of writes failed; committing them one by one");
                }
                for (write, done) in writes.into_iter().zip(waiters) {
                    let answer =
                        batch
                            .commit(std::slice::from_ref(&write))
                            .await
                            .and_then(|mut a| {
                                a.pop().ok_or_else(|| {
                                    SchedulerError::Config("a write got no answer".into())
                                })
                            });
                    let _ = done.send(answer);
                }
            }
        }
    }
}
#[cfg(test)]
mod tests {
    use alloy::primitives::Address;

    use super::*;

    fn login(byte: u8, hash: &str) -> NewLogin {
        NewLogin {
            now: 100,
            worker: Address::repeat_byte(byte),
            capacity: 2,
            score: 0,
            token_hash: hash.into(),
            expires_at: 1_000,
            tee: decloud_protocol::pool::TeeBackend::None,
        }
    }

    #[tokio::test]
    async fn logins_committed_together_each_get_their_own_answer() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = Store::open(&url).await.unwrap();
        store.complete_logins(&[login(9, "taken")]).await.unwrap();
        let (writer, run) = GroupCommit::new(Logins(store.clone()));
        let running = tokio::spawn(run);
        // Sent together: the bad one (a taken session hash) fails its batch, which is then
        // committed one by one.
        let (a, b, c) = tokio::join!(
            writer.commit(login(1, "a")),
            writer.commit(login(2, "taken")),
            writer.commit(login(3, "c")),
        );
        assert!(a.is_ok() && c.is_ok(), "{a:?} {c:?}");
        assert!(b.is_err());
        assert_eq!(
            store.session("a", 100).await.unwrap().map(|s| s.0),
            Some(Address::repeat_byte(1))
        );
        assert_eq!(
            store.session("c", 100).await.unwrap().map(|s| s.0),
            Some(Address::repeat_byte(3))
        );
        assert_eq!(
            store.session("taken", 100).await.unwrap().map(|s| s.0),
            Some(Address::repeat_byte(9))
        );
        assert_eq!(store.worker(Address::repeat_byte(2)).await.unwrap(), None);
        drop(writer);
        running.await.unwrap();
    }

    fn revealed(n: usize) -> decloud_protocol::pool::Report {
        decloud_protocol::pool::Report {
            status: decloud_protocol::pool::ReportStatus::Revealed,
            reason: None,
            results_location: Some(format!("https://storage.example/{n}")),
            callback_data: None,
            stages: None,
        }
    }

    /// What a power cut may not take: the writer is stopped mid-way (its task aborted while
    /// reports keep coming, as a crash would stop it, possibly inside a transaction), and the
    /// database opened again holds every report that was answered. On SQLite the commit is a
    /// full sync of the log (`synchronous = FULL`), so "answered" means "on the disk".
    async fn acknowledged_reports_survive_a_writer_stopped_mid_batch(
        db: &decloud_sql::testing::TestDb,
    ) {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};

        use alloy::primitives::B256;
        use sqlx::Row;

        const TASKS: usize = 300;
        let store = Store::open(db.url()).await.unwrap();
        if db.backend() == decloud_sql::testing::Backend::Sqlite {
            let synchronous: i64 = sqlx::query("PRAGMA synchronous")
                .fetch_one(store.pool())
                .await
                .unwrap()
                .try_get(0)
                .unwrap();
            assert_eq!(synchronous, 2, "FULL: every commit syncs the log");
        }
        let deal = crate::db::tests::deal(TASKS as u64, 1);
        store.insert_deal(&deal).await.unwrap();
        let worker = Address::repeat_byte(1);
        store.upsert_worker(worker, 1_000, 0, 100).await.unwrap();
        let tasks: Vec<B256> = (0..TASKS as u64)
            .map(|i| decloud_protocol::task_id(deal.deal_id, i))
            .collect();
        let rows: Vec<(B256, u64)> = tasks.iter().map(|t| (*t, 1_000)).collect();
        assert!(
            store
                .assign_many(worker, 100, &rows)
                .await
                .unwrap()
                .iter()
                .all(|a| *a)
        );

        let (writer, run) = GroupCommit::new(Reports(store.clone()));
        let running = tokio::spawn(run);
        let writer = Arc::new(writer);
        let answered = Arc::new(AtomicUsize::new(0));
        let mut reports = tokio::task::JoinSet::new();
        for (n, task) in tasks.iter().copied().enumerate() {
            let (writer, answered) = (writer.clone(), answered.clone());
            reports.spawn(async move {
                // Spread over time, so that batches keep forming while the writer stops.
                tokio::time::sleep(std::time::Duration::from_micros(200 * n as u64)).await;
                let write = ReportWrite {
                    task_id: task,
                    worker,
                    report: revealed(n),
                    now: 101,
                };
                let result = writer.commit(write).await;
                if result.is_ok() {
                    answered.fetch_add(1, Ordering::SeqCst);
                }
                (n, task, result)
            });
        }
        while answered.load(Ordering::SeqCst) < TASKS / 10 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        running.abort();
        let mut acknowledged = Vec::new();
        let mut refused = 0;
        while let Some(joined) = reports.join_next().await {
            match joined.unwrap() {
                (n, task, Ok(changed)) => {
                    assert!(changed.is_some(), "report {n} changed its replicate");
                    acknowledged.push((n, task));
                }
                (_, _, Err(e)) => {
                    assert!(e.to_string().contains("stopping"), "{e}");
                    refused += 1;
                }
            }
        }
        assert!(!acknowledged.is_empty());
        assert!(refused > 0, "the writer stopped before the last report");
        drop(writer);
        store.pool().close().await;

        let reopened = Store::open(db.url()).await.unwrap();
        for (n, task) in &acknowledged {
            let replicate = &reopened.replicates(*task).await.unwrap()[0];
            assert_eq!(
                replicate.results_location,
                revealed(*n).results_location,
                "acknowledged report {n} was lost"
            );
        }
    }

    decloud_sql::test_on_every_backend!(acknowledged_reports_survive_a_writer_stopped_mid_batch);
}
