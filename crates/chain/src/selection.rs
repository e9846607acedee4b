//! Random worker selection on chain (`HubSelection`, docs/randomness.md): the pool's registry
//! snapshots, the beacon rounds of a deal's waves, the draw of a task's positions, and the drawn
//! worker's contribution with the proof of its position.
//!
//! Everything a worker proves is rebuilt here from the chain, never taken from a scheduler: the
//! snapshot from its `PoolSnapshot` event (checked against the root the hub stores), the
//! randomness from the beacon contract, the draw with [`decloud_protocol::draw`], which
//! `Draw.sol` computes identically.

use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::{Filter, TransactionReceipt};
use alloy::sol_types::{SolEvent, SolValue};
use decloud_protocol::draw::{SnapshotWorker, draw};

use crate::ChainError;
use crate::client::Client;
use crate::contracts::{Beacon, IHub};
use crate::follower::get_logs_chunked;

/// Blocks per `eth_getLogs` request (public providers refuse more).
const LOG_RANGE: u64 = 10_000;

/// A proof scans at most this many positions of a wave (`HubSelection.MAX_DRAW_POSITIONS`).
pub const MAX_DRAW_POSITIONS: u64 = 32;

/// Rounds between the one current at a wave's opening and the wave's round
/// (`HubSelection.SELECTION_ROUND_DELAY`).
pub const SELECTION_ROUND_DELAY: u64 = 2;

/// A wave lasts this many reference durations (`HubSelection.WAVE_RATIO`).
pub const WAVE_RATIO: u64 = 2;

/// How many chosen positions a wave holds at `trust` (`HubSelection.positionsPerWave`): the
/// fewest new workers that agree and reach consensus, 1 + floor(log2(trust - 1)), 1 at trust <= 2.
pub fn positions_per_wave(trust: u64) -> u64 {
    if trust <= 2 {
        1
    } else {
        1 + u64::from((trust - 1).ilog2())
    }
}

/// One wave of a random-selection deal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Wave {
    /// The wave's number (0 first).
    pub index: u64,
    /// The beacon round whose randomness draws it.
    pub round: u64,
    /// When it opens (unix seconds, chain time).
    pub opens_at: u64,
    /// When it closes (its drawn workers contribute before).
    pub closes_at: u64,
}

/// A drawn position of a task: who holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Drawn {
    /// The position j in the wave.
    pub position: u64,
    /// The worker drawn there.
    pub worker: Address,
}

/// The snapshot a deal draws over, rebuilt from the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DealSnapshot {
    /// Its index in the pool's history.
    pub index: u64,
    /// Its workers, as committed.
    pub workers: Vec<SnapshotWorker>,
}

fn words(ws: &[SnapshotWorker]) -> Vec<crate::contracts::Draw::Worker> {
    ws.iter()
        .map(|w| crate::contracts::Draw::Worker {
            worker: w.worker,
            stake: w.stake,
            cluster: w.cluster,
        })
        .collect()
}

/// `keccak256(abi.encode(snapshot))`, the root the hub stores (its top 216 bits).
pub fn snapshot_root(workers: &[SnapshotWorker]) -> B256 {
    alloy::primitives::keccak256(words(workers).abi_encode())
}

/// The staked members of `workerpool` (joined with a stake, not leaving), in address order: the
/// list `commitSnapshot` takes. Read from the hub's `WorkerJoined` events and each member's record.
pub async fn staked_members(
    client: &Client,
    workerpool: Address,
) -> Result<Vec<Address>, ChainError> {
    let filter = Filter::new()
        .address(client.profile().contracts.hub)
        .event_signature(IHub::WorkerJoined::SIGNATURE_HASH)
        .topic1(workerpool.into_word());
    let logs = get_logs_chunked(
        client.provider(),
        &filter,
        client.profile().deployment_block,
        None,
        LOG_RANGE,
    )
    .await
    .map_err(|e| ChainError::tx("listing the pool's members", e))?;
    let mut seen = std::collections::BTreeSet::new();
    for log in logs {
        if let Ok(e) = IHub::WorkerJoined::decode_log(&log.inner) {
            seen.insert(e.worker);
        }
    }
    let mut out = Vec::new();
    for worker in seen {
        let m = client
            .read(
                "reading a pool member",
                client.hub().poolMember(workerpool, worker),
            )
            .await?;
        if !m.joinedAt.is_zero() && m.leavingAt.is_zero() {
            out.push(worker);
        }
    }
    Ok(out)
}

