//! Handing work to workers: which task a claiming worker gets (the oldest open task that still
//! needs replicas by the [`policy`](crate::policy) and that the worker does not hold yet), and
//! what it gets with it (the deal, the app and dataset locations, and the scheduler's
//! contribution authorization).
//!
//! Holding work is not owning it. A worker that would otherwise get nothing is given a
//! **backup** of a task whose holders have had it for [`BACKUP_AFTER_RATIO`] reference times
//! without contributing (MapReduce's backup tasks, BOINC's reissue): a worker that claims and
//! sits on work delays nobody who is idle, and the first valid contribution counts. A worker
//! that lets a replicate pass its grace (see [`crate::driver::release_overdue`]) is also paused
//! from claiming, longer each time until it contributes (see [`Store::strike`]).

use std::collections::HashMap;

use alloy::primitives::{Address, B256, Bytes};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolValue;
use decloud_protocol::pool::{Assignment, Authorization};
use decloud_protocol::result::sign_authorization;

pub use decloud_pool::DealPlacement;

use crate::SchedulerError;
use crate::db::{
    Claimant, DealRow, ReplicateInfo, ReplicateStatus, Store, TaskInfo, WorkerInfo, WorkerStatus,
};
use crate::policy::{TaskVotes, replicas_needed, weight_of};

/// How many open tasks one claim looks at, oldest first.
pub const CLAIM_SCAN: u32 = 500;

/// A replicate not contributed this many reference times after its assignment no longer keeps
/// its task from an idle worker: the sandbox stops an app after one reference time, so an
/// honest holder has finished computing by then and is at most sending its transaction.
pub const BACKUP_AFTER_RATIO: u64 = 1;

/// How many open tasks a claim reads first: a trust-1 claim takes the first one, and reading
/// all of [`CLAIM_SCAN`] would cost milliseconds on a big deal for nothing. Only when none of
/// these needs the worker is the whole scan read.
const CLAIM_FIRST_PAGE: u32 = 8;

/// Builds the assignment of `task` to `worker` (signing its authorization).
pub async fn assignment(
    store: &Store,
    signer: &PrivateKeySigner,
    deal: &DealRow,
    task: &TaskInfo,
    worker: Address,
) -> Result<Assignment, SchedulerError> {
    let enclave = Address::ZERO;
    let sign = sign_authorization(signer, worker, task.task_id, enclave)
        .map_err(|e| SchedulerError::Config(format!("cannot sign an authorization: {e}")))?;
    let authorization = Authorization {
        worker,
        task_id: task.task_id,
        enclave,
        sign,
    };
    assignment_with(store, deal, task, authorization).await
}

/// The assignment of `task` with `authorization` as given (unsigned for a drawn worker, whose
/// proof the caller adds).
pub(crate) async fn assignment_with(
    store: &Store,
    deal: &DealRow,
    task: &TaskInfo,
    authorization: Authorization,
) -> Result<Assignment, SchedulerError> {
    let dataset = if deal.deal.dataset == Address::ZERO {
        None
    } else {
        store.resource(deal.deal.dataset).await?
    };
    Ok(Assignment {
        task_id: task.task_id,
        deal_id: deal.deal_id,
        index: task.index,
        deal: Bytes::from(deal.deal.abi_encode()),
        trust: deal.trust(),
        category: u64::try_from(deal.deal.category).unwrap_or(u64::MAX),
        work_clock_time_ref: deal.reference_secs(),
        start_time: deal.start_time,
        callback: deal.deal.callback,
        params: deal.params.clone(),
        app: store.resource(deal.deal.app).await?,
        dataset,
        authorization,
        drawn: None,
        audit: None,
    })
}

/// What the policy sees of a task from its replicates: contributions on chain (of the current
/// epoch) and pending workers (assigned to a worker that is alive and, when `backups_at` is
/// not 0, whose backup time is after `backups_at`: a stale holder counts for nothing to a
/// backup). A worker's report counts for nothing here: a replicate reported contributed that
/// the chain does not show yet is still assigned, and once its worker is lost it is nobody's.
pub async fn votes(
    store: &Store,
    trust: u64,
    replicates: &[ReplicateInfo],
    backups_at: u64,
) -> Result<TaskVotes, SchedulerError> {
    let workers = holders(store, replicates).await?;
    Ok(tally(trust, replicates, backups_at, &workers))
}

/// The workers that hold the assigned ones of `replicates`, in one query.
async fn holders<'a>(
    store: &Store,
    replicates: impl IntoIterator<Item = &'a ReplicateInfo>,
) -> Result<HashMap<Address, WorkerInfo>, SchedulerError> {
    let mut holders: Vec<Address> = replicates
        .into_iter()
        .filter(|r| r.status == ReplicateStatus::Assigned)
        .map(|r| r.worker)
        .collect();
    holders.sort_unstable();
    holders.dedup();
    store.workers_in(&holders).await
}

/// The replicates of `task_ids` by task, and the workers that hold the assigned ones, in two
/// queries.
async fn replicates_and_holders(
    store: &Store,
    task_ids: &[B256],
) -> Result<
    (
        HashMap<B256, Vec<ReplicateInfo>>,
        HashMap<Address, WorkerInfo>,
    ),
    SchedulerError,
