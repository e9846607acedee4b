//! Spot checks (docs/randomness.md#spot-checks): a task of a spot-checked random deal is
//! finalized only against its audit, and nobody in the pool has to send a transaction by hand.
//!
//! For each revealing task of such a deal, every pass (`drive_once`):
//!
//! - makes sure the task's audit round is on chain (fetched from the beacon's HTTP API and
//!   submitted, as the waves' rounds are) and reads `audit(deal, index)`;
//! - when the task is audited, draws its auditors from the chain ([`decloud_chain::audit`]: the
//!   snapshot, the round, the task's contributors) and hands each, when it claims (`claim`),
//!   an audit assignment with its position's proof; tells them to reveal once the audit reached
//!   consensus (`next`);
//! - tells the task's own contributors to reveal (the API's `next`, `reveals_open`) only once
//!   the hub takes their `revealSpotChecked`: the round does not audit the task, or the audit
//!   reached consensus, or its window closed (no auditor can copy their digest any more);
//! - after the audit window closed without consensus, slashes the drawn auditors that did not
//!   contribute (`slashAbsentAuditor`, a void audit);
//! - once the task's reveals are in (as for any task) and the audit is settled (or the round
//!   says the task is not audited), calls `finalizeAudited` with the task's and the audit's
//!   contributors. A contradicted audit fails the task: it is logged and marked failed in the
//!   store, and nothing retries it;
//! - when a task it drew auditors for is claimed instead (failed, audit unsettled), gives the
//!   auditors their stakes back (`releaseAudit`).
//!
//! Everything here is in memory and rebuilt from the chain after a restart; the hub recomputes
//! every auditor's position, so nothing here is trusted by anyone.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes};
use decloud_chain::audit::{self, AuditState, AuditedFinalize, Verdict};
use decloud_chain::client::Client;
use decloud_chain::contracts::IHub;
use decloud_chain::selection::DealSnapshot;
use decloud_protocol::Tag;
use decloud_protocol::pool::{Assignment, AuditPosition, Authorization, NextAction};

use crate::assign::cached_deal;
use crate::db::{DealRow, TaskChange, TaskInfo, TaskStatus};
use crate::driver::{Decision, decide};
use crate::{SchedulerError, Shared};

/// Most revealing tasks looked at in one pass.
const SCAN: u32 = 2_000;

/// Whether `deal`'s tasks are spot-checked: a random deal whose tag carries a q byte.
pub fn is_spot_checked(deal: &DealRow) -> bool {
    decloud_protocol::spot::is_spot_checked(Tag(deal.deal.tag))
}

/// A task's audit, with its auditors drawn from the chain.
#[derive(Clone, Debug)]
struct AuditDraw {
    deal_id: B256,
    task_id: B256,
    index: u64,
    audit: audit::Audit,
    snapshot: Arc<DealSnapshot>,
    /// (position, worker), in position order.
    auditors: Vec<(u64, Address)>,
}

/// What the scheduler knows of its audits, in memory, rebuilt from the chain after a restart.
#[derive(Default)]
pub(crate) struct SpotState {
    /// The audits of revealing audited tasks, by task.
    audits: tokio::sync::Mutex<HashMap<B256, AuditDraw>>,
    /// (audit, worker) pairs handed out (a worker holds an audit once).
    given: tokio::sync::Mutex<HashSet<(B256, Address)>>,
    /// (audit, worker) pairs whose absence was dealt with.
    absences: tokio::sync::Mutex<HashSet<(B256, Address)>>,
    /// Audits seen revealing: their auditors were woken to reveal once, not at every pass.
    revealing: tokio::sync::Mutex<HashSet<B256>>,
    /// Tasks whose contributors the hub lets reveal (`revealSpotChecked`): their digest can no
    /// longer be copied into the audit. Until then `next` tells them to wait.
    reveal_open: tokio::sync::Mutex<HashSet<B256>>,
}

/// Drives the spot-checked tasks every `interval`; errors are logged and retried.
pub(crate) async fn drive(shared: Arc<Shared>, interval: Duration) {
    if shared.client.profile().contracts.beacon.is_zero() {
        return;
    }
    loop {
        match drive_once(&shared).await {
            Ok(true) => {
                // Drawn workers, audits and reveals: not itemized, so everyone looks.
                shared.wakes.work_for_all();
                shared.wakes.all_tasks_changed();
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "driving spot-checked tasks failed; retrying"),
        }
        tokio::time::sleep(interval).await;
    }
}

