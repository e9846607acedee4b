//! The replicates handed to workers and their reports.

use alloy::primitives::{Address, B256};
use decloud_sql::column::{Value, bigint, bind_all, parse, parse_opt, rows, uint, uint_opt};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{ReplicateInfo, ReplicateStatus, Store};
use crate::SchedulerError;

/// A row of `replicates` as the API shows it.
fn replicate_info(row: &AnyRow) -> Result<ReplicateInfo, SchedulerError> {
    Ok(ReplicateInfo {
        task_id: parse(row, "taskid")?,
        worker: parse(row, "worker")?,
        status: parse(row, "status")?,
        result_hash: parse_opt(row, "result_hash")?,
        weight: uint_opt(row, "weight")?,
        reason: row.try_get("reason")?,
        results_location: row.try_get("results_location")?,
        callback_data: parse_opt(row, "callback_data")?,
        assigned_at: uint(row, "assigned_at")?,
        backup_at: uint_opt(row, "backup_at")?,
        updated_at: uint(row, "updated_at")?,
        stages: stages(row)?,
    })
}

/// The stage times a worker reported, stored as JSON (a row that does not parse shows none:
/// they are the worker's claims, not the scheduler's state).
fn stages(row: &AnyRow) -> Result<Option<decloud_protocol::pool::Stages>, SchedulerError> {
    let text: Option<String> = row.try_get("stages")?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

/// How many replicates the worker bound to `$1` holds that are not contributed yet (the
/// replicates assigned to it on tasks still open): a scalar subquery.
pub(super) const HELD_BY: &str = "SELECT COUNT(*) FROM replicates r JOIN tasks t ON r.taskid = t.taskid \
     WHERE r.worker = $1 AND r.status = 'assigned' AND t.status IN ('unset', 'active')";

impl Store {
    /// The replicates of a task, oldest assignment first.
    pub async fn replicates(&self, task_id: B256) -> Result<Vec<ReplicateInfo>, SchedulerError> {
        let query =
            sqlx::query("SELECT * FROM replicates WHERE taskid = $1 ORDER BY assigned_at, worker")
                .bind(task_id.to_string());
        rows(query, replicate_info).all(&self.reads).await
    }

    /// The replicates of each of `task_ids` (oldest assignment first), in one query (per 500
    /// tasks); a task without any is absent.
    pub async fn replicates_of_tasks(
        &self,
        task_ids: &[B256],
    ) -> Result<std::collections::HashMap<B256, Vec<ReplicateInfo>>, SchedulerError> {
        let mut found = super::select_in(
            &self.reads,
            "SELECT * FROM replicates WHERE taskid",
            &[],
            task_ids,
            replicate_info,
        )
        .await?;
        found.sort_by_key(|r| (r.assigned_at, r.worker));
        let mut by_task: std::collections::HashMap<B256, Vec<ReplicateInfo>> =
            std::collections::HashMap::new();
        for r in found {
            by_task.entry(r.task_id).or_default().push(r);
        }
        Ok(by_task)
    }

    /// The replicates a worker holds in `status`.
    pub async fn replicates_of(
        &self,
        worker: Address,
        status: ReplicateStatus,
    ) -> Result<Vec<ReplicateInfo>, SchedulerError> {
        let query = sqlx::query(
            "SELECT * FROM replicates WHERE worker = $1 AND status = $2 ORDER BY assigned_at",
        )
        .bind(worker.to_string())
        .bind(status.as_str());
        rows(query, replicate_info).all(&self.reads).await
    }

    /// Hands `task_id` to `worker` at `now`; from `backup_at` on, the replicate no longer keeps
    /// the task from an idle worker. Returns false if the worker already has a replicate of it.
    pub async fn assign(
        &self,
        task_id: B256,
        worker: Address,
        now: u64,
        backup_at: u64,
    ) -> Result<bool, SchedulerError> {
        let assigned = self
            .assign_many(worker, now, &[(task_id, backup_at)])
            .await?;
        Ok(assigned.first().copied().unwrap_or(false))
    }

    /// Hands each `(task, backup_at)` of `tasks` to `worker` at `now` (as [`Self::assign`]
    /// does) in one transaction, one commit for all. Returns whether each was assigned (false:
    /// the worker already had a replicate of it).
    pub async fn assign_many(
        &self,
        worker: Address,
        now: u64,
        tasks: &[(B256, u64)],
    ) -> Result<Vec<bool>, SchedulerError> {
        let now = bigint(now, "time")?;
        let mut tx = self.pool.begin().await?;
        let mut assigned = Vec::with_capacity(tasks.len());
        for (task_id, backup_at) in tasks {
            let result = sqlx::query(
                "INSERT INTO replicates (taskid, worker, status, assigned_at, updated_at, backup_at) \
                 VALUES ($1, $2, 'assigned', $3, $3, $4) ON CONFLICT (taskid, worker) DO NOTHING",
            )
            .bind(task_id.to_string())
            .bind(worker.to_string())
            .bind(now)
            .bind(bigint(*backup_at, "time")?)
            .execute(&mut *tx)
            .await?;
            assigned.push(result.rows_affected() == 1);
        }
        tx.commit().await?;
        Ok(assigned)
    }

    /// Binds `worker`'s assigned replicate of `task_id` to `enclave` unless it is bound
    /// already; returns the enclave it is bound to now (`None`: no such assigned replicate).
    /// One statement, so two racing requests can't bind two enclaves.
    pub async fn bind_enclave(
        &self,
        task_id: B256,
        worker: Address,
        enclave: Address,
    ) -> Result<Option<Address>, SchedulerError> {
        sqlx::query(
            "UPDATE replicates SET enclave = $1 \
             WHERE taskid = $2 AND worker = $3 AND status = 'assigned' AND enclave IS NULL",
        )
        .bind(enclave.to_string())
        .bind(task_id.to_string())
        .bind(worker.to_string())
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(
            "SELECT enclave FROM replicates \
             WHERE taskid = $1 AND worker = $2 AND status = 'assigned'",
        )
        .bind(task_id.to_string())
        .bind(worker.to_string())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(parse_opt(&row, "enclave")?),
            None => Ok(None),
        }
    }

    /// The enclave `worker`'s replicate of `task_id` is bound to, if any.
    pub async fn replicate_enclave(
        &self,
        task_id: B256,
        worker: Address,
    ) -> Result<Option<Address>, SchedulerError> {
        let row = sqlx::query("SELECT enclave FROM replicates WHERE taskid = $1 AND worker = $2")
            .bind(task_id.to_string())
            .bind(worker.to_string())
            .fetch_optional(&self.reads)
            .await?;
        match row {
            Some(row) => Ok(parse_opt(&row, "enclave")?),
            None => Ok(None),
        }
    }

    /// The worker and enclave that hold `task_id`'s secrets, or may: a replicate bound to an
    /// enclave and still assigned (its worker is computing) or lost (its worker vanished after
    /// asking for the release). Key holders release a task's secrets to one enclave only, so
    /// no other worker can run the task while one exists. A replicate bound and then reported
    /// failed does not hold the task: its worker said it got nothing (if it lies, the next
    /// worker's release is refused and the task fails like any other).
    pub async fn enclave_holder(
        &self,
        task_id: B256,
    ) -> Result<Option<(Address, Address)>, SchedulerError> {
        let row = sqlx::query(
            "SELECT worker, enclave FROM replicates WHERE taskid = $1 \
             AND enclave IS NOT NULL AND status IN ('assigned', 'lost') \
             ORDER BY assigned_at LIMIT 1",
        )
        .bind(task_id.to_string())
        .fetch_optional(&self.reads)
        .await?;
        match row {
            Some(row) => Ok(Some((parse(&row, "worker")?, parse(&row, "enclave")?))),
            None => Ok(None),
        }
    }

    /// `worker`'s lost replicates bound to an enclave whose task is still open and not given
    /// up: `(task, deal, enclave)`.
    pub async fn lost_enclaves(
        &self,
        worker: Address,
    ) -> Result<Vec<(B256, B256, Address)>, SchedulerError> {
        let rows = sqlx::query(
            "SELECT r.taskid, t.dealid, r.enclave FROM replicates r \
             JOIN tasks t ON t.taskid = r.taskid WHERE r.worker = $1 \
             AND r.status = 'lost' AND r.enclave IS NOT NULL \
             AND t.status IN ('unset', 'active') AND t.given_up IS NULL",
        )
        .bind(worker.to_string())
        .fetch_all(&self.reads)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    parse(row, "taskid")?,
                    parse(row, "dealid")?,
                    parse(row, "enclave")?,
                ))
            })
            .collect()
    }

    /// A worker's own report on its replicate. A report is a hint, never a stage: only the
    /// chain's events, applied by the follower, make a replicate contributed or revealed (a
    /// report costs nothing to forge, a transaction does).
    ///
    /// - `failed` (with a reason): only an assigned replicate fails;
    /// - `contributed`: keeps `reason` (the app's deterministic failure, if any) on a replicate
    ///   the worker still holds (a lost one too: its contribution may be on its way);
    /// - `revealed`: stores where the result is and its callback data, which the driver uses
    ///   once the chain shows the reveal.
    ///
    /// Returns whether the replicate changed.
    pub async fn report(
        &self,
        task_id: B256,
        worker: Address,
        report: &decloud_protocol::pool::Report,
        now: u64,
    ) -> Result<bool, SchedulerError> {
        let write = ReportWrite {
            task_id,
            worker,
            report: report.clone(),
            now,
        };
        let changed = self.apply_reports(std::slice::from_ref(&write)).await?;
        Ok(changed.first().is_some_and(Option::is_some))
    }

    /// Applies reports (each as [`Self::report`] does) in one transaction, one commit for all:
    /// durable once this returns, none on an error. Returns each one's replicate as it is now
    /// when the report changed it (`None`: it changed nothing).
    pub async fn apply_reports(
        &self,
        writes: &[ReportWrite],
    ) -> Result<Vec<Option<ReplicateInfo>>, SchedulerError> {
        let mut tx = self.pool.begin().await?;
        let mut changed = Vec::with_capacity(writes.len());
        for write in writes {
            let (sql, values) = report_statement(write)?;
            // The row comes back with the update: the caller answers with it, unread.
            let sql = format!("{sql} RETURNING *");
            let query = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), values);
            changed.push(rows(query, replicate_info).optional(&mut *tx).await?);
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Number of replicates `worker` holds that are not contributed yet.
    pub async fn assigned_count(&self, worker: Address) -> Result<u64, SchedulerError> {
        let sql = format!("SELECT ({HELD_BY}) AS n");
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(worker.to_string())
            .fetch_one(&self.reads)
            .await?
            .try_get("n")?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    /// How many replicates of `task_id` failed, and how many of those come from workers with
    /// on-chain history (a score when they logged in, or a contribution the follower saw in
    /// this pool): the failures that may give a task up.
    pub async fn failure_counts(&self, task_id: B256) -> Result<(u64, u64), SchedulerError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS total, COALESCE(SUM(CASE WHEN \
             EXISTS (SELECT 1 FROM workers w WHERE w.address = r.worker AND w.score > 0) \
             OR EXISTS (SELECT 1 FROM replicates c WHERE c.worker = r.worker \
                        AND c.result_hash IS NOT NULL) \
             THEN 1 ELSE 0 END), 0) AS credible \
             FROM replicates r WHERE r.taskid = $1 AND r.status = 'failed'",
        )
        .bind(task_id.to_string())
        .fetch_one(&self.reads)
        .await?;
        Ok((uint(&row, "total")?, uint(&row, "credible")?))
    }

    /// Replicates assigned before `before` and still not contributed on chain (of open tasks,
    /// and of tasks that went on without them), with their deal, oldest first, at most `limit`.
    pub async fn assigned_before(
        &self,
        before: u64,
        limit: u32,
    ) -> Result<Vec<(ReplicateInfo, B256)>, SchedulerError> {
        let query = sqlx::query(
            "SELECT r.*, t.dealid FROM replicates r JOIN tasks t ON r.taskid = t.taskid \
             WHERE r.status = 'assigned' AND r.assigned_at < $1 \
             ORDER BY r.assigned_at LIMIT $2",
        )
        .bind(bigint(before, "time")?)
        .bind(i64::from(limit));
        rows(query, |row| {
            Ok((replicate_info(row)?, parse(row, "dealid")?))
        })
        .all(&self.reads)
        .await
    }

    /// Takes an assigned replicate back from its worker (it is `lost`, with `reason`), so that
    /// the task goes to others; a contribution the worker still sends counts when the chain
    /// shows it. Returns whether the replicate was still assigned.
    pub async fn release(
        &self,
        task_id: B256,
        worker: Address,
        reason: &str,
        now: u64,
    ) -> Result<bool, SchedulerError> {
        let sql = "UPDATE replicates SET status = 'lost', reason = $1, updated_at = $2 \
                   WHERE taskid = $3 AND worker = $4 AND status = 'assigned'";
        let values = vec![
            Value::Text(reason.to_owned()),
            Value::bigint(now, "time")?,
            Value::text(task_id),
            Value::text(worker),
        ];
        let result = bind_all(sqlx::query(sql), values)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }
}

