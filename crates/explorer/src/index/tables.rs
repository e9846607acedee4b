//! What an event changes besides the timeline: deals, tasks (and their recomputation after a
//! reorg), resources and the workers' counters.

use alloy::rpc::types::Log;
use decloud_chain::contracts::IHub;
use decloud_sql::column::bigint;
use sqlx::{Any, Transaction};

use super::{Decoded, Indexer};
use crate::ExplorerError;
use crate::store::{addr, hash, workers};

impl Indexer {
    /// Writes what an event changes besides the timeline: deals, tasks, resources.
    pub(super) async fn side_effects(
        &self,
        tx: &mut Transaction<'_, Any>,
        log: &Log,
        decoded: &Decoded,
        block: u64,
        time: u64,
    ) -> Result<(), ExplorerError> {
        let b = bigint(block, "block")?;
        let t = bigint(time, "time")?;
        let tx_hash = hash(log.transaction_hash.unwrap_or_default());
        match decoded.kind {
            "DealCreated" => {
                let e = log
                    .log_decode::<IHub::DealCreated>()
                    .map_err(|e| ExplorerError::Chain(e.to_string()))?
                    .inner
                    .data;
                let d = &e.deal;
                let small = |v: alloy::primitives::U256, what: &str| {
                    u64::try_from(v)
                        .ok()
                        .and_then(|v| bigint(v, what).ok())
                        .unwrap_or(i64::MAX)
                };
                sqlx::query(
                    "INSERT INTO deals (deal_id, app, dataset, workerpool, scheduler, requester, \
                     beneficiary, callback, category, trust, volume, app_price, dataset_price, \
                     workerpool_price, tag, params, block, time, tx) VALUES ($1, $2, $3, $4, $5, \
                     $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
                     ON CONFLICT (deal_id) DO NOTHING",
                )
                .bind(hash(e.dealid))
                .bind(addr(d.app))
                .bind(addr(d.dataset))
                .bind(addr(d.workerpool))
                .bind(addr(d.scheduler))
                .bind(addr(d.requester))
                .bind(addr(d.beneficiary))
                .bind(addr(d.callback))
                .bind(small(d.category, "category"))
                .bind(small(d.trust, "trust"))
                .bind(small(d.volume, "volume"))
                .bind(d.appPrice.to_string())
                .bind(d.datasetPrice.to_string())
                .bind(d.workerpoolPrice.to_string())
                .bind(hash(d.tag))
                .bind(e.params.clone())
                .bind(b)
                .bind(t)
                .bind(tx_hash)
                .execute(&mut **tx)
                .await?;
            }
            "TaskInitialize" => {
                let index: i64 = decoded.detail["index"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_default();
                sqlx::query(
                    "INSERT INTO tasks (task_id, deal_id, idx, workerpool, status, block, time, \
                     updated_block, updated_time, trace_stale) \
                     VALUES ($1, $2, $3, $4, 'ACTIVE', $5, $6, $5, $6, 1) \
                     ON CONFLICT (task_id) DO NOTHING",
                )
                .bind(decoded.task.clone())
                .bind(decoded.deal.clone())
                .bind(index)
                .bind(decoded.workerpool.clone().unwrap_or_default())
                .bind(b)
                .bind(t)
                .execute(&mut **tx)
                .await?;
            }
            "TaskContribute" | "TaskReveal" | "CallbackResult" => {
                touch_task(tx, decoded, b, t, None).await?;
                if let ("TaskContribute", Some(worker)) = (decoded.kind, &decoded.account) {
                    workers::count_contribution(tx, worker).await?;
                }
            }
            "TaskConsensus" => {
                let h = decoded.detail["result_hash"].as_str().map(str::to_owned);
                touch_task(tx, decoded, b, t, Some(("REVEALING", h))).await?;
            }
            "TaskReopen" => {
                touch_task(tx, decoded, b, t, Some(("ACTIVE", None))).await?;
            }
            "TaskFinalize" => {
                let loc = decoded.detail["results_location"]
                    .as_str()
                    .map(str::to_owned);
                let cb = decoded.detail["callback_data"].as_str().map(str::to_owned);
                sqlx::query(
                    "UPDATE tasks SET status = 'COMPLETED', results_location = $1, \
                     callback_data = $2, final_time = $3, updated_block = $4, updated_time = $3, \
                     trace_stale = 1 WHERE task_id = $5",
                )
                .bind(loc)
                .bind(cb)
                .bind(t)
                .bind(b)
                .bind(decoded.task.clone())
                .execute(&mut **tx)
                .await?;
                if let Some(task) = &decoded.task {
                    workers::count_task_end(tx, task, true).await?;
                }
            }
            "TaskClaimed" => {
                sqlx::query(
                    "UPDATE tasks SET status = 'FAILED', final_time = $1, updated_block = $2, \
                     updated_time = $1, trace_stale = 1 WHERE task_id = $3",
                )
                .bind(t)
                .bind(b)
                .bind(decoded.task.clone())
                .execute(&mut **tx)
                .await?;
                if let Some(task) = &decoded.task {
                    workers::count_task_end(tx, task, false).await?;
                }
            }
            "AppRegistered" | "DatasetRegistered" | "WorkerpoolRegistered" => {
                let kind = match decoded.kind {
                    "AppRegistered" => "app",
                    "DatasetRegistered" => "dataset",
                    _ => "workerpool",
                };
                let s = |k: &str| decoded.detail[k].as_str().unwrap_or_default().to_owned();
                sqlx::query(
                    "INSERT INTO resources (address, kind, owner, name, uri, checksum, block, \
                     time, tx) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (address) DO NOTHING",
                )
                .bind(s("resource"))
                .bind(kind)
                .bind(decoded.account.clone().unwrap_or_default())
                .bind(s("name"))
                .bind(s("uri"))
                .bind(s("checksum"))
                .bind(b)
                .bind(t)
                .bind(tx_hash)
                .execute(&mut **tx)
                .await?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Marks a task changed by an event, and sets its status (with the consensus hash) when the
/// event moves it.
async fn touch_task(
    tx: &mut Transaction<'_, Any>,
    d: &Decoded,
    block: i64,
    time: i64,
    status: Option<(&str, Option<String>)>,
) -> Result<(), ExplorerError> {
    match status {
        None => {
            sqlx::query(
                "UPDATE tasks SET updated_block = $1, updated_time = $2, trace_stale = 1 \
                 WHERE task_id = $3",
            )
            .bind(block)
            .bind(time)
            .bind(d.task.clone())
            .execute(&mut **tx)
            .await?;
        }
        Some((status, consensus)) => {
            sqlx::query(
                "UPDATE tasks SET status = $1, consensus_hash = $2, updated_block = $3, \
                 updated_time = $4, trace_stale = 1 WHERE task_id = $5",
            )
            .bind(status.to_owned())
            .bind(consensus)
            .bind(block)
            .bind(time)
            .bind(d.task.clone())
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// Rebuilds a task's row from its remaining events (after a reorg took some away).
pub(super) async fn recompute_task(
    tx: &mut Transaction<'_, Any>,
    task: &str,
) -> Result<(), ExplorerError> {
    let rows = sqlx::query("SELECT * FROM events WHERE task_id = $1 ORDER BY block, log_index")
        .bind(task.to_owned())
        .fetch_all(&mut **tx)
        .await?;
    let events = rows
        .iter()
        .map(crate::store::read_event)
        .collect::<Result<Vec<_>, _>>()?;
    if !events.iter().any(|e| e.kind == "TaskInitialize") {
        sqlx::query("DELETE FROM tasks WHERE task_id = $1")
            .bind(task.to_owned())
            .execute(&mut **tx)
            .await?;
        sqlx::query("DELETE FROM replicates WHERE task_id = $1")
            .bind(task.to_owned())
            .execute(&mut **tx)
            .await?;
        return Ok(());
    }
    let mut status = "ACTIVE";
    let mut consensus = None;
    let mut location = None;
    let mut callback = None;
    let mut final_time = None;
    let mut last = (0u64, 0u64);
    for e in &events {
        last = (e.block, e.time);
        match e.kind.as_str() {
            "TaskConsensus" => {
                status = "REVEALING";
                consensus = e.detail["result_hash"].as_str().map(str::to_owned);
            }
            "TaskReopen" => {
                status = "ACTIVE";
                consensus = None;
            }
            "TaskFinalize" => {
                status = "COMPLETED";
                location = e.detail["results_location"].as_str().map(str::to_owned);
                callback = e.detail["callback_data"].as_str().map(str::to_owned);
                final_time = Some(e.time);
            }
            "TaskClaimed" => {
                status = "FAILED";
                final_time = Some(e.time);
            }
            _ => {}
        }
    }
    sqlx::query(
        "UPDATE tasks SET status = $1, consensus_hash = $2, results_location = $3, \
         callback_data = $4, final_time = $5, updated_block = $6, updated_time = $7, \
         trace_stale = 1 WHERE task_id = $8",
    )
    .bind(status)
    .bind(consensus)
    .bind(location)
    .bind(callback)
    .bind(final_time.map(|t| bigint(t, "time")).transpose()?)
    .bind(bigint(last.0, "block")?)
    .bind(bigint(last.1, "time")?)
    .bind(task.to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
