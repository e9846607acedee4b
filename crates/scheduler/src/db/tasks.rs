//! Reading tasks, and giving up on one.

use alloy::primitives::{Address, B256};
use decloud_sql::column::{bigint, parse, parse_opt, rows, uint, uint_opt};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{ReplicateStatus, Store, TaskInfo, TaskStatus};
use crate::SchedulerError;

/// A row of `tasks` as the API shows it.
fn task_info(row: &AnyRow) -> Result<TaskInfo, SchedulerError> {
    Ok(TaskInfo {
        task_id: parse(row, "taskid")?,
        deal_id: parse(row, "dealid")?,
        index: uint(row, "idx")?,
        status: parse(row, "status")?,
        consensus_hash: parse_opt(row, "consensus_hash")?,
        consensus_at: uint_opt(row, "consensus_at")?,
        results_location: row.try_get("results_location")?,
        given_up: row.try_get("given_up")?,
    })
}

/// A task as [`Store::tasks_for_worker`] reads it for one worker.
#[derive(Clone, Debug)]
pub struct TaskForWorker {
    /// The task.
    pub task: TaskInfo,
    /// The worker's replicate of it, if it holds one: its status and result hash.
    pub mine: Option<(ReplicateStatus, Option<B256>)>,
}

impl Store {
    /// The task with this id, if it belongs to a known deal.
    pub async fn task(&self, task_id: B256) -> Result<Option<TaskInfo>, SchedulerError> {
        let query = sqlx::query("SELECT * FROM tasks WHERE taskid = $1").bind(task_id.to_string());
        rows(query, task_info).optional(&self.reads).await
    }

    /// The tasks among `task_ids` that belong to known deals, by id, in one query (per 500
    /// ids): a follower pass over many events would otherwise wait for one read per event.
    pub async fn tasks(
        &self,
        task_ids: &[B256],
    ) -> Result<std::collections::HashMap<B256, TaskInfo>, SchedulerError> {
        let found = super::select_in(
            &self.reads,
            "SELECT * FROM tasks WHERE taskid",
            &[],
            task_ids,
            task_info,
        )
        .await?;
        Ok(found.into_iter().map(|t| (t.task_id, t)).collect())
    }

    /// The tasks among `task_ids` that belong to known deals, by id, each with where
    /// `worker`'s replicate of it stands (its status and result hash; `None`: it holds none), in
    /// one query (per 500 ids).
    pub async fn tasks_for_worker(
        &self,
        worker: Address,
        task_ids: &[B256],
    ) -> Result<std::collections::HashMap<B256, TaskForWorker>, SchedulerError> {
        let found = super::select_in(
            &self.reads,
            "SELECT t.*, r.status AS mine_status, r.result_hash AS mine_result_hash \
             FROM tasks t LEFT JOIN replicates r ON r.taskid = t.taskid AND r.worker = $1 \
             WHERE t.taskid",
            &[worker.to_string()],
            task_ids,
            |row| {
                let mine = parse_opt(row, "mine_status")?
                    .map(|status| {
                        Ok::<_, SchedulerError>((status, parse_opt(row, "mine_result_hash")?))
                    })
                    .transpose()?;
                Ok(TaskForWorker {
                    task: task_info(row)?,
                    mine,
                })
            },
        )
        .await?;
        Ok(found.into_iter().map(|t| (t.task.task_id, t)).collect())
    }

    /// Every task with its deal and status (to show them all as pool jobs at start).
    pub async fn all_task_statuses(&self) -> Result<Vec<(B256, B256, TaskStatus)>, SchedulerError> {
        let query = sqlx::query("SELECT * FROM tasks ORDER BY dealid, idx");
        let tasks = rows(query, task_info).all(&self.reads).await?;
        Ok(tasks
            .into_iter()
            .map(|t| (t.task_id, t.deal_id, t.status))
            .collect())
    }

    /// The tasks of a deal, in index order.
    pub async fn tasks_of(&self, deal_id: B256) -> Result<Vec<TaskInfo>, SchedulerError> {
        let query = sqlx::query("SELECT * FROM tasks WHERE dealid = $1 ORDER BY idx")
            .bind(deal_id.to_string());
        rows(query, task_info).all(&self.reads).await
    }

    /// Tasks that may still take contributions (unset or active), oldest deal first, at most
    /// `limit`.
    pub async fn open_tasks(&self, limit: u32) -> Result<Vec<TaskInfo>, SchedulerError> {
        let query = sqlx::query(
            "SELECT t.* FROM tasks t JOIN deals d ON t.dealid = d.dealid \
             WHERE t.status IN ('unset', 'active') AND t.given_up IS NULL \
             ORDER BY d.block_number, t.dealid, t.idx LIMIT $1",
        )
        .bind(i64::from(limit));
        rows(query, task_info).all(&self.reads).await
    }

