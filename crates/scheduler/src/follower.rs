//! Follows the chain for the scheduler's workerpool: `DealCreated` events filtered on the
//! indexed workerpool topic give the deals (decoded from the event and kept: the hub does not
//! store them), and the task events (`TaskInitialize`, `TaskContribute`, `TaskConsensus`,
//! `TaskReveal`, `TaskReopen`, `TaskFinalize`, `TaskClaimed`) keep the tasks' state true.
//!
//! The logs come from the one chain follower of `decloud-chain`, in ranges of at most
//! [`MAX_RANGE`] blocks. The last processed block and its hash are stored after the range's
//! effects. On the next pass, if the chain's block at the cursor has another hash (a reorg),
//! the last [`FollowerOptions::reorg_depth`] blocks are read again: every event handler is
//! idempotent, and deals of those blocks that the new chain no longer has are forgotten (unless
//! work was handed out for them).

use std::collections::{BTreeSet, HashMap};

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;
use decloud_chain::client::Client;
use decloud_chain::contracts::{AppRegistry, DatasetRegistry, IHub};
use decloud_chain::follower::{self, Cursor, Follower, Step};
use decloud_protocol::typed::Deal;

use crate::db::{DealRow, Resource, Store, TaskChange, TaskStatus};
use crate::{PassFailed, SchedulerError};

/// Most blocks asked for in one `eth_getLogs` when the chain profile sets no `max_log_range`.
pub const MAX_RANGE: u64 = follower::DEFAULT_MAX_RANGE;

/// How the follower reads the chain.
#[derive(Clone, Copy, Debug)]
pub struct FollowerOptions {
    /// How many blocks are read again when the block at the cursor changed.
    pub reorg_depth: u64,
}

impl Default for FollowerOptions {
    fn default() -> Self {
        Self { reorg_depth: 12 }
    }
}

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// The last block processed.
    pub block: u64,
    /// Deals stored for the first time.
    pub new_deals: Vec<B256>,
    /// Task events applied.
    pub task_events: usize,
    /// Whether a reorg was detected (and the last blocks read again).
    pub reorg: bool,
    /// Each task an event touched, with its deal and its status after the pass.
    pub touched: Vec<(B256, B256, TaskStatus)>,
    /// The workers whose contributions the pass applied: each freed a slot of its worker.
    pub contributors: Vec<Address>,
    /// Workers whose registry record an event changed (left, removed, admitted with another
    /// cap, slashed): their membership is read again.
    pub members_changed: Vec<Address>,
    /// Whether the pool's minimum stake changed: every member's membership is read again.
    pub min_stake_changed: bool,
}

impl Progress {
    /// Whether anything the assignment depends on may have changed.
    pub fn changed(&self) -> bool {
        !self.new_deals.is_empty() || self.task_events > 0 || self.reorg
    }
}

fn chain(what: &str, e: impl std::fmt::Display) -> SchedulerError {
    SchedulerError::Chain(format!("{what}: {e}"))
}

async fn log_time(client: &Client, log: &Log) -> Result<u64, SchedulerError> {
    if let Some(t) = log.block_timestamp {
        return Ok(t);
    }
    let number = log.block_number.unwrap_or_default();
    let block = client
        .provider()
        .get_block_by_number(BlockNumberOrTag::Number(number))
        .await
        .map_err(|e| chain(&format!("reading block {number}"), e))?;
    Ok(block.map(|b| b.header.timestamp).unwrap_or_default())
}

/// The task events the scheduler follows.
const TASK_EVENTS: [B256; 7] = [
    IHub::TaskInitialize::SIGNATURE_HASH,
    IHub::TaskContribute::SIGNATURE_HASH,
    IHub::TaskConsensus::SIGNATURE_HASH,
    IHub::TaskReveal::SIGNATURE_HASH,
    IHub::TaskReopen::SIGNATURE_HASH,
    IHub::TaskFinalize::SIGNATURE_HASH,
    IHub::TaskClaimed::SIGNATURE_HASH,
];

