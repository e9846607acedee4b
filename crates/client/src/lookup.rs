//! Deals and tasks on chain: the hub's events and views, the task statuses and deadlines, and
//! the scheduler's off-chain view of a task's replicates.

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;
use decloud_chain::client::Client;
use decloud_chain::contracts::IHub;
use decloud_protocol::typed;

use crate::error::{Error, Result};

pub use decloud_protocol::deadline::{CONTRIBUTION_DEADLINE_RATIO, FINAL_DEADLINE_RATIO};

pub use decloud_protocol::TaskStatus;

/// The name of a status code the hub returned (`UNKNOWN` for a code the protocol does not define).
pub fn status_name(code: u8) -> &'static str {
    TaskStatus::from_u8(code).map_or("UNKNOWN", TaskStatus::name)
}

/// Whether a task whose hub status code is `code` will not change any more.
pub fn is_final(code: u8) -> bool {
    TaskStatus::from_u8(code).is_some_and(TaskStatus::is_final)
}

/// A U256 the chain returned, as u64 (saturating: the values involved are far smaller).
pub fn small(v: U256) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// A deal as created on chain, read back from its `DealCreated` event.
#[derive(Clone, Debug)]
pub struct DealInfo {
    /// The deal id.
    pub deal_id: B256,
    /// The deal (pass it back to the hub's task functions).
    pub deal: typed::Deal,
    /// Hash of the app order matched.
    pub app_order_hash: B256,
    /// Hash of the dataset order matched (zero without a dataset).
    pub dataset_order_hash: B256,
    /// Hash of the workerpool order matched.
    pub workerpool_order_hash: B256,
    /// The request's params.
    pub params: String,
    /// Block of the match.
    pub block: Option<u64>,
    /// Transaction of the match.
    pub transaction: Option<B256>,
}

impl DealInfo {
    /// The contribution and final deadlines of a task of this deal initialized at `init_time`
    /// (none before it is initialized).
    pub fn deadlines(&self, init_time: u64) -> Option<(u64, u64)> {
        let reference = small(self.deal.workClockTimeRef);
        (init_time != 0).then(|| {
            (
                init_time + CONTRIBUTION_DEADLINE_RATIO * reference,
                init_time + FINAL_DEADLINE_RATIO * reference,
            )
        })
    }

    /// What the requester paid for one task of this deal.
    pub fn price_per_task(&self) -> U256 {
        self.deal.appPrice + self.deal.datasetPrice + self.deal.workerpoolPrice
    }
}

/// Logs of `contract` from the deployment block on, filtered by `filter` (event and topics).
///
/// Every event read of the client goes through here.
pub async fn contract_logs(client: &Client, contract: Address, filter: Filter) -> Result<Vec<Log>> {
    // Read in ranges public RPC providers accept: most refuse one unbounded eth_getLogs.
    let filter = filter.address(contract);
    Ok(decloud_chain::follower::get_logs_chunked(
        client.provider(),
        &filter,
        client.profile().deployment_block,
        None,
        client.profile().max_log_range(),
    )
    .await?)
}

/// Logs of the hub from the deployment block on, filtered by `filter` (event and topics).
pub async fn hub_logs(client: &Client, filter: Filter) -> Result<Vec<Log>> {
    let hub = client.profile().contracts.hub;
    contract_logs(client, hub, filter).await
}

/// The hub's events of type `E` about `topic` (the task or deal id), decoded, oldest first.
async fn events_about<E: SolEvent>(client: &Client, topic: B256) -> Result<Vec<E>> {
    let logs = hub_logs(
        client,
        Filter::new()
            .event_signature(E::SIGNATURE_HASH)
            .topic1(topic),
    )
    .await?;
    Ok(logs
        .iter()
        .filter_map(|l| E::decode_log(&l.inner).ok().map(|e| e.data))
        .collect())
}