/// Commits `workerpool`'s current snapshot (anyone may); returns its index.
pub async fn commit_snapshot(client: &Client, workerpool: Address) -> Result<u64, ChainError> {
    let members = staked_members(client, workerpool).await?;
    let what = "committing the pool's registry snapshot";
    let tx = client
        .hub()
        .commitSnapshot(workerpool, members)
        .into_transaction_request();
    let event: IHub::PoolSnapshot = client.send_for_event(what, tx).await?;
    Ok(event.index.saturating_to())
}

/// Sets `worker`'s cluster in `workerpool` (the pool owner's wallet).
pub async fn set_cluster(
    client: &Client,
    workerpool: Address,
    worker: Address,
    cluster: u32,
) -> Result<TransactionReceipt, ChainError> {
    let tx = client
        .hub()
        .setWorkerCluster(workerpool, worker, cluster)
        .into_transaction_request();
    client.send("setting a worker's cluster", tx).await
}

/// The snapshot a deal of `workerpool` started at `start` draws over: the last committed before
/// it, rebuilt from its `PoolSnapshot` event and checked against the root the hub stores.
pub async fn deal_snapshot(
    client: &Client,
    workerpool: Address,
    start: u64,
) -> Result<DealSnapshot, ChainError> {
    let index = client
        .read(
            "reading the deal's registry snapshot",
            client.hub().snapshotBefore(workerpool, U256::from(start)),
        )
        .await?;
    snapshot_at(client, workerpool, index.saturating_to()).await
}

/// Snapshot `index` of `workerpool`, rebuilt from its `PoolSnapshot` event and checked against
/// the root the hub stores.
pub async fn snapshot_at(
    client: &Client,
    workerpool: Address,
    index: u64,
) -> Result<DealSnapshot, ChainError> {
    let what = "reading a registry snapshot";
    let hub = client.hub();
    let record = client
        .read(what, hub.snapshotRecord(workerpool, U256::from(index)))
        .await?;
    let filter = Filter::new()
        .address(client.profile().contracts.hub)
        .event_signature(IHub::PoolSnapshot::SIGNATURE_HASH)
        .topic1(workerpool.into_word())
        .topic2(B256::from(U256::from(index)));
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
        let Ok(e) = IHub::PoolSnapshot::decode_log(&log.inner) else {
            continue;
        };
        let workers: Vec<SnapshotWorker> = e
            .workers
            .iter()
            .map(|w| SnapshotWorker {
                worker: w.worker,
                stake: w.stake,
                cluster: w.cluster,
            })
            .collect();
        let root = U256::from_be_bytes(snapshot_root(&workers).0) & mask;
        if root == U256::from_be_bytes(record.root.0) {
            return Ok(DealSnapshot { index, workers });
        }
    }
    Err(ChainError::tx(
        what,
        format!("no PoolSnapshot event of snapshot {index} matches the root the hub stores"),
    ))
}

/// The registry as a snapshot of it would hold it now: every staked member of `workerpool`, in
/// address order, with its stake and cluster.
pub async fn registry_now(
    client: &Client,
    workerpool: Address,
) -> Result<Vec<SnapshotWorker>, ChainError> {
    let members = staked_members(client, workerpool).await?;
    let hub = client.hub();
    let mut out = Vec::with_capacity(members.len());
    for worker in members {
        let m = client
            .read("reading a pool member", hub.poolMember(workerpool, worker))
            .await?;
        let cluster = client
            .read(
                "reading a worker's cluster",
                hub.workerCluster(workerpool, worker),
            )
            .await?;
        out.push(SnapshotWorker {
            worker,
            stake: m.stake,
            cluster: u64::from(cluster),
        });
    }
    Ok(out)
}

/// The pool's last committed snapshot and when it was committed (chain time), if any.
pub async fn latest_snapshot(
    client: &Client,
    workerpool: Address,
) -> Result<Option<(DealSnapshot, u64)>, ChainError> {
    let what = "reading the pool's snapshots";
    let count: u64 = client
        .read(what, client.hub().snapshotCount(workerpool))
        .await?
        .saturating_to();
    let Some(index) = count.checked_sub(1) else {
        return Ok(None);
    };
    let record = client
        .read(
            what,
            client.hub().snapshotRecord(workerpool, U256::from(index)),
        )
        .await?;
    let snapshot = snapshot_at(client, workerpool, index).await?;
    Ok(Some((snapshot, record.committedAt.saturating_to())))
}