/// The hub's events after which a worker's membership (every worker's, for the minimum stake)
/// is read again: the registry changes only through them. A join is not among them: a worker
/// that was no member has nothing to take back, and its login reads the registry.
const REGISTRY_EVENTS: [B256; 6] = [
    IHub::WorkerAdmitted::SIGNATURE_HASH,
    IHub::WorkerLeaving::SIGNATURE_HASH,
    IHub::WorkerRemoved::SIGNATURE_HASH,
    IHub::WorkerpoolMinStake::SIGNATURE_HASH,
    IHub::DrawnWorkerSlashed::SIGNATURE_HASH,
    IHub::AbsentAuditorSlashed::SIGNATURE_HASH,
];

/// Notes in `progress` the members of `workerpool` whose registry record the events `logs`
/// changed. A slash names its task, not its pool: its worker is noted whatever the pool, and
/// only a worker this scheduler serves is read again.
fn note_registry_changes(logs: &[Log], workerpool: Address, progress: &mut Progress) {
    let pool = workerpool.into_word();
    for log in logs {
        let topics = log.topics();
        let (Some(&event), ours) = (topics.first(), topics.get(1) == Some(&pool)) else {
            continue;
        };
        let slash = event == IHub::DrawnWorkerSlashed::SIGNATURE_HASH
            || event == IHub::AbsentAuditorSlashed::SIGNATURE_HASH;
        if event == IHub::WorkerpoolMinStake::SIGNATURE_HASH {
            progress.min_stake_changed |= ours;
        } else if (ours || slash)
            && let Some(worker) = topics.get(2)
        {
            progress.members_changed.push(Address::from_word(*worker));
        }
    }
}

/// Runs one pass: from the stored cursor (or the deployment block) to the latest block.
///
/// A pass stores each range's effects before it reads the next, so one that fails part way
/// (the chain gone mid-pass) has stored some: they come back with the error, their wake-ups
/// still owed.
pub async fn follow_once(
    client: &Client,
    store: &Store,
    workerpool: Address,
    options: FollowerOptions,
) -> Result<Progress, PassFailed<Progress>> {
    let mut progress = Progress::default();
    let result = follow_into(client, store, workerpool, options, &mut progress).await;
    PassFailed::ended(progress, result)
}

async fn follow_into(
    client: &Client,
    store: &Store,
    workerpool: Address,
    options: FollowerOptions,
    progress: &mut Progress,
) -> Result<(), SchedulerError> {
    let deployment = client.profile().deployment_block;
    let mut events = TASK_EVENTS.to_vec();
    events.push(IHub::DealCreated::SIGNATURE_HASH);
    events.extend(REGISTRY_EVENTS);
    let follower = Follower::new(
        client.provider().clone(),
        Filter::new()
            .address(client.profile().contracts.hub)
            .event_signature(events),
        follower::FollowerOptions {
            max_range: client.profile().max_log_range(),
            confirmations: client.profile().confirmations(),
            reorg_depth: options.reorg_depth.max(1),
        },
    )
    .map_err(|e| SchedulerError::Config(e.to_string()))?;
    // The store keeps the last block and its hash only: a reorg re-reads `reorg_depth` blocks.
    let mut cursor = match store.cursor().await? {
        None => Cursor::start_at(deployment),
        Some((block, hash)) => Cursor::resume(deployment, block, hash),
    };
    progress.block = cursor.next_block().saturating_sub(1);
    let mut suspects = BTreeSet::new();
    let mut seen = BTreeSet::new();
    loop {
        let step = follower
            .poll(&cursor)
            .await
            .map_err(|e| chain("following the hub's events", e))?;
        match step {
            Step::Idle => break,
            Step::Rewind(rewind) => {
                progress.reorg = true;
                suspects.extend(
                    store
                        .deals_after(rewind.orphaned_from.saturating_sub(1))
                        .await?,
                );
                // Stored with the next range's effects: a restart before then rewinds again.
                cursor = rewind.cursor;
            }
            Step::Batch(batch) => {
                let (registry, logs): (Vec<Log>, Vec<Log>) = batch
                    .logs
                    .into_iter()
                    .partition(|l| l.topic0().is_some_and(|t| REGISTRY_EVENTS.contains(t)));
                note_registry_changes(&registry, workerpool, progress);
                let (deals, tasks): (Vec<Log>, Vec<Log>) = logs
                    .into_iter()
                    .partition(|l| l.topic0() == Some(&IHub::DealCreated::SIGNATURE_HASH));
                let ours: Vec<Log> = deals
                    .into_iter()
                    .filter(|l| l.topics().get(2) == Some(&workerpool.into_word()))
                    .collect();
                for (deal_id, new) in read_deals(client, store, &ours, batch.from).await? {
                    seen.insert(deal_id);
                    if new {
                        progress.new_deals.push(deal_id);
                    }
                }
                // The cursor moves with the range's effects, in their transaction.
                let (block, hash) = batch.cursor.last().ok_or_else(|| {
                    chain(
                        "following the hub's events",
                        "a batch without its last block's hash",
                    )
                })?;
                let (applied, touched, contributors) =
                    apply_task_events(client, store, &tasks, batch.to, (block, hash)).await?;
                progress.task_events += applied;
                progress.touched.extend(touched);
                progress.contributors.extend(contributors);
                progress.block = block;
                cursor = batch.cursor;
            }
        }
    }
    for deal_id in suspects.difference(&seen) {
        if store.forget_deal(*deal_id).await? {
            tracing::warn!(%deal_id, "deal removed by a reorg: forgotten");
        } else {
            tracing::warn!(%deal_id, "deal removed by a reorg, but work was already handed out for it: kept");
        }
    }
    Ok(())
}