fn deal_from_log(log: &Log) -> Option<DealInfo> {
    let created = IHub::DealCreated::decode_log(&log.inner).ok()?;
    Some(DealInfo {
        deal_id: created.dealid,
        deal: (&created.deal).into(),
        app_order_hash: created.appOrderHash,
        dataset_order_hash: created.datasetOrderHash,
        workerpool_order_hash: created.workerpoolOrderHash,
        params: created.params.clone(),
        block: log.block_number,
        transaction: log.transaction_hash,
    })
}

/// The deal `deal_id`, or [`Error::UnknownDeal`].
pub async fn find_deal(client: &Client, deal_id: B256) -> Result<DealInfo> {
    let logs = hub_logs(
        client,
        Filter::new()
            .event_signature(IHub::DealCreated::SIGNATURE_HASH)
            .topic1(deal_id),
    )
    .await?;
    logs.iter()
        .find_map(deal_from_log)
        .ok_or(Error::UnknownDeal(deal_id))
}

/// Every deal on the chain (optionally only those of `requester`), oldest first.
pub async fn all_deals(client: &Client, requester: Option<Address>) -> Result<Vec<DealInfo>> {
    let mut filter = Filter::new().event_signature(IHub::DealCreated::SIGNATURE_HASH);
    if let Some(r) = requester {
        filter = filter.topic3(r.into_word());
    }
    Ok(hub_logs(client, filter)
        .await?
        .iter()
        .filter_map(deal_from_log)
        .collect())
}

/// Most task ids computed per deal when looking for a task that was never initialized.
const SCAN_LIMIT: u64 = 100_000;

/// The deal and index of task `task_id`: from its `TaskInitialize` event, else by computing the
/// task ids of every deal.
pub async fn find_task(client: &Client, task_id: B256) -> Result<(DealInfo, u64)> {
    let inits: Vec<IHub::TaskInitialize> = events_about(client, task_id).await?;
    if let Some(init) = inits.first() {
        let deal = find_deal(client, init.dealid).await?;
        return Ok((deal, small(init.index)));
    }
    for deal in all_deals(client, None).await? {
        let volume = small(deal.deal.volume).min(SCAN_LIMIT);
        if let Some(index) =
            (0..volume).find(|&i| decloud_protocol::task_id(deal.deal_id, i) == task_id)
        {
            return Ok((deal, index));
        }
    }
    Err(Error::UnknownTask(task_id))
}

/// The task's state on the hub.
pub async fn task_view(client: &Client, task_id: B256) -> Result<IHub::TaskView> {
    Ok(client
        .read("reading the task", client.hub().task(task_id))
        .await?)
}

/// The deal's record on the hub (its start time, among others).
pub async fn deal_record(client: &Client, deal_id: B256) -> Result<IHub::dealRecordReturn> {
    Ok(client
        .read("reading the deal record", client.hub().dealRecord(deal_id))
        .await?)
}

/// The status of each task, in the order given.
pub async fn task_statuses(client: &Client, tasks: &[B256]) -> Result<Vec<(B256, u8)>> {
    let mut statuses = Vec::with_capacity(tasks.len());
    for &id in tasks {
        statuses.push((id, task_view(client, id).await?.status));
    }
    Ok(statuses)
}

/// The results location and callback data a finalized task published (from its
/// `TaskFinalize` event).
pub async fn results_location(
    client: &Client,
    task_id: B256,
) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    let finals: Vec<IHub::TaskFinalize> = events_about(client, task_id).await?;
    Ok(finals
        .into_iter()
        .next()
        .map(|f| (f.resultsLocation.to_vec(), f.callbackData.to_vec())))
}

