//! Drives revealing tasks to their end on chain: finalizes those whose reveals are in (the
//! ready tasks of one deal together: `finalizeBatch` at trust ≤ 1, `finalizeReplicatedBatch`
//! for replicated deals), and reopens those whose consensus group let its reveal deadline pass
//! without revealing.
//!
//! Decisions come from the store, which the [follower](crate::follower) keeps in line with the
//! chain's events; the hub checks every one of them again, so a decision made on a stale view
//! only costs a refused gas estimation (nothing is sent, nothing is paid twice).

use std::collections::BTreeMap;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use decloud_chain::client::Client;
use decloud_chain::contracts::IHub;
use decloud_protocol::deadline::REVEAL_DEADLINE_RATIO;

use crate::db::{DealRow, ReplicateInfo, ReplicateStatus, Store, TaskChange, TaskInfo, TaskStatus};
use crate::{PassFailed, SchedulerError};

/// A replicate not contributed on chain within this many times its category's reference time
/// after its assignment is taken back (the sandbox's wall-clock cap is one reference time; the
/// rest is for downloads and the transaction), well before the task's contribution deadline
/// (7 ×): a worker that holds work and sends heartbeats but never contributes keeps a task
/// for that long only once, since a worker never gets the same task twice.
pub const CONTRIBUTION_GRACE_RATIO: u64 = 3;
/// Most overdue replicates taken back in one pass.
const RELEASE_SCAN: u32 = 500;

/// Most tasks finalized by one `finalizeBatch` or `finalizeReplicatedBatch` transaction.
pub const MAX_BATCH: usize = 100;
/// Most revealing tasks looked at in one pass.
pub const SCAN: u32 = 2_000;

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DriveReport {
    /// Tasks finalized by this pass.
    pub finalized: Vec<B256>,
    /// Tasks reopened by this pass.
    pub reopened: Vec<B256>,
    /// Tasks given up by this pass (a deadline passed).
    pub given_up: Vec<B256>,
    /// Replicates taken back from their workers by this pass (not contributed in time).
    pub released: Vec<(B256, Address)>,
}

impl DriveReport {
    /// Whether anything changed.
    pub fn changed(&self) -> bool {
        !(self.finalized.is_empty()
            && self.reopened.is_empty()
            && self.given_up.is_empty()
            && self.released.is_empty())
    }
}

/// A task ready to be finalized.
#[derive(Clone, Debug)]
pub(crate) struct Ready {
    pub(crate) task_id: B256,
    pub(crate) index: u64,
    pub(crate) location: String,
    pub(crate) callback_data: Bytes,
    /// Every contributor, sorted (replicated tasks; empty for trust ≤ 1).
    pub(crate) workers: Vec<Address>,
}

/// What to do with one revealing task.
#[derive(Clone, Debug)]
pub(crate) enum Decision {
    Finalize(Ready),
    Reopen {
        task_id: B256,
        index: u64,
        result_hash: B256,
        workers: Vec<Address>,
    },
    Wait,
}

/// Every contributor of a task (any epoch), in the strictly increasing order the hub wants.
fn contributors(replicates: &[ReplicateInfo]) -> Vec<Address> {
    let mut workers: Vec<Address> = replicates
        .iter()
        .filter(|r| r.result_hash.is_some())
        .map(|r| r.worker)
        .collect();
    workers.sort();
    workers.dedup();
    workers
}