/// A worker's report on its replicate of `task_id`, received at `now` (see [`Store::report`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportWrite {
    /// The task.
    pub task_id: B256,
    /// The reporting worker.
    pub worker: Address,
    /// What it said.
    pub report: decloud_protocol::pool::Report,
    /// When (unix seconds).
    pub now: u64,
}

/// The statement that applies one report, and its values.
fn report_statement(write: &ReportWrite) -> Result<(&'static str, Vec<Value>), SchedulerError> {
    use decloud_protocol::pool::ReportStatus;
    let report = &write.report;
    let now = Value::bigint(write.now, "time")?;
    let reason = Value::MaybeText(report.reason.clone());
    // The worker sends every stage so far with each report: the latest replaces the rest.
    let stages = Value::MaybeText(
        report
            .stages
            .as_ref()
            .and_then(|s| serde_json::to_string(s).ok()),
    );
    // Every statement ends with `stages = COALESCE($n, stages) WHERE taskid = $n+1 AND
    // worker = $n+2`, bound last.
    let (sql, mut values) = match report.status {
        ReportStatus::Failed => (
            "UPDATE replicates SET status = 'failed', reason = $1, updated_at = $2, \
             stages = COALESCE($3, stages) \
             WHERE taskid = $4 AND worker = $5 AND status = 'assigned'",
            vec![reason, now],
        ),
        ReportStatus::Contributed => (
            "UPDATE replicates SET reason = $1, updated_at = $2, \
             stages = COALESCE($3, stages) WHERE taskid = $4 AND worker = $5 \
             AND status IN ('assigned', 'contributed', 'revealed', 'lost')",
            vec![reason, now],
        ),
        ReportStatus::Revealed => (
            "UPDATE replicates SET \
             results_location = $1, callback_data = $2, updated_at = $3, \
             reason = COALESCE($4, reason), stages = COALESCE($5, stages) \
             WHERE taskid = $6 AND worker = $7 \
             AND status IN ('assigned', 'contributed', 'revealed', 'lost')",
            vec![
                Value::MaybeText(report.results_location.clone()),
                Value::MaybeText(report.callback_data.as_ref().map(|b| b.to_string())),
                now,
                reason,
            ],
        ),
    };
    values.extend([
        stages,
        Value::text(write.task_id),
        Value::text(write.worker),
    ]);
    Ok((sql, values))
}
