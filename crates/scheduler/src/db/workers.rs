//! Registered workers and their heartbeats.

use alloy::primitives::Address;
use std::collections::BTreeMap;

use decloud_sql::column::{Value, bigint, bind_all, parse, rows, uint};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, WorkerInfo};
use crate::SchedulerError;

/// Most workers one heartbeat statement names (well under SQLite's and Postgres' limits on
/// bound values).
pub(super) const HEARTBEATS_PER_STATEMENT: usize = 500;

/// A claiming worker as [`Store::claimant`] reads it.
#[derive(Clone, Debug)]
pub struct Claimant {
    /// Its row.
    pub worker: WorkerInfo,
    /// Until when it gets no new work (unix seconds; 0 when it is not paused).
    pub paused_until: u64,
    /// How many replicates it holds that are not contributed yet.
    pub held: u64,
}

/// A row of `workers` as the API shows it.
fn worker_info(row: &AnyRow) -> Result<WorkerInfo, SchedulerError> {
    Ok(WorkerInfo {
        address: parse(row, "address")?,
        capacity: uint(row, "capacity")?,
        score: uint(row, "score")?,
        status: parse(row, "status")?,
        registered_at: uint(row, "registered_at")?,
        last_heartbeat: uint(row, "last_heartbeat")?,
        tee: parse(row, "tee")?,
        tee_refused: row.try_get("tee_refused")?,
    })
}

impl Store {
    /// Registers a worker, or updates its capacity and score and marks it active again.
    pub async fn upsert_worker(
        &self,
        address: Address,
        capacity: u64,
        score: u64,
        now: u64,
    ) -> Result<(), SchedulerError> {
        let mut conn = self.pool.acquire().await?;
        Self::upsert_worker_on(&mut conn, address, capacity, score, now).await
    }