/// Decides what a revealing task needs, at chain time `now`.
pub(crate) fn decide(
    deal: &DealRow,
    task: &TaskInfo,
    replicates: &[ReplicateInfo],
    now: u64,
) -> Decision {
    let has_callback = deal.deal.callback != Address::ZERO;
    // The result the requester gets: the location (and callback data) a revealer reported.
    let located = |r: &ReplicateInfo| {
        r.status == ReplicateStatus::Revealed
            && r.results_location.is_some()
            && (!has_callback || r.callback_data.is_some())
    };
    let ready = |r: &ReplicateInfo, workers: Vec<Address>| Ready {
        task_id: task.task_id,
        index: task.index,
        location: r.results_location.clone().unwrap_or_default(),
        callback_data: if has_callback {
            r.callback_data.clone().unwrap_or_default()
        } else {
            Bytes::new()
        },
        workers,
    };
    if deal.trust() <= 1 {
        return match replicates.iter().find(|r| located(r)) {
            Some(r) => Decision::Finalize(ready(r, Vec::new())),
            None => Decision::Wait,
        };
    }
    let (Some(consensus), Some(at)) = (task.consensus_hash, task.consensus_at) else {
        return Decision::Wait;
    };
    let reference = deal.reference_secs();
    let reveal_deadline = at.saturating_add(reference.saturating_mul(REVEAL_DEADLINE_RATIO));
    let members: Vec<&ReplicateInfo> = replicates
        .iter()
        .filter(|r| {
            r.result_hash == Some(consensus)
                && matches!(
                    r.status,
                    ReplicateStatus::Contributed | ReplicateStatus::Revealed
                )
        })
        .collect();
    let revealed = members
        .iter()
        .filter(|r| r.status == ReplicateStatus::Revealed)
        .count();
    let past_deadline = now >= reveal_deadline;
    if revealed == 0 {
        return if past_deadline {
            Decision::Reopen {
                task_id: task.task_id,
                index: task.index,
                result_hash: consensus,
                workers: contributors(replicates),
            }
        } else {
            Decision::Wait
        };
    }
    if revealed < members.len() && !past_deadline {
        return Decision::Wait;
    }
    match members.iter().find(|r| located(r)) {
        Some(r) => Decision::Finalize(ready(r, contributors(replicates))),
        // Revealed on chain but the location is not reported yet: wait for it until the reveal
        // deadline, then certify the result without a location rather than lose the payment.
        None if past_deadline => {
            let r = members
                .iter()
                .find(|r| r.status == ReplicateStatus::Revealed)
                .copied()
                .unwrap_or(members[0]);
            Decision::Finalize(ready(r, contributors(replicates)))
        }
        None => Decision::Wait,
    }
}

fn is_past_final_deadline(e: &decloud_chain::ChainError) -> bool {
    e.to_string().contains("FinalDeadlinePassed")
}

/// The latest block's timestamp: the clock the hub's deadlines run on.
pub async fn chain_time(client: &Client) -> Result<u64, SchedulerError> {
    let block = client
        .provider()
        .get_block_by_number(BlockNumberOrTag::Latest)
        .await
        .map_err(|e| SchedulerError::Chain(format!("reading the latest block: {e}")))?;
    Ok(block.map(|b| b.header.timestamp).unwrap_or_default())
}

/// Initializes the tasks the scheduler gave up before anyone contributed, so that their final
/// deadline runs from now and the requester can claim a refund then (an uninitialized task
/// cannot be claimed, and only the scheduler may initialize it early).
async fn start_given_up(client: &Client, store: &Store) -> Result<(), SchedulerError> {
    for task in store.given_up_unstarted(SCAN).await? {
        let Some(deal) = store.deal(task.deal_id).await? else {
            continue;
        };
        let hub = client.hub();
        let call = hub.initialize((&deal.deal).into(), U256::from(task.index));
        match client
            .send(
                "initializing a given-up task",
                call.into_transaction_request(),
            )
            .await
        {
            Ok(receipt) => {
                store
                    .apply(&[TaskChange::Status {
                        task_id: task.task_id,
                        status: TaskStatus::Active,
                        block: receipt.block_number.unwrap_or_default(),
                    }])
                    .await?;
                tracing::info!(task = %task.task_id, "given-up task initialized: its requester can claim it after its final deadline");
            }
            Err(e) => {
                tracing::warn!(task = %task.task_id, error = %e, "cannot initialize a given-up task; retrying later")
            }
        }
    }
    Ok(())
}

