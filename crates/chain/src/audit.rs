//! Spot checks on chain (`HubSelection.audit`/`contributeAudit`/`slashAbsentAuditor`, `HubAudit`'s
//! `finalizeAudited`; docs/randomness.md#spot-checks): a task's audit as the hub states it, its
//! auditors rebuilt from the chain with [`decloud_protocol::spot`] (the rule `Audit.sol`
//! computes), and the calls of the auditors and of the scheduler.

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::rpc::types::{Filter, TransactionReceipt};
use alloy::sol_types::SolEvent;
use decloud_protocol::draw::SnapshotWorker;
use serde::Serialize;

use crate::ChainError;
use crate::client::Client;
use crate::contracts::IHub;
use crate::follower::get_logs_chunked;
use crate::selection::{DealSnapshot, MAX_DRAW_POSITIONS, positions_per_wave};

/// Blocks per `eth_getLogs` request (public providers refuse more).
const LOG_RANGE: u64 = 10_000;

/// Whether a task is audited, as the hub's `audit(deal, index)` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditState {
    /// Not known yet: the task has no consensus, or its audit round is not on chain, or the
    /// deal is not spot-checked.
    Unknown,
    /// The round says the task is not audited.
    NotAudited,
    /// The round says the task is audited: its auditors are drawn.
    Audited,
}

/// A task's audit as the hub states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Audit {
    /// `keccak256(taskId ‖ "audit")`: the key of the audit's contributions, groups and reveals.
    pub audit_id: B256,
    /// The audit round (0 while the task has no consensus).
    pub round: u64,
    /// Whether the task is audited.
    pub state: AuditState,
    /// When the audit window closes (chain time; 0 while the task has no consensus).
    pub closes_at: u64,
}

/// How `finalizeAudited` settled a task (its `TaskAudited` event).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Not audited: settled as `finalize`.
    NotAudited,
    /// The audit agreed with the task's consensus: certified, the auditors paid.
    Agreed,
    /// The audit contradicted the task's consensus: the task failed, its contributors lost
    /// their stakes to the auditors.
    Contradicted,
    /// The audit window closed without the audit's consensus: settled as `finalize`.
    Void,
}

impl Verdict {
    /// The verdict of `TaskAudited`'s outcome code.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::NotAudited,
            1 => Self::Agreed,
            2 => Self::Contradicted,
            3 => Self::Void,
            _ => return None,
        })
    }
}

/// `audit(deal, index)`.
pub async fn audit(client: &Client, deal: &IHub::Deal, index: u64) -> Result<Audit, ChainError> {
    let r = client
        .read(
            "reading a task's audit",
            client.hub().audit(deal.clone(), U256::from(index)),
        )
        .await?;
    Ok(Audit {
        audit_id: r.auditid,
        round: r.round,
        state: match r.state {
            1 => AuditState::NotAudited,
            2 => AuditState::Audited,
            _ => AuditState::Unknown,
        },
        closes_at: r.closesAt.saturating_to(),
    })
}

/// The auditors of task `index` (id `task`) under the audit round's `randomness`, as
/// (position, worker): the first `positionsPerWave(auditTrust(trust))` positions of the audit's
/// draw over `snapshot` that distancing chose and whose worker is neither one of the task's
/// `contributors` nor in a contributor's cluster. `auditTrust` is the task's trust today
/// (`HubSpot._auditTrust`).
pub fn auditors(
    randomness: B256,
    task: B256,
    index: u64,
    trust: u64,
    snapshot: &[SnapshotWorker],
    contributors: &[Address],
) -> Vec<(u64, Address)> {
    decloud_protocol::spot::auditors(
        randomness,
        task,
        index,
        positions_per_wave(trust) as usize,
        MAX_DRAW_POSITIONS,
        snapshot,
        contributors,
    )
    .unwrap_or_default()
}

