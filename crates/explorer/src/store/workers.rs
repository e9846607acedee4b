//! A worker's page: its counters (kept by the indexer, so the page reads one row however many
//! tasks the worker ran), score history, contributions paged by key, failures and membership.

use decloud_sql::column;
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use super::rows::{read_event, read_replicate};
use super::{EventRow, PAGE_SIZE, Page, ReplicateRow, ScorePoint, Store, offset, page_of};
use crate::ExplorerError;
use crate::store::ContributionRow;

/// Most score changes kept per worker: the chart shows this many, older ones are pruned as new
/// ones come, so a busy worker's series stays bounded.
pub const SCORE_POINTS: u64 = 200;

/// The kinds of the pool membership events.
const MEMBERSHIP: &str =
    "'WorkerJoined', 'WorkerAdmitted', 'WorkerLeaving', 'WorkerRemoved', 'WorkerLeft'";

/// A worker's counters as the indexer keeps them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRow {
    /// The worker.
    pub worker: String,
    /// Contributions it made.
    pub contributions: u64,
    /// Tasks it won: it revealed, the task completed.
    pub won: u64,
    /// Tasks it lost: it contributed, the task ended, it did not reveal.
    pub lost: u64,
    /// Its score after the last replicated task it contributed to ended.
    pub score: Option<u64>,
}

/// Rows of a list paged by key (deep pages cost what the first one does), and the key of the
/// next page when more follow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keyset<T> {
    /// Its rows.
    pub rows: Vec<T>,
    /// What to pass as `before` for the next rows.
    pub next: Option<String>,
}

/// A `before` key of a worker's contributions: `block-logindex`.
pub fn parse_before(text: &str) -> Result<(u64, u64), ExplorerError> {
    text.split_once('-')
        .and_then(|(b, l)| Some((b.parse().ok()?, l.parse().ok()?)))
        .ok_or_else(|| {
            ExplorerError::BadRequest(format!(
                "before={text:?} is not a list key: follow the list's \"Older\" link, or leave \
                 it out for the newest rows"
            ))
        })
}