> {
    let replicates = store.replicates_of_tasks(task_ids).await?;
    let holders = holders(store, replicates.values().flatten()).await?;
    Ok((replicates, holders))
}

/// [`votes`] from the rows already read: `workers` holds (at least) the workers of the
/// assigned replicates; one missing counts as not registered.
fn tally(
    trust: u64,
    replicates: &[ReplicateInfo],
    backups_at: u64,
    workers: &HashMap<Address, WorkerInfo>,
) -> TaskVotes {
    let mut votes = TaskVotes {
        trust,
        ..TaskVotes::default()
    };
    for r in replicates {
        match (r.status, r.result_hash) {
            (ReplicateStatus::Contributed | ReplicateStatus::Revealed, Some(hash)) => votes
                .contributions
                .push((hash, r.weight.unwrap_or(weight_of(0)))),
            (ReplicateStatus::Assigned, _) => {
                let stale = backups_at > 0 && r.backup_at.is_some_and(|at| at <= backups_at);
                if !stale
                    && let Some(worker) = workers.get(&r.worker)
                    && worker.status == WorkerStatus::Active
                {
                    votes.pending.push(weight_of(worker.score));
                }
            }
            _ => {}
        }
    }
    votes
}

/// What a claim got.
#[derive(Debug)]
pub enum Claim {
    /// Replicates (at least one), durably assigned: [`hand_out`] makes their assignments.
    Assigned(Vec<Assigned>),
    /// The worker is at capacity.
    Busy,
    /// The worker let work pass its grace and gets nothing new before this time (unix
    /// seconds), unless a contribution of its own reaches the chain first.
    Paused(u64),
    /// Some task needs replicas, but none this worker may take (it holds them already), or
    /// none until `backups_at` (a held task then takes a backup).
    NothingForThisWorker {
        /// When a task held by others opens to a backup, if any does.
        backups_at: Option<u64>,
    },
    /// No open task needs a replica at all: no worker can get anything until something
    /// changes, or until `backups_at`.
    NoWork {
        /// When a task held by others opens to a backup, if any does.
        backups_at: Option<u64>,
    },
}

/// A replicate a claim wrote, before its assignment is made.
#[derive(Debug)]
pub struct Assigned {
    /// The task's deal.
    deal: DealRow,
    /// The task.
    task: TaskInfo,
    /// Whether it is a backup of a task others hold past their backup time.
    backup: bool,
}

/// The assignments of `assigned` (replicates [`try_assign`] wrote for `worker`), each with its
/// signed authorization. Made after the claims' lock is released: signing needs no order.
pub async fn hand_out(
    store: &Store,
    signer: &PrivateKeySigner,
    worker: Address,
    assigned: Vec<Assigned>,
) -> Result<Vec<Assignment>, SchedulerError> {
    let mut out = Vec::with_capacity(assigned.len());
    for Assigned { deal, task, backup } in assigned {
        tracing::info!(task = %task.task_id, worker = %worker, backup, "replicate assigned");
        out.push(assignment(store, signer, &deal, &task, worker).await?);
    }
    Ok(out)
}

/// A task a claim picked, before it is written.
struct Pick {
    task: TaskInfo,
    backup_at: u64,
    backup: bool,
}