/// When the pool's last snapshot was committed, if it holds the registry as it is now (its
/// members, stakes and clusters); `None` when there is none or the registry changed since: a
/// random-selection deal matched now would draw over a stale snapshot, or none.
pub async fn current_snapshot_time(
    client: &Client,
    workerpool: Address,
) -> Result<Option<u64>, ChainError> {
    let Some((last, at)) = latest_snapshot(client, workerpool).await? else {
        return Ok(None);
    };
    let now = registry_now(client, workerpool).await?;
    Ok((last.workers == now).then_some(at))
}

/// When `round` is due (unix seconds, the beacon contract's clock).
pub async fn round_time(client: &Client, round: u64) -> Result<u64, ChainError> {
    let beacon = Beacon::new(beacon_address(client)?, client.provider().clone());
    Ok(client
        .read("reading a round's time", beacon.roundTime(round))
        .await?
        .saturating_to())
}

/// Wave `w` of `deal`: its round and window.
pub async fn wave(client: &Client, deal: &IHub::Deal, w: u64) -> Result<Wave, ChainError> {
    let r = client
        .read(
            "reading a random deal's wave",
            client.hub().wave(deal.clone(), U256::from(w)),
        )
        .await?;
    Ok(Wave {
        index: w,
        round: r.round,
        opens_at: r.opensAt.saturating_to(),
        closes_at: r.closesAt.saturating_to(),
    })
}

/// The wave of `deal` open at chain time `now`.
pub async fn wave_at(client: &Client, deal: &IHub::Deal, now: u64) -> Result<Wave, ChainError> {
    let first = wave(client, deal, 0).await?;
    let length = (first.closes_at - first.opens_at).max(1);
    let w = now.saturating_sub(first.opens_at) / length;
    if w == 0 {
        return Ok(first);
    }
    wave(client, deal, w).await
}

/// The randomness of `round` on the beacon contract, or `None` while nobody submitted it.
pub async fn randomness(client: &Client, round: u64) -> Result<Option<B256>, ChainError> {
    let beacon = beacon_address(client)?;
    let r = client
        .read(
            "reading a beacon round",
            Beacon::new(beacon, client.provider().clone()).randomness(round),
        )
        .await?;
    Ok((!r.is_zero()).then_some(r))
}

fn beacon_address(client: &Client) -> Result<Address, ChainError> {
    let beacon = client.profile().contracts.beacon;
    if beacon.is_zero() {
        return Err(ChainError::tx(
            "reading the beacon",
            "this chain's profile has no beacon: the hub has no random-selection facet (redeploy the devnet with `decloud devnet up`)",
        ));
    }
    Ok(beacon)
}

/// Round `round`'s group signature (`x ‖ y`, 64 bytes) from a beacon's drand-shaped HTTP API
/// (`GET {url}/public/{round}`), or a one-line reason.
pub async fn fetch_round(
    http: &reqwest::Client,
    url: &str,
    round: u64,
) -> Result<[u8; 64], String> {
    let url = url.trim_end_matches('/');
    let response = http
        .get(format!("{url}/public/{round}"))
        .send()
        .await
        .map_err(|e| format!("the beacon at {url} did not answer: {e}"))?;
    if !response.status().is_success() {
        return Err(format!(
            "the beacon at {url} answered {} for round {round}",
            response.status()
        ));
    }
    let body: serde_json::Value = response
        .json()
        .await
        .map_err(|e| format!("the beacon's answer is not JSON: {e}"))?;
    let hex_sig = body
        .get("signature")
        .and_then(|s| s.as_str())
        .ok_or("the beacon's answer has no signature")?;
    let bytes = alloy::hex::decode(hex_sig.trim_start_matches("0x"))
        .map_err(|_| "the beacon's signature is not hex".to_owned())?;
    bytes
        .try_into()
        .map_err(|_| "the beacon's signature is not 64 bytes (a BN254 G1 point)".to_owned())
}