/// Why the task's result callback failed, when it did and no retry has succeeded since: the hub's
/// `callbackFailed` record and the revert data of its last `CallbackFailed` event, decoded.
/// The reason is the consumer's own text: escape it before showing it.
pub async fn callback_failure(client: &Client, task_id: B256) -> Result<Option<String>> {
    let failed = client
        .read(
            "reading the task's callback record",
            client.hub().callbackFailed(task_id),
        )
        .await?;
    if !failed {
        return Ok(None);
    }
    let failures: Vec<IHub::CallbackFailed> = events_about(client, task_id).await?;
    Ok(Some(match failures.last() {
        Some(f) if f.reason.is_empty() => "reverted without a reason, or ran out of gas".into(),
        Some(f) => decloud_chain::revert::describe_revert(&f.reason),
        None => "reverted (its event is beyond this node's log range)".into(),
    }))
}

/// The result hash that reached consensus for `task_id` (the last one, after any reopen).
pub async fn consensus_of(client: &Client, task_id: B256) -> Result<B256> {
    let consensus: Vec<IHub::TaskConsensus> = events_about(client, task_id).await?;
    consensus
        .last()
        .map(|e| e.resultHash)
        .ok_or(Error::NoConsensus(task_id))
}

/// Every worker that contributed to `task_id`, in strictly increasing order (what `claim` and
/// `finalize` take for replicated tasks).
pub async fn contributors(client: &Client, task_id: B256) -> Result<Vec<Address>> {
    let contributions: Vec<IHub::TaskContribute> = events_about(client, task_id).await?;
    let mut workers: Vec<Address> = contributions.into_iter().map(|c| c.worker).collect();
    workers.sort();
    workers.dedup();
    Ok(workers)
}

/// The latest block's timestamp: the hub's clock (`fallback` when the chain has no block).
pub async fn chain_now(client: &Client, fallback: u64) -> Result<u64> {
    let block = client
        .provider()
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .map_err(|e| client.rpc_error("reading the latest block", &e))?;
    Ok(block.map(|b| b.header.timestamp).unwrap_or(fallback))
}

/// The scheduler's view of the task (every replicate's off-chain stage), when the scheduler at
/// `url` answers for it; `None` otherwise (another pool's scheduler, or none running).
pub async fn scheduler_view(
    url: &str,
    task_id: B256,
) -> Option<decloud_protocol::pool::TaskReport> {
    let url: decloud_service::transport::PinnedUrl = url.parse().ok()?;
    let builder = reqwest::Client::builder().timeout(Duration::from_secs(3));
    let client = decloud_service::transport::http_client(&url, builder).ok()?;
    let response = client
        .get(url.join(&format!("/v1/tasks/{task_id}")))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

/// A random-selection task's current wave and who the beacon drew in it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Selection {
    /// The wave open now (chain time).
    pub wave: decloud_chain::selection::Wave,
    /// `None` while the wave's round is not on chain.
    pub drawn: Option<Vec<decloud_chain::selection::Drawn>>,
    /// Why the draw can't be shown (no snapshot before the deal, an unreadable one).
    pub problem: Option<String>,
}

/// The current wave's draw of task `index` of `deal`, rebuilt from the chain; `None` for a deal
/// without the random tag.
pub async fn random_selection(
    client: &Client,
    deal: &DealInfo,
    index: u64,
) -> Result<Option<Selection>> {
    if !decloud_protocol::Tag(deal.deal.tag).is_random() {
        return Ok(None);
    }
    let d: decloud_chain::contracts::IHub::Deal = (&deal.deal).into();
    let start: u64 = deal_record(client, deal.deal_id).await?.startTime.to();
    let now = chain_now(
        client,
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default(),
    )
    .await?;
    let wave = decloud_chain::selection::wave_at(client, &d, now).await?;
    Ok(Some(
        match decloud_chain::selection::task_draw(client, &d, start, index, &wave).await {
            Ok((_, drawn)) => Selection {
                wave,
                drawn,
                problem: None,
            },
            Err(e) => Selection {
                wave,
                drawn: None,
                problem: Some(e.to_string()),
            },
        },
    ))
}