impl Store {
    /// A worker's counters, if it ever contributed.
    pub async fn worker(&self, worker: &str) -> Result<Option<WorkerRow>, ExplorerError> {
        let row = sqlx::query("SELECT * FROM workers WHERE worker = $1")
            .bind(worker.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(WorkerRow {
                worker: row.try_get("worker")?,
                contributions: column::uint(&row, "contributions")?,
                won: column::uint(&row, "won")?,
                lost: column::uint(&row, "lost")?,
                score: column::uint_opt(&row, "score")?,
            })
        })
        .transpose()
    }

    /// Recomputes a worker's counters from its indexed events and scores (what the indexer
    /// does after a reorg; otherwise it keeps them up to date event by event).
    pub async fn recount(&self, worker: &str) -> Result<(), ExplorerError> {
        let mut tx = self.pool.begin().await?;
        recount(&mut tx, worker).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A worker's failed or lost replicates, newest first.
    pub async fn worker_failures(
        &self,
        worker: &str,
        page: u64,
    ) -> Result<Page<ReplicateRow>, ExplorerError> {
        let (limit, offset) = offset(page)?;
        let rows = decloud_sql::column::rows(
            sqlx::query(
                "SELECT * FROM replicates WHERE worker = $1 \
                 AND status IN ('failed', 'lost', 'rejected') \
                 ORDER BY updated_at DESC LIMIT $2 OFFSET $3",
            )
            .bind(worker.to_owned())
            .bind(limit)
            .bind(offset),
            read_replicate,
        )
        .all(&self.pool)
        .await?;
        Ok(page_of(page, rows))
    }

    /// A worker's pool membership events, newest first.
    pub async fn membership(&self, worker: &str) -> Result<Vec<EventRow>, ExplorerError> {
        decloud_sql::column::rows(
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT * FROM events WHERE account = $1 AND kind IN ({MEMBERSHIP}) \
                 ORDER BY block DESC, log_index DESC LIMIT {PAGE_SIZE}"
            )))
            .bind(worker.to_owned()),
            read_event,
        )
        .all(&self.pool)
        .await
    }

    /// A worker's score history, oldest first (the last [`SCORE_POINTS`] changes).
    pub async fn scores(&self, worker: &str) -> Result<Vec<ScorePoint>, ExplorerError> {
        let rows = sqlx::query(
            "SELECT block, time, score, task_id FROM scores WHERE worker = $1 \
             ORDER BY block DESC, log_index DESC LIMIT $2",
        )
        .bind(worker.to_owned())
        .bind(SCORE_POINTS as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut points = rows
            .iter()
            .map(|row| {
                Ok(ScorePoint {
                    block: column::uint(row, "block")?,
                    time: column::uint(row, "time")?,
                    score: column::uint(row, "score")?,
                    task_id: row.try_get("task_id")?,
                })
            })
            .collect::<Result<Vec<_>, ExplorerError>>()?;
        points.reverse();
        Ok(points)
    }

    /// A worker's contributions newest first, from before the key `before` (`None`: the
    /// newest), with whether it revealed each.
    pub async fn contributions(
        &self,
        worker: &str,
        before: Option<(u64, u64)>,
    ) -> Result<Keyset<ContributionRow>, ExplorerError> {
        let (block, log_index) = before.unwrap_or((i64::MAX as u64, 0));
        // A row-value comparison, so that both SQLite and Postgres walk the (account, kind,
        // block, log_index) index from the key down instead of skipping the newer rows.
        let rows = sqlx::query(
            "SELECT c.task_id AS task_id, c.time AS time, c.block AS block, \
             c.log_index AS log_index, COALESCE(t.status, 'ACTIVE') AS status, \
             (SELECT COUNT(*) FROM events r WHERE r.task_id = c.task_id AND r.account = c.account \
              AND r.kind = 'TaskReveal') AS revealed \
             FROM events c LEFT JOIN tasks t ON t.task_id = c.task_id \
             WHERE c.account = $1 AND c.kind = 'TaskContribute' \
             AND (c.block, c.log_index) < ($2, $3) \
             ORDER BY c.block DESC, c.log_index DESC LIMIT $4",
        )
        .bind(worker.to_owned())
        .bind(column::bigint(block, "block")?)
        .bind(column::bigint(log_index, "log index")?)
        .bind(PAGE_SIZE as i64 + 1)
        .fetch_all(&self.pool)
        .await?;
        let mut rows = rows
            .iter()
            .map(|row| {
                Ok(ContributionRow {
                    task_id: row.try_get("task_id")?,
                    status: row.try_get("status")?,
                    time: column::uint(row, "time")?,
                    revealed: column::uint(row, "revealed")? > 0,
                    block: column::uint(row, "block")?,
                    log_index: column::uint(row, "log_index")?,
                })
            })
            .collect::<Result<Vec<_>, ExplorerError>>()?;
        let more = rows.len() as u64 > PAGE_SIZE;
        rows.truncate(PAGE_SIZE as usize);
        let next = more
            .then(|| rows.last().map(|r| format!("{}-{}", r.block, r.log_index)))
            .flatten();
        Ok(Keyset { rows, next })
    }
}

/// Counts a contribution of `worker` (in the indexer's transaction).
pub(crate) async fn count_contribution(
    conn: &mut AnyConnection,
    worker: &str,
) -> Result<(), ExplorerError> {
    sqlx::query(
        "INSERT INTO workers (worker, contributions, won, lost) VALUES ($1, 1, 0, 0) \
         ON CONFLICT (worker) DO UPDATE SET contributions = workers.contributions + 1",
    )
    .bind(worker.to_owned())
    .execute(conn)
    .await?;
    Ok(())
}