/// Stores the deals of the workerpool created by `logs` (its `DealCreated` events); returns
/// their ids and whether each was new.
async fn read_deals(
    client: &Client,
    store: &Store,
    logs: &[Log],
    from: u64,
) -> Result<Vec<(B256, bool)>, SchedulerError> {
    let mut out = Vec::new();
    for log in logs {
        let Ok(created) = log.log_decode::<IHub::DealCreated>() else {
            tracing::warn!(?log.transaction_hash, "undecodable DealCreated event skipped");
            continue;
        };
        let data = created.inner.data;
        let deal: Deal = (&data.deal).into();
        if decloud_protocol::ids::deal_id_of(&deal) != data.dealid {
            tracing::warn!(dealid = %data.dealid, "DealCreated whose deal does not hash to its id: skipped");
            continue;
        }
        fetch_resource(client, store, deal.app, "app").await?;
        if deal.dataset != Address::ZERO {
            fetch_resource(client, store, deal.dataset, "dataset").await?;
        }
        let row = DealRow {
            deal_id: data.dealid,
            deal,
            params: data.params,
            block_number: log.block_number.unwrap_or(from),
            start_time: log_time(client, log).await?,
        };
        let new = store.insert_deal(&row).await?;
        if new {
            tracing::info!(dealid = %row.deal_id, volume = row.volume(), trust = row.trust(), "new deal");
        }
        out.push((row.deal_id, new));
    }
    Ok(out)
}

/// Reads where an app or dataset is from its registration event (name and uri are not stored
/// on chain) and stores it, once.
async fn fetch_resource(
    client: &Client,
    store: &Store,
    address: Address,
    kind: &str,
) -> Result<(), SchedulerError> {
    if store.resource(address).await?.is_some() {
        return Ok(());
    }
    let contracts = &client.profile().contracts;
    let (registry, signature) = if kind == "app" {
        (
            contracts.app_registry,
            AppRegistry::AppRegistered::SIGNATURE_HASH,
        )
    } else {
        (
            contracts.dataset_registry,
            DatasetRegistry::DatasetRegistered::SIGNATURE_HASH,
        )
    };
    let filter = Filter::new()
        .address(registry)
        .event_signature(signature)
        .topic1(address.into_word());
    let logs = follower::get_logs_chunked(
        client.provider(),
        &filter,
        client.profile().deployment_block,
        None,
        client.profile().max_log_range(),
    )
    .await
    .map_err(|e| chain(&format!("reading the registration of {kind} {address}"), e))?;
    let resource = logs.iter().find_map(|log| {
        if kind == "app" {
            log.log_decode::<AppRegistry::AppRegistered>()
                .ok()
                .map(|e| {
                    let e = e.inner.data;
                    (e.name, e.uri, e.checksum)
                })
        } else {
            log.log_decode::<DatasetRegistry::DatasetRegistered>()
                .ok()
                .map(|e| {
                    let e = e.inner.data;
                    (e.name, e.uri, e.checksum)
                })
        }
    });
    match resource {
        Some((name, uri, checksum)) => {
            store
                .put_resource(&Resource {
                    address,
                    kind: kind.to_owned(),
                    name,
                    uri,
                    checksum,
                })
                .await
        }
        None => {
            tracing::warn!(%address, kind, "no registration event found for a deal's resource");
            Ok(())
        }
    }
}

