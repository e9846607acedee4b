//! The scheduler's storage: workers and their sessions, deals and their tasks, the replicates
//! handed to workers, the app/dataset locations read from the registries' events, and the chain
//! follower's cursor. The same SQL runs on SQLite (embedded, the default) and Postgres (by URL).
//!
//! Every write commits before the caller acknowledges anything, so a restart loses nothing.

use std::fmt;
use std::str::FromStr;

use alloy::primitives::{Address, B256};
use alloy::sol_types::SolValue;
use decloud_protocol::typed::Deal;
use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::SchedulerError;

const MIGRATION: &str = include_str!("../migrations/0001_scheduler.sql");

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// The name stored in the database and shown by the API.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = SchedulerError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(SchedulerError::Corrupt(format!(
                        concat!("unknown ", stringify!($name), " {:?}"),
                        other
                    ))),
                }
            }
        }
    };
}

text_enum!(
    /// Whether a worker is considered alive.
    WorkerStatus {
        /// It sent a heartbeat recently.
        Active => "active",
        /// It missed its heartbeats; its assigned work went to others.
        Lost => "lost",
    }
);

/// A task's on-chain status, as the follower last saw it.
pub use decloud_protocol::TaskStatus;

text_enum!(
    /// The off-chain stage of one worker's replicate of a task.
    ReplicateStatus {
        /// Handed to the worker with an authorization; not contributed yet.
        Assigned => "assigned",
        /// The worker's contribution is on chain (or the worker said it sent it).
        Contributed => "contributed",
        /// The worker revealed its result on chain.
        Revealed => "revealed",
        /// The worker gave up on it, with a reason.
        Failed => "failed",
        /// Its result reached consensus but no member of the group revealed in time: the
        /// group was rejected by a reopen and its stake is lost.
        Rejected => "rejected",
        /// The worker stopped sending heartbeats while it held this replicate.
        Lost => "lost",
    }
);

/// A registered worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// A deal of the scheduler's workerpool, as emitted in `DealCreated`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DealRow {
    /// The deal id.
    pub deal_id: B256,
    /// The deal, passed back to every task call of the hub.
    pub deal: Deal,
    /// The request's params (JSON text chosen by the requester).
    pub params: String,
    /// Block of the `DealCreated` event.
    pub block_number: u64,
    /// Timestamp of that block (the deal's start).
    pub start_time: u64,
}

impl DealRow {
    /// The deal's trust (`≤ 1`: one contribution suffices).
    pub fn trust(&self) -> u64 {
        u64::try_from(self.deal.trust).unwrap_or(u64::MAX)
    }

    /// Number of tasks of the deal.
    pub fn volume(&self) -> u64 {
        u64::try_from(self.deal.volume).unwrap_or(u64::MAX)
    }
}

/// A task of a deal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRow {
    /// `keccak(dealid, index)`.
    pub task_id: B256,
    /// Its deal.
    pub deal_id: B256,
    /// Its index in the deal.
    pub index: u64,
    /// On-chain status.
    pub status: TaskStatus,
    /// The result hash that reached consensus, while revealing and after.
    pub consensus_hash: Option<B256>,
    /// Block timestamp of the consensus.
    pub consensus_at: Option<u64>,
    /// Where the certified result is, once finalized.
    pub results_location: Option<String>,
    /// Why the scheduler stopped handing the task out (too many failed replicates, a deadline
    /// passed...); the requester can claim it after its final deadline.
    pub given_up: Option<String>,
}

/// One worker's replicate of a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicateRow {
    /// The task.
    pub task_id: B256,
    /// The worker.
    pub worker: Address,
    /// Its off-chain stage.
    pub status: ReplicateStatus,
    /// The result hash it contributed, once on chain.
    pub result_hash: Option<B256>,
    /// Its weight in the vote (replicated tasks), once contributed.
    pub weight: Option<u64>,
    /// Why it failed or was lost, or the app's deterministic failure it contributed.
    pub reason: Option<String>,
    /// Where the worker uploaded its result (reported with its reveal).
    pub results_location: Option<String>,
    /// The app's callback data (reported with the reveal, for deals with a callback).
    pub callback_data: Option<alloy::primitives::Bytes>,
    /// When it was assigned.
    pub assigned_at: u64,
    /// Last change.
    pub updated_at: u64,
}

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

pub use decloud_protocol::pool::Resource;

/// The scheduler's database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
}

fn parse<T: FromStr>(row: &AnyRow, column: &str) -> Result<T, SchedulerError> {
    let text: String = row.try_get(column)?;
    text.parse()
        .map_err(|_| SchedulerError::Corrupt(format!("{column} = {text:?}")))
}

fn parse_opt<T: FromStr>(row: &AnyRow, column: &str) -> Result<Option<T>, SchedulerError> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| {
        t.parse()
            .map_err(|_| SchedulerError::Corrupt(format!("{column} = {t:?}")))
    })
    .transpose()
}

fn int(row: &AnyRow, column: &str) -> Result<u64, SchedulerError> {
    let v: i64 = row.try_get(column)?;
    u64::try_from(v).map_err(|_| SchedulerError::Corrupt(format!("{column} = {v}")))
}