/// One pass over the revealing tasks of spot-checked deals. Returns whether anything changed
/// that a waiting worker may act on (a new audit drawn, an audit's consensus, a settlement). A
/// task that fails is logged and left for the next pass; the others go on, and what changed
/// still wakes the claims.
async fn drive_once(shared: &Shared) -> Result<bool, SchedulerError> {
    let client = &shared.client;
    let tasks = shared.store.tasks_in(TaskStatus::Revealing, SCAN).await?;
    let mut deals: HashMap<B256, Option<DealRow>> = HashMap::new();
    let mut revealing = HashSet::new();
    let mut changed = false;
    let now = crate::random::now(client).await?;
    for task in tasks {
        let deal = match cached_deal(&shared.store, &mut deals, task.deal_id).await {
            Ok(deal) => deal.filter(|d| is_spot_checked(d)),
            Err(e) => {
                // Still revealing as far as this pass knows: its audit is kept.
                revealing.insert(task.task_id);
                tracing::warn!(task = %task.task_id, error = %e, "reading a spot-checked task's deal failed; retrying");
                continue;
            }
        };
        let Some(deal) = deal else { continue };
        revealing.insert(task.task_id);
        match drive_task(shared, deal, &task, now).await {
            Ok(c) => changed |= c,
            Err(e) => {
                tracing::warn!(task = %task.task_id, error = %e, "driving a spot-checked task failed; retrying")
            }
        }
    }
    // Forget the audits of tasks no longer revealing (settled, reopened, claimed, given up), and
    // what was noted of them: nothing here grows with the pool's history. A claimed task's
    // auditors first get their stakes back (kept for the next pass when that fails).
    let gone: Vec<AuditDraw> = shared
        .spot
        .audits
        .lock()
        .await
        .iter()
        .filter(|(task, _)| !revealing.contains(*task))
        .map(|(_, d)| d.clone())
        .collect();
    for draw in gone {
        match release_if_claimed(shared, &draw).await {
            Ok(()) => {
                shared.spot.audits.lock().await.remove(&draw.task_id);
            }
            Err(e) => {
                tracing::warn!(task = %draw.task_id, error = %e, "releasing a claimed task's auditors failed; retrying")
            }
        }
    }
    let live: HashSet<B256> = {
        let audits = shared.spot.audits.lock().await;
        audits.values().map(|d| d.audit.audit_id).collect()
    };
    let spot = &shared.spot;
    spot.given.lock().await.retain(|(a, _)| live.contains(a));
    spot.absences.lock().await.retain(|(a, _)| live.contains(a));
    spot.revealing.lock().await.retain(|a| live.contains(a));
    spot.reveal_open
        .lock()
        .await
        .retain(|t| revealing.contains(t));
    Ok(changed)
}

/// One revealing task of a spot-checked deal at chain time `now`.
async fn drive_task(
    shared: &Shared,
    deal: &DealRow,
    task: &TaskInfo,
    now: u64,
) -> Result<bool, SchedulerError> {
    let client = &shared.client;
    let d: IHub::Deal = (&deal.deal).into();
    let known = shared.spot.audits.lock().await.get(&task.task_id).cloned();
    let draw = match known {
        Some(draw) => draw,
        None => {
            let a = audit::audit(client, &d, task.index).await?;
            match a.state {
                AuditState::Unknown => {
                    // The round is due two beacon periods after the consensus; nobody else may
                    // need it, so the scheduler submits it.
                    if a.round != 0 {
                        crate::random::round_on_chain(client, &shared.random, a.round, now).await;
                    }
                    // Without the round past the window's end (the beacon was down): no audit
                    // can be committed any more, the hub takes the reveals.
                    return Ok(a.round != 0
                        && now >= a.closes_at
                        && open_reveals(shared, task.task_id).await);
                }
                AuditState::NotAudited => {
                    let opened = open_reveals(shared, task.task_id).await;
                    return Ok(settle(shared, deal, task, now, None).await? || opened);
                }
                AuditState::Audited => {
                    let Some(draw) = draw_auditors(shared, deal, task, a).await? else {
                        return Ok(false);
                    };
                    shared
                        .spot
                        .audits
                        .lock()
                        .await
                        .insert(task.task_id, draw.clone());
                    // Waiting claims may now get the audit.
                    return Ok(true);
                }
            }
        }
    };
    let view = client
        .read("reading an audit", client.hub().task(draw.audit.audit_id))
        .await?;
    let contributed = contributed_auditors(client, &draw).await?;
    if view.status == TaskStatus::Revealing.as_u8() {
        // The audit reached consensus: no auditor commits any more, the task's contributors and
        // its auditors reveal (the next endpoint says so), then the settlement waits for every
        // reveal of the consensus or the audit's reveal deadline.
        let opened = open_reveals(shared, task.task_id).await;
        let mut revealed = 0u64;
        for w in &contributed {
            let c = client
                .read(
                    "reading an auditor's contribution",
                    client.hub().contribution(draw.audit.audit_id, *w),
                )
                .await?;
            if c.status == 2 {
                revealed += 1;
            }
        }
        let deadline: u64 = view.revealDeadline.saturating_to();
        if revealed < u64::from(view.expectedReveals) && now < deadline {
            // The auditors' `next` long-polls are woken the first time only: waking every
            // waiting worker at each pass until the reveals are in would be a busy loop.
            let woken = shared
                .spot
                .revealing
                .lock()
                .await
                .insert(draw.audit.audit_id);
            return Ok(woken || opened);
        }
        return Ok(settle(shared, deal, task, now, Some((&draw, contributed))).await? || opened);
    }
    if now < draw.audit.closes_at {
        return Ok(false);
    }
    // The window closed without the audit's consensus: a void audit, nothing left to copy into.
    // The drawn auditors that did not contribute are slashed first (once each), then the task
    // settles as `finalize` once its contributors revealed.
    let opened = open_reveals(shared, task.task_id).await;
    slash_absent_auditors(shared, deal, &draw, &contributed).await;
    Ok(settle(shared, deal, task, now, Some((&draw, contributed))).await? || opened)
}

