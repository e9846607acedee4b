//! The rows the explorer stores, as the pages and their JSON twins show them, and how each is
//! read from a query's result.

use decloud_sql::column;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::ExplorerError;

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
    /// What its worker says each stage took: its claims, relayed by the scheduler.
    pub stages: Option<decloud_protocol::pool::Stages>,
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
    /// Block of the contribution (with `log_index`, the key the list pages by).
    pub block: u64,
    /// Its index in the block.
    pub log_index: u64,
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

pub(super) fn read_deal(row: &AnyRow) -> Result<DealRow, ExplorerError> {
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

pub(super) fn read_replicate(row: &AnyRow) -> Result<ReplicateRow, ExplorerError> {
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
        // A worker's claims: a row that does not parse shows none rather than failing the page.
        stages: row
            .try_get::<Option<String>, _>("stages")?
            .and_then(|t| serde_json::from_str(&t).ok()),
    })
}

pub(super) fn read_resource(row: &AnyRow) -> Result<ResourceRow, ExplorerError> {
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

pub(super) const TASK_COLUMNS: &str = "task_id, deal_id, idx, workerpool, status, block, time, updated_time, \
     consensus_hash, results_location, callback_data, final_time";
