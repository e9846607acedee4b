//! What the marketplace commands share: the `--market` option, output helpers (JSON, tables),
//! and chain lookups of deals and tasks from the hub's events.

use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;
use anyhow::{Context, bail};
use clap::Args;
use comfy_table::{ContentArrangement, Table, presets};
use decloud_chain::client::Client;
use decloud_chain::contracts::HubExtension;
use decloud_market::client::{DEFAULT_MARKET_URL, MarketClient};
use decloud_protocol::typed;
use serde::Serialize;

/// Which market to talk to.
#[derive(Args, Clone, Debug)]
pub struct MarketOpts {
    /// The market's URL (a `decloud node --market`).
    #[arg(long, env = "DECLOUD_MARKET", default_value = DEFAULT_MARKET_URL, value_name = "URL")]
    pub market: String,
}

impl MarketOpts {
    /// A client of the market.
    pub fn client(&self) -> anyhow::Result<MarketClient> {
        Ok(MarketClient::new(&self.market)?)
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A table with the CLI's look, with these column headers.
pub fn table<I, S>(headers: I) -> Table
where
    I: IntoIterator<Item = S>,
    S: Into<comfy_table::Cell>,
{
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(headers);
    table
}

/// Unix time now, in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// `0x…` as an address, with a message naming `what` when it is not one.
pub fn parse_address(text: &str, what: &str) -> anyhow::Result<Address> {
    text.trim().parse().map_err(|_| {
        anyhow::anyhow!("{what} {text:?} is not an address: expected 0x followed by 40 hex digits")
    })
}

/// `0x…` as a 32-byte id, with a message naming `what` when it is not one.
pub fn parse_b256(text: &str, what: &str) -> anyhow::Result<B256> {
    text.trim().parse().map_err(|_| {
        anyhow::anyhow!("{what} {text:?} is not an id: expected 0x followed by 64 hex digits")
    })
}

/// A U256 the chain returned, as u64 (saturating: the values involved are far smaller).
pub fn small(v: U256) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// Names of the task statuses (docs/protocol.md §7).
pub fn status_name(status: u8) -> &'static str {
    match status {
        0 => "UNSET",
        1 => "ACTIVE",
        2 => "REVEALING",
        3 => "COMPLETED",
        4 => "FAILED",
        _ => "UNKNOWN",
    }
}

/// Task status: completed.
pub const STATUS_COMPLETED: u8 = 3;
/// Task status: failed (claimed).
pub const STATUS_FAILED: u8 = 4;
pub use decloud_protocol::deadline::{CONTRIBUTION_DEADLINE_RATIO, FINAL_DEADLINE_RATIO};

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

/// Logs of the hub from the deployment block on, filtered by `filter` (event and topics).
pub async fn hub_logs(client: &Client, filter: Filter) -> anyhow::Result<Vec<Log>> {
    let filter = filter.address(client.profile().contracts.hub);
    logs_since_deployment(client, &filter, "reading the hub's events").await
}

/// Logs `filter` selects from the deployment block on, oldest first, read in ranges public
/// RPC providers accept (one unbounded `eth_getLogs` is refused by most).
pub async fn logs_since_deployment(
    client: &Client,
    filter: &Filter,
    what: &'static str,
) -> anyhow::Result<Vec<Log>> {
    decloud_chain::follower::get_logs_chunked(
        client.provider(),
        filter,
        client.profile().deployment_block,
        None,
        decloud_chain::follower::DEFAULT_MAX_RANGE,
    )
    .await
    .context(what)
}

fn deal_from_log(log: &Log) -> Option<DealInfo> {
    let created = HubExtension::DealCreated::decode_log(&log.inner).ok()?;
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

/// The deal `deal_id`, or a one-line error when the chain has none.
pub async fn find_deal(client: &Client, deal_id: B256) -> anyhow::Result<DealInfo> {
    let logs = hub_logs(
        client,
        Filter::new()
            .event_signature(HubExtension::DealCreated::SIGNATURE_HASH)
            .topic1(deal_id),
    )
    .await?;
    logs.iter().find_map(deal_from_log).with_context(|| {
        format!("no deal {deal_id} on this chain: check the id (`decloud run` prints it)")
    })
}

/// Every deal on the chain (optionally only those of `requester`), oldest first.
pub async fn all_deals(
    client: &Client,
    requester: Option<Address>,
) -> anyhow::Result<Vec<DealInfo>> {
    let mut filter = Filter::new().event_signature(HubExtension::DealCreated::SIGNATURE_HASH);
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
pub async fn find_task(client: &Client, task_id: B256) -> anyhow::Result<(DealInfo, u64)> {
    let logs = hub_logs(
        client,
        Filter::new()
            .event_signature(HubExtension::TaskInitialize::SIGNATURE_HASH)
            .topic1(task_id),
    )
    .await?;
    if let Some(init) = logs
        .iter()
        .find_map(|l| HubExtension::TaskInitialize::decode_log(&l.inner).ok())
    {
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
    bail!(
        "no task {task_id} on this chain: check the id (`decloud deal show <deal>` lists a deal's tasks)"
    )
}

/// The task's state on the hub.
pub async fn task_view(client: &Client, task_id: B256) -> anyhow::Result<HubExtension::TaskView> {
    client
        .hub_extension()
        .task(task_id)
        .call()
        .await
        .map_err(|e| client.contract_error("reading the task", &e).into())
}

/// The results location a finalized task published (from its `TaskFinalize` event).
pub async fn results_location(
    client: &Client,
    task_id: B256,
) -> anyhow::Result<Option<(Vec<u8>, Vec<u8>)>> {
    let logs = hub_logs(
        client,
        Filter::new()
            .event_signature(HubExtension::TaskFinalize::SIGNATURE_HASH)
            .topic1(task_id),
    )
    .await?;
    Ok(logs
        .iter()
        .find_map(|l| HubExtension::TaskFinalize::decode_log(&l.inner).ok())
        .map(|f| (f.resultsLocation.to_vec(), f.callbackData.to_vec())))
}

/// Every worker that contributed to `task_id`, in strictly increasing order (what `claim` and
/// `finalize` take for replicated tasks).
pub async fn contributors(client: &Client, task_id: B256) -> anyhow::Result<Vec<Address>> {
    let logs = hub_logs(
        client,
        Filter::new()
            .event_signature(HubExtension::TaskContribute::SIGNATURE_HASH)
            .topic1(task_id),
    )
    .await?;
    let mut workers: Vec<Address> = logs
        .iter()
        .filter_map(|l| HubExtension::TaskContribute::decode_log(&l.inner).ok())
        .map(|c| c.worker)
        .collect();
    workers.sort();
    workers.dedup();
    Ok(workers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_addresses_are_checked() {
        assert!(parse_address("0x0000000000000000000000000000000000000001", "app").is_ok());
        let err = parse_address("0x12", "app").unwrap_err().to_string();
        assert!(err.contains("app \"0x12\" is not an address"), "{err}");
        assert!(parse_b256("nope", "deal").is_err());
        assert_eq!(status_name(3), "COMPLETED");
        assert_eq!(status_name(9), "UNKNOWN");
    }
}
