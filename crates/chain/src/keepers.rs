//! Keepers drawn per epoch (`HubKeepers`, docs/confidential.md): the hub's keeper epoch, a
//! dataset's keeper group (n, k), the attester snapshot, the draw of an epoch's keepers by the
//! beacon, and the keepers drawn.
//!
//! The snapshot a draw takes is rebuilt from its `AttesterSnapshot` event and checked against
//! the root the hub stores; the keepers drawn are read from the `KeepersDrawn` event.

use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::{Filter, TransactionReceipt};
use alloy::sol_types::{SolEvent, SolValue};

use crate::ChainError;
use crate::client::Client;
use crate::contracts::{Draw, IHub};
use crate::follower::get_logs_chunked;

/// Blocks per `eth_getLogs` request (public providers refuse more).
const LOG_RANGE: u64 = 10_000;

/// The hub's admin sets the keeper epoch length (seconds), once.
pub async fn set_epoch_length(
    client: &Client,
    seconds: u64,
) -> Result<TransactionReceipt, ChainError> {
    let tx = client
        .hub()
        .setKeeperEpochLength(U256::from(seconds))
        .into_transaction_request();
    client.send("setting the keeper epoch length", tx).await
}

/// The keeper epoch length in seconds (0 while the admin has not set it).
pub async fn epoch_length(client: &Client) -> Result<u64, ChainError> {
    let l = client
        .read(
            "reading the keeper epoch length",
            client.hub().keeperEpochLength(),
        )
        .await?;
    Ok(l.saturating_to())
}

/// The current keeper epoch (the hub's clock); an error while the admin has not set the length.
pub async fn current_epoch(client: &Client) -> Result<u64, ChainError> {
    let e = client
        .read("reading the keeper epoch", client.hub().keeperEpoch())
        .await?;
    Ok(e.saturating_to())
}

/// When epoch `epoch` is drawn (chain time) and with which beacon round.
pub async fn draw_round(client: &Client, epoch: u64) -> Result<(u64, u64), ChainError> {
    let r = client
        .read(
            "reading an epoch's draw round",
            client.hub().keeperDrawRound(U256::from(epoch)),
        )
        .await?;
    Ok((r.round, r.drawTime.saturating_to()))
}

/// The dataset's owner sets its keeper group: `n` keepers, any `k` of which rebuild its key
/// (`n = 0` removes it).
pub async fn set_group(
    client: &Client,
    dataset: Address,
    n: u64,
    k: u64,
) -> Result<TransactionReceipt, ChainError> {
    let tx = client
        .hub()
        .setKeeperGroup(dataset, U256::from(n), U256::from(k))
        .into_transaction_request();
    client.send("setting the dataset's keeper group", tx).await
}

/// The dataset's keeper group `(n, k)`; `(0, 0)` without one.
pub async fn group(client: &Client, dataset: Address) -> Result<(u64, u64), ChainError> {
    let g = client
        .read(
            "reading the dataset's keeper group",
            client.hub().keeperGroup(dataset),
        )
        .await?;
    Ok((g.n.saturating_to(), g.k.saturating_to()))
}

/// Commits the attester snapshot (anyone may): every attester registered, not leaving and not
/// slashed, in address order. Returns its index.
pub async fn commit_snapshot(client: &Client) -> Result<u64, ChainError> {
    let mut listed: Vec<Address> = crate::attesters::list(client)
        .await?
        .into_iter()
        .filter(|a| a.registered_at != 0 && a.leaving_at == 0 && !a.slashed)
        .map(|a| a.address)
        .collect();
    listed.sort();
    let what = "committing the attester snapshot";
    let tx = client
        .hub()
        .commitAttesterSnapshot(listed)
        .into_transaction_request();
    let event: IHub::AttesterSnapshot = client.send_for_event(what, tx).await?;
    Ok(event.index.saturating_to())
}

