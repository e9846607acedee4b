//! The explorer's database: what the indexer and the trace puller write, and the reads every
//! page makes. Ids and addresses are stored as lowercase `0x…` text, so that a search matches
//! whatever case a person pastes.

use alloy::primitives::{Address, B256};
use decloud_sql::column;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Row};

use crate::ExplorerError;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Rows per page of every list.
pub const PAGE_SIZE: u64 = 25;

/// `address` as stored: lowercase `0x…`.
pub fn addr(address: Address) -> String {
    format!("{address:#x}")
}

/// `hash` as stored: lowercase `0x…`.
pub fn hash(hash: B256) -> String {
    format!("{hash:#x}")
}

/// The explorer's database (cheap to clone).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
}

/// One indexed chain event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRow {
    /// Its block.
    pub block: u64,
    /// Its index in the block.
    pub log_index: u64,
    /// Its transaction.
    pub tx: String,
    /// Its block's time (unix seconds).
    pub time: u64,
    /// The event's name (`TaskContribute`, `DealCreated`...).
    pub kind: String,
    /// The task it is about.
    pub task_id: Option<String>,
    /// The deal it is about.
    pub deal_id: Option<String>,
    /// The account it names (worker, requester, owner, signer).
    pub account: Option<String>,
    /// The workerpool it concerns.
    pub workerpool: Option<String>,
    /// Its other fields.
    pub detail: serde_json::Value,
    /// Gas its transaction used.
    pub gas: Option<u64>,
    /// Who sent its transaction.
    pub sender: Option<String>,
}

/// A deal as matched on chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealRow {
    /// The deal id.
    pub deal_id: String,
    /// The app.
    pub app: String,
    /// The dataset (zero for none).
    pub dataset: String,
    /// The workerpool.
    pub workerpool: String,
    /// The workerpool's scheduler.
    pub scheduler: String,
    /// The requester.
    pub requester: String,
    /// Who the result is for.
    pub beneficiary: String,
    /// The callback contract (zero for none).
    pub callback: String,
    /// Category.
    pub category: u64,
    /// Trust.
    pub trust: u64,
    /// Number of tasks.
    pub volume: u64,
    /// App price per task (token units, decimal).
    pub app_price: String,
    /// Dataset price per task.
    pub dataset_price: String,
    /// Workerpool price per task.
    pub workerpool_price: String,
    /// Requirement tag.
    pub tag: String,
    /// The request's params.
    pub params: String,
    /// Block of the match.
    pub block: u64,
    /// Time of the match.
    pub time: u64,
    /// The match's transaction.
    pub tx: String,
}

/// A task as the chain says it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRow {
    /// The task id.
    pub task_id: String,
    /// Its deal.
    pub deal_id: String,
    /// Its index in the deal.
    pub index: u64,
    /// The deal's workerpool.
    pub workerpool: String,
    /// `ACTIVE`, `REVEALING`, `COMPLETED` or `FAILED`.
    pub status: String,
    /// Block of its initialization.
    pub block: u64,
    /// Time of its initialization.
    pub time: u64,
    /// Time of its last event.
    pub updated_time: u64,
    /// The consensus result hash, while revealing and after.
    pub consensus_hash: Option<String>,
    /// Where the certified result is.
    pub results_location: Option<String>,
    /// The callback data finalized (hex).
    pub callback_data: Option<String>,
    /// When it was completed or failed.
    pub final_time: Option<u64>,
}

/// One worker's replicate of a task, as its scheduler reported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicateRow {
    /// The task.
    pub task_id: String,
    /// The worker.
    pub worker: String,
    /// Its off-chain stage (`assigned`, `contributed`, `revealed`, `failed`, `rejected`, `lost`).
    pub status: String,
    /// Why it failed or was lost, or the app's deterministic failure (text from the scheduler).
    pub reason: Option<String>,
    /// Where the worker uploaded its result.
    pub results_location: Option<String>,
    /// The result hash it contributed.
    pub result_hash: Option<String>,
    /// Its weight in the vote.
    pub weight: Option<u64>,
    /// When it was assigned.
    pub assigned_at: u64,
    /// Its last change.
    pub updated_at: u64,
}