/// Assigns to `worker`, durably, up to `max` (at least one, at most its free capacity) of the
/// oldest open tasks that need another replica, or, when there is none for it, backups of the
/// oldest tasks whose holders are past their backup time (see [`BACKUP_AFTER_RATIO`]), among
/// the tasks `placement` lets this worker run. The replicates of one claim are written in one
/// transaction (one commit however many they are). The caller serializes calls (not
/// [`hand_out`]'s).
pub async fn try_assign(
    store: &Store,
    claimant: &Claimant,
    placement: &DealPlacement,
    now: u64,
    max: u64,
) -> Result<Claim, SchedulerError> {
    let Claimant {
        worker,
        paused_until,
        held,
    } = claimant;
    let (paused_until, held) = (*paused_until, *held);
    if paused_until > now {
        return Ok(Claim::Paused(paused_until));
    }
    if held >= worker.capacity {
        return Ok(Claim::Busy);
    }
    let room = usize::try_from((worker.capacity - held).min(max.max(1))).unwrap_or(usize::MAX);
    let mut deals: HashMap<B256, Option<DealRow>> = HashMap::new();
    let mut any_need = false;
    let mut picks: Vec<Pick> = Vec::new();
    // Fresh work first; backups only for a worker that would otherwise get nothing.
    for backups_at in [0, now] {
        let first_page = CLAIM_FIRST_PAGE.max(u32::try_from(room).unwrap_or(CLAIM_SCAN));
        for limit in [first_page.min(CLAIM_SCAN), CLAIM_SCAN] {
            let candidates = store
                .claim_candidates(worker.address, limit, backups_at)
                .await?;
            let all_read = (candidates.len() as u64) < u64::from(limit);
            // The page's replicates and their workers in two queries: a claim walks past every
            // task already covered (three replicas in flight each, at the front of the queue),
            // and one read per task and per worker made it the pool's bottleneck.
            let mut ids = Vec::new();
            for task in &candidates {
                // A trust ≤ 1 candidate has nobody on it (the query says so): nothing to read.
                if let Some(deal) = cached_deal(store, &mut deals, task.deal_id).await?
                    && deal.trust() > 1
                {
                    ids.push(task.task_id);
                }
            }
            let (replicates, holders) = replicates_and_holders(store, &ids).await?;
            for task in candidates {
                if picks.len() >= room {
                    break;
                }
                if picks.iter().any(|p| p.task.task_id == task.task_id) {
                    continue;
                }
                let Some(deal) = cached_deal(store, &mut deals, task.deal_id).await? else {
                    continue;
                };
                // A random-selection deal's workers are drawn, never chosen here
                // (crate::random hands them their positions).
                if crate::random::is_random(deal) {
                    continue;
                }
                // A trust ≤ 1 candidate has nobody on it (the query says so): it needs this
                // worker.
                if deal.trust() > 1 {
                    let of_task = replicates.get(&task.task_id).map_or(&[][..], Vec::as_slice);
                    let votes = tally(deal.trust(), of_task, backups_at, &holders);
                    // Zero or not, whatever the new worker's weight (zero means the pending
                    // workers already suffice).
                    if replicas_needed(&votes, weight_of(worker.score)) == 0 {
                        continue;
                    }
                }
                // A TEE task whose enclave is held (by a worker computing it, or lost after
                // its release) can go to nobody else: key holders release to one enclave.
                let tee = crate::tee::is_tee(deal);
                if tee && crate::tee::blocked(store, task.task_id).await? {
                    continue;
                }
                any_need = true;
                // A TEE task goes only to a worker that runs enclaves; it waits for one.
                if tee && !crate::tee::runs_tee(worker) {
                    continue;
                }
                // Confinement: a task of a private or group app (or dataset) goes only to a
                // worker the pool lets run it; it waits for one, whoever else claims.
                if !placement.allows(worker.address, deal.deal.app, deal.deal.dataset) {
                    continue;
                }
                let backup_at = now.saturating_add(
                    deal.reference_secs()
                        .max(1)
                        .saturating_mul(BACKUP_AFTER_RATIO),
                );
                picks.push(Pick {
                    task,
                    backup_at,
                    backup: backups_at > 0,
                });
            }
            if all_read || picks.len() >= room {
                break;
            }
        }
        if !picks.is_empty() {
            break;
        }
    }
    if !picks.is_empty() {
        // Durable before they are handed out: the rows commit (together) before the answer.
        let rows: Vec<(B256, u64)> = picks
            .iter()
            .map(|p| (p.task.task_id, p.backup_at))
            .collect();
        let written = store.assign_many(worker.address, now, &rows).await?;
        let mut assigned = Vec::with_capacity(picks.len());
        for (pick, written) in picks.into_iter().zip(written) {
            let Some(Some(deal)) = deals.get(&pick.task.deal_id).filter(|_| written) else {
                continue;
            };
            assigned.push(Assigned {
                deal: deal.clone(),
                task: pick.task,
                backup: pick.backup,
            });
        }
        if !assigned.is_empty() {
            return Ok(Claim::Assigned(assigned));
        }
    }
    let backups_at = store.next_backup_at(now).await?;
    // Nothing for this worker; is there anything for anyone (tasks it holds itself)?
    if !any_need {
        let mut replicated = Vec::new();
        for task in store.claim_candidates(Address::ZERO, CLAIM_SCAN, 0).await? {
            let Some(trust) = cached_deal(store, &mut deals, task.deal_id)
                .await?
                .filter(|d| !crate::random::is_random(d))
                .map(DealRow::trust)
            else {
                continue;
            };
            if trust <= 1 {
                any_need = true;
                break;
            }
            replicated.push((task.task_id, trust));
        }
        if !any_need {
            // Read together, as for the claim's own candidates: once every open task is
            // covered, each claim that finds nothing would otherwise read them all one by one.
            let ids: Vec<B256> = replicated.iter().map(|(task, _)| *task).collect();
            let (replicates, holders) = replicates_and_holders(store, &ids).await?;
            any_need = replicated.iter().any(|(task, trust)| {
                let of_task = replicates.get(task).map_or(&[][..], Vec::as_slice);
                replicas_needed(&tally(*trust, of_task, 0, &holders), weight_of(0)) > 0
            });
        }
    }
    Ok(if any_need {
        Claim::NothingForThisWorker { backups_at }
    } else {
        Claim::NoWork { backups_at }
    })
}

/// The deal `deal_id` from `deals`, read from the store the first time (`None` when the store
/// does not know it).
pub(crate) async fn cached_deal<'a>(
    store: &Store,
    deals: &'a mut HashMap<B256, Option<DealRow>>,
    deal_id: B256,
) -> Result<Option<&'a DealRow>, SchedulerError> {
    let deal = match deals.entry(deal_id) {
        std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
        std::collections::hash_map::Entry::Vacant(slot) => slot.insert(store.deal(deal_id).await?),
    };
    Ok(deal.as_ref())
}
