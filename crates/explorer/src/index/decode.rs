//! What each hub and registry event is, decoded into the columns the timeline keeps, and its
//! line in the live feed.

use alloy::primitives::{Address, B256};
use alloy::rpc::types::Log;
use alloy::sol_types::SolEvent;
use decloud_chain::contracts::{AppRegistry, DatasetRegistry, IHub, WorkerpoolRegistry};
use serde_json::json;
use sqlx::{Any, Row, Transaction};

use super::{Decoded, Indexer};
use crate::ExplorerError;
use crate::store::{addr, hash};

impl Indexer {
    /// What a log is, or `None` for events the explorer does not show (ERC-721 transfers...).
    pub(super) async fn decode(
        &self,
        tx: &mut Transaction<'_, Any>,
        log: &Log,
    ) -> Result<Option<Decoded>, ExplorerError> {
        let Some(topic) = log.topic0().copied() else {
            return Ok(None);
        };
        let bad = |e: alloy::sol_types::Error| {
            tracing::warn!(error = %e, "an event does not decode: skipped");
        };
        macro_rules! ev {
            ($t:ty) => {
                match log.log_decode::<$t>() {
                    Ok(l) => l.inner.data,
                    Err(e) => {
                        bad(e);
                        return Ok(None);
                    }
                }
            };
        }
        let base = |kind: &'static str| Decoded {
            kind,
            task: None,
            deal: None,
            account: None,
            workerpool: None,
            detail: json!({}),
        };
        let decoded = match topic {
            IHub::DealCreated::SIGNATURE_HASH => {
                let e = ev!(IHub::DealCreated);
                Decoded {
                    deal: Some(hash(e.dealid)),
                    account: Some(addr(e.requester)),
                    workerpool: Some(addr(e.workerpool)),
                    detail: json!({
                        "app": addr(e.deal.app),
                        "volume": e.deal.volume.to_string(),
                        "trust": e.deal.trust.to_string(),
                    }),
                    ..base("DealCreated")
                }
            }
            IHub::TaskInitialize::SIGNATURE_HASH => {
                let e = ev!(IHub::TaskInitialize);
                Decoded {
                    task: Some(hash(e.taskid)),
                    deal: Some(hash(e.dealid)),
                    workerpool: deal_pool(tx, &hash(e.dealid)).await?,
                    detail: json!({ "index": e.index.to_string() }),
                    ..base("TaskInitialize")
                }
            }
            IHub::TaskContribute::SIGNATURE_HASH => {
                let e = ev!(IHub::TaskContribute);
                self.task_event(
                    tx,
                    "TaskContribute",
                    e.taskid,
                    Some(e.worker),
                    json!({ "result_hash": hash(e.resultHash) }),
                )
                .await?
            }
            IHub::TaskConsensus::SIGNATURE_HASH => {
                let e = ev!(IHub::TaskConsensus);
                self.task_event(
                    tx,
                    "TaskConsensus",
                    e.taskid,
                    None,
                    json!({ "result_hash": hash(e.resultHash) }),
                )
                .await?
            }
            IHub::TaskReveal::SIGNATURE_HASH => {
                let e = ev!(IHub::TaskReveal);
                self.task_event(
                    tx,
                    "TaskReveal",
                    e.taskid,
                    Some(e.worker),
                    json!({ "digest": hash(e.digest) }),
                )
                .await?
            }
            IHub::TaskReopen::SIGNATURE_HASH => {
                let e = ev!(IHub::TaskReopen);
                self.task_event(
                    tx,
                    "TaskReopen",
                    e.taskid,
                    None,
                    json!({ "rejected_hash": hash(e.resultHash) }),
                )
                .await?
            }
            IHub::TaskFinalize::SIGNATURE_HASH => {
                let e = ev!(IHub::TaskFinalize);
                self.task_event(
                    tx,
                    "TaskFinalize",
                    e.taskid,
                    None,
                    json!({
                        "results_location": String::from_utf8_lossy(&e.resultsLocation),
                        "callback_data": e.callbackData.to_string(),
                    }),
                )
                .await?
            }
            IHub::TaskClaimed::SIGNATURE_HASH => {
                let e = ev!(IHub::TaskClaimed);
                self.task_event(tx, "TaskClaimed", e.taskid, None, json!({}))
                    .await?
            }
            IHub::CallbackResult::SIGNATURE_HASH => {
                let e = ev!(IHub::CallbackResult);
                self.task_event(
                    tx,
                    "CallbackResult",
                    e.taskid,
                    None,
                    json!({ "callback": addr(e.callback), "success": e.success }),
                )
                .await?
            }
            IHub::Deposit::SIGNATURE_HASH => {
                let e = ev!(IHub::Deposit);
                Decoded {
                    account: Some(addr(e.account)),
                    detail: json!({ "from": addr(e.from), "amount": e.amount.to_string() }),
                    ..base("Deposit")
                }
            }
            IHub::Withdraw::SIGNATURE_HASH => {
                let e = ev!(IHub::Withdraw);
                Decoded {
                    account: Some(addr(e.account)),
                    detail: json!({ "to": addr(e.to), "amount": e.amount.to_string() }),
                    ..base("Withdraw")
                }
            }
            IHub::OrderPresigned::SIGNATURE_HASH => {
                let e = ev!(IHub::OrderPresigned);
                Decoded {
                    account: Some(addr(e.signer)),
                    detail: json!({ "order": hash(e.orderHash) }),
                    ..base("OrderPresigned")
                }
            }
            IHub::OrderClosed::SIGNATURE_HASH => {
                let e = ev!(IHub::OrderClosed);
                Decoded {
                    account: Some(addr(e.signer)),
                    detail: json!({ "order": hash(e.orderHash) }),
                    ..base("OrderClosed")
                }
            }
            IHub::CategoryCreated::SIGNATURE_HASH => {
                let e = ev!(IHub::CategoryCreated);
                Decoded {
                    detail: json!({
                        "category": e.category.to_string(),
                        "name": e.name,
                        "work_clock_time_ref": e.workClockTimeRef.to_string(),
                    }),
                    ..base("CategoryCreated")
                }
            }
            IHub::WorkerpoolMinStake::SIGNATURE_HASH => {
                let e = ev!(IHub::WorkerpoolMinStake);
                Decoded {
                    workerpool: Some(addr(e.workerpool)),
                    detail: json!({ "min_stake": e.minStake.to_string() }),
                    ..base("WorkerpoolMinStake")
                }
            }
            IHub::WorkerJoined::SIGNATURE_HASH => {
                let e = ev!(IHub::WorkerJoined);
                member(
                    "WorkerJoined",
                    e.workerpool,
                    e.worker,
                    json!({ "stake": e.stake.to_string() }),
                )
            }
            IHub::WorkerAdmitted::SIGNATURE_HASH => {
                let e = ev!(IHub::WorkerAdmitted);
                member(
                    "WorkerAdmitted",
                    e.workerpool,
                    e.worker,
                    json!({ "cap": e.cap.to_string() }),
                )
            }
            IHub::WorkerLeaving::SIGNATURE_HASH => {
                let e = ev!(IHub::WorkerLeaving);
                member(
                    "WorkerLeaving",
                    e.workerpool,
                    e.worker,
                    json!({ "leaving_at": e.leavingAt.to_string() }),
                )
            }
            IHub::WorkerRemoved::SIGNATURE_HASH => {
                let e = ev!(IHub::WorkerRemoved);
                member(
                    "WorkerRemoved",
                    e.workerpool,
                    e.worker,
                    json!({ "leaving_at": e.leavingAt.to_string() }),
                )
            }
            IHub::WorkerLeft::SIGNATURE_HASH => {
                let e = ev!(IHub::WorkerLeft);
                member(
                    "WorkerLeft",
                    e.workerpool,
                    e.worker,
                    json!({ "stake": e.stake.to_string() }),
                )
            }
            AppRegistry::AppRegistered::SIGNATURE_HASH => {
                let e = ev!(AppRegistry::AppRegistered);
                Decoded {
                    account: Some(addr(e.owner)),
                    detail: json!({
                        "resource": addr(e.app), "name": e.name, "uri": e.uri,
                        "checksum": hash(e.checksum), "mrenclave": hash(e.mrenclave),
                    }),
                    ..base("AppRegistered")
                }
            }
            DatasetRegistry::DatasetRegistered::SIGNATURE_HASH => {
                let e = ev!(DatasetRegistry::DatasetRegistered);
                Decoded {
                    account: Some(addr(e.owner)),
                    detail: json!({
                        "resource": addr(e.dataset), "name": e.name, "uri": e.uri,
                        "checksum": hash(e.checksum),
                    }),
                    ..base("DatasetRegistered")
                }
            }
            WorkerpoolRegistry::WorkerpoolRegistered::SIGNATURE_HASH => {
                let e = ev!(WorkerpoolRegistry::WorkerpoolRegistered);
                Decoded {
                    account: Some(addr(e.owner)),
                    workerpool: Some(addr(e.workerpool)),
                    detail: json!({
                        "resource": addr(e.workerpool), "name": e.description,
                        "worker_stake_ratio": e.workerStakeRatio,
                        "scheduler_reward_ratio": e.schedulerRewardRatio,
                    }),
                    ..base("WorkerpoolRegistered")
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(decoded))
    }

    async fn task_event(
        &self,
        tx: &mut Transaction<'_, Any>,
        kind: &'static str,
        task: B256,
        worker: Option<Address>,
        detail: serde_json::Value,
    ) -> Result<Decoded, ExplorerError> {
        let task = hash(task);
        let row = sqlx::query("SELECT deal_id, workerpool FROM tasks WHERE task_id = $1")
            .bind(task.clone())
            .fetch_optional(&mut **tx)
            .await?;
        let (deal, workerpool) = match row {
            Some(r) => (Some(r.try_get("deal_id")?), Some(r.try_get("workerpool")?)),
            None => (None, None),
        };
        Ok(Decoded {
            kind,
            task: Some(task),
            deal,
            account: worker.map(addr),
            workerpool,
            detail,
        })
    }
}

fn member(
    kind: &'static str,
    pool: Address,
    worker: Address,
    detail: serde_json::Value,
) -> Decoded {
    Decoded {
        kind,
        task: None,
        deal: None,
        account: Some(addr(worker)),
        workerpool: Some(addr(pool)),
        detail,
    }
}

/// A line for the live feed.
pub(super) fn summary(d: &Decoded) -> String {
    let short = |s: &Option<String>| {
        s.as_deref()
            .map(|s| s.chars().take(10).collect::<String>())
            .unwrap_or_default()
    };
    match d.kind {
        "DealCreated" => format!("deal {}… matched", short(&d.deal)),
        k if k.starts_with("Task") => format!("task {}… {}", short(&d.task), &k[4..]),
        k => k.to_owned(),
    }
}

async fn deal_pool(
    tx: &mut Transaction<'_, Any>,
    deal: &str,
) -> Result<Option<String>, ExplorerError> {
    let row = sqlx::query("SELECT workerpool FROM deals WHERE deal_id = $1")
        .bind(deal.to_owned())
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(|r| r.try_get("workerpool")).transpose()?)
}