/// A registered app, dataset or workerpool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceRow {
    /// Its address (its id).
    pub address: String,
    /// `app`, `dataset` or `workerpool`.
    pub kind: String,
    /// Its owner (a workerpool's owner is its scheduler).
    pub owner: String,
    /// Its name (a workerpool's description).
    pub name: String,
    /// Where it is (apps and datasets).
    pub uri: String,
    /// Its checksum (apps and datasets).
    pub checksum: String,
    /// Block of its registration.
    pub block: u64,
    /// Time of its registration.
    pub time: u64,
    /// The registration's transaction.
    pub tx: String,
}

/// A worker's score after a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScorePoint {
    /// Block of the change.
    pub block: u64,
    /// Its time.
    pub time: u64,
    /// The score after it.
    pub score: u64,
    /// The task whose end changed it.
    pub task_id: String,
}

/// A worker's contribution and how its task ended for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContributionRow {
    /// The task.
    pub task_id: String,
    /// The task's status.
    pub status: String,
    /// When it contributed.
    pub time: u64,
    /// Whether it revealed (it won, once the task is completed).
    pub revealed: bool,
}

/// Counts for the overview.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Deals indexed.
    pub deals: u64,
    /// Tasks initialized.
    pub tasks: u64,
    /// Tasks completed.
    pub completed: u64,
    /// Tasks failed (claimed).
    pub failed: u64,
    /// Last block indexed.
    pub block: u64,
}

/// A page of rows and whether more follow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The page number, from 0.
    pub page: u64,
    /// Its rows.
    pub rows: Vec<T>,
    /// Whether a next page has rows.
    pub more: bool,
}

fn page_of<T>(page: u64, mut rows: Vec<T>) -> Page<T> {
    let more = rows.len() as u64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    Page { page, rows, more }
}

fn offset(page: u64) -> Result<(i64, i64), ExplorerError> {
    let offset = page
        .checked_mul(PAGE_SIZE)
        .and_then(|o| i64::try_from(o).ok())
        .ok_or_else(|| ExplorerError::BadRequest(format!("page {page} is too large")))?;
    Ok((PAGE_SIZE as i64 + 1, offset))
}

pub(crate) fn read_event(row: &AnyRow) -> Result<EventRow, ExplorerError> {
    let detail: String = row.try_get("detail")?;
    Ok(EventRow {
        block: column::uint(row, "block")?,
        log_index: column::uint(row, "log_index")?,
        tx: row.try_get("tx")?,
        time: column::uint(row, "time")?,
        kind: row.try_get("kind")?,
        task_id: row.try_get("task_id")?,
        deal_id: row.try_get("deal_id")?,
        account: row.try_get("account")?,
        workerpool: row.try_get("workerpool")?,
        detail: serde_json::from_str(&detail)
            .map_err(|_| ExplorerError::Corrupt(format!("events.detail = {detail:?}")))?,
        gas: column::uint_opt(row, "gas")?,
        sender: row.try_get("sender")?,
    })
}

fn read_deal(row: &AnyRow) -> Result<DealRow, ExplorerError> {
    Ok(DealRow {
        deal_id: row.try_get("deal_id")?,
        app: row.try_get("app")?,
        dataset: row.try_get("dataset")?,
        workerpool: row.try_get("workerpool")?,
        scheduler: row.try_get("scheduler")?,
        requester: row.try_get("requester")?,
        beneficiary: row.try_get("beneficiary")?,
        callback: row.try_get("callback")?,
        category: column::uint(row, "category")?,
        trust: column::uint(row, "trust")?,
        volume: column::uint(row, "volume")?,
        app_price: row.try_get("app_price")?,
        dataset_price: row.try_get("dataset_price")?,
        workerpool_price: row.try_get("workerpool_price")?,
        tag: row.try_get("tag")?,
        params: row.try_get("params")?,
        block: column::uint(row, "block")?,
        time: column::uint(row, "time")?,
        tx: row.try_get("tx")?,
    })
}