/// Takes back the replicates assigned at least [`CONTRIBUTION_GRACE_RATIO`] reference times
/// before `now` (unix seconds, the clock of assignments) whose contribution the chain does not
/// show, whatever their workers reported, and pauses their workers' claims (see
/// [`Store::strike`]); returns them. A replicate whose task went on without it (a backup
/// certified it) is taken back too: holding work without doing it is the offence, whoever
/// finished the task.
pub async fn release_overdue(
    store: &Store,
    now: u64,
) -> Result<Vec<(B256, Address)>, SchedulerError> {
    let mut released = Vec::new();
    // The shortest reference time counts as one second: assigned at least the grace of that
    // long ago is a candidate.
    let cutoff = now
        .saturating_sub(CONTRIBUTION_GRACE_RATIO)
        .saturating_add(1);
    let candidates = store.assigned_before(cutoff, RELEASE_SCAN).await?;
    let mut grace: BTreeMap<B256, Option<u64>> = BTreeMap::new();
    for (r, deal_id) in candidates {
        let secs = match grace.get(&deal_id) {
            Some(known) => *known,
            None => {
                let secs = store.deal(deal_id).await?.map(|d| {
                    d.reference_secs()
                        .max(1)
                        .saturating_mul(CONTRIBUTION_GRACE_RATIO)
                });
                grace.insert(deal_id, secs);
                secs
            }
        };
        let Some(secs) = secs else { continue };
        if r.assigned_at.saturating_add(secs) > now {
            continue;
        }
        let reason = format!(
            "not contributed on chain within {secs} s of its assignment: taken back, the task goes on without it"
        );
        if store.release(r.task_id, r.worker, &reason, now).await? {
            let until = store.strike(r.worker, secs, now).await?;
            tracing::warn!(
                task = %r.task_id,
                worker = %r.worker,
                paused_for_secs = until.saturating_sub(now),
                "{reason}; the worker gets no new work until its pause ends"
            );
            released.push((r.task_id, r.worker));
        }
    }
    Ok(released)
}

/// Runs one pass over the revealing tasks (and starts the deadline of given-up ones, and takes
/// back overdue replicates).
///
/// What a pass that fails part way (the chain gone) already stored comes back with the error:
/// replicates taken back, tasks finalized, whose wake-ups are still owed.
pub async fn drive_once(
    client: &Client,
    store: &Store,
) -> Result<DriveReport, PassFailed<DriveReport>> {
    let mut report = DriveReport::default();
    let result = drive_into(client, store, &mut report).await;
    PassFailed::ended(report, result)
}

async fn drive_into(
    client: &Client,
    store: &Store,
    report: &mut DriveReport,
) -> Result<(), SchedulerError> {
    report.released = release_overdue(store, crate::api::unix_now()).await?;
    start_given_up(client, store).await?;
    let tasks = store.tasks_in(TaskStatus::Revealing, SCAN).await?;
    if tasks.is_empty() {
        return Ok(());
    }
    let now = chain_time(client).await?;
    // Every revealing task's replicates in one query: this runs on every pass.
    let ids: Vec<B256> = tasks.iter().map(|t| t.task_id).collect();
    let replicates_of = store.replicates_of_tasks(&ids).await?;
    let mut deals: BTreeMap<B256, DealRow> = BTreeMap::new();
    let mut ready_by_deal: BTreeMap<B256, Vec<Ready>> = BTreeMap::new();
    for task in &tasks {
        if let std::collections::btree_map::Entry::Vacant(slot) = deals.entry(task.deal_id) {
            match store.deal(task.deal_id).await? {
                Some(d) => {
                    slot.insert(d);
                }
                None => continue,
            }
        }
        let deal = &deals[&task.deal_id];
        let replicates = replicates_of
            .get(&task.task_id)
            .map_or(&[][..], Vec::as_slice);
        match decide(deal, task, replicates, now) {
            // A spot-checked task is finalized against its audit (`finalizeAudited`): the
            // spot-check loop does it (crate::spot).
            Decision::Finalize(_) if crate::spot::is_spot_checked(deal) => {}
            Decision::Finalize(ready) => ready_by_deal.entry(task.deal_id).or_default().push(ready),
            Decision::Reopen {
                task_id,
                index,
                result_hash,
                workers,
            } => {
                let hub = client.hub();
                let call = hub.reopen((&deal.deal).into(), U256::from(index), result_hash, workers);
                match client
                    .send("reopening a task", call.into_transaction_request())
                    .await
                {
                    Ok(_) => {
                        tracing::warn!(task = %task_id, "no member of the consensus group revealed in time: task reopened");
                        report.reopened.push(task_id);
                    }
                    Err(e) => {
                        tracing::warn!(task = %task_id, error = %e, "reopen failed; retrying later")
                    }
                }
            }
            Decision::Wait => {}
        }
    }

    // Every deal's finalizations at once (the client's nonces allow concurrent sends).
    let mut sends = Vec::new();
    for (deal_id, ready) in ready_by_deal {
        for chunk in ready.chunks(MAX_BATCH) {
            sends.push(finalize_group(
                client,
                store,
                &deals[&deal_id],
                chunk.to_vec(),
            ));
        }
    }
    // Every group's outcome is kept, whichever failed: a finalization done is reported.
    let mut failed = None;
    for outcome in futures::future::join_all(sends).await {
        match outcome {
            Ok((finalized, given_up)) => {
                report.finalized.extend(finalized);
                report.given_up.extend(given_up);
            }
            Err(e) => failed = failed.or(Some(e)),
        }
    }
    failed.map_or(Ok(()), Err)
}