    /// The earliest time after `now` at which a replicate assigned on an open task stops
    /// keeping its task from idle workers (when a waiting claim should look again), if any.
    pub async fn next_backup_at(&self, now: u64) -> Result<Option<u64>, SchedulerError> {
        let row = sqlx::query(
            "SELECT MIN(r.backup_at) AS next FROM replicates r JOIN tasks t ON r.taskid = t.taskid \
             WHERE r.status = 'assigned' AND r.backup_at > $1 \
             AND t.status IN ('unset', 'active') AND t.given_up IS NULL",
        )
        .bind(bigint(now, "time")?)
        .fetch_one(&self.reads)
        .await?;
        Ok(uint_opt(&row, "next")?)
    }

    /// Open tasks a claim by `worker` may get, oldest deal first, at most `limit`: those it holds
    /// no replicate of, and, for deals of trust ≤ 1, only those nobody is computing (no
    /// contribution on chain, no replicate assigned to a live worker: a report counts for
    /// nothing), so a trust-1 candidate needs no further check; a replicated one still goes
    /// through the replica policy. `Address::ZERO` as `worker` leaves out no task.
    ///
    /// `backups_at` 0 counts every live holder as computing; a time counts only the holders
    /// whose backup time is after it (the candidates for a backup replica at that time).
    pub async fn claim_candidates(
        &self,
        worker: Address,
        limit: u32,
        backups_at: u64,
    ) -> Result<Vec<TaskInfo>, SchedulerError> {
        // Deal by deal, oldest first, walking each one's open tasks in index order (a partial
        // index holds only those): a claim costs the replicates in flight, not the deal's size.
        let deals = sqlx::query(
            "SELECT d.dealid, d.trust FROM deals d WHERE EXISTS (SELECT 1 FROM tasks t \
             WHERE t.dealid = d.dealid AND t.status IN ('unset', 'active') AND t.given_up IS NULL) \
             ORDER BY d.block_number, d.dealid",
        )
        .fetch_all(&self.reads)
        .await?;
        let mut out = Vec::new();
        for deal in &deals {
            let left = i64::from(limit) - out.len() as i64;
            if left <= 0 {
                break;
            }
            let deal_id: String = deal.try_get("dealid")?;
            let trust: i64 = deal.try_get("trust")?;
            let query = sqlx::query(
                "SELECT t.* FROM tasks t WHERE t.dealid = $1 \
                 AND t.status IN ('unset', 'active') AND t.given_up IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM replicates r WHERE r.taskid = t.taskid AND r.worker = $2) \
                 AND ($3 > 1 OR NOT EXISTS (SELECT 1 FROM replicates r WHERE r.taskid = t.taskid \
                      AND ((r.status IN ('contributed', 'revealed') AND r.result_hash IS NOT NULL) \
                      OR (r.status = 'assigned' AND (r.backup_at IS NULL OR r.backup_at > $5) \
                          AND EXISTS (SELECT 1 FROM workers w \
                          WHERE w.address = r.worker AND w.status = 'active'))))) \
                 ORDER BY t.idx LIMIT $4",
            )
            .bind(deal_id)
            .bind(worker.to_string())
            .bind(trust)
            .bind(left)
            .bind(bigint(backups_at, "time")?);
            out.extend(rows(query, task_info).all(&self.reads).await?);
        }
        Ok(out)
    }

    /// Tasks in `status`, oldest deal first, at most `limit`.
    pub async fn tasks_in(
        &self,
        status: TaskStatus,
        limit: u32,
    ) -> Result<Vec<TaskInfo>, SchedulerError> {
        let query = sqlx::query(
            "SELECT t.* FROM tasks t JOIN deals d ON t.dealid = d.dealid \
             WHERE t.status = $1 ORDER BY d.block_number, t.dealid, t.idx LIMIT $2",
        )
        .bind(status.as_str())
        .bind(i64::from(limit));
        rows(query, task_info).all(&self.reads).await
    }

    /// Tasks the scheduler gave up before anyone contributed (still uninitialized on chain).
    pub async fn given_up_unstarted(&self, limit: u32) -> Result<Vec<TaskInfo>, SchedulerError> {
        let query = sqlx::query(
            "SELECT * FROM tasks WHERE given_up IS NOT NULL AND status = 'unset' LIMIT $1",
        )
        .bind(i64::from(limit));
        rows(query, task_info).all(&self.reads).await
    }

    /// Stops handing the open task `task_id` out, with the reason shown to the requester. The
    /// first reason stays; a task already past its contributions is left alone.
    pub async fn give_up(&self, task_id: B256, reason: &str) -> Result<(), SchedulerError> {
        sqlx::query(
            "UPDATE tasks SET given_up = $1 WHERE taskid = $2 AND given_up IS NULL \
             AND status IN ('unset', 'active')",
        )
        .bind(reason.to_owned())
        .bind(task_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