pub(crate) fn read_task(row: &AnyRow) -> Result<TaskRow, ExplorerError> {
    Ok(TaskRow {
        task_id: row.try_get("task_id")?,
        deal_id: row.try_get("deal_id")?,
        index: column::uint(row, "idx")?,
        workerpool: row.try_get("workerpool")?,
        status: row.try_get("status")?,
        block: column::uint(row, "block")?,
        time: column::uint(row, "time")?,
        updated_time: column::uint(row, "updated_time")?,
        consensus_hash: row.try_get("consensus_hash")?,
        results_location: row.try_get("results_location")?,
        callback_data: row.try_get("callback_data")?,
        final_time: column::uint_opt(row, "final_time")?,
    })
}

fn read_replicate(row: &AnyRow) -> Result<ReplicateRow, ExplorerError> {
    Ok(ReplicateRow {
        task_id: row.try_get("task_id")?,
        worker: row.try_get("worker")?,
        status: row.try_get("status")?,
        reason: row.try_get("reason")?,
        results_location: row.try_get("results_location")?,
        result_hash: row.try_get("result_hash")?,
        weight: column::uint_opt(row, "weight")?,
        assigned_at: column::uint(row, "assigned_at")?,
        updated_at: column::uint(row, "updated_at")?,
    })
}

fn read_resource(row: &AnyRow) -> Result<ResourceRow, ExplorerError> {
    Ok(ResourceRow {
        address: row.try_get("address")?,
        kind: row.try_get("kind")?,
        owner: row.try_get("owner")?,
        name: row.try_get("name")?,
        uri: row.try_get("uri")?,
        checksum: row.try_get("checksum")?,
        block: column::uint(row, "block")?,
        time: column::uint(row, "time")?,
        tx: row.try_get("tx")?,
    })
}

const TASK_COLUMNS: &str = "task_id, deal_id, idx, workerpool, status, block, time, updated_time, \
     consensus_hash, results_location, callback_data, final_time";

impl Store {
    /// Opens (or creates) the database at `url` and brings it to the current schema.
    pub async fn open(url: &str) -> Result<Self, ExplorerError> {
        let pool = decloud_sql::open(url, &MIGRATOR).await?;
        Ok(Self { pool })
    }