fn int_opt(row: &AnyRow, column: &str) -> Result<Option<u64>, SchedulerError> {
    let v: Option<i64> = row.try_get(column)?;
    v.map(|v| u64::try_from(v).map_err(|_| SchedulerError::Corrupt(format!("{column} = {v}"))))
        .transpose()
}

/// `value` as a SQL BIGINT; values beyond `i64::MAX` are refused.
pub(crate) fn sql_int(value: u64, what: &str) -> Result<i64, SchedulerError> {
    i64::try_from(value).map_err(|_| {
        SchedulerError::BadRequest(format!(
            "{what} {value} is too large (at most {})",
            i64::MAX
        ))
    })
}

/// `url` without its password, for error messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl Store {
    /// Opens (creating if needed) the database at `url` — `sqlite://path/scheduler.db` or
    /// `postgres://...` — and applies the schema.
    pub async fn open(url: &str) -> Result<Self, SchedulerError> {
        sqlx::any::install_default_drivers();
        let url = if url.starts_with("sqlite:") && !url.contains('?') {
            format!("{url}?mode=rwc")
        } else {
            url.to_owned()
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if url.starts_with("sqlite:") { 1 } else { 8 })
            .connect(&url)
            .await
            .map_err(|e| {
                SchedulerError::Database(format!(
                    "cannot open {}: {e}; check --scheduler-db",
                    redact(&url)
                ))
            })?;
        if url.starts_with("sqlite:") {
            // Readers don't wait for the writer, and a commit costs one sync of the log.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        for statement in MIGRATION
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            sqlx::query(statement).execute(&pool).await?;
        }
        Ok(Self { pool })
    }

    // ---- chain cursor ----

    /// The last block the follower fully processed and its hash, if any.
    pub async fn cursor(&self) -> Result<Option<(u64, B256)>, SchedulerError> {
        let row = sqlx::query("SELECT block, hash FROM cursor WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((int(&r, "block")?, parse(&r, "hash")?)))
            .transpose()
    }

    /// Stores the follower's cursor (after the block range's effects are stored).
    pub async fn set_cursor(&self, block: u64, hash: B256) -> Result<(), SchedulerError> {
        sqlx::query(
            "INSERT INTO cursor (id, block, hash) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET block = $1, hash = $2",
        )
        .bind(sql_int(block, "block")?)
        .bind(hash.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // ---- deals and tasks ----

    /// Stores a deal and its tasks (status unset) in one transaction. Storing a deal already
    /// known changes nothing and returns false.
    pub async fn insert_deal(&self, deal: &DealRow) -> Result<bool, SchedulerError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO deals (dealid, deal, params, trust, volume, block_number, start_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (dealid) DO NOTHING",
        )
        .bind(deal.deal_id.to_string())
        .bind(hex::encode(deal.deal.abi_encode()))
        .bind(deal.params.clone())
        .bind(sql_int(deal.trust(), "trust")?)
        .bind(sql_int(deal.volume(), "volume")?)
        .bind(sql_int(deal.block_number, "block")?)
        .bind(sql_int(deal.start_time, "start time")?)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            for index in 0..deal.volume() {
                sqlx::query(
                    "INSERT INTO tasks (taskid, dealid, idx, status, updated_block) \
                     VALUES ($1, $2, $3, 'unset', $4) ON CONFLICT (taskid) DO NOTHING",
                )
                .bind(decloud_protocol::task_id(deal.deal_id, index).to_string())
                .bind(deal.deal_id.to_string())
                .bind(sql_int(index, "index")?)
                .bind(sql_int(deal.block_number, "block")?)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(inserted)
    }

    fn deal_row(row: &AnyRow) -> Result<DealRow, SchedulerError> {
        let encoded: String = row.try_get("deal")?;
        let bytes =
            hex::decode(&encoded).map_err(|_| SchedulerError::Corrupt("deal encoding".into()))?;
        let deal = Deal::abi_decode(&bytes)
            .map_err(|e| SchedulerError::Corrupt(format!("deal encoding: {e}")))?;
        Ok(DealRow {
            deal_id: parse(row, "dealid")?,
            deal,
            params: row.try_get("params")?,
            block_number: int(row, "block_number")?,
            start_time: int(row, "start_time")?,
        })
    }

    /// The deal with this id, if known.
    pub async fn deal(&self, deal_id: B256) -> Result<Option<DealRow>, SchedulerError> {
        let row = sqlx::query("SELECT * FROM deals WHERE dealid = $1")
            .bind(deal_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Self::deal_row(&r)).transpose()
    }

    /// Every known deal, oldest first.
    pub async fn deals(&self) -> Result<Vec<DealRow>, SchedulerError> {
        let rows = sqlx::query("SELECT * FROM deals ORDER BY block_number, dealid")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::deal_row).collect()
    }

    /// Ids of the deals created after block `block`.
    pub async fn deals_after(&self, block: u64) -> Result<Vec<B256>, SchedulerError> {
        let rows = sqlx::query("SELECT dealid FROM deals WHERE block_number > $1")
            .bind(sql_int(block, "block")?)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| parse(r, "dealid")).collect()
    }

    /// Forgets a deal a reorg removed from the chain, with its tasks, unless work was already
    /// handed out for it (then it is kept, and the follower logs it). Returns whether it was
    /// removed.
    pub async fn forget_deal(&self, deal_id: B256) -> Result<bool, SchedulerError> {
        let mut tx = self.pool.begin().await?;
        let busy: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM replicates r JOIN tasks t ON r.taskid = t.taskid \
             WHERE t.dealid = $1",
        )
        .bind(deal_id.to_string())
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if busy > 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM tasks WHERE dealid = $1")
            .bind(deal_id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM deals WHERE dealid = $1")
            .bind(deal_id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    fn task_row(row: &AnyRow) -> Result<TaskRow, SchedulerError> {
        Ok(TaskRow {
            task_id: parse(row, "taskid")?,
            deal_id: parse(row, "dealid")?,
            index: int(row, "idx")?,
            status: parse(row, "status")?,
            consensus_hash: parse_opt(row, "consensus_hash")?,
            consensus_at: int_opt(row, "consensus_at")?,
            results_location: row.try_get("results_location")?,
            given_up: row.try_get("given_up")?,
        })
    }

    /// The task with this id, if it belongs to a known deal.
    pub async fn task(&self, task_id: B256) -> Result<Option<TaskRow>, SchedulerError> {
        let row = sqlx::query("SELECT * FROM tasks WHERE taskid = $1")
            .bind(task_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Self::task_row(&r)).transpose()
    }

    /// The tasks of a deal, in index order.
    pub async fn tasks_of(&self, deal_id: B256) -> Result<Vec<TaskRow>, SchedulerError> {
        let rows = sqlx::query("SELECT * FROM tasks WHERE dealid = $1 ORDER BY idx")
            .bind(deal_id.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::task_row).collect()
    }

    /// Tasks that may still take contributions (unset or active), oldest deal first, at most
    /// `limit`.
    pub async fn open_tasks(&self, limit: u32) -> Result<Vec<TaskRow>, SchedulerError> {
        let rows = sqlx::query(
            "SELECT t.* FROM tasks t JOIN deals d ON t.dealid = d.dealid \
             WHERE t.status IN ('unset', 'active') AND t.given_up IS NULL \
             ORDER BY d.block_number, t.dealid, t.idx LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::task_row).collect()
    }

    /// Open tasks a claim by `worker` may get, oldest deal first, at most `limit`: those it holds
    /// no replicate of, and, for deals of trust ≤ 1, only those nobody is computing (so a
    /// trust-1 candidate needs no further check; a replicated one still goes through the
    /// replica policy). `Address::ZERO` as `worker` leaves out no task.
    pub async fn claim_candidates(
        &self,
        worker: Address,
        limit: u32,
    ) -> Result<Vec<TaskRow>, SchedulerError> {
        // Deal by deal, oldest first, walking each one's open tasks in index order (a partial
        // index holds only those): a claim costs the replicates in flight, not the deal's size.
        let deals = sqlx::query(
            "SELECT d.dealid, d.trust FROM deals d WHERE EXISTS (SELECT 1 FROM tasks t \
             WHERE t.dealid = d.dealid AND t.status IN ('unset', 'active') AND t.given_up IS NULL) \
             ORDER BY d.block_number, d.dealid",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for deal in &deals {
            let left = i64::from(limit) - out.len() as i64;
            if left <= 0 {
                break;
            }
            let deal_id: String = deal.try_get("dealid")?;
            let trust: i64 = deal.try_get("trust")?;
            let rows = sqlx::query(
                "SELECT t.* FROM tasks t WHERE t.dealid = $1 \
                 AND t.status IN ('unset', 'active') AND t.given_up IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM replicates r WHERE r.taskid = t.taskid AND r.worker = $2) \
                 AND ($3 > 1 OR NOT EXISTS (SELECT 1 FROM replicates r WHERE r.taskid = t.taskid \
                      AND r.status IN ('assigned', 'contributed', 'revealed'))) \
                 ORDER BY t.idx LIMIT $4",
            )
            .bind(deal_id)
            .bind(worker.to_string())
            .bind(trust)
            .bind(left)
            .fetch_all(&self.pool)
            .await?;
            for row in &rows {
                out.push(Self::task_row(row)?);
            }
        }
        Ok(out)
    }

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

    // ---- replicates ----

    fn replicate_row(row: &AnyRow) -> Result<ReplicateRow, SchedulerError> {
        Ok(ReplicateRow {
            task_id: parse(row, "taskid")?,
            worker: parse(row, "worker")?,
            status: parse(row, "status")?,
            result_hash: parse_opt(row, "result_hash")?,
            weight: int_opt(row, "weight")?,
            reason: row.try_get("reason")?,
            results_location: row.try_get("results_location")?,
            callback_data: parse_opt(row, "callback_data")?,
            assigned_at: int(row, "assigned_at")?,
            updated_at: int(row, "updated_at")?,
        })
    }

    /// The replicates of a task, oldest assignment first.
    pub async fn replicates(&self, task_id: B256) -> Result<Vec<ReplicateRow>, SchedulerError> {
        let rows =
            sqlx::query("SELECT * FROM replicates WHERE taskid = $1 ORDER BY assigned_at, worker")
                .bind(task_id.to_string())
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(Self::replicate_row).collect()
    }

    /// The replicates a worker holds in `status`.
    pub async fn replicates_of(
        &self,
        worker: Address,
        status: ReplicateStatus,
    ) -> Result<Vec<ReplicateRow>, SchedulerError> {
        let rows = sqlx::query(
            "SELECT * FROM replicates WHERE worker = $1 AND status = $2 ORDER BY assigned_at",
        )
        .bind(worker.to_string())
        .bind(status.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::replicate_row).collect()
    }

    /// Hands `task_id` to `worker`. Returns false if the worker already has a replicate of it.
    pub async fn assign(
        &self,
        task_id: B256,
        worker: Address,
        now: u64,
    ) -> Result<bool, SchedulerError> {
        let now = sql_int(now, "time")?;
        let result = sqlx::query(
            "INSERT INTO replicates (taskid, worker, status, assigned_at, updated_at) \
             VALUES ($1, $2, 'assigned', $3, $3) ON CONFLICT (taskid, worker) DO NOTHING",
        )
        .bind(task_id.to_string())
        .bind(worker.to_string())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// A worker's own report on its replicate (the chain events, applied by the follower, stay
    /// the authority on contributions and reveals):
    ///
    /// - `failed` (with a reason): only an assigned replicate fails;
    /// - `contributed`: an assigned replicate is contributed; `reason` (the app's deterministic
    ///   failure, if any) is kept;
    /// - `revealed`: stores where the result is and its callback data (an assigned replicate,
    ///   contributed and revealed at once at trust ≤ 1, becomes contributed until the follower
    ///   sees the reveal).
    ///
    /// Returns whether the replicate changed.
    pub async fn report(
        &self,
        task_id: B256,
        worker: Address,
        report: &decloud_protocol::pool::Report,
        now: u64,
    ) -> Result<bool, SchedulerError> {
        use decloud_protocol::pool::ReportStatus;
        let now = sql_int(now, "time")?;
        let task = task_id.to_string();
        let worker = worker.to_string();
        let result = match report.status {
            ReportStatus::Failed => {
                sqlx::query(
                    "UPDATE replicates SET status = 'failed', reason = $1, updated_at = $2 \
                     WHERE taskid = $3 AND worker = $4 AND status = 'assigned'",
                )
                .bind(report.reason.clone())
                .bind(now)
                .bind(task)
                .bind(worker)
                .execute(&self.pool)
                .await?
            }
            ReportStatus::Contributed => {
                sqlx::query(
                    "UPDATE replicates SET \
                     status = CASE WHEN status = 'assigned' THEN 'contributed' ELSE status END, \
                     reason = $1, updated_at = $2 WHERE taskid = $3 AND worker = $4 \
                     AND status IN ('assigned', 'contributed', 'revealed')",
                )
                .bind(report.reason.clone())
                .bind(now)
                .bind(task)
                .bind(worker)
                .execute(&self.pool)
                .await?
            }
            ReportStatus::Revealed => {
                sqlx::query(
                    "UPDATE replicates SET \
                     status = CASE WHEN status = 'assigned' THEN 'contributed' ELSE status END, \
                     results_location = $1, callback_data = $2, updated_at = $3, \
                     reason = COALESCE($6, reason) \
                     WHERE taskid = $4 AND worker = $5 \
                     AND status IN ('assigned', 'contributed', 'revealed')",
                )
                .bind(report.results_location.clone())
                .bind(report.callback_data.as_ref().map(|b| b.to_string()))
                .bind(now)
                .bind(task)
                .bind(worker)
                .bind(report.reason.clone())
                .execute(&self.pool)
                .await?
            }
        };
        Ok(result.rows_affected() == 1)
    }

    /// Tasks in `status`, oldest deal first, at most `limit`.
    pub async fn tasks_in(
        &self,
        status: TaskStatus,
        limit: u32,
    ) -> Result<Vec<TaskRow>, SchedulerError> {
        let rows = sqlx::query(
            "SELECT t.* FROM tasks t JOIN deals d ON t.dealid = d.dealid \
             WHERE t.status = $1 ORDER BY d.block_number, t.dealid, t.idx LIMIT $2",
        )
        .bind(status.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::task_row).collect()
    }

    /// Tasks the scheduler gave up before anyone contributed (still uninitialized on chain).
    pub async fn given_up_unstarted(&self, limit: u32) -> Result<Vec<TaskRow>, SchedulerError> {
        let rows = sqlx::query(
            "SELECT * FROM tasks WHERE given_up IS NOT NULL AND status = 'unset' LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::task_row).collect()
    }

    /// Stops handing `task_id` out, with the reason shown to the requester. The first reason
    /// stays.
    pub async fn give_up(&self, task_id: B256, reason: &str) -> Result<(), SchedulerError> {
        sqlx::query("UPDATE tasks SET given_up = $1 WHERE taskid = $2 AND given_up IS NULL")
            .bind(reason.to_owned())
            .bind(task_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Number of replicates `worker` holds that are not contributed yet.
    pub async fn assigned_count(&self, worker: Address) -> Result<u64, SchedulerError> {
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM replicates r JOIN tasks t ON r.taskid = t.taskid \
             WHERE r.worker = $1 AND r.status = 'assigned' AND t.status IN ('unset', 'active')",
        )
        .bind(worker.to_string())
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    // ---- resources ----

    /// Stores where an app or dataset is (from its registration event).
    pub async fn put_resource(&self, r: &Resource) -> Result<(), SchedulerError> {
        sqlx::query(
            "INSERT INTO resources (address, kind, name, uri, checksum) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (address) DO NOTHING",
        )
        .bind(r.address.to_string())
        .bind(r.kind.clone())
        .bind(r.name.clone())
        .bind(r.uri.clone())
        .bind(r.checksum.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The app or dataset with this id, if its registration was read.
    pub async fn resource(&self, address: Address) -> Result<Option<Resource>, SchedulerError> {
        let row = sqlx::query("SELECT * FROM resources WHERE address = $1")
            .bind(address.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(Resource {
                address: parse(&r, "address")?,
                kind: r.try_get("kind")?,
                name: r.try_get("name")?,
                uri: r.try_get("uri")?,
                checksum: parse(&r, "checksum")?,
            })
        })
        .transpose()
    }

    // ---- workers, challenges and sessions ----

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

    async fn upsert_worker_on(
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

    /// Stores a login challenge valid until `deadline` ([`Store::purge_expired`] drops old
    /// ones).
    pub async fn insert_challenge(&self, nonce: &str, deadline: u64) -> Result<(), SchedulerError> {
        sqlx::query("INSERT INTO challenges (nonce, deadline) VALUES ($1, $2)")
            .bind(nonce.to_owned())
            .bind(sql_int(deadline, "deadline")?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Consumes a challenge: true once for a stored, unexpired `(nonce, deadline)`, false after.
    pub async fn take_challenge(
        &self,
        nonce: &str,
        deadline: u64,
        now: u64,
    ) -> Result<bool, SchedulerError> {
        let mut conn = self.pool.acquire().await?;
        Self::take_challenge_on(&mut conn, nonce, deadline, now).await
    }

    async fn take_challenge_on(
        conn: &mut sqlx::AnyConnection,
        nonce: &str,
        deadline: u64,
        now: u64,
    ) -> Result<bool, SchedulerError> {
        let result = sqlx::query(
            "DELETE FROM challenges WHERE nonce = $1 AND deadline = $2 AND deadline >= $3",
        )
        .bind(nonce.to_owned())
        .bind(sql_int(deadline, "deadline")?)
        .bind(sql_int(now, "time")?)
        .execute(conn)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Completes a login in one transaction: consumes the challenge `(nonce, deadline)` (false,
    /// and nothing changes, when it is unknown, used or expired), registers or updates the
    /// worker, and stores its session (by the token's hash).
    #[allow(clippy::too_many_arguments)]
    pub async fn complete_login(
        &self,
        nonce: &str,
        deadline: u64,
        now: u64,
        worker: Address,
        capacity: u64,
        score: u64,
        token_hash: &str,
        expires_at: u64,
    ) -> Result<bool, SchedulerError> {
        let mut tx = self.pool.begin().await?;
        if !Self::take_challenge_on(&mut tx, nonce, deadline, now).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        Self::upsert_worker_on(&mut tx, worker, capacity, score, now).await?;
        Self::insert_session_on(&mut tx, token_hash, worker, expires_at).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Drops expired challenges and sessions.
    pub async fn purge_expired(&self, now: u64) -> Result<(), SchedulerError> {
        let mut tx = self.pool.begin().await?;
        for statement in [
            "DELETE FROM challenges WHERE deadline < $1",
            "DELETE FROM sessions WHERE expires_at < $1",
        ] {
            sqlx::query(statement)
                .bind(sql_int(now, "time")?)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stores a session (by the hash of its token: the token itself is never stored).
    pub async fn insert_session(
        &self,
        token_hash: &str,
        worker: Address,
        expires_at: u64,
    ) -> Result<(), SchedulerError> {
        let mut conn = self.pool.acquire().await?;
        Self::insert_session_on(&mut conn, token_hash, worker, expires_at).await
    }

    async fn insert_session_on(
        conn: &mut sqlx::AnyConnection,
        token_hash: &str,
        worker: Address,
        expires_at: u64,
    ) -> Result<(), SchedulerError> {
        sqlx::query("INSERT INTO sessions (token_hash, worker, expires_at) VALUES ($1, $2, $3)")
            .bind(token_hash.to_owned())
            .bind(worker.to_string())
            .bind(sql_int(expires_at, "expiry")?)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// The worker of an unexpired session.
    pub async fn session_worker(
        &self,
        token_hash: &str,
        now: u64,
    ) -> Result<Option<Address>, SchedulerError> {
        Ok(self.session(token_hash, now).await?.map(|(w, _)| w))
    }

    /// The worker and expiry of an unexpired session.
    pub async fn session(
        &self,
        token_hash: &str,
        now: u64,
    ) -> Result<Option<(Address, u64)>, SchedulerError> {
        let row = sqlx::query(
            "SELECT worker, expires_at FROM sessions WHERE token_hash = $1 AND expires_at >= $2",
        )
        .bind(token_hash.to_owned())
        .bind(sql_int(now, "time")?)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((parse(&r, "worker")?, int(&r, "expires_at")?)))
            .transpose()
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

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::U256;
    use decloud_protocol::pool::{Report, ReportStatus};

    async fn store() -> (tempfile::TempDir, String, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("scheduler.db").display());
        let store = Store::open(&url).await.unwrap();
        (dir, url, store)
    }

    fn deal(volume: u64, trust: u64) -> DealRow {
        let deal = Deal {
            requestHash: B256::repeat_byte(volume as u8),
            volume: U256::from(volume),
            trust: U256::from(trust),
            app: Address::repeat_byte(0xa),
            ..Default::default()
        };
        DealRow {
            deal_id: decloud_protocol::ids::deal_id_of(&deal),
            deal,
            params: r#"{"args":"x"}"#.into(),
            block_number: 7,
            start_time: 1000,
        }
    }

    #[tokio::test]
    async fn deals_tasks_and_cursor_survive_a_reopen() {
        let (_dir, url, store) = store().await;
        assert_eq!(store.cursor().await.unwrap(), None);
        let d = deal(3, 5);
        assert!(store.insert_deal(&d).await.unwrap());
        assert!(!store.insert_deal(&d).await.unwrap(), "stored once");
        store.set_cursor(9, B256::repeat_byte(9)).await.unwrap();
        drop(store);
        let store = Store::open(&url).await.unwrap();
        assert_eq!(
            store.cursor().await.unwrap(),
            Some((9, B256::repeat_byte(9)))
        );
        assert_eq!(store.deal(d.deal_id).await.unwrap().unwrap(), d);
        let tasks = store.tasks_of(d.deal_id).await.unwrap();
        assert_eq!(tasks.len(), 3);
        assert_eq!(
            tasks[2].task_id,
            decloud_protocol::task_id(d.deal_id, 2),
            "task ids are the hub's"
        );
        assert!(tasks.iter().all(|t| t.status == TaskStatus::Unset));
        assert_eq!(store.open_tasks(10).await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn replicate_lifecycle() {
        let (_dir, _url, store) = store().await;
        replicate_lifecycle_on(&store).await;
    }

    async fn replicate_lifecycle_on(store: &Store) {
        let d = deal(1, 5);
        store.insert_deal(&d).await.unwrap();
        let task = decloud_protocol::task_id(d.deal_id, 0);
        let (w1, w2) = (Address::repeat_byte(1), Address::repeat_byte(2));
        store.upsert_worker(w1, 2, 0, 100).await.unwrap();
        store.upsert_worker(w2, 1, 0, 100).await.unwrap();
        assert!(store.assign(task, w1, 100).await.unwrap());
        assert!(
            !store.assign(task, w1, 101).await.unwrap(),
            "once per worker"
        );
        assert!(store.assign(task, w2, 100).await.unwrap());
        assert_eq!(store.assigned_count(w1).await.unwrap(), 1);

        // w2 fails with a reason; a second report changes nothing.
        let failed = Report {
            status: ReportStatus::Failed,
            reason: Some("download failed".into()),
            results_location: None,
            callback_data: None,
        };
        assert!(store.report(task, w2, &failed, 102).await.unwrap());
        let contributed = Report {
            status: ReportStatus::Contributed,
            reason: None,
            results_location: None,
            callback_data: None,
        };
        assert!(!store.report(task, w2, &contributed, 103).await.unwrap());
        // The chain says w1 contributed, then revealed; a replayed contribution keeps the reveal.
        let h = B256::repeat_byte(0x77);
        store
            .record_contribution(task, w1, h, Some(2), 104)
            .await
            .unwrap();
        store.record_reveal(task, w1, 105).await.unwrap();
        store
            .record_contribution(task, w1, h, Some(2), 106)
            .await
            .unwrap();
        let reps = store.replicates(task).await.unwrap();
        assert_eq!(reps[0].worker, w1);
        assert_eq!(reps[0].status, ReplicateStatus::Revealed);
        assert_eq!(reps[0].result_hash, Some(h));
        assert_eq!(reps[1].status, ReplicateStatus::Failed);
        assert_eq!(reps[1].reason.as_deref(), Some("download failed"));

        // Consensus, reopen, finalize.
        store.set_consensus(task, h, 200, 10).await.unwrap();
        assert_eq!(
            store.task(task).await.unwrap().unwrap().status,
            TaskStatus::Revealing
        );
        store.reopen(task, h, 300, 11).await.unwrap();
        let t = store.task(task).await.unwrap().unwrap();
        assert_eq!((t.status, t.consensus_hash), (TaskStatus::Active, None));
        assert_eq!(
            store.replicates(task).await.unwrap()[0].status,
            ReplicateStatus::Rejected
        );
        store.set_finalized(task, "ipfs://x", 12).await.unwrap();
        store
            .set_task_status(task, TaskStatus::Active, 13)
            .await
            .unwrap();
        let t = store.task(task).await.unwrap().unwrap();
        assert_eq!(t.status, TaskStatus::Completed, "a final status stays");
        assert_eq!(t.results_location.as_deref(), Some("ipfs://x"));
    }

    #[tokio::test]
    async fn a_reveal_report_keeps_the_location_and_a_given_up_task_is_not_handed_out() {
        let (_dir, _url, store) = store().await;
        a_reveal_report_keeps_the_location_and_a_given_up_task_is_not_handed_out_on(&store).await;
    }

    async fn a_reveal_report_keeps_the_location_and_a_given_up_task_is_not_handed_out_on(
        store: &Store,
    ) {
        let d = deal(2, 1);
        store.insert_deal(&d).await.unwrap();
        let (t0, t1) = (
            decloud_protocol::task_id(d.deal_id, 0),
            decloud_protocol::task_id(d.deal_id, 1),
        );
        let w = Address::repeat_byte(1);
        store.upsert_worker(w, 2, 0, 100).await.unwrap();
        let revealed = Report {
            status: ReportStatus::Revealed,
            reason: None,
            results_location: Some("http://storage/blobs/ab".into()),
            callback_data: Some(alloy::primitives::Bytes::from_static(b"\x01\x02")),
        };
        assert!(
            !store.report(t0, w, &revealed, 101).await.unwrap(),
            "no replicate: nothing to report on"
        );
        store.assign(t0, w, 100).await.unwrap();
        assert!(store.report(t0, w, &revealed, 101).await.unwrap());
        let r = &store.replicates(t0).await.unwrap()[0];
        assert_eq!(
            r.status,
            ReplicateStatus::Contributed,
            "until the chain says revealed"
        );
        assert_eq!(
            r.results_location.as_deref(),
            Some("http://storage/blobs/ab")
        );
        assert_eq!(
            r.callback_data.as_ref().map(|b| b.to_vec()),
            Some(vec![1u8, 2])
        );
        assert_eq!(store.assigned_count(w).await.unwrap(), 0);

        store.give_up(t1, "three workers failed").await.unwrap();
        store.give_up(t1, "another reason").await.unwrap();
        let t = store.task(t1).await.unwrap().unwrap();
        assert_eq!(t.given_up.as_deref(), Some("three workers failed"));
        let open: Vec<B256> = store
            .open_tasks(10)
            .await
            .unwrap()
            .iter()
            .map(|t| t.task_id)
            .collect();
        assert_eq!(open, vec![t0]);
        store
            .set_consensus(t0, B256::repeat_byte(5), 150, 9)
            .await
            .unwrap();
        let revealing = store.tasks_in(TaskStatus::Revealing, 10).await.unwrap();
        assert_eq!(revealing.len(), 1);
        assert_eq!(revealing[0].task_id, t0);
    }

    #[tokio::test]
    async fn lost_workers_release_their_assignments() {
        let (_dir, _url, store) = store().await;
        lost_workers_release_their_assignments_on(&store).await;
    }

    #[tokio::test]
    async fn heartbeats_flushed_together_keep_workers_alive() {
        let (_dir, _url, store) = store().await;
        let (w1, w2) = (Address::repeat_byte(1), Address::repeat_byte(2));
        store.upsert_worker(w1, 1, 0, 100).await.unwrap();
        store.upsert_worker(w2, 1, 0, 100).await.unwrap();
        store
            .record_heartbeats(&[(w1, 500), (w2, 90)])
            .await
            .unwrap();
        assert_eq!(store.worker(w1).await.unwrap().unwrap().last_heartbeat, 500);
        assert_eq!(
            store.worker(w2).await.unwrap().unwrap().last_heartbeat,
            100,
            "an older heartbeat changes nothing"
        );
        assert_eq!(store.mark_lost(400, 600).await.unwrap(), vec![w2]);
        store.record_heartbeats(&[(w2, 700)]).await.unwrap();
        assert_eq!(
            store.worker(w2).await.unwrap().unwrap().status,
            WorkerStatus::Active,
            "a lost worker heard from again is active"
        );
    }

    async fn lost_workers_release_their_assignments_on(store: &Store) {
        let d = deal(2, 1);
        store.insert_deal(&d).await.unwrap();
        let (t0, t1) = (
            decloud_protocol::task_id(d.deal_id, 0),
            decloud_protocol::task_id(d.deal_id, 1),
        );
        let (w1, w2) = (Address::repeat_byte(1), Address::repeat_byte(2));
        store.upsert_worker(w1, 2, 0, 100).await.unwrap();
        store.upsert_worker(w2, 2, 0, 100).await.unwrap();
        store.heartbeat(w2, 500).await.unwrap();
        store.assign(t0, w1, 100).await.unwrap();
        store.assign(t1, w1, 100).await.unwrap();
        store
            .record_contribution(t1, w1, B256::repeat_byte(3), None, 110)
            .await
            .unwrap();
        assert_eq!(store.mark_lost(400, 600).await.unwrap(), vec![w1]);
        assert!(store.mark_lost(400, 600).await.unwrap().is_empty());
        let r0 = &store.replicates(t0).await.unwrap()[0];
        assert_eq!(r0.status, ReplicateStatus::Lost);
        assert!(r0.reason.as_deref().unwrap().contains("heartbeats"));
        assert_eq!(
            store.replicates(t1).await.unwrap()[0].status,
            ReplicateStatus::Contributed,
            "contributed work is on chain: not lost"
        );
        assert_eq!(
            store.worker(w1).await.unwrap().unwrap().status,
            WorkerStatus::Lost
        );
        store.heartbeat(w1, 700).await.unwrap();
        assert_eq!(
            store.worker(w1).await.unwrap().unwrap().status,
            WorkerStatus::Active
        );
    }

    #[tokio::test]
    async fn challenges_are_single_use_and_sessions_expire() {
        let (_dir, _url, store) = store().await;
        challenges_are_single_use_and_sessions_expire_on(&store).await;
    }

    async fn challenges_are_single_use_and_sessions_expire_on(store: &Store) {
        store.insert_challenge("abc", 200).await.unwrap();
        assert!(!store.take_challenge("abc", 201, 150).await.unwrap());
        assert!(!store.take_challenge("abc", 200, 250).await.unwrap());
        assert!(store.take_challenge("abc", 200, 150).await.unwrap());
        assert!(!store.take_challenge("abc", 200, 150).await.unwrap());
        let w = Address::repeat_byte(1);
        store.insert_session("h1", w, 300).await.unwrap();
        assert_eq!(store.session_worker("h1", 299).await.unwrap(), Some(w));
        assert_eq!(store.session_worker("h1", 301).await.unwrap(), None);
        assert_eq!(store.session_worker("h2", 100).await.unwrap(), None);

        // A login consumes its challenge, registers the worker and opens its session, at once.
        let w2 = Address::repeat_byte(2);
        store.insert_challenge("def", 200).await.unwrap();
        assert!(
            store
                .complete_login("def", 200, 150, w2, 3, 7, "h2", 400)
                .await
                .unwrap()
        );
        assert_eq!(store.worker(w2).await.unwrap().unwrap().capacity, 3);
        assert_eq!(store.session("h2", 150).await.unwrap(), Some((w2, 400)));
        assert!(
            !store
                .complete_login("def", 200, 150, w2, 3, 7, "h3", 400)
                .await
                .unwrap(),
            "a used challenge logs nobody in"
        );
        assert_eq!(
            store.session_worker("h3", 150).await.unwrap(),
            None,
            "and opens nothing"
        );
        store.insert_challenge("old", 100).await.unwrap();
        store.purge_expired(350).await.unwrap();
        assert_eq!(
            store.session_worker("h1", 0).await.unwrap(),
            None,
            "h1 expired at 300"
        );
        assert_eq!(store.session_worker("h2", 0).await.unwrap(), Some(w2));
        assert!(
            !store.take_challenge("old", 100, 0).await.unwrap(),
            "purged"
        );
    }

    #[tokio::test]
    async fn an_unassigned_deal_can_be_forgotten_after_a_reorg() {
        let (_dir, _url, store) = store().await;
        an_unassigned_deal_can_be_forgotten_after_a_reorg_on(&store).await;
    }

    async fn an_unassigned_deal_can_be_forgotten_after_a_reorg_on(store: &Store) {
        let (a, b) = (deal(1, 1), deal(2, 1));
        store.insert_deal(&a).await.unwrap();
        store.insert_deal(&b).await.unwrap();
        assert_eq!(store.deals_after(6).await.unwrap().len(), 2);
        assert!(store.deals_after(7).await.unwrap().is_empty());
        store
            .assign(
                decloud_protocol::task_id(b.deal_id, 0),
                Address::repeat_byte(1),
                1,
            )
            .await
            .unwrap();
        assert!(store.forget_deal(a.deal_id).await.unwrap());
        assert!(!store.forget_deal(b.deal_id).await.unwrap());
        assert!(store.deal(a.deal_id).await.unwrap().is_none());
        assert!(store.tasks_of(a.deal_id).await.unwrap().is_empty());
        assert!(store.deal(b.deal_id).await.unwrap().is_some());
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            ReplicateStatus::Assigned,
            ReplicateStatus::Contributed,
            ReplicateStatus::Revealed,
            ReplicateStatus::Failed,
            ReplicateStatus::Lost,
        ] {
            assert_eq!(s.as_str().parse::<ReplicateStatus>().unwrap(), s);
        }
        assert!("nope".parse::<TaskStatus>().is_err());
        assert_eq!(redact("postgres://u:p@h/db"), "postgres://***@h/db");
    }

    /// The same queries on Postgres: `DECLOUD_TEST_POSTGRES_URL=postgres://... cargo test -p
    /// decloud-scheduler -- --ignored` (CI runs SQLite only; this is how the Postgres claim is
    /// checked).
    #[tokio::test]
    #[ignore = "needs a Postgres server: set DECLOUD_TEST_POSTGRES_URL"]
    async fn the_same_queries_run_on_postgres() {
        let url = std::env::var("DECLOUD_TEST_POSTGRES_URL")
            .expect("set DECLOUD_TEST_POSTGRES_URL=postgres://user@host:port/db");
        async fn fresh(url: &str) -> Store {
            let store = Store::open(url).await.unwrap();
            for statement in [
                "DELETE FROM workers",
                "DELETE FROM challenges",
                "DELETE FROM sessions",
                "DELETE FROM resources",
                "DELETE FROM deals",
                "DELETE FROM tasks",
                "DELETE FROM replicates",
                "DELETE FROM cursor",
            ] {
                sqlx::query(statement).execute(&store.pool).await.unwrap();
            }
            store
        }
        replicate_lifecycle_on(&fresh(&url).await).await;
        a_reveal_report_keeps_the_location_and_a_given_up_task_is_not_handed_out_on(
            &fresh(&url).await,
        )
        .await;
        lost_workers_release_their_assignments_on(&fresh(&url).await).await;
        challenges_are_single_use_and_sessions_expire_on(&fresh(&url).await).await;
        an_unassigned_deal_can_be_forgotten_after_a_reorg_on(&fresh(&url).await).await;
        let store = fresh(&url).await;
        store.set_cursor(9, B256::repeat_byte(9)).await.unwrap();
        assert_eq!(
            store.cursor().await.unwrap(),
            Some((9, B256::repeat_byte(9)))
        );
    }
}
