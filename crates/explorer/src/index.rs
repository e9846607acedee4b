//! The indexer: the hub's and the registries' events, read by the one chain follower of
//! `decloud-chain`, written to SQL one block range per database transaction together with the
//! follower's cursor, so that a restart resumes exactly where the last range ended. A reorg
//! deletes every row the orphaned blocks wrote and recomputes the tasks they touched from the
//! events that remain.
//!
//! Each block with events costs one `eth_getBlockReceipts` (the gas and sender of every
//! transaction) and, when the node does not put timestamps in logs, one block header. A
//! replicated task's end also reads the score of each of its contributors at that block (the
//! hub emits no score event).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::primitives::{Address, B256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;
use decloud_chain::ChainProfile;
use decloud_chain::contracts::{AppRegistry, DatasetRegistry, IHub, WorkerpoolRegistry};
use decloud_chain::follower::{Cursor, Follower, FollowerOptions, Step};
use decloud_sql::column::bigint;
use serde_json::json;
use sqlx::{Any, Row, Transaction};
use tokio::sync::broadcast;

use crate::store::{addr, hash};
use crate::{ExplorerError, Store, Update};

/// What one [`Indexer::step`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepReport {
    /// Events stored.
    pub events: usize,
    /// Whether a reorg was undone.
    pub rewound: bool,
    /// Whether the indexer is caught up with the chain.
    pub idle: bool,
    /// The last block indexed.
    pub block: u64,
}

/// Follows the chain into the [`Store`].
pub struct Indexer {
    follower: Follower,
    provider: DynProvider,
    profile: ChainProfile,
    store: Store,
    updates: broadcast::Sender<Update>,
}

/// An event decoded into what the tables keep.
struct Decoded {
    kind: &'static str,
    task: Option<String>,
    deal: Option<String>,
    account: Option<String>,
    workerpool: Option<String>,
    detail: serde_json::Value,
}

impl Indexer {
    /// An indexer of `profile`'s hub and registries into `store`, announcing what it indexed on
    /// `updates`.
    pub fn new(
        profile: &ChainProfile,
        store: Store,
        updates: broadcast::Sender<Update>,
    ) -> Result<Self, ExplorerError> {
        let provider = decloud_chain::client::read_only_provider(&profile.rpc_url)
            .map_err(|e| ExplorerError::Chain(e.to_string()))?;
        let c = &profile.contracts;
        let follower = Follower::new(
            provider.clone(),
            Filter::new().address(vec![
                c.hub,
                c.app_registry,
                c.dataset_registry,
                c.workerpool_registry,
            ]),
            FollowerOptions::default(),
        )?;
        Ok(Self {
            follower,
            provider,
            profile: profile.clone(),
            store,
            updates,
        })
    }

    async fn cursor(&self) -> Result<Cursor, ExplorerError> {
        match self.store.follow_state().await? {
            Some(text) => serde_json::from_str(&text)
                .map_err(|_| ExplorerError::Corrupt(format!("follow_state = {text:?}"))),
            None => Ok(Cursor::start_at(self.profile.deployment_block)),
        }
    }

    /// One step: undoes a reorg, or stores the next block range's events.
    pub async fn step(&self) -> Result<StepReport, ExplorerError> {
        let cursor = self.cursor().await?;
        match self.follower.poll(&cursor).await? {
            Step::Idle => Ok(StepReport {
                idle: true,
                block: cursor.next_block().saturating_sub(1),
                ..StepReport::default()
            }),
            Step::Rewind(rewind) => {
                let touched = self.rewind(rewind.orphaned_from, &rewind.cursor).await?;
                let _ = self.updates.send(Update {
                    block: rewind.orphaned_from.saturating_sub(1),
                    ids: touched,
                    summary: vec![format!(
                        "the chain reorganized: blocks from {} undone",
                        rewind.orphaned_from
                    )],
                });
                Ok(StepReport {
                    rewound: true,
                    block: rewind.cursor.next_block().saturating_sub(1),
                    ..StepReport::default()
                })
            }
            Step::Batch(batch) => {
                let events = batch.logs.len();
                let update = self.apply(&batch.logs, &batch.cursor, batch.to).await?;
                if !update.ids.is_empty() {
                    let _ = self.updates.send(update);
                }
                Ok(StepReport {
                    events,
                    block: batch.to,
                    ..StepReport::default()
                })
            }
        }
    }