    /// The connection pool, for the indexer's transactions.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The follower's stored state (JSON), if it ran before.
    pub async fn follow_state(&self) -> Result<Option<String>, ExplorerError> {
        let row = sqlx::query("SELECT state FROM follow_state WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("state")).transpose()?)
    }

    /// The totals of the overview.
    pub async fn totals(&self) -> Result<Totals, ExplorerError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM deals) AS deals, (SELECT COUNT(*) FROM tasks) AS tasks, \
             (SELECT COUNT(*) FROM tasks WHERE status = 'COMPLETED') AS completed, \
             (SELECT COUNT(*) FROM tasks WHERE status = 'FAILED') AS failed, \
             (SELECT COALESCE(MAX(block), 0) FROM events) AS block",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Totals {
            deals: column::uint(&row, "deals")?,
            tasks: column::uint(&row, "tasks")?,
            completed: column::uint(&row, "completed")?,
            failed: column::uint(&row, "failed")?,
            block: column::uint(&row, "block")?,
        })
    }

    /// The latest events, newest first.
    pub async fn feed(&self, page: u64) -> Result<Page<EventRow>, ExplorerError> {
        let (limit, offset) = offset(page)?;
        let rows = decloud_sql::column::rows(
            sqlx::query(
                "SELECT * FROM events WHERE kind IN ('DealCreated', 'TaskInitialize', \
                 'TaskContribute', 'TaskConsensus', 'TaskReveal', 'TaskReopen', 'TaskFinalize', \
                 'TaskClaimed') ORDER BY block DESC, log_index DESC LIMIT $1 OFFSET $2",
            )
            .bind(limit)
            .bind(offset),
            read_event,
        )
        .all(&self.pool)
        .await?;
        Ok(page_of(page, rows))
    }

    /// Tasks completed per minute over the `minutes` minutes before `now` (oldest first), and
    /// the gas spent per minute on the hub's task and deal transactions.
    pub async fn per_minute(
        &self,
        now: u64,
        minutes: u64,
    ) -> Result<(Vec<u64>, Vec<u64>), ExplorerError> {
        let since = now.saturating_sub(minutes * 60);
        let since_i = column::bigint(since, "time")?;
        let mut tasks = vec![0u64; minutes as usize];
        let mut gas = vec![0u64; minutes as usize];
        // Both read the last hour through the time indexes only (a filter on the status, or a
        // GROUP BY over every transaction, would scan the whole table).
        let rows = sqlx::query(
            "SELECT (final_time - $1) / 60 AS m, \
             SUM(CASE WHEN status = 'COMPLETED' THEN 1 ELSE 0 END) AS n FROM tasks \
             WHERE final_time >= $1 GROUP BY (final_time - $1) / 60",
        )
        .bind(since_i)
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            let m: i64 = row.try_get("m")?;
            let n: Option<i64> = row.try_get("n")?;
            if let Some(slot) = usize::try_from(m).ok().and_then(|m| tasks.get_mut(m)) {
                *slot = n.unwrap_or_default().max(0) as u64;
            }
        }
        let rows =
            sqlx::query("SELECT time, tx, gas FROM events WHERE time >= $1 AND gas IS NOT NULL")
                .bind(since_i)
                .fetch_all(&self.pool)
                .await?;
        // One transaction's gas counts once, however many of its events were indexed.
        let mut seen = std::collections::BTreeSet::new();
        for row in rows {
            let tx: String = row.try_get("tx")?;
            if !seen.insert(tx) {
                continue;
            }
            let minute = (column::uint(&row, "time")?.saturating_sub(since) / 60) as usize;
            if let Some(slot) = gas.get_mut(minute) {
                *slot += column::uint(&row, "gas")?;
            }
        }
        Ok((tasks, gas))
    }

    /// One page of the rows `sql` selects for `key` (its `$1`; `$2` and `$3` take the page's
    /// limit and offset), each read by `read`.
    async fn page_by<T>(
        &self,
        sql: String,
        key: &str,
        page: u64,
        read: fn(&AnyRow) -> Result<T, ExplorerError>,
    ) -> Result<Page<T>, ExplorerError> {
        let (limit, offset) = offset(page)?;
        let rows = decloud_sql::column::rows(
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(key.to_owned())
                .bind(limit)
                .bind(offset),
            read,
        )
        .all(&self.pool)
        .await?;
        Ok(page_of(page, rows))
    }

    /// A deal.
    pub async fn deal(&self, deal_id: &str) -> Result<Option<DealRow>, ExplorerError> {
        decloud_sql::column::rows(
            sqlx::query("SELECT * FROM deals WHERE deal_id = $1").bind(deal_id.to_owned()),
            read_deal,
        )
        .optional(&self.pool)
        .await
    }

    /// Deals where `column` (`app`, `dataset`, `workerpool` or `requester`) is `address`,
    /// newest first.
    pub async fn deals_by(
        &self,
        column: DealColumn,
        address: &str,
        page: u64,
    ) -> Result<Page<DealRow>, ExplorerError> {
        let sql = format!(
            "SELECT * FROM deals WHERE {} = $1 ORDER BY block DESC, deal_id LIMIT $2 OFFSET $3",
            column.name()
        );
        self.page_by(sql, address, page, read_deal).await
    }

    /// The tasks of a deal, by index.
    pub async fn deal_tasks(
        &self,
        deal_id: &str,
        page: u64,
    ) -> Result<Page<TaskRow>, ExplorerError> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE deal_id = $1 ORDER BY idx LIMIT $2 OFFSET $3"
        );
        self.page_by(sql, deal_id, page, read_task).await
    }

    /// The tasks of a workerpool, newest first.
    pub async fn pool_tasks(&self, pool: &str, page: u64) -> Result<Page<TaskRow>, ExplorerError> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE workerpool = $1 \
             ORDER BY block DESC, task_id LIMIT $2 OFFSET $3"
        );
        self.page_by(sql, pool, page, read_task).await
    }

    /// A task.
    pub async fn task(&self, task_id: &str) -> Result<Option<TaskRow>, ExplorerError> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE task_id = $1");
        decloud_sql::column::rows(
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(task_id.to_owned()),
            read_task,
        )
        .optional(&self.pool)
        .await
    }

    /// The events about a task or a deal (`column` is `task_id` or `deal_id`), oldest first.
    pub async fn events_of(
        &self,
        column: EventColumn,
        id: &str,
        page: u64,
    ) -> Result<Page<EventRow>, ExplorerError> {
        let sql = format!(
            "SELECT * FROM events WHERE {} = $1 ORDER BY block, log_index LIMIT $2 OFFSET $3",
            column.name()
        );
        self.page_by(sql, id, page, read_event).await
    }

    /// The events naming `column` = `id`, newest first.
    pub async fn recent_events_of(
        &self,
        column: EventColumn,
        id: &str,
        page: u64,
    ) -> Result<Page<EventRow>, ExplorerError> {
        let sql = format!(
            "SELECT * FROM events WHERE {} = $1 ORDER BY block DESC, log_index DESC \
             LIMIT $2 OFFSET $3",
            column.name()
        );
        self.page_by(sql, id, page, read_event).await
    }

    /// Every event of a transaction.
    pub async fn tx_events(&self, tx: &str) -> Result<Vec<EventRow>, ExplorerError> {
        decloud_sql::column::rows(
            sqlx::query("SELECT * FROM events WHERE tx = $1 ORDER BY block, log_index LIMIT 200")
                .bind(tx.to_owned()),
            read_event,
        )
        .all(&self.pool)
        .await
    }

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

    /// A worker's failed or lost replicates, newest first.
    pub async fn worker_failures(
        &self,
        worker: &str,
        page: u64,
    ) -> Result<Page<ReplicateRow>, ExplorerError> {
        let (limit, offset) = offset(page)?;
        let rows = decloud_sql::column::rows(
            sqlx::query(
                "SELECT * FROM replicates WHERE worker = $1 AND status IN ('failed', 'lost', 'rejected') \
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

    /// A registered app, dataset or workerpool.
    pub async fn resource(&self, address: &str) -> Result<Option<ResourceRow>, ExplorerError> {
        decloud_sql::column::rows(
            sqlx::query("SELECT * FROM resources WHERE address = $1").bind(address.to_owned()),
            read_resource,
        )
        .optional(&self.pool)
        .await
    }

    /// A worker's score history, oldest first (the last 200 changes).
    pub async fn scores(&self, worker: &str) -> Result<Vec<ScorePoint>, ExplorerError> {
        let rows = sqlx::query(
            "SELECT block, time, score, task_id FROM scores WHERE worker = $1 \
             ORDER BY block DESC, log_index DESC LIMIT 200",
        )
        .bind(worker.to_owned())
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

    /// A worker's contributions, newest first, with whether it revealed.
    pub async fn contributions(
        &self,
        worker: &str,
        page: u64,
    ) -> Result<Page<ContributionRow>, ExplorerError> {
        let (limit, offset) = offset(page)?;
        let rows = sqlx::query(
            "SELECT c.task_id AS task_id, c.time AS time, COALESCE(t.status, 'ACTIVE') AS status, \
             (SELECT COUNT(*) FROM events r WHERE r.task_id = c.task_id AND r.account = c.account \
              AND r.kind = 'TaskReveal') AS revealed \
             FROM events c LEFT JOIN tasks t ON t.task_id = c.task_id \
             WHERE c.account = $1 AND c.kind = 'TaskContribute' \
             ORDER BY c.block DESC, c.log_index DESC LIMIT $2 OFFSET $3",
        )
        .bind(worker.to_owned())
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let rows = rows
            .iter()
            .map(|row| {
                Ok(ContributionRow {
                    task_id: row.try_get("task_id")?,
                    status: row.try_get("status")?,
                    time: column::uint(row, "time")?,
                    revealed: column::uint(row, "revealed")? > 0,
                })
            })
            .collect::<Result<Vec<_>, ExplorerError>>()?;
        Ok(page_of(page, rows))
    }

    /// How many tasks a worker won (revealed, completed) and lost (contributed, task ended,
    /// not revealed).
    pub async fn won_lost(&self, worker: &str) -> Result<(u64, u64), ExplorerError> {
        // One pass over its contributions and reveals (a lookup per contribution would cost
        // thousands of index searches for a busy worker).
        let row = sqlx::query(
            "SELECT \
             COALESCE(SUM(CASE WHEN c.kind = 'TaskContribute' THEN 1 ELSE 0 END), 0) AS ended, \
             COALESCE(SUM(CASE WHEN c.kind = 'TaskReveal' THEN 1 ELSE 0 END), 0) AS revealed, \
             COALESCE(SUM(CASE WHEN c.kind = 'TaskReveal' AND t.status = 'COMPLETED' \
               THEN 1 ELSE 0 END), 0) AS won \
             FROM events c JOIN tasks t ON t.task_id = c.task_id \
             WHERE c.account = $1 AND c.kind IN ('TaskContribute', 'TaskReveal') \
             AND t.status IN ('COMPLETED', 'FAILED')",
        )
        .bind(worker.to_owned())
        .fetch_one(&self.pool)
        .await?;
        let ended = column::uint(&row, "ended")?;
        let revealed = column::uint(&row, "revealed")?;
        Ok((column::uint(&row, "won")?, ended.saturating_sub(revealed)))
    }

    /// What `id` (lowercase `0x…`) is: a task, a deal, a transaction, a resource, a worker or
    /// a requester; the page path it has, if any.
    pub async fn resolve(&self, id: &str) -> Result<Option<String>, ExplorerError> {
        let exists = |sql: &'static str| {
            let id = id.to_owned();
            async move {
                Ok::<bool, ExplorerError>(
                    sqlx::query(sql)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?
                        .is_some(),
                )
            }
        };
        if id.len() == 66 {
            if exists("SELECT 1 FROM tasks WHERE task_id = $1").await? {
                return Ok(Some(format!("/task/{id}")));
            }
            if exists("SELECT 1 FROM deals WHERE deal_id = $1").await? {
                return Ok(Some(format!("/deal/{id}")));
            }
            if exists("SELECT 1 FROM events WHERE tx = $1 LIMIT 1").await? {
                return Ok(Some(format!("/tx/{id}")));
            }
            return Ok(None);
        }
        if let Some(r) = self.resource(id).await? {
            return Ok(Some(format!("/{}/{id}", r.kind)));
        }
        if exists(
            "SELECT 1 FROM events WHERE account = $1 AND kind IN ('TaskContribute', \
             'WorkerJoined', 'WorkerAdmitted') LIMIT 1",
        )
        .await?
            || exists("SELECT 1 FROM replicates WHERE worker = $1 LIMIT 1").await?
        {
            return Ok(Some(format!("/worker/{id}")));
        }
        if exists("SELECT 1 FROM deals WHERE requester = $1 LIMIT 1").await? {
            return Ok(Some(format!("/requester/{id}")));
        }
        Ok(None)
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
                     result_hash, weight, assigned_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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

/// A deal column a page lists deals by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DealColumn {
    /// By app.
    App,
    /// By dataset.
    Dataset,
    /// By workerpool.
    Workerpool,
    /// By requester.
    Requester,
}

impl DealColumn {
    fn name(self) -> &'static str {
        match self {
            Self::App => "app",
            Self::Dataset => "dataset",
            Self::Workerpool => "workerpool",
            Self::Requester => "requester",
        }
    }
}

/// An event column a page lists events by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventColumn {
    /// By task.
    Task,
    /// By deal.
    Deal,
    /// By account named.
    Account,
    /// By workerpool.
    Workerpool,
}

impl EventColumn {
    fn name(self) -> &'static str {
        match self {
            Self::Task => "task_id",
            Self::Deal => "deal_id",
            Self::Account => "account",
            Self::Workerpool => "workerpool",
        }
    }
}
