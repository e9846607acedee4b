//! The schedulers' off-chain trace: which tasks to ask about, and each task's replicates.

use decloud_sql::column;
use sqlx::Row;

use super::rows::read_replicate;
use super::{ReplicateRow, Store};
use crate::ExplorerError;

impl Store {
    /// The replicates of a task, oldest first.
    pub async fn replicates(&self, task_id: &str) -> Result<Vec<ReplicateRow>, ExplorerError> {
        decloud_sql::column::rows(
            sqlx::query(
                "SELECT * FROM replicates WHERE task_id = $1 ORDER BY assigned_at, worker LIMIT 200",
            )
            .bind(task_id.to_owned()),
            read_replicate,
        )
        .all(&self.pool)
        .await
    }

    /// Tasks whose off-chain trace should be pulled from `workerpool`'s scheduler: those with
    /// new events, and the unfinished ones (their replicates move without chain events).
    pub async fn tasks_to_trace(
        &self,
        workerpool: &str,
        limit: u64,
    ) -> Result<Vec<(String, String)>, ExplorerError> {
        let rows = sqlx::query(
            "SELECT task_id, status FROM tasks WHERE workerpool = $1 \
             AND (trace_stale = 1 OR status IN ('ACTIVE', 'REVEALING')) \
             ORDER BY updated_block DESC LIMIT $2",
        )
        .bind(workerpool.to_owned())
        .bind(column::bigint(limit, "limit")?)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("task_id")?, r.try_get("status")?)))
            .collect()
    }

    /// Stores a task's replicates as its scheduler reported them; returns whether anything
    /// changed. A finished task's trace is not pulled again unless a new event comes.
    pub async fn store_trace(
        &self,
        task_id: &str,
        replicates: &[ReplicateRow],
        finished: bool,
        now: u64,
    ) -> Result<bool, ExplorerError> {
        let before = self.replicates(task_id).await?;
        let changed = before != replicates;
        let mut tx = self.pool.begin().await?;
        if changed {
            sqlx::query("DELETE FROM replicates WHERE task_id = $1")
                .bind(task_id.to_owned())
                .execute(&mut *tx)
                .await?;
            for r in replicates {
                sqlx::query(
                    "INSERT INTO replicates (task_id, worker, status, reason, results_location, \
                     result_hash, weight, assigned_at, updated_at, stages) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(r.task_id.clone())
                .bind(r.worker.clone())
                .bind(r.status.clone())
                .bind(r.reason.clone())
                .bind(r.results_location.clone())
                .bind(r.result_hash.clone())
                .bind(r.weight.map(|w| column::bigint(w, "weight")).transpose()?)
                .bind(column::bigint(r.assigned_at, "time")?)
                .bind(column::bigint(r.updated_at, "time")?)
                .bind(
                    r.stages
                        .as_ref()
                        .and_then(|s| serde_json::to_string(s).ok()),
                )
                .execute(&mut *tx)
                .await?;
            }
        }
        sqlx::query("UPDATE tasks SET traced_at = $1, trace_stale = $2 WHERE task_id = $3")
            .bind(column::bigint(now, "time")?)
            .bind(if finished { 0i64 } else { 1i64 })
            .bind(task_id.to_owned())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(changed)
    }
}