/// The one transaction finalizing several `ready` tasks of `deal`: `finalizeBatch` at trust ≤ 1,
/// `finalizeReplicatedBatch` (each task with its contributors) for a replicated deal.
fn batch_call(client: &Client, deal: &DealRow, ready: &[Ready]) -> TransactionRequest {
    let hub = client.hub();
    let location = |r: &Ready| Bytes::from(r.location.clone().into_bytes());
    if deal.trust() > 1 {
        let tasks = ready
            .iter()
            .map(|r| IHub::ReplicatedFinalize {
                index: U256::from(r.index),
                resultsLocation: location(r),
                callbackData: r.callback_data.clone(),
                workers: r.workers.clone(),
            })
            .collect();
        return hub
            .finalizeReplicatedBatch((&deal.deal).into(), tasks)
            .into_transaction_request();
    }
    let has_callback = deal.deal.callback != Address::ZERO;
    hub.finalizeBatch(
        (&deal.deal).into(),
        ready.iter().map(|r| U256::from(r.index)).collect(),
        ready.iter().map(location).collect(),
        if has_callback {
            ready.iter().map(|r| r.callback_data.clone()).collect()
        } else {
            Vec::new()
        },
    )
    .into_transaction_request()
}

/// Finalizes `ready` tasks of one deal (in one transaction when there are several; one by one if
/// the batch is refused). Returns the tasks finalized and given up.
async fn finalize_group(
    client: &Client,
    store: &Store,
    deal: &DealRow,
    ready: Vec<Ready>,
) -> Result<(Vec<B256>, Vec<B256>), SchedulerError> {
    if ready.len() > 1 {
        match client
            .send("finalizing tasks", batch_call(client, deal, &ready))
            .await
        {
            Ok(receipt) => {
                let block = receipt.block_number.unwrap_or_default();
                let changes: Vec<TaskChange> = ready
                    .iter()
                    .map(|r| TaskChange::Finalized {
                        task_id: r.task_id,
                        location: r.location.clone(),
                        block,
                    })
                    .collect();
                store.apply(&changes).await?;
                let done = ready.iter().map(|r| r.task_id).collect();
                tracing::info!(deal = %deal.deal_id, tasks = ready.len(), "tasks finalized in one batch");
                return Ok((done, Vec::new()));
            }
            Err(e) => {
                tracing::warn!(deal = %deal.deal_id, error = %e, "batch finalization refused; finalizing one by one")
            }
        }
    }
    let mut done = Vec::new();
    let mut given_up = Vec::new();
    for r in ready {
        let hub = client.hub();
        let call = hub.finalize(
            (&deal.deal).into(),
            U256::from(r.index),
            Bytes::from(r.location.clone().into_bytes()),
            r.callback_data.clone(),
            r.workers.clone(),
        );
        match client
            .send("finalizing a task", call.into_transaction_request())
            .await
        {
            Ok(receipt) => {
                store
                    .apply(&[TaskChange::Finalized {
                        task_id: r.task_id,
                        location: r.location.clone(),
                        block: receipt.block_number.unwrap_or_default(),
                    }])
                    .await?;
                tracing::info!(task = %r.task_id, location = %r.location, "task finalized");
                done.push(r.task_id);
            }
            Err(e) if is_past_final_deadline(&e) => {
                store
                    .give_up(
                        r.task_id,
                        "its final deadline passed before it could be finalized: the requester can claim a refund (`decloud task claim`)",
                    )
                    .await?;
                given_up.push(r.task_id);
            }
            Err(e) => {
                tracing::warn!(task = %r.task_id, error = %e, "finalize failed; retrying later")
            }
        }
    }
    Ok((done, given_up))
}

#[cfg(test)]
mod tests {
    use super::*;
    use decloud_protocol::typed::Deal;

    fn deal(trust: u64, callback: bool) -> DealRow {
        let deal = Deal {
            trust: U256::from(trust),
            volume: U256::from(1),
            workClockTimeRef: U256::from(100),
            callback: if callback {
                Address::repeat_byte(0xcb)
            } else {
                Address::ZERO
            },
            ..Default::default()
        };
        DealRow {
            deal_id: decloud_protocol::ids::deal_id_of(&deal),
            deal,
            params: String::new(),
            block_number: 1,
            start_time: 1,
        }
    }

