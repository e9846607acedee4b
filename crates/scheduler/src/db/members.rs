//! What the worker registry's verdicts change in the database: a worker that is no longer a
//! member of the pool loses its sessions and its assigned work, and a member's capacity follows
//! its stake; the number of open login challenges is bounded.

use alloy::primitives::Address;
use decloud_sql::column::bigint;

use super::Store;
use crate::SchedulerError;

impl Store {
    /// Ends `worker`'s stay in the pool: its sessions are deleted, and it is lost like a silent
    /// worker (its work the chain does not show goes back to the pool with `reason`). Returns how
    /// many replicates were released.
    pub async fn expel(
        &self,
        worker: Address,
        now: u64,
        reason: &str,
    ) -> Result<u64, SchedulerError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM sessions WHERE worker = $1")
            .bind(worker.to_string())
            .execute(&mut *tx)
            .await?;
        let released = super::workers::lose_worker(&mut tx, worker, reason, now).await?;
        tx.commit().await?;
        Ok(released)
    }

    /// Lowers `worker`'s capacity to `capacity` when it is above it (a stake that shrank, an
    /// owner's smaller cap); returns whether it changed.
    pub async fn cap_capacity(
        &self,
        worker: Address,
        capacity: u64,
    ) -> Result<bool, SchedulerError> {
        let changed =
            sqlx::query("UPDATE workers SET capacity = $1 WHERE address = $2 AND capacity > $1")
                .bind(bigint(capacity, "capacity")?)
                .bind(worker.to_string())
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(changed > 0)
    }
}