    pub(super) async fn upsert_worker_on(
        conn: &mut sqlx::AnyConnection,
        address: Address,
        capacity: u64,
        score: u64,
        now: u64,
    ) -> Result<(), SchedulerError> {
        sqlx::query(
            "INSERT INTO workers (address, capacity, score, status, registered_at, last_heartbeat) \
             VALUES ($1, $2, $3, 'active', $4, $4) ON CONFLICT (address) DO UPDATE SET \
             capacity = $2, score = $3, status = 'active', last_heartbeat = $4",
        )
        .bind(address.to_string())
        .bind(bigint(capacity, "capacity")?)
        .bind(bigint(score, "score")?)
        .bind(bigint(now, "time")?)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Records one heartbeat (a lost worker that comes back is active again); see
    /// [`Self::record_heartbeats`].
    pub async fn heartbeat(&self, address: Address, now: u64) -> Result<(), SchedulerError> {
        self.record_heartbeats(&[(address, now)]).await
    }

    /// What a claim by the worker with this address needs to know of it, in one query: its
    /// row, until when it is paused, and how many replicates it holds. `None`: not registered.
    pub async fn claimant(&self, address: Address) -> Result<Option<Claimant>, SchedulerError> {
        let sql = format!(
            "SELECT w.*, \
             COALESCE((SELECT p.paused_until FROM claim_pauses p WHERE p.worker = $1), 0) \
             AS paused_until, ({}) AS held FROM workers w WHERE w.address = $1",
            super::replicates::HELD_BY
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(address.to_string());
        rows(query, |row| {
            Ok(Claimant {
                worker: worker_info(row)?,
                paused_until: uint(row, "paused_until")?,
                held: uint(row, "held")?,
            })
        })
        .optional(&self.reads)
        .await
    }

    /// The worker with this address, if registered.
    pub async fn worker(&self, address: Address) -> Result<Option<WorkerInfo>, SchedulerError> {
        let query =
            sqlx::query("SELECT * FROM workers WHERE address = $1").bind(address.to_string());
        rows(query, worker_info).optional(&self.reads).await
    }

    /// The registered workers among `addresses`, by address, in one query (per 500).
    pub async fn workers_in(
        &self,
        addresses: &[Address],
    ) -> Result<std::collections::HashMap<Address, WorkerInfo>, SchedulerError> {
        let found = super::select_in(
            &self.reads,
            "SELECT * FROM workers WHERE address",
            &[],
            addresses,
            worker_info,
        )
        .await?;
        Ok(found.into_iter().map(|w| (w.address, w)).collect())
    }

    /// Every registered worker.
    pub async fn workers(&self) -> Result<Vec<WorkerInfo>, SchedulerError> {
        let query = sqlx::query("SELECT * FROM workers ORDER BY registered_at, address");
        rows(query, worker_info).all(&self.reads).await
    }

    /// Records the TEE backend `worker` announced at login (the login's own transaction).
    pub(super) async fn set_tee_on(
        conn: &mut sqlx::AnyConnection,
        worker: Address,
        tee: decloud_protocol::pool::TeeBackend,
    ) -> Result<(), SchedulerError> {
        sqlx::query("UPDATE workers SET tee = $1 WHERE address = $2")
            .bind(tee.as_str())
            .bind(worker.to_string())
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Stops giving TEE tasks to `worker`, for `reason`, whatever it announces later (its
    /// announcement proved false once; the first reason stays).
    pub async fn refuse_tee(&self, worker: Address, reason: &str) -> Result<(), SchedulerError> {
        sqlx::query(
            "UPDATE workers SET tee_refused = $1 WHERE address = $2 AND tee_refused IS NULL",
        )
        .bind(reason.to_owned())
        .bind(worker.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks active workers whose last heartbeat is older than `before` as lost, and every
    /// replicate of theirs whose contribution the chain does not show as lost, whatever the
    /// worker reported, so that others get the work (a contribution that lands later still
    /// counts: the follower makes the replicate contributed again). Returns the workers marked.
    pub async fn mark_lost(&self, before: u64, now: u64) -> Result<Vec<Address>, SchedulerError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT address FROM workers WHERE status = 'active' AND last_heartbeat < $1",
        )
        .bind(bigint(before, "time")?)
        .fetch_all(&mut *tx)
        .await?;
        let mut lost = Vec::new();
        for row in &rows {
            let address: Address = parse(row, "address")?;
            lose_worker(
                &mut tx,
                address,
                "the worker stopped sending heartbeats",
                now,
            )
            .await?;
            lost.push(address);
        }
        tx.commit().await?;
        Ok(lost)
    }

    /// Records many heartbeats in one transaction (the scheduler keeps them in memory and
    /// flushes them here: a heartbeat is not worth a disk write of its own). A worker heard from
    /// is active again; an older time never overwrites a newer one. The workers heard in the
    /// same second share one statement (up to `HEARTBEATS_PER_STATEMENT`): 10,000 heartbeats
    /// are a few dozen statements, not 10,000.
    pub async fn record_heartbeats(&self, seen: &[(Address, u64)]) -> Result<(), SchedulerError> {
        if seen.is_empty() {
            return Ok(());
        }
        let mut by_time: BTreeMap<u64, Vec<Address>> = BTreeMap::new();
        for (address, at) in seen {
            by_time.entry(*at).or_default().push(*address);
        }
        let mut tx = self.pool.begin().await?;
        for (at, workers) in &by_time {
            for group in workers.chunks(HEARTBEATS_PER_STATEMENT) {
                let list: Vec<String> = (2..group.len() + 2).map(|i| format!("${i}")).collect();
                // Only placeholders are spliced in; every value is bound.
                let sql = format!(
                    "UPDATE workers SET last_heartbeat = $1, status = 'active' \
                     WHERE last_heartbeat <= $1 AND address IN ({})",
                    list.join(", ")
                );
                let values = std::iter::once(Value::bigint(*at, "time")?)
                    .chain(group.iter().map(Value::text));
                bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), values)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Marks `worker` lost and takes back, with `reason`, every replicate of its whose contribution
/// the chain does not show (assigned, or a `contributed` without a result hash written before
/// the chain decided stages), so that others get the work; a contribution that lands later
/// still counts. Returns how many replicates went back. The one rule for a worker that is gone,
/// silent or expelled.
pub(super) async fn lose_worker(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    worker: Address,
    reason: &str,
    now: u64,
) -> Result<u64, SchedulerError> {
    sqlx::query("UPDATE workers SET status = 'lost' WHERE address = $1")
        .bind(worker.to_string())
        .execute(&mut **tx)
        .await?;
    let released = sqlx::query(
        "UPDATE replicates SET status = 'lost', reason = $1, updated_at = $2 \
         WHERE worker = $3 AND (status = 'assigned' \
         OR (status = 'contributed' AND result_hash IS NULL))",
    )
    .bind(reason.to_owned())
    .bind(bigint(now, "time")?)
    .bind(worker.to_string())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(released)
}