/// Submits `round`'s group signature (`x ‖ y`, 64 bytes) to the beacon contract; anyone may.
pub async fn submit_round(
    client: &Client,
    round: u64,
    signature: &[u8; 64],
) -> Result<TransactionReceipt, ChainError> {
    let beacon = Beacon::new(beacon_address(client)?, client.provider().clone());
    let sig = [
        U256::from_be_slice(&signature[..32]),
        U256::from_be_slice(&signature[32..]),
    ];
    let hints = client
        .read("computing the round's hints", beacon.hints(round))
        .await?;
    let tx = beacon
        .submitHinted(round, sig, hints)
        .into_transaction_request();
    client.send("submitting a beacon round", tx).await
}

/// The first [`positions_per_wave`] chosen positions of task `index` of the deal `deal_id` at
/// `trust`, among the first [`MAX_DRAW_POSITIONS`], under `randomness`.
pub fn drawn_positions(
    randomness: B256,
    deal_id: B256,
    index: u64,
    trust: u64,
    snapshot: &[SnapshotWorker],
) -> Vec<Drawn> {
    let Ok(positions) = draw(randomness, deal_id, index, MAX_DRAW_POSITIONS, snapshot) else {
        return Vec::new();
    };
    positions
        .into_iter()
        .filter(|p| p.chosen)
        .take(positions_per_wave(trust) as usize)
        .map(|p| Drawn {
            position: p.index,
            worker: snapshot[p.worker].worker,
        })
        .collect()
}

/// The proof of position `position` of wave `wave` over `snapshot`.
pub fn proof(snapshot: &DealSnapshot, wave: u64, position: u64) -> IHub::DrawProof {
    IHub::DrawProof {
        snapshotIndex: U256::from(snapshot.index),
        wave: U256::from(wave),
        position: U256::from(position),
        snapshot: words(&snapshot.workers),
    }
}

/// Contributes `result_hash`/`result_seal` to task `index` of the random deal `deal` as the worker
/// holding `proof`'s position (the client's wallet), with no scheduler authorization.
pub async fn contribute_drawn(
    client: &Client,
    deal: IHub::Deal,
    index: u64,
    result_hash: B256,
    result_seal: B256,
    proof: IHub::DrawProof,
) -> Result<TransactionReceipt, ChainError> {
    let tx = client
        .hub()
        .contributeDrawn(deal, U256::from(index), result_hash, result_seal, proof)
        .into_transaction_request();
    client.send("contributing as a drawn worker", tx).await
}

/// Slashes the worker drawn at `proof`'s position, absent from a wave that closed without
/// consensus (anyone may).
pub async fn slash_absent(
    client: &Client,
    deal: IHub::Deal,
    index: u64,
    proof: IHub::DrawProof,
) -> Result<TransactionReceipt, ChainError> {
    let tx = client
        .hub()
        .slashAbsent(deal, U256::from(index), proof)
        .into_transaction_request();
    client.send("slashing an absent drawn worker", tx).await
}

/// The draw of task `index` of `deal` in wave `wave`, rebuilt from the chain: the snapshot, the
/// wave's randomness (`None` while its round is not on chain) and the drawn positions.
pub async fn task_draw(
    client: &Client,
    deal: &IHub::Deal,
    deal_start: u64,
    index: u64,
    wave: &Wave,
) -> Result<(DealSnapshot, Option<Vec<Drawn>>), ChainError> {
    let snapshot = deal_snapshot(client, deal.workerpool, deal_start).await?;
    let Some(r) = randomness(client, wave.round).await? else {
        return Ok((snapshot, None));
    };
    let deal_id = client
        .read("computing the deal id", client.hub().dealId(deal.clone()))
        .await?;
    let drawn = drawn_positions(
        r,
        deal_id,
        index,
        deal.trust.saturating_to(),
        &snapshot.workers,
    );
    Ok((snapshot, Some(drawn)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_per_wave_matches_the_contract_formula() {
        assert_eq!(positions_per_wave(0), 1);
        assert_eq!(positions_per_wave(1), 1);
        assert_eq!(positions_per_wave(2), 1);
        assert_eq!(positions_per_wave(3), 2);
        assert_eq!(positions_per_wave(5), 3);
        assert_eq!(positions_per_wave(100), 7);
    }
}
