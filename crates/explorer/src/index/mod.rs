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
use decloud_chain::ChainProfile;
use decloud_chain::contracts::IHub;
use decloud_chain::follower::{Cursor, Follower, FollowerOptions, Step};
use decloud_sql::column::bigint;
use sqlx::{Any, Row, Transaction};
use tokio::sync::broadcast;

use crate::store::{ScorePoint, addr, hash, workers};
use crate::{ExplorerError, Store, Update};

mod decode;
mod tables;

use decode::summary;
use tables::recompute_task;

/// The table of the follower's cursor.
const STATE_TABLE: &str = "follow_state";

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
        let stored = decloud_sql::state::load(self.store.pool(), STATE_TABLE).await?;
        Ok(stored.unwrap_or_else(|| Cursor::start_at(self.profile.deployment_block)))
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
            let inserted = sqlx::query(
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
            .await?
            .rows_affected()
                > 0;
            // A log stored before (its range read again) changes nothing twice: the workers'
            // counters are sums.
            if !inserted {
                continue;
            }
            self.side_effects(&mut tx, log, &decoded, block, time)
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
        decloud_sql::state::store(&mut *tx, STATE_TABLE, cursor).await?;
        tx.commit().await?;
        update.ids = ids.into_iter().collect();
        update.summary.truncate(20);
        Ok(update)
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
        let contributors: Vec<String> = sqlx::query(
            "SELECT DISTINCT account FROM events WHERE task_id = $1 AND kind = 'TaskContribute'",
        )
        .bind(task.to_owned())
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| r.try_get("account"))
        .collect::<Result<_, _>>()?;
        let hub = IHub::new(self.profile.contracts.hub, self.provider.clone());
        for worker in contributors {
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
            let point = ScorePoint {
                block,
                time,
                score,
                task_id: task.to_owned(),
            };
            workers::record_score(tx, &worker, &point, log_index).await?;
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
        // Whose counters the orphaned blocks changed: the contributors of the tasks they touched
        // (a contribution, a reveal or a task's end), and whoever got a score in them.
        let recount: Vec<String> = sqlx::query(
            "SELECT DISTINCT account FROM events WHERE kind = 'TaskContribute' AND task_id IN \
             (SELECT task_id FROM events WHERE block >= $1 AND task_id IS NOT NULL) \
             UNION SELECT DISTINCT worker FROM scores WHERE block >= $1",
        )
        .bind(b)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get(0))
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
        for worker in &recount {
            workers::recount(&mut tx, worker).await?;
        }
        decloud_sql::state::store(&mut *tx, STATE_TABLE, cursor).await?;
        tx.commit().await?;
        tracing::warn!(from, tasks = touched.len(), "reorg: orphaned blocks undone");
        Ok(touched)
    }
}

fn chain_error(what: &str, e: &dyn std::fmt::Display) -> ExplorerError {
    ExplorerError::Chain(format!("{what}: {e}"))
}
