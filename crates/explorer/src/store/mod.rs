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

mod rows;
mod trace;
pub(crate) mod workers;

pub use rows::*;
pub use workers::{Keyset, SCORE_POINTS, WorkerRow, parse_before};

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

    /// A registered app, dataset or workerpool.
    pub async fn resource(&self, address: &str) -> Result<Option<ResourceRow>, ExplorerError> {
        decloud_sql::column::rows(
            sqlx::query("SELECT * FROM resources WHERE address = $1").bind(address.to_owned()),
            read_resource,
        )
        .optional(&self.pool)
        .await
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
