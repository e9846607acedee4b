//! Task changes seen on chain, applied many in one transaction.

use alloy::primitives::{Address, B256};

use super::{Store, TaskStatus, sql_int};
use crate::SchedulerError;

/// A change of a task's state seen on chain, applied by [`Store::apply`] (many in one
/// transaction).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskChange {
    /// The task moved to `status` (initialized: active). A final status is never left.
    Status {
        /// The task.
        task_id: B256,
        /// Its new status.
        status: TaskStatus,
        /// Block of the event.
        block: u64,
    },
    /// A contribution is on chain.
    Contribution {
        /// The task.
        task_id: B256,
        /// The contributor.
        worker: Address,
        /// Its result hash.
        result_hash: B256,
        /// Its weight (replicated tasks).
        weight: Option<u64>,
        /// Block time.
        at: u64,
    },
    /// A result group reached consensus: the task is revealing.
    Consensus {
        /// The task.
        task_id: B256,
        /// The winning result hash.
        result_hash: B256,
        /// Block time.
        at: u64,
        /// Block of the event.
        block: u64,
    },
    /// A contributor revealed.
    Reveal {
        /// The task.
        task_id: B256,
        /// The revealer.
        worker: Address,
        /// Block time.
        at: u64,
    },
    /// The consensus group was rejected: the task takes contributions again.
    Reopen {
        /// The task.
        task_id: B256,
        /// The rejected result hash.
        result_hash: B256,
        /// Block time.
        at: u64,
        /// Block of the event.
        block: u64,
    },
    /// The task is finalized with its results' location.
    Finalized {
        /// The task.
        task_id: B256,
        /// Where its result is.
        location: String,
        /// Block of the event.
        block: u64,
    },
    /// The task was claimed after its final deadline.
    Claimed {
        /// The task.
        task_id: B256,
        /// Block of the event.
        block: u64,
    },
}

impl Store {
    /// Moves a task to `status` as of `block` (an event of the follower). A final status is
    /// never left.
    pub async fn set_task_status(
        &self,
        task_id: B256,
        status: TaskStatus,
        block: u64,
    ) -> Result<(), SchedulerError> {
        self.apply(&[TaskChange::Status {
            task_id,
            status,
            block,
        }])
        .await
    }

    /// Records a consensus on `result_hash` at time `at`: the task is revealing.
    pub async fn set_consensus(
        &self,
        task_id: B256,
        result_hash: B256,
        at: u64,
        block: u64,
    ) -> Result<(), SchedulerError> {
        self.apply(&[TaskChange::Consensus {
            task_id,
            result_hash,
            at,
            block,
        }])
        .await
    }

    /// Records a reopen: the group of `result_hash` is rejected (its contributors' replicates
    /// are `rejected`) and the task takes contributions again.
    pub async fn reopen(
        &self,
        task_id: B256,
        result_hash: B256,
        now: u64,
        block: u64,
    ) -> Result<(), SchedulerError> {
        self.apply(&[TaskChange::Reopen {
            task_id,
            result_hash,
            at: now,
            block,
        }])
        .await
    }

    /// Records a finalization: the task is completed with its result's location.
    pub async fn set_finalized(
        &self,
        task_id: B256,
        results_location: &str,
        block: u64,
    ) -> Result<(), SchedulerError> {
        self.apply(&[TaskChange::Finalized {
            task_id,
            location: results_location.to_owned(),
            block,
        }])
        .await
    }

    /// Records an on-chain contribution (`TaskContribute`): the replicate is contributed with
    /// its result hash (created if the scheduler had no record of it). A revealed replicate
    /// stays revealed.
    pub async fn record_contribution(
        &self,
        task_id: B256,
        worker: Address,
        result_hash: B256,
        weight: Option<u64>,
        now: u64,
    ) -> Result<(), SchedulerError> {
        self.apply(&[TaskChange::Contribution {
            task_id,
            worker,
            result_hash,
            weight,
            at: now,
        }])
        .await
    }

    /// Records an on-chain reveal (`TaskReveal`).
    pub async fn record_reveal(
        &self,
        task_id: B256,
        worker: Address,
        now: u64,
    ) -> Result<(), SchedulerError> {
        self.apply(&[TaskChange::Reveal {
            task_id,
            worker,
            at: now,
        }])
        .await
    }