/// The proof of audit position `position` over the deal's snapshot (the wave is ignored).
pub fn proof(snapshot: &DealSnapshot, position: u64) -> IHub::DrawProof {
    crate::selection::proof(snapshot, 0, position)
}

/// The workers that contributed to `task` (its `TaskContribute` events from block `from`), in
/// address order: the ones excluded from its audit. A finalized task's records are cleared,
/// its events stay.
pub async fn contributors(
    client: &Client,
    task: B256,
    from: u64,
) -> Result<Vec<Address>, ChainError> {
    let logs = task_logs(client, IHub::TaskContribute::SIGNATURE_HASH, task, from).await?;
    let mut out: Vec<Address> = logs
        .iter()
        .filter_map(|l| IHub::TaskContribute::decode_log(&l.inner).ok())
        .map(|e| e.worker)
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// The digest revealed for `task` (its first `TaskReveal` event from block `from`), if any: the
/// task's consensus digest, which `finalizeAudited` compares with the audit's.
pub async fn revealed_digest(
    client: &Client,
    task: B256,
    from: u64,
) -> Result<Option<B256>, ChainError> {
    let logs = task_logs(client, IHub::TaskReveal::SIGNATURE_HASH, task, from).await?;
    Ok(logs
        .iter()
        .find_map(|l| IHub::TaskReveal::decode_log(&l.inner).ok())
        .map(|e| e.digest))
}

/// The auditors that contributed to `task`'s audit (its `AuditContribution` events from block
/// `from`), as (position, worker) in the order they contributed: a settled audit's records are
/// cleared, its events stay.
pub async fn audit_contributions(
    client: &Client,
    task: B256,
    from: u64,
) -> Result<Vec<(u64, Address)>, ChainError> {
    let logs = task_logs(client, IHub::AuditContribution::SIGNATURE_HASH, task, from).await?;
    Ok(logs
        .iter()
        .filter_map(|l| IHub::AuditContribution::decode_log(&l.inner).ok())
        .map(|e| (e.position.saturating_to(), e.worker))
        .collect())
}

/// How `finalizeAudited` settled `task` (its `TaskAudited` event from block `from`), if it did.
pub async fn verdict(
    client: &Client,
    task: B256,
    from: u64,
) -> Result<Option<Verdict>, ChainError> {
    let logs = task_logs(client, IHub::TaskAudited::SIGNATURE_HASH, task, from).await?;
    Ok(logs
        .iter()
        .find_map(|l| IHub::TaskAudited::decode_log(&l.inner).ok())
        .and_then(|e| Verdict::from_code(e.outcome)))
}

async fn task_logs(
    client: &Client,
    event: B256,
    task: B256,
    from: u64,
) -> Result<Vec<alloy::rpc::types::Log>, ChainError> {
    let filter = Filter::new()
        .address(client.profile().contracts.hub)
        .event_signature(event)
        .topic1(task);
    let from = from.max(client.profile().deployment_block);
    get_logs_chunked(client.provider(), &filter, from, None, LOG_RANGE)
        .await
        .map_err(|e| ChainError::tx("reading a task's events", e))
}

/// Whether `worker` has a contribution to the audit `audit_id` (contributed or revealed).
pub async fn has_contributed(
    client: &Client,
    audit_id: B256,
    worker: Address,
) -> Result<bool, ChainError> {
    let c = client
        .read(
            "reading an auditor's contribution",
            client.hub().contribution(audit_id, worker),
        )
        .await?;
    Ok(c.status != 0)
}

/// An auditor commits its result to task `index`'s audit, proving its audit position (the
/// client's wallet): `result_hash`/`result_seal` are [`decloud_protocol::result::commitment`]
/// under the audit's id.
pub async fn contribute_audit(
    client: &Client,
    deal: IHub::Deal,
    index: u64,
    result_hash: B256,
    result_seal: B256,
    proof: IHub::DrawProof,
) -> Result<TransactionReceipt, ChainError> {
    let tx = client
        .hub()
        .contributeAudit(deal, U256::from(index), result_hash, result_seal, proof)
        .into_transaction_request();
    client.send("contributing to an audit", tx).await
}

/// A contributor of spot-checked task `index` reveals its digest (the client's wallet): the hub's
/// `reveal` refuses such a task, `revealSpotChecked` takes it once no auditor can copy the digest
/// any more (the round does not audit the task, or the audit reached consensus, or its window
/// closed; `RoundNotAvailable`/`AuditPending` before).
pub async fn reveal_spot_checked(
    client: &Client,
    deal: IHub::Deal,
    index: u64,
    digest: B256,
) -> Result<TransactionReceipt, ChainError> {
    let tx = client
        .hub()
        .revealSpotChecked(deal, U256::from(index), digest)
        .into_transaction_request();
    client
        .send("revealing a spot-checked task's result", tx)
        .await
}

/// Slashes the auditor drawn at `proof`'s position that did not contribute to an audit whose
/// window closed without consensus (anyone may).
pub async fn slash_absent_auditor(
    client: &Client,
    deal: IHub::Deal,
    index: u64,
    proof: IHub::DrawProof,
) -> Result<TransactionReceipt, ChainError> {
    let tx = client
        .hub()
        .slashAbsentAuditor(deal, U256::from(index), proof)
        .into_transaction_request();
    client.send("slashing an absent auditor", tx).await
}

/// Gives the contributors of task `index`'s audit, listed complete in increasing address order,
/// their stakes back once the task failed by `claim` (anyone may; `TaskNotClaimable` before).
pub async fn release_audit(
    client: &Client,
    deal: IHub::Deal,
    index: u64,
    auditors: Vec<Address>,
) -> Result<TransactionReceipt, ChainError> {
    let tx = client
        .hub()
        .releaseAudit(deal, U256::from(index), auditors)
        .into_transaction_request();
    client.send("releasing a claimed task's auditors", tx).await
}

/// What `finalizeAudited` takes besides the deal and the index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditedFinalize {
    /// Where the result is (as `finalize`'s `resultsLocation`).
    pub results_location: String,
    /// The callback's data (empty without a callback).
    pub callback_data: Bytes,
    /// Every contributor of the task, in increasing address order (empty at trust ≤ 1).
    pub workers: Vec<Address>,
    /// Every contributor of the audit, in increasing address order (empty when not audited).
    pub auditors: Vec<Address>,
    /// The task's consensus digest.
    pub digest: B256,
}