/// Whether the auditors' stakes of an audit with `contributions` contributors are still frozen
/// by a task that failed by `claim`: the task is failed and its audit neither completed (a
/// settlement, a contradiction's included) nor failed (already released, or void).
fn frozen_by_claim(task_status: u8, audit_status: u8, contributions: usize) -> bool {
    task_status == TaskStatus::Failed.as_u8()
        && audit_status != TaskStatus::Completed.as_u8()
        && audit_status != TaskStatus::Failed.as_u8()
        && contributions > 0
}

/// When the task of `draw` was claimed (its final deadline passed unfinalized) after auditors
/// contributed, gives them their stakes back (`releaseAudit`): nothing else would.
async fn release_if_claimed(shared: &Shared, draw: &AuditDraw) -> Result<(), SchedulerError> {
    let client = &shared.client;
    let task = client
        .read("reading a task", client.hub().task(draw.task_id))
        .await?;
    let audit = client
        .read("reading an audit", client.hub().task(draw.audit.audit_id))
        .await?;
    if !frozen_by_claim(task.status, audit.status, usize::from(audit.contributions)) {
        return Ok(());
    }
    let Some(deal) = shared.store.deal(draw.deal_id).await? else {
        return Ok(());
    };
    let contributed = contributed_auditors(client, draw).await?;
    let auditors = with_earlier_auditors(client, draw, deal.block_number, contributed).await?;
    audit::release_audit(client, (&deal.deal).into(), draw.index, auditors.clone()).await?;
    tracing::info!(task = %draw.task_id, auditors = ?auditors, "claimed task: its auditors' stakes released");
    Ok(())
}

/// Notes that the hub now takes the reveals of `task`'s contributors; returns whether that is
/// news (their waiting `next` long-polls are then woken, once).
async fn open_reveals(shared: &Shared, task: B256) -> bool {
    shared.spot.reveal_open.lock().await.insert(task)
}

/// Whether the contributors of `task`, of a spot-checked deal, may reveal: the hub takes their
/// reveals (`revealSpotChecked`) only once no auditor can copy their digest, which the pass
/// over the spot-checked tasks reads from the chain.
pub(crate) async fn reveals_open(shared: &Shared, task: B256) -> bool {
    shared.spot.reveal_open.lock().await.contains(&task)
}

/// The auditors of an audited task, drawn from the chain; `None` (logged) while the deal's
/// snapshot or the round can't be read.
async fn draw_auditors(
    shared: &Shared,
    deal: &DealRow,
    task: &TaskInfo,
    a: audit::Audit,
) -> Result<Option<AuditDraw>, SchedulerError> {
    let client = &shared.client;
    let Some(snapshot) = crate::random::deal_snapshot(client, &shared.random, deal).await else {
        return Ok(None);
    };
    let Some(randomness) = decloud_chain::selection::randomness(client, a.round).await? else {
        return Ok(None);
    };
    let contributors = audit::contributors(client, task.task_id, deal.block_number).await?;
    let auditors = audit::auditors(
        randomness,
        task.task_id,
        task.index,
        deal.trust(),
        &snapshot.workers,
        &contributors,
    );
    tracing::info!(task = %task.task_id, round = a.round, auditors = ?auditors.iter().map(|(_, w)| *w).collect::<Vec<_>>(), "task audited: auditors drawn");
    Ok(Some(AuditDraw {
        deal_id: deal.deal_id,
        task_id: task.task_id,
        index: task.index,
        audit: a,
        snapshot,
        auditors,
    }))
}