/// Applies the task events `logs` (of blocks up to `to`) to the tasks the store knows (others
/// are other pools' tasks), and moves the stored cursor to `cursor` with them. Returns how many
/// were applied.
async fn apply_task_events(
    client: &Client,
    store: &Store,
    logs: &[Log],
    to: u64,
    cursor: (u64, B256),
) -> Result<(usize, Vec<(B256, B256, TaskStatus)>, Vec<Address>), SchedulerError> {
    // Read first (the range's tasks in one query), then write everything in one transaction;
    // the status each task has as of the events read so far decides the next change.
    let mut ids: Vec<B256> = logs
        .iter()
        .filter_map(|l| l.topics().get(1).copied())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let stored = store.tasks(&ids).await?;
    let mut known: HashMap<B256, (B256, TaskStatus)> = HashMap::new();
    let mut touched: HashMap<B256, (B256, TaskStatus)> = HashMap::new();
    let mut changes = Vec::new();
    let mut contributors = Vec::new();
    let mut weighed = Vec::new();
    for log in logs {
        let Some(task_id) = log.topics().get(1).copied() else {
            continue;
        };
        let (deal_id, current) = match known.get(&task_id) {
            Some(k) => *k,
            None => match stored.get(&task_id) {
                Some(task) => (task.deal_id, task.status),
                // Another pool's task.
                None => continue,
            },
        };
        let block = log.block_number.unwrap_or(to);
        let time = log_time(client, log).await?;
        let topic0 = log.topic0().copied().unwrap_or_default();
        let mut next = current;
        // An initialization, or a contribution (which initializes a task lazily), starts it.
        let mut starts = false;
        if topic0 == IHub::TaskInitialize::SIGNATURE_HASH {
            starts = true;
        } else if let Ok(e) = log.log_decode::<IHub::TaskContribute>() {
            let e = e.inner.data;
            contributors.push(e.worker);
            // The weight is read below, with the range's other contributions'.
            weighed.push((changes.len(), deal_id, task_id, e.worker));
            changes.push(TaskChange::Contribution {
                task_id,
                worker: e.worker,
                result_hash: e.resultHash,
                weight: None,
                at: time,
            });
            starts = true;
        } else if let Ok(e) = log.log_decode::<IHub::TaskConsensus>() {
            next = TaskStatus::Revealing;
            changes.push(TaskChange::Consensus {
                task_id,
                result_hash: e.inner.data.resultHash,
                at: time,
                block,
            });
        } else if let Ok(e) = log.log_decode::<IHub::TaskReveal>() {
            changes.push(TaskChange::Reveal {
                task_id,
                worker: e.inner.data.worker,
                at: time,
            });
        } else if let Ok(e) = log.log_decode::<IHub::TaskReopen>() {
            next = TaskStatus::Active;
            changes.push(TaskChange::Reopen {
                task_id,
                result_hash: e.inner.data.resultHash,
                at: time,
                block,
            });
        } else if let Ok(e) = log.log_decode::<IHub::TaskFinalize>() {
            let location = e.inner.data.resultsLocation;
            let location = match std::str::from_utf8(&location) {
                Ok(text) => text.to_owned(),
                Err(_) => location.to_string(),
            };
            next = TaskStatus::Completed;
            changes.push(TaskChange::Finalized {
                task_id,
                location,
                block,
            });
        } else if topic0 == IHub::TaskClaimed::SIGNATURE_HASH {
            next = TaskStatus::Failed;
            changes.push(TaskChange::Claimed { task_id, block });
        } else {
            continue;
        }
        if starts && current == TaskStatus::Unset {
            next = TaskStatus::Active;
            changes.push(TaskChange::Status {
                task_id,
                status: next,
                block,
            });
        }
        if !current.is_final() {
            known.insert(task_id, (deal_id, next));
        }
        // A final status may already be stored (the driver records its own finalize): the
        // event still says where the task stands.
        touched.insert(task_id, (deal_id, next));
    }
    for (at, weight) in contribution_weights(client, store, &weighed).await? {
        if let Some(TaskChange::Contribution { weight: w, .. }) = changes.get_mut(at) {
            *w = weight;
        }
    }
    let applied = changes.len();
    store.apply_and_move_cursor(&changes, Some(cursor)).await?;
    let touched = touched
        .into_iter()
        .map(|(task, (deal, status))| (task, deal, status))
        .collect();
    contributors.sort_unstable();
    contributors.dedup();
    Ok((applied, touched, contributors))
}