/// The scheduler finalizes spot-checked task `index` against its audit (the client's wallet
/// must be the deal's scheduler); returns the receipt and the verdict its `TaskAudited` event
/// states.
pub async fn finalize_audited(
    client: &Client,
    deal: IHub::Deal,
    index: u64,
    f: AuditedFinalize,
) -> Result<(TransactionReceipt, Option<Verdict>), ChainError> {
    let tx = client
        .hub()
        .finalizeAudited(
            deal,
            U256::from(index),
            IHub::AuditedFinalize {
                resultsLocation: Bytes::from(f.results_location.into_bytes()),
                callbackData: f.callback_data,
                workers: f.workers,
                auditors: f.auditors,
                digest: f.digest,
            },
        )
        .into_transaction_request();
    let receipt = client.send("finalizing an audited task", tx).await?;
    let verdict = receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| IHub::TaskAudited::decode_log(&l.inner).ok())
        .and_then(|e| Verdict::from_code(e.outcome));
    Ok((receipt, verdict))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_codes_are_the_hubs() {
        assert_eq!(Verdict::from_code(0), Some(Verdict::NotAudited));
        assert_eq!(Verdict::from_code(1), Some(Verdict::Agreed));
        assert_eq!(Verdict::from_code(2), Some(Verdict::Contradicted));
        assert_eq!(Verdict::from_code(3), Some(Verdict::Void));
        assert_eq!(Verdict::from_code(4), None);
    }
}