/// The drawn auditors that contributed to the audit, in the increasing address order the hub
/// wants (only drawn auditors can contribute, so this is the audit's complete list unless the
/// task was reopened after an earlier consensus: [`with_earlier_auditors`]).
async fn contributed_auditors(
    client: &Client,
    draw: &AuditDraw,
) -> Result<Vec<Address>, SchedulerError> {
    let mut out = Vec::new();
    for (_, w) in &draw.auditors {
        if audit::has_contributed(client, draw.audit.audit_id, *w).await? {
            out.push(*w);
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// `contributed` plus the auditors of an earlier audit round of the same task that still hold a
/// contribution (a task reopened after its consensus keeps its audit's records, and the hub
/// wants the complete list), from their `AuditContribution` events since block `from`; in
/// increasing address order. Read only once the task is ready to settle.
async fn with_earlier_auditors(
    client: &Client,
    draw: &AuditDraw,
    from: u64,
    mut contributed: Vec<Address>,
) -> Result<Vec<Address>, SchedulerError> {
    for (_, w) in audit::audit_contributions(client, draw.task_id, from).await? {
        if !contributed.contains(&w)
            && audit::has_contributed(client, draw.audit.audit_id, w).await?
        {
            contributed.push(w);
        }
    }
    contributed.sort();
    Ok(contributed)
}

/// Slashes the drawn auditors absent from a void audit (anyone may; the hub checks). Each is
/// tried once per run; a refusal is logged.
async fn slash_absent_auditors(
    shared: &Shared,
    deal: &DealRow,
    draw: &AuditDraw,
    contributed: &[Address],
) {
    for (position, worker) in &draw.auditors {
        let key = (draw.audit.audit_id, *worker);
        if contributed.contains(worker) || !shared.spot.absences.lock().await.insert(key) {
            continue;
        }
        let proof = audit::proof(&draw.snapshot, *position);
        match audit::slash_absent_auditor(&shared.client, (&deal.deal).into(), draw.index, proof)
            .await
        {
            Ok(_) => {
                tracing::warn!(task = %draw.task_id, %worker, position, "drawn auditor absent from its audit: slashed")
            }
            Err(e) => {
                tracing::info!(task = %draw.task_id, %worker, error = %e, "absent auditor not slashed")
            }
        }
    }
}

/// Finalizes `task` against its audit once its own reveals are in (the driver's rule), with
/// `audit` its drawn auditors and those of them that contributed (none: not audited). Returns
/// whether it was settled.
async fn settle(
    shared: &Shared,
    deal: &DealRow,
    task: &TaskInfo,
    now: u64,
    audit: Option<(&AuditDraw, Vec<Address>)>,
) -> Result<bool, SchedulerError> {
    let client = &shared.client;
    let replicates = shared.store.replicates(task.task_id).await?;
    let Decision::Finalize(ready) = decide(deal, task, &replicates, now) else {
        return Ok(false);
    };
    let Some(digest) = audit::revealed_digest(client, task.task_id, deal.block_number).await?
    else {
        return Ok(false);
    };
    let auditors = match audit {
        Some((draw, contributed)) => {
            with_earlier_auditors(client, draw, deal.block_number, contributed).await?
        }
        None => Vec::new(),
    };
    let f = AuditedFinalize {
        results_location: ready.location.clone(),
        callback_data: ready.callback_data.clone(),
        workers: ready.workers.clone(),
        auditors,
        digest,
    };
    let (receipt, verdict) = match audit::finalize_audited(
        client,
        (&deal.deal).into(),
        task.index,
        f,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(task = %task.task_id, error = %e, "finalizing an audited task failed; retrying later");
            return Ok(false);
        }
    };
    let block = receipt.block_number.unwrap_or_default();
    if verdict == Some(Verdict::Contradicted) {
        // The task failed on chain: the requester was refunded, its contributors lost their
        // stakes to the auditors. Final: nothing retries it.
        tracing::warn!(task = %task.task_id, "the audit contradicted the task's consensus: the task failed, its contributors were slashed and the auditors paid");
        shared
            .store
            .apply(&[TaskChange::Status {
                task_id: task.task_id,
                status: TaskStatus::Failed,
                block,
            }])
            .await?;
    } else {
        shared
            .store
            .apply(&[TaskChange::Finalized {
                task_id: task.task_id,
                location: ready.location.clone(),
                block,
            }])
            .await?;
        tracing::info!(task = %task.task_id, verdict = ?verdict, location = %ready.location, "spot-checked task finalized");
    }
    Ok(true)
}

/// An audit `worker` was drawn for, whose window is open and which it holds no contribution
/// to yet, as an assignment with its position's proof; `None` when it audits nothing now.
pub(crate) async fn claim(
    shared: &Shared,
    worker: Address,
) -> Result<Option<Assignment>, SchedulerError> {
    let now = crate::api::unix_now();
    let mine: Vec<(AuditDraw, u64)> = shared
        .spot
        .audits
        .lock()
        .await
        .values()
        .filter(|d| now < d.audit.closes_at)
        .filter_map(|d| {
            d.auditors
                .iter()
                .find(|(_, w)| *w == worker)
                .map(|(p, _)| (d.clone(), *p))
        })
        .collect();
    for (draw, position) in mine {
        if shared
            .spot
            .given
            .lock()
            .await
            .contains(&(draw.audit.audit_id, worker))
        {
            continue;
        }
        // After a restart the memory is empty: the chain says whether it already contributed.
        if audit::has_contributed(&shared.client, draw.audit.audit_id, worker).await? {
            shared
                .spot
                .given
                .lock()
                .await
                .insert((draw.audit.audit_id, worker));
            continue;
        }
        let (Some(deal), Some(task)) = (
            shared.store.deal(draw.deal_id).await?,
            shared.store.task(draw.task_id).await?,
        ) else {
            continue;
        };
        if !shared
            .spot
            .given
            .lock()
            .await
            .insert((draw.audit.audit_id, worker))
        {
            continue;
        }
        tracing::info!(task = %draw.task_id, %worker, position, "drawn auditor given its audit");
        let authorization = Authorization {
            worker,
            task_id: draw.task_id,
            enclave: Address::ZERO,
            sign: Bytes::new(),
        };
        let mut assignment =
            crate::assign::assignment_with(&shared.store, &deal, &task, authorization).await?;
        assignment.audit = Some(AuditPosition {
            audit_id: draw.audit.audit_id,
            round: draw.audit.round,
            position,
            closes_at: draw.audit.closes_at,
            snapshot_index: draw.snapshot.index,
            snapshot: draw.snapshot.workers.clone(),
        });
        return Ok(Some(assignment));
    }
    Ok(None)
}

/// What the auditor `worker` of the audit `audit_id` does next, read from the chain: reveal
/// once the audit reached consensus (the worker checks the consensus is its own result), done
/// once it is settled; `None` when `audit_id` is no audit this scheduler drives (an ordinary
/// task id).
pub(crate) async fn next(
    shared: &Shared,
    audit_id: B256,
    worker: Address,
) -> Result<Option<NextAction>, SchedulerError> {
    let known = shared
        .spot
        .audits
        .lock()
        .await
        .values()
        .find(|d| d.audit.audit_id == audit_id)
        .map(|d| d.auditors.iter().any(|(_, w)| *w == worker));
    let Some(drawn) = known else {
        return Ok(None);
    };
    if !drawn {
        return Ok(Some(NextAction::Done {
            reason: "the worker is not one of this audit's auditors".into(),
        }));
    }
    let client = &shared.client;
    let view = client
        .read("reading an audit", client.hub().task(audit_id))
        .await?;
    Ok(Some(match TaskStatus::from_u8(view.status) {
        Some(TaskStatus::Revealing) => NextAction::Reveal {
            deadline: view.revealDeadline.saturating_to(),
        },
        Some(s) if s.is_final() => NextAction::Done {
            reason: format!("the audit is {s}"),
        },
        _ => NextAction::Wait,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_claimed_tasks_unsettled_audit_is_released() {
        let (failed, completed) = (TaskStatus::Failed.as_u8(), TaskStatus::Completed.as_u8());
        let (active, revealing) = (TaskStatus::Active.as_u8(), TaskStatus::Revealing.as_u8());
        assert!(
            frozen_by_claim(failed, active, 1),
            "claimed before the audit's consensus"
        );
        assert!(frozen_by_claim(failed, revealing, 2), "claimed after it");
        assert!(
            !frozen_by_claim(failed, completed, 2),
            "a contradiction settled it"
        );
        assert!(!frozen_by_claim(failed, failed, 2), "already released");
        assert!(!frozen_by_claim(failed, 0, 0), "nobody audited");
        assert!(
            !frozen_by_claim(completed, revealing, 2),
            "finalized: settled there"
        );
        assert!(
            !frozen_by_claim(active, revealing, 2),
            "reopened: still to settle"
        );
    }
}