/// The weights the hub gave the replicated contributions `weighed` (each as its index among
/// the changes, its deal, task and worker), by index: `None` for trust ≤ 1 deals, or once the
/// record was cleared by a finalize. The reads go out together: one after the other, a pass
/// applying a dozen contributions waited a dozen round trips before freeing their slots.
async fn contribution_weights(
    client: &Client,
    store: &Store,
    weighed: &[(usize, B256, B256, Address)],
) -> Result<Vec<(usize, Option<u64>)>, SchedulerError> {
    let mut reads = Vec::new();
    for &(at, deal_id, task_id, worker) in weighed {
        // The store keeps a deal in memory once read: no read per contribution.
        if store.deal(deal_id).await?.is_some_and(|d| d.trust() > 1) {
            reads.push((at, task_id, worker));
        }
    }
    let hub = client.hub();
    let weights = futures::future::try_join_all(reads.iter().map(|&(_, task_id, worker)| {
        let call = hub.contribution(task_id, worker);
        async move {
            call.call()
                .await
                .map_err(|e| client.contract_error("reading a contribution", &e))
        }
    }))
    .await?;
    Ok(reads
        .iter()
        .zip(weights)
        .map(|(&(at, _, _), c)| (at, u64::try_from(c.weight).ok().filter(|w| *w > 0)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hub log of `event` with `topics` after it (no data: only the topics are read).
    fn log(event: B256, topics: &[B256]) -> Log {
        let mut all = vec![event];
        all.extend_from_slice(topics);
        Log {
            inner: alloy::primitives::Log::new_unchecked(
                Address::ZERO,
                all,
                alloy::primitives::Bytes::new(),
            ),
            ..Log::default()
        }
    }

    #[test]
    fn registry_events_name_the_pools_members_and_its_minimum() {
        let (ours, theirs) = (Address::repeat_byte(0xa), Address::repeat_byte(0xb));
        let [left, removed, capped, slashed, elsewhere] =
            [1u8, 2, 3, 4, 5].map(Address::repeat_byte);
        let task = B256::repeat_byte(7);
        let logs = [
            log(
                IHub::WorkerLeaving::SIGNATURE_HASH,
                &[ours.into_word(), left.into_word()],
            ),
            log(
                IHub::WorkerRemoved::SIGNATURE_HASH,
                &[ours.into_word(), removed.into_word()],
            ),
            log(
                IHub::WorkerAdmitted::SIGNATURE_HASH,
                &[ours.into_word(), capped.into_word()],
            ),
            log(
                IHub::DrawnWorkerSlashed::SIGNATURE_HASH,
                &[task, slashed.into_word()],
            ),
            log(
                IHub::WorkerRemoved::SIGNATURE_HASH,
                &[theirs.into_word(), elsewhere.into_word()],
            ),
            log(
                IHub::WorkerpoolMinStake::SIGNATURE_HASH,
                &[theirs.into_word()],
            ),
        ];
        let mut progress = Progress::default();
        note_registry_changes(&logs, ours, &mut progress);
        assert_eq!(
            progress.members_changed,
            vec![left, removed, capped, slashed]
        );
        assert!(
            !progress.min_stake_changed,
            "another pool's minimum changed"
        );
        note_registry_changes(
            &[log(
                IHub::WorkerpoolMinStake::SIGNATURE_HASH,
                &[ours.into_word()],
            )],
            ours,
            &mut progress,
        );
        assert!(progress.min_stake_changed);
    }
}