    /// Applies `changes` in order, in one transaction (one commit for a whole pass of the
    /// follower, whatever the number of events).
    pub async fn apply(&self, changes: &[TaskChange]) -> Result<(), SchedulerError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for change in changes {
            Self::apply_one(&mut tx, change).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn apply_one(
        conn: &mut sqlx::AnyConnection,
        change: &TaskChange,
    ) -> Result<(), SchedulerError> {
        match change {
            TaskChange::Status {
                task_id,
                status,
                block,
            } => {
                sqlx::query(
                    "UPDATE tasks SET status = $1, updated_block = $2 \
                     WHERE taskid = $3 AND status NOT IN ('completed', 'failed')",
                )
                .bind(status.as_str())
                .bind(sql_int(*block, "block")?)
                .bind(task_id.to_string())
                .execute(&mut *conn)
                .await?;
            }
            TaskChange::Consensus {
                task_id,
                result_hash,
                at,
                block,
            } => {
                sqlx::query(
                    "UPDATE tasks SET status = 'revealing', consensus_hash = $1, consensus_at = $2, \
                     updated_block = $3 WHERE taskid = $4 AND status NOT IN ('completed', 'failed')",
                )
                .bind(result_hash.to_string())
                .bind(sql_int(*at, "time")?)
                .bind(sql_int(*block, "block")?)
                .bind(task_id.to_string())
                .execute(&mut *conn)
                .await?;
            }
            TaskChange::Reopen {
                task_id,
                result_hash,
                at,
                block,
            } => {
                sqlx::query(
                    "UPDATE tasks SET status = 'active', consensus_hash = NULL, consensus_at = NULL, \
                     updated_block = $1 WHERE taskid = $2 AND status NOT IN ('completed', 'failed')",
                )
                .bind(sql_int(*block, "block")?)
                .bind(task_id.to_string())
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "UPDATE replicates SET status = 'rejected', \
                     reason = 'no member of its consensus group revealed in time: the group was rejected (reopen)', \
                     updated_at = $1 WHERE taskid = $2 AND result_hash = $3",
                )
                .bind(sql_int(*at, "time")?)
                .bind(task_id.to_string())
                .bind(result_hash.to_string())
                .execute(&mut *conn)
                .await?;
            }
            TaskChange::Finalized {
                task_id,
                location,
                block,
            } => {
                sqlx::query(
                    "UPDATE tasks SET status = 'completed', results_location = $1, updated_block = $2 \
                     WHERE taskid = $3",
                )
                .bind(location.clone())
                .bind(sql_int(*block, "block")?)
                .bind(task_id.to_string())
                .execute(&mut *conn)
                .await?;
            }
            TaskChange::Claimed { task_id, block } => {
                sqlx::query(
                    "UPDATE tasks SET status = 'failed', updated_block = $1 \
                     WHERE taskid = $2 AND status <> 'completed'",
                )
                .bind(sql_int(*block, "block")?)
                .bind(task_id.to_string())
                .execute(&mut *conn)
                .await?;
            }
            TaskChange::Contribution {
                task_id,
                worker,
                result_hash,
                weight,
                at,
            } => {
                let at = sql_int(*at, "time")?;
                sqlx::query(
                    "INSERT INTO replicates (taskid, worker, status, result_hash, weight, assigned_at, updated_at) \
                     VALUES ($1, $2, 'contributed', $3, $4, $5, $5) \
                     ON CONFLICT (taskid, worker) DO UPDATE SET \
                     status = CASE WHEN replicates.status = 'revealed' THEN 'revealed' ELSE 'contributed' END, \
                     result_hash = $3, weight = $4, updated_at = $5, \
                     reason = CASE WHEN replicates.status IN ('failed', 'lost') THEN NULL ELSE replicates.reason END",
                )
                .bind(task_id.to_string())
                .bind(worker.to_string())
                .bind(result_hash.to_string())
                .bind(weight.map(|w| sql_int(w, "weight")).transpose()?)
                .bind(at)
                .execute(&mut *conn)
                .await?;
            }
            TaskChange::Reveal {
                task_id,
                worker,
                at,
            } => {
                sqlx::query(
                    "UPDATE replicates SET status = 'revealed', updated_at = $1, \
                     reason = CASE WHEN status IN ('failed', 'lost') THEN NULL ELSE reason END \
                     WHERE taskid = $2 AND worker = $3",
                )
                .bind(sql_int(*at, "time")?)
                .bind(task_id.to_string())
                .bind(worker.to_string())
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }
}