/// Attester snapshot `index`, rebuilt from its `AttesterSnapshot` event and checked against the
/// root the hub stores.
pub async fn snapshot(client: &Client, index: u64) -> Result<Vec<Draw::Worker>, ChainError> {
    let what = "reading an attester snapshot";
    let record = client
        .read(what, client.hub().attesterSnapshotRecord(U256::from(index)))
        .await?;
    let filter = Filter::new()
        .address(client.profile().contracts.hub)
        .event_signature(IHub::AttesterSnapshot::SIGNATURE_HASH)
        .topic1(B256::from(U256::from(index)));
    let logs = get_logs_chunked(
        client.provider(),
        &filter,
        client.profile().deployment_block,
        None,
        LOG_RANGE,
    )
    .await
    .map_err(|e| ChainError::tx(what, e))?;
    let mask = !U256::from((1u64 << 40) - 1);
    for log in logs {
        let Ok(e) = IHub::AttesterSnapshot::decode_log(&log.inner) else {
            continue;
        };
        let root = alloy::primitives::keccak256(e.attesters.abi_encode());
        if U256::from_be_bytes(root.0) & mask == U256::from_be_bytes(record.root.0) {
            return Ok(e.attesters.clone());
        }
    }
    Err(ChainError::tx(
        what,
        format!("no AttesterSnapshot event of snapshot {index} matches the root the hub stores"),
    ))
}

/// Where the beacon round of an epoch's draw came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrawRound {
    /// It was on chain already.
    OnChain(u64),
    /// It was fetched from the beacon's HTTP API and submitted (the beacon contract verified it).
    Submitted(u64),
}

/// Puts the beacon round epoch `epoch`'s draw needs on chain when it is not there yet: fetched
/// from `beacon_url` (a drand-shaped API) and submitted. Without a URL, a one-line error that
/// says how to give one.
pub async fn ensure_draw_round(
    client: &Client,
    epoch: u64,
    beacon_url: Option<&str>,
) -> Result<DrawRound, ChainError> {
    let what = "fetching the draw's beacon round";
    let (round, _) = draw_round(client, epoch).await?;
    if crate::selection::randomness(client, round).await?.is_some() {
        return Ok(DrawRound::OnChain(round));
    }
    let Some(url) = beacon_url else {
        return Err(ChainError::tx(
            what,
            format!(
                "epoch {epoch}'s draw needs beacon round {round}, which is not on chain yet, and this chain's profile names no beacon to fetch it from: give one (`decloud chain add NAME --rpc URL --hub 0xHUB --beacon https://BEACON`, or `beacon_url = \"...\"` in the profile), or wait until someone submits the round"
            ),
        ));
    };
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .map_err(|e| ChainError::tx(what, e))?;
    let signature = crate::selection::fetch_round(&http, url, round)
        .await
        .map_err(|reason| {
            ChainError::tx(
                what,
                format!(
                    "epoch {epoch}'s draw needs beacon round {round}, which is not on chain yet, and fetching it failed: {reason} (check the profile's beacon_url, or wait until someone submits the round)"
                ),
            )
        })?;
    match crate::selection::submit_round(client, round, &signature).await {
        Ok(_) => Ok(DrawRound::Submitted(round)),
        // Someone else may have submitted it meanwhile.
        Err(e) => match crate::selection::randomness(client, round).await? {
            Some(_) => Ok(DrawRound::OnChain(round)),
            None => Err(e),
        },
    }
}

/// Draws the keepers of `dataset` for `epoch` (anyone may, once the epoch's beacon round is on
/// chain and before the epoch ends); returns them.
pub async fn draw(
    client: &Client,
    dataset: Address,
    epoch: u64,
) -> Result<Vec<Address>, ChainError> {
    let what = "drawing the dataset's keepers";
    let (_, draw_time) = draw_round(client, epoch).await?;
    let index: u64 = client
        .read(
            what,
            client.hub().attesterSnapshotBefore(U256::from(draw_time)),
        )
        .await?
        .saturating_to();
    let snap = snapshot(client, index).await?;
    let tx = client
        .hub()
        .drawKeepers(dataset, U256::from(epoch), U256::from(index), snap)
        .into_transaction_request();
    let event: IHub::KeepersDrawn = client.send_for_event(what, tx).await?;
    Ok(event.keepers)
}

/// The keepers drawn for `dataset` in `epoch`, in draw order; `None` while nobody drew it.
pub async fn drawn(
    client: &Client,
    dataset: Address,
    epoch: u64,
) -> Result<Option<Vec<Address>>, ChainError> {
    let filter = Filter::new()
        .address(client.profile().contracts.hub)
        .event_signature(IHub::KeepersDrawn::SIGNATURE_HASH)
        .topic1(dataset.into_word())
        .topic2(B256::from(U256::from(epoch)));
    let logs = get_logs_chunked(
        client.provider(),
        &filter,
        client.profile().deployment_block,
        None,
        LOG_RANGE,
    )
    .await
    .map_err(|e| ChainError::tx("reading the epoch's keepers", e))?;
    Ok(logs
        .iter()
        .find_map(|l| IHub::KeepersDrawn::decode_log(&l.inner).ok())
        .map(|e| e.keepers.clone()))
}