/// One drawn auditor of a task and how far it got.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Auditor {
    /// Its position in the audit's draw.
    pub position: u64,
    /// The worker.
    pub worker: alloy::primitives::Address,
    /// `drawn` (nothing on chain yet), `contributed` or `revealed` (while the audit is open;
    /// a settled audit's records are cleared, its contributors show as `contributed`).
    pub stage: &'static str,
}

/// A spot-checked task's audit as the chain states it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SpotCheck {
    /// The deal's spot-check byte: audited with probability q/256.
    pub q: u8,
    /// The audit's id (the key of its records: `hub.task(auditId)`).
    pub audit_id: alloy::primitives::B256,
    /// While the task is revealing: whether it is audited (`unknown` before its round).
    pub state: decloud_chain::audit::AuditState,
    /// The audit round (0 before the task's consensus).
    pub round: u64,
    /// When the audit window closes (chain time).
    pub closes_at: u64,
    /// The audit's own status on chain (`UNSET` until an auditor contributes).
    pub status: &'static str,
    /// Its auditors.
    pub auditors: Vec<Auditor>,
    /// How `finalizeAudited` settled the task, once it did.
    pub verdict: Option<decloud_chain::audit::Verdict>,
}

/// The audit of task `index` of `deal`, rebuilt from the chain; `None` for a deal that is not
/// spot-checked.
pub async fn spot_check(client: &Client, deal: &DealInfo, index: u64) -> Result<Option<SpotCheck>> {
    use decloud_chain::audit;
    let tag = decloud_protocol::Tag(deal.deal.tag);
    if !decloud_protocol::spot::is_spot_checked(tag) {
        return Ok(None);
    }
    let d: decloud_chain::contracts::IHub::Deal = (&deal.deal).into();
    let task_id = decloud_protocol::task_id(deal.deal_id, index);
    let a = audit::audit(client, &d, index).await?;
    let view = client
        .read("reading the audit", client.hub().task(a.audit_id))
        .await?;
    let verdict = audit::verdict(client, task_id, 0).await?;
    let mut auditors = Vec::new();
    if a.state == audit::AuditState::Audited {
        let start: u64 = deal_record(client, deal.deal_id).await?.startTime.to();
        let snapshot =
            decloud_chain::selection::deal_snapshot(client, deal.deal.workerpool, start).await?;
        if let Some(r) = decloud_chain::selection::randomness(client, a.round).await? {
            let contributors = audit::contributors(client, task_id, 0).await?;
            let trust: u64 = deal.deal.trust.saturating_to();
            for (position, worker) in
                audit::auditors(r, task_id, index, trust, &snapshot.workers, &contributors)
            {
                let c = client
                    .read(
                        "reading an auditor's contribution",
                        client.hub().contribution(a.audit_id, worker),
                    )
                    .await?;
                let stage = match c.status {
                    0 => "drawn",
                    1 => "contributed",
                    _ => "revealed",
                };
                auditors.push(Auditor {
                    position,
                    worker,
                    stage,
                });
            }
        }
    } else {
        // Settled (or not audited): the auditors that contributed, from their events.
        for (position, worker) in audit::audit_contributions(client, task_id, 0).await? {
            auditors.push(Auditor {
                position,
                worker,
                stage: "contributed",
            });
        }
    }
    Ok(Some(SpotCheck {
        q: decloud_protocol::spot::spot_byte(tag),
        audit_id: a.audit_id,
        state: a.state,
        round: a.round,
        closes_at: a.closes_at,
        status: status_name(view.status),
        auditors,
        verdict,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_have_names() {
        assert_eq!(status_name(TaskStatus::Completed.as_u8()), "COMPLETED");
        assert_eq!(status_name(TaskStatus::Unset.as_u8()), "UNSET");
        assert_eq!(status_name(9), "UNKNOWN");
        assert!(is_final(TaskStatus::Failed.as_u8()) && !is_final(1));
    }
}
