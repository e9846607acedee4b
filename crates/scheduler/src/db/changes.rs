//! Task changes seen on chain, applied many in one transaction.

use alloy::primitives::{Address, B256};
use decloud_sql::column::{Value, bigint, bind_all};

use super::{Store, TaskStatus};
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
    /// A contribution is on chain (`TaskContribute`): the replicate is contributed with its
    /// result hash (created if the scheduler had no record of it). A revealed replicate stays
    /// revealed.
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
    /// The consensus group was rejected (a reopen): its contributors' replicates are
    /// `rejected` and the task takes contributions again.
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

impl TaskChange {
    /// The statements that apply the change, in order, each with its arguments in placeholder
    /// order.
    fn statements(&self) -> Result<Vec<(&'static str, Vec<Value>)>, SchedulerError> {
        Ok(match self {
            Self::Status {
                task_id,
                status,
                block,
            } => vec![(
                "UPDATE tasks SET status = $1, updated_block = $2 \
                 WHERE taskid = $3 AND status NOT IN ('completed', 'failed')",
                vec![
                    Value::text(status),
                    Value::bigint(*block, "block")?,
                    Value::text(task_id),
                ],
            )],
            Self::Consensus {
                task_id,
                result_hash,
                at,
                block,
            } => vec![(
                "UPDATE tasks SET status = 'revealing', consensus_hash = $1, consensus_at = $2, \
                 updated_block = $3 WHERE taskid = $4 AND status NOT IN ('completed', 'failed')",
                vec![
                    Value::text(result_hash),
                    Value::bigint(*at, "time")?,
                    Value::bigint(*block, "block")?,
                    Value::text(task_id),
                ],
            )],
            Self::Reopen {
                task_id,
                result_hash,
                at,
                block,
            } => vec![
                (
                    "UPDATE tasks SET status = 'active', consensus_hash = NULL, consensus_at = NULL, \
                     updated_block = $1 WHERE taskid = $2 AND status NOT IN ('completed', 'failed')",
                    vec![Value::bigint(*block, "block")?, Value::text(task_id)],
                ),
                (
                    "UPDATE replicates SET status = 'rejected', \
                     reason = 'no member of its consensus group revealed in time: the group was rejected (reopen)', \
                     updated_at = $1 WHERE taskid = $2 AND result_hash = $3",
                    vec![
                        Value::bigint(*at, "time")?,
                        Value::text(task_id),
                        Value::text(result_hash),
                    ],
                ),
            ],
            Self::Finalized {
                task_id,
                location,
                block,
            } => vec![(
                "UPDATE tasks SET status = 'completed', results_location = $1, updated_block = $2 \
                 WHERE taskid = $3",
                vec![
                    Value::Text(location.clone()),
                    Value::bigint(*block, "block")?,
                    Value::text(task_id),
                ],
            )],
            Self::Claimed { task_id, block } => vec![(
                "UPDATE tasks SET status = 'failed', updated_block = $1 \
                 WHERE taskid = $2 AND status <> 'completed'",
                vec![Value::bigint(*block, "block")?, Value::text(task_id)],
            )],
            Self::Contribution {
                task_id,
                worker,
                result_hash,
                weight,
                at,
            } => vec![(
                "INSERT INTO replicates (taskid, worker, status, result_hash, weight, assigned_at, updated_at) \
                 VALUES ($1, $2, 'contributed', $3, $4, $5, $5) \
                 ON CONFLICT (taskid, worker) DO UPDATE SET \
                 status = CASE WHEN replicates.status = 'revealed' THEN 'revealed' ELSE 'contributed' END, \
                 result_hash = $3, weight = $4, updated_at = $5, \
                 reason = CASE WHEN replicates.status IN ('failed', 'lost') THEN NULL ELSE replicates.reason END",
                vec![
                    Value::text(task_id),
                    Value::text(worker),
                    Value::text(result_hash),
                    Value::MaybeInt(weight.map(|w| bigint(w, "weight")).transpose()?),
                    Value::bigint(*at, "time")?,
                ],
            )],
            Self::Reveal {
                task_id,
                worker,
                at,
            } => vec![(
                "UPDATE replicates SET status = 'revealed', updated_at = $1, \
                 reason = CASE WHEN status IN ('failed', 'lost') THEN NULL ELSE reason END \
                 WHERE taskid = $2 AND worker = $3",
                vec![
                    Value::bigint(*at, "time")?,
                    Value::text(task_id),
                    Value::text(worker),
                ],
            )],
        })
    }
}

impl Store {
    /// Applies `changes` in order, in one transaction (one commit for a whole pass of the
    /// follower, whatever the number of events).
    pub async fn apply(&self, changes: &[TaskChange]) -> Result<(), SchedulerError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.apply_and_move_cursor(changes, None).await
    }

    /// Applies `changes` as [`Store::apply`] does and, in the same transaction, moves the
    /// follower's cursor to `cursor` (a block and its hash) when given: a block range's effects
    /// and the cursor past it are stored together, with one commit.
    pub async fn apply_and_move_cursor(
        &self,
        changes: &[TaskChange],
        cursor: Option<(u64, B256)>,
    ) -> Result<(), SchedulerError> {
        let mut tx = self.pool.begin().await?;
        for change in changes {
            for (sql, values) in change.statements()? {
                bind_all(sqlx::query(sql), values).execute(&mut *tx).await?;
            }
        }
        // A contribution on chain is the evidence that ends its worker's pause: one statement
        // for the range's contributors.
        let mut contributors: Vec<String> = changes
            .iter()
            .filter_map(|c| match c {
                TaskChange::Contribution { worker, .. } => Some(worker.to_string()),
                _ => None,
            })
            .collect();
        contributors.sort_unstable();
        contributors.dedup();
        for group in contributors.chunks(decloud_sql::IN_LIST_MAX) {
            // Only placeholders are spliced in; every address is bound.
            let sql = format!(
                "DELETE FROM claim_pauses WHERE worker IN ({})",
                decloud_sql::placeholders(1, group.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for worker in group {
                query = query.bind(worker.clone());
            }
            query.execute(&mut *tx).await?;
        }
        if let Some((block, hash)) = cursor {
            super::cursor::set_cursor(&mut tx, block, hash).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