    fn task(consensus: Option<B256>) -> TaskInfo {
        TaskInfo {
            task_id: B256::repeat_byte(0x7a),
            deal_id: B256::ZERO,
            index: 0,
            status: TaskStatus::Revealing,
            consensus_hash: consensus,
            consensus_at: consensus.map(|_| 1_000),
            results_location: None,
            given_up: None,
        }
    }

    fn replicate(worker: u8, status: ReplicateStatus, hash: u8, located: bool) -> ReplicateInfo {
        ReplicateInfo {
            task_id: B256::repeat_byte(0x7a),
            worker: Address::repeat_byte(worker),
            status,
            result_hash: Some(B256::repeat_byte(hash)),
            weight: Some(2),
            reason: None,
            backup_at: None,
            results_location: located.then(|| format!("http://s/blobs/{worker}")),
            callback_data: located.then(|| Bytes::from_static(b"cb")),
            assigned_at: 0,
            updated_at: 0,
            stages: None,
        }
    }

    #[test]
    fn a_single_contribution_is_finalized_once_revealed_and_located() {
        let d = deal(1, false);
        let t = task(Some(B256::repeat_byte(1)));
        let waiting = [replicate(1, ReplicateStatus::Contributed, 1, true)];
        assert!(matches!(decide(&d, &t, &waiting, 0), Decision::Wait));
        let unlocated = [replicate(1, ReplicateStatus::Revealed, 1, false)];
        assert!(matches!(decide(&d, &t, &unlocated, 0), Decision::Wait));
        let ready = [replicate(1, ReplicateStatus::Revealed, 1, true)];
        match decide(&d, &t, &ready, 0) {
            Decision::Finalize(r) => {
                assert_eq!(r.location, "http://s/blobs/1");
                assert!(r.workers.is_empty(), "trust 1 passes no contributor list");
                assert!(r.callback_data.is_empty(), "no callback, no data");
            }
            other => panic!("{other:?}"),
        }
        let d = deal(1, true);
        match decide(&d, &t, &ready, 0) {
            Decision::Finalize(r) => assert_eq!(&r.callback_data[..], b"cb"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_replicated_task_waits_for_every_winner_or_the_reveal_deadline() {
        let d = deal(5, false);
        let t = task(Some(B256::repeat_byte(1)));
        let reps = [
            replicate(3, ReplicateStatus::Revealed, 1, true),
            replicate(1, ReplicateStatus::Contributed, 1, false),
            replicate(2, ReplicateStatus::Contributed, 9, false),
        ];
        // Reveal deadline: 1000 + 2 × 100.
        assert!(matches!(decide(&d, &t, &reps, 1_100), Decision::Wait));
        match decide(&d, &t, &reps, 1_200) {
            Decision::Finalize(r) => {
                assert_eq!(r.location, "http://s/blobs/3");
                assert_eq!(
                    r.workers,
                    vec![
                        Address::repeat_byte(1),
                        Address::repeat_byte(2),
                        Address::repeat_byte(3)
                    ],
                    "every contributor, losers included, sorted"
                );
            }
            other => panic!("{other:?}"),
        }
        let all = [
            replicate(3, ReplicateStatus::Revealed, 1, true),
            replicate(1, ReplicateStatus::Revealed, 1, false),
            replicate(2, ReplicateStatus::Contributed, 9, false),
        ];
        assert!(matches!(decide(&d, &t, &all, 1_100), Decision::Finalize(_)));
    }

    #[test]
    fn a_silent_consensus_group_is_reopened_after_its_deadline() {
        let d = deal(5, false);
        let t = task(Some(B256::repeat_byte(1)));
        let reps = [
            replicate(2, ReplicateStatus::Contributed, 1, false),
            replicate(1, ReplicateStatus::Contributed, 1, false),
        ];
        assert!(matches!(decide(&d, &t, &reps, 1_199), Decision::Wait));
        match decide(&d, &t, &reps, 1_200) {
            Decision::Reopen {
                result_hash,
                workers,
                ..
            } => {
                assert_eq!(result_hash, B256::repeat_byte(1));
                assert_eq!(
                    workers,
                    vec![Address::repeat_byte(1), Address::repeat_byte(2)]
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
