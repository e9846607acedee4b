//! Registered workers and their heartbeats.

use alloy::primitives::Address;
use decloud_protocol::pool::WorkerInfo;
use sqlx::any::AnyRow;

use super::{Store, WorkerStatus, int, parse, sql_int};
use crate::SchedulerError;

/// A registered worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerRow {
    /// The worker's wallet.
    pub address: Address,
    /// How many replicates it runs at once.
    pub capacity: u64,
    /// Its on-chain score when last read (its weight in votes derives from it).
    pub score: u64,
    /// Alive or lost.
    pub status: WorkerStatus,
    /// When it first registered.
    pub registered_at: u64,
    /// Its last heartbeat (or login, or claim).
    pub last_heartbeat: u64,
}

impl From<WorkerRow> for WorkerInfo {
    fn from(row: WorkerRow) -> Self {
        Self {
            address: row.address,
            capacity: row.capacity,
            score: row.score,
            status: row.status,
            registered_at: row.registered_at,
            last_heartbeat: row.last_heartbeat,
        }
    }
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
        .bind(sql_int(capacity, "capacity")?)
        .bind(sql_int(score, "score")?)
        .bind(sql_int(now, "time")?)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Records one heartbeat (a lost worker that comes back is active again); see
    /// [`Self::record_heartbeats`].
    pub async fn heartbeat(&self, address: Address, now: u64) -> Result<(), SchedulerError> {
        self.record_heartbeats(&[(address, now)]).await
    }

    fn worker_row(r: &AnyRow) -> Result<WorkerRow, SchedulerError> {
        Ok(WorkerRow {
            address: parse(r, "address")?,
            capacity: int(r, "capacity")?,
            score: int(r, "score")?,
            status: parse(r, "status")?,
            registered_at: int(r, "registered_at")?,
            last_heartbeat: int(r, "last_heartbeat")?,
        })
    }

    /// The worker with this address, if registered.
    pub async fn worker(&self, address: Address) -> Result<Option<WorkerRow>, SchedulerError> {
        let row = sqlx::query("SELECT * FROM workers WHERE address = $1")
            .bind(address.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Self::worker_row(&r)).transpose()
    }

    /// Every registered worker.
    pub async fn workers(&self) -> Result<Vec<WorkerRow>, SchedulerError> {
        let rows = sqlx::query("SELECT * FROM workers ORDER BY registered_at, address")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::worker_row).collect()
    }

    /// Marks active workers whose last heartbeat is older than `before` as lost, and their
    /// assigned (not yet contributed) replicates as lost, so that others get the work. Returns
    /// the workers marked.
    pub async fn mark_lost(&self, before: u64, now: u64) -> Result<Vec<Address>, SchedulerError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT address FROM workers WHERE status = 'active' AND last_heartbeat < $1",
        )
        .bind(sql_int(before, "time")?)
        .fetch_all(&mut *tx)
        .await?;
        let mut lost = Vec::new();
        for row in &rows {
            let address: Address = parse(row, "address")?;
            sqlx::query("UPDATE workers SET status = 'lost' WHERE address = $1")
                .bind(address.to_string())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE replicates SET status = 'lost', \
                 reason = 'the worker stopped sending heartbeats', updated_at = $1 \
                 WHERE worker = $2 AND status = 'assigned'",
            )
            .bind(sql_int(now, "time")?)
            .bind(address.to_string())
            .execute(&mut *tx)
            .await?;
            lost.push(address);
        }
        tx.commit().await?;
        Ok(lost)
    }

    /// Records many heartbeats in one transaction (the scheduler keeps them in memory and
    /// flushes them here: a heartbeat is not worth a disk write of its own). A worker heard from
    /// is active again; an older time never overwrites a newer one.
    pub async fn record_heartbeats(&self, seen: &[(Address, u64)]) -> Result<(), SchedulerError> {
        if seen.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for (address, at) in seen {
            sqlx::query(
                "UPDATE workers SET last_heartbeat = $1, status = 'active' \
                 WHERE address = $2 AND last_heartbeat <= $1",
            )
            .bind(sql_int(*at, "time")?)
            .bind(address.to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