/// Counts the end of `task` (`completed` or claimed) for each of its contributors: a reveal
/// of a completed task is a win, a contribution without a reveal is a loss (in the indexer's
/// transaction).
pub(crate) async fn count_task_end(
    conn: &mut AnyConnection,
    task: &str,
    completed: bool,
) -> Result<(), ExplorerError> {
    let rows = sqlx::query(
        "SELECT account, \
         SUM(CASE WHEN kind = 'TaskContribute' THEN 1 ELSE 0 END) AS contributed, \
         SUM(CASE WHEN kind = 'TaskReveal' THEN 1 ELSE 0 END) AS revealed \
         FROM events WHERE task_id = $1 AND kind IN ('TaskContribute', 'TaskReveal') \
         AND account IS NOT NULL GROUP BY account",
    )
    .bind(task.to_owned())
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let worker: String = row.try_get("account")?;
        let contributed = column::uint(&row, "contributed")?;
        let revealed = column::uint(&row, "revealed")?;
        let won = if completed { revealed } else { 0 };
        let lost = contributed.saturating_sub(revealed);
        sqlx::query(
            "INSERT INTO workers (worker, contributions, won, lost) VALUES ($1, 0, $2, $3) \
             ON CONFLICT (worker) DO UPDATE SET won = workers.won + $2, lost = workers.lost + $3",
        )
        .bind(worker)
        .bind(column::bigint(won, "won")?)
        .bind(column::bigint(lost, "lost")?)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Stores a worker's score after a task, keeps it as its last score, and prunes its series
/// to the newest [`SCORE_POINTS`] (in the indexer's transaction).
pub(crate) async fn record_score(
    conn: &mut AnyConnection,
    worker: &str,
    point: &ScorePoint,
    log_index: u64,
) -> Result<(), ExplorerError> {
    let block = column::bigint(point.block, "block")?;
    let score = column::bigint(point.score, "score")?;
    sqlx::query(
        "INSERT INTO scores (worker, block, log_index, time, score, task_id) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (worker, block, log_index) DO NOTHING",
    )
    .bind(worker.to_owned())
    .bind(block)
    .bind(column::bigint(log_index, "log index")?)
    .bind(column::bigint(point.time, "time")?)
    .bind(score)
    .bind(point.task_id.clone())
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO workers (worker, contributions, won, lost, score) VALUES ($1, 0, 0, 0, $2) \
         ON CONFLICT (worker) DO UPDATE SET score = $2",
    )
    .bind(worker.to_owned())
    .bind(score)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "DELETE FROM scores WHERE worker = $1 AND block < (SELECT s.block FROM scores s \
         WHERE s.worker = $1 ORDER BY s.block DESC, s.log_index DESC LIMIT 1 OFFSET $2)",
    )
    .bind(worker.to_owned())
    .bind(SCORE_POINTS as i64 - 1)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Recomputes `worker`'s counters from the events and scores indexed (after a reorg took some
/// away): the same figures the indexer keeps event by event.
pub(crate) async fn recount(conn: &mut AnyConnection, worker: &str) -> Result<(), ExplorerError> {
    let row = sqlx::query(
        "SELECT \
         (SELECT COUNT(*) FROM events c WHERE c.account = $1 AND c.kind = 'TaskContribute') \
           AS contributions, \
         (SELECT COUNT(*) FROM events r JOIN tasks t ON t.task_id = r.task_id \
           WHERE r.account = $1 AND r.kind = 'TaskReveal' AND t.status = 'COMPLETED') AS won, \
         (SELECT COUNT(*) FROM events c JOIN tasks t ON t.task_id = c.task_id \
           WHERE c.account = $1 AND c.kind = 'TaskContribute' \
           AND t.status IN ('COMPLETED', 'FAILED')) AS ended, \
         (SELECT COUNT(*) FROM events r JOIN tasks t ON t.task_id = r.task_id \
           WHERE r.account = $1 AND r.kind = 'TaskReveal' \
           AND t.status IN ('COMPLETED', 'FAILED')) AS revealed, \
         (SELECT s.score FROM scores s WHERE s.worker = $1 \
           ORDER BY s.block DESC, s.log_index DESC LIMIT 1) AS score",
    )
    .bind(worker.to_owned())
    .fetch_one(&mut *conn)
    .await?;
    let contributions = column::uint(&row, "contributions")?;
    let won = column::uint(&row, "won")?;
    let lost = column::uint(&row, "ended")?.saturating_sub(column::uint(&row, "revealed")?);
    let score = column::uint_opt(&row, "score")?;
    sqlx::query("DELETE FROM workers WHERE worker = $1")
        .bind(worker.to_owned())
        .execute(&mut *conn)
        .await?;
    if contributions > 0 || score.is_some() {
        sqlx::query(
            "INSERT INTO workers (worker, contributions, won, lost, score) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(worker.to_owned())
        .bind(column::bigint(contributions, "contributions")?)
        .bind(column::bigint(won, "won")?)
        .bind(column::bigint(lost, "lost")?)
        .bind(score.map(|s| column::bigint(s, "score")).transpose()?)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