    /// Steps until caught up with the chain; returns the events stored.
    pub async fn catch_up(&self) -> Result<usize, ExplorerError> {
        let mut events = 0;
        loop {
            let step = self.step().await?;
            events += step.events;
            if step.idle {
                return Ok(events);
            }
        }
    }

    /// Indexes forever, asking for new blocks every `interval`; errors are logged and retried.
    pub async fn run(self, interval: Duration) {
        loop {
            match self.step().await {
                Ok(step) if step.idle => tokio::time::sleep(interval).await,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "explorer indexer step failed; retrying");
                    tokio::time::sleep(interval.max(Duration::from_secs(1))).await;
                }
            }
        }
    }

    /// Block times and every transaction's gas and sender, for the blocks `logs` come from.
    async fn blocks(
        &self,
        logs: &[Log],
    ) -> Result<(BTreeMap<u64, u64>, BTreeMap<B256, (u64, Address)>), ExplorerError> {
        let mut times = BTreeMap::new();
        let mut txs = BTreeMap::new();
        let numbers: BTreeSet<u64> = logs.iter().filter_map(|l| l.block_number).collect();
        for log in logs {
            if let (Some(n), Some(t)) = (log.block_number, log.block_timestamp) {
                times.insert(n, t);
            }
        }
        for number in numbers {
            if let std::collections::btree_map::Entry::Vacant(slot) = times.entry(number) {
                let block = self
                    .provider
                    .get_block_by_number(BlockNumberOrTag::Number(number))
                    .await
                    .map_err(|e| chain_error(&format!("reading block {number}"), &e))?;
                slot.insert(block.map(|b| b.header.timestamp).unwrap_or_default());
            }
            // Gas is a nicety: a node without eth_getBlockReceipts still gets its events indexed.
            match self
                .provider
                .get_block_receipts(BlockId::number(number))
                .await
            {
                Ok(Some(receipts)) => {
                    for r in receipts {
                        txs.insert(r.transaction_hash, (r.gas_used, r.from));
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(number, error = %e, "no receipts for the block"),
            }
        }
        Ok((times, txs))
    }

    /// Stores one range's events and the cursor after them, in one database transaction.
    async fn apply(&self, logs: &[Log], cursor: &Cursor, to: u64) -> Result<Update, ExplorerError> {
        let (times, txs) = self.blocks(logs).await?;
        let mut update = Update {
            block: to,
            ..Update::default()
        };
        let mut ids = BTreeSet::new();
        let mut tx = self.store.pool().begin().await?;
        for log in logs {
            let Some(decoded) = self.decode(&mut tx, log).await? else {
                continue;
            };
            let block = log.block_number.unwrap_or(to);
            let time = times.get(&block).copied().unwrap_or_default();
            let log_index = log.log_index.unwrap_or_default();
            let tx_hash = log.transaction_hash.unwrap_or_default();
            let (gas, sender) = match txs.get(&tx_hash) {
                Some((gas, from)) => (Some(bigint(*gas, "gas")?), Some(addr(*from))),
                None => (None, None),
            };
            self.side_effects(&mut tx, log, &decoded, block, time)
                .await?;
            sqlx::query(
                "INSERT INTO events (block, log_index, tx, time, kind, task_id, deal_id, account, \
                 workerpool, detail, gas, sender) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
                 $11, $12) ON CONFLICT (block, log_index) DO NOTHING",
            )
            .bind(bigint(block, "block")?)
            .bind(bigint(log_index, "log index")?)
            .bind(hash(tx_hash))
            .bind(bigint(time, "time")?)
            .bind(decoded.kind)
            .bind(decoded.task.clone())
            .bind(decoded.deal.clone())
            .bind(decoded.account.clone())
            .bind(decoded.workerpool.clone())
            .bind(decoded.detail.to_string())
            .bind(gas)
            .bind(sender)
            .execute(&mut *tx)
            .await?;
            if matches!(decoded.kind, "TaskFinalize" | "TaskReopen" | "TaskClaimed")
                && let Some(task) = &decoded.task
            {
                self.record_scores(&mut tx, task, block, log_index, time)
                    .await?;
            }
            update.summary.push(summary(&decoded));
            ids.extend(
                [
                    decoded.task,
                    decoded.deal,
                    decoded.account,
                    decoded.workerpool,
                ]
                .into_iter()
                .flatten(),
            );
        }
        store_cursor(&mut tx, cursor).await?;
        tx.commit().await?;
        update.ids = ids.into_iter().collect();
        update.summary.truncate(20);
        Ok(update)
    }

    /// What a log is, or `None` for events the explorer does not show (ERC-721 transfers...).
    async fn decode(
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

    /// Writes what an event changes besides the timeline: deals, tasks, resources.
    async fn side_effects(
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

    /// After a replicated task ends, the score of each of its contributors as the hub holds it
    /// at that block.
    async fn record_scores(
        &self,
        tx: &mut Transaction<'_, Any>,
        task: &str,
        block: u64,
        log_index: u64,
        time: u64,
    ) -> Result<(), ExplorerError> {
        let trust: Option<i64> = sqlx::query(
            "SELECT d.trust AS trust FROM tasks t JOIN deals d ON d.deal_id = t.deal_id \
             WHERE t.task_id = $1",
        )
        .bind(task.to_owned())
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| r.try_get("trust"))
        .transpose()?;
        // At trust 1 or less the hub keeps no score change.
        if trust.unwrap_or(0) <= 1 {
            return Ok(());
        }
        let workers: Vec<String> = sqlx::query(
            "SELECT DISTINCT account FROM events WHERE task_id = $1 AND kind = 'TaskContribute'",
        )
        .bind(task.to_owned())
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| r.try_get("account"))
        .collect::<Result<_, _>>()?;
        let hub = IHub::new(self.profile.contracts.hub, self.provider.clone());
        for worker in workers {
            let Ok(address) = worker.parse::<Address>() else {
                continue;
            };
            let score = hub
                .scoreOf(address)
                .block(BlockId::number(block))
                .call()
                .await
                .map_err(|e| ExplorerError::Chain(format!("reading a worker's score: {e}")))?;
            let score = u64::try_from(score).unwrap_or(u64::MAX);
            sqlx::query(
                "INSERT INTO scores (worker, block, log_index, time, score, task_id) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (worker, block, log_index) DO NOTHING",
            )
            .bind(worker)
            .bind(bigint(block, "block")?)
            .bind(bigint(log_index, "log index")?)
            .bind(bigint(time, "time")?)
            .bind(bigint(score, "score")?)
            .bind(task.to_owned())
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Deletes what blocks `from` and later wrote, recomputes the tasks they touched from the
    /// events that remain, and stores `cursor`; returns the ids touched.
    async fn rewind(&self, from: u64, cursor: &Cursor) -> Result<Vec<String>, ExplorerError> {
        let b = bigint(from, "block")?;
        let mut tx = self.store.pool().begin().await?;
        let touched: Vec<String> = sqlx::query(
            "SELECT DISTINCT task_id FROM events WHERE block >= $1 AND task_id IS NOT NULL",
        )
        .bind(b)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get("task_id"))
        .collect::<Result<_, _>>()?;
        for table in ["events", "deals", "tasks", "resources", "scores"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE block >= $1"
            )))
            .bind(b)
            .execute(&mut *tx)
            .await?;
        }
        for task in &touched {
            recompute_task(&mut tx, task).await?;
        }
        store_cursor(&mut tx, cursor).await?;
        tx.commit().await?;
        tracing::warn!(from, tasks = touched.len(), "reorg: orphaned blocks undone");
        Ok(touched)
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

fn chain_error(what: &str, e: &dyn std::fmt::Display) -> ExplorerError {
    ExplorerError::Chain(format!("{what}: {e}"))
}

/// A line for the live feed.
fn summary(d: &Decoded) -> String {
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
async fn recompute_task(tx: &mut Transaction<'_, Any>, task: &str) -> Result<(), ExplorerError> {
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

async fn store_cursor(tx: &mut Transaction<'_, Any>, cursor: &Cursor) -> Result<(), ExplorerError> {
    let text = serde_json::to_string(cursor)
        .map_err(|e| ExplorerError::Corrupt(format!("cannot encode the cursor: {e}")))?;
    sqlx::query(
        "INSERT INTO follow_state (id, state) VALUES (1, $1) \
         ON CONFLICT (id) DO UPDATE SET state = $1",
    )
    .bind(text)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
