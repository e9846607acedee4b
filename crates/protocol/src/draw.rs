//! The random draw of a task's workers (docs/randomness.md): nobody picks who works.
//!
//! A deal that asks for random selection fixes a future beacon round and freezes a snapshot of
//! its pool's worker registry: `(address, stake, cluster)` in registry order. Once the round's
//! randomness `R` is on chain, position `j` of task `i` maps to the worker whose slice of the
//! cumulated stakes contains
//!
//! ```text
//! keccak256(abi.encode(R, dealId, i, j)) mod totalStake
//! ```
//!
//! **Stake-weighted, not uniform over the snapshot**, because the registry costs a stake to
//! join, not an identity: with a uniform draw, an operator who splits its stake into many
//! minimum-stake identities gets a share of the draws far above its share of the stake (n
//! cheap Sybils outnumber a few well-staked honest workers). Weighting by stake makes the draw
//! share equal the stake share whatever the split, so capturing a fraction f of the positions
//! costs a fraction f of all the stake at risk. A worker with zero stake is never drawn. The
//! modulo bias is below totalStake / 2²⁵⁶.
//!
//! **Worker distancing**: the positions are taken in order j = 0, 1, 2, …; a position whose
//! worker is an earlier chosen worker, or shares a non-zero cluster with one, is skipped. The
//! pool assigns clusters (one operator's machines, workers that failed together); cluster 0
//! means "no cluster", a worker alone.
//!
//! `contracts/src/libs/Draw.sol` computes the same function; a property test compares them on a
//! real chain (`crates/testkit/tests/beacon_on_chain.rs`).

use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::sol_types::SolValue;

/// One worker of a deal's frozen registry snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotWorker {
    /// The worker's wallet.
    pub worker: Address,
    /// Its locked stake at the snapshot, the weight of its draws.
    pub stake: U256,
    /// Its cluster (0 = none): two workers of one non-zero cluster never serve one task.
    pub cluster: u64,
}

/// Why a draw can't be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DrawError {
    /// No stake at all in the snapshot (empty, or every stake zero).
    #[error("the snapshot holds no stake: a draw needs at least one staked worker")]
    NoStake,
    /// The stakes add up past 2²⁵⁶.
    #[error("the snapshot's stakes overflow 256 bits")]
    StakeOverflow,
}

/// The outcome of one position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// The position j.
    pub index: u64,
    /// The index of the drawn worker in the snapshot.
    pub worker: usize,
    /// Whether the worker serves the task; false when distancing skipped it.
    pub chosen: bool,
}

/// The seed of position `j` of task `task`: keccak256(abi.encode(R, dealId, task, j)).
pub fn position_seed(randomness: B256, deal: B256, task: u64, j: u64) -> B256 {
    keccak256((randomness, deal, U256::from(task), U256::from(j)).abi_encode())
}

/// Cumulated stakes: `cum[k]` is the stake of workers `0..=k`.
pub fn cumulated_stakes(snapshot: &[SnapshotWorker]) -> Result<Vec<U256>, DrawError> {
    let mut total = U256::ZERO;
    let mut cum = Vec::with_capacity(snapshot.len());
    for w in snapshot {
        total = total.checked_add(w.stake).ok_or(DrawError::StakeOverflow)?;
        cum.push(total);
    }
    if total.is_zero() {
        return Err(DrawError::NoStake);
    }
    Ok(cum)
}

/// The snapshot index the seed lands on: the first k with `target < cum[k]`, where
/// `target = seed mod total`. `cum` comes from [`cumulated_stakes`] (non-empty, total > 0).
pub fn pick(seed: B256, cum: &[U256]) -> usize {
    let total = *cum
        .last()
        .expect("cumulated_stakes refuses an empty snapshot");
    let target = U256::from_be_bytes(seed.0) % total;
    cum.partition_point(|c| *c <= target)
}

/// The worker (snapshot index) at position `j` of task `task`, before distancing.
pub fn position_worker(
    randomness: B256,
    deal: B256,
    task: u64,
    j: u64,
    snapshot: &[SnapshotWorker],
) -> Result<usize, DrawError> {
    let cum = cumulated_stakes(snapshot)?;
    Ok(pick(position_seed(randomness, deal, task, j), &cum))
}

/// Positions `0..positions` of task `task`, each drawn and marked chosen or skipped by
/// distancing (same worker, or same non-zero cluster, as an earlier chosen position).
pub fn draw(
    randomness: B256,
    deal: B256,
    task: u64,
    positions: u64,
    snapshot: &[SnapshotWorker],
) -> Result<Vec<Position>, DrawError> {
    let cum = cumulated_stakes(snapshot)?;
    let mut out: Vec<Position> = Vec::with_capacity(positions as usize);
    for j in 0..positions {
        let worker = pick(position_seed(randomness, deal, task, j), &cum);
        let w = &snapshot[worker];
        let clash = out.iter().filter(|p| p.chosen).any(|p| {
            let c = &snapshot[p.worker];
            p.worker == worker || (w.cluster != 0 && c.cluster == w.cluster)
        });
        out.push(Position {
            index: j,
            worker,
            chosen: !clash,
        });
    }
    Ok(out)
}

/// A snapshot for tests: worker k (address `0x…k+1`) with `(stake, cluster)` from `stakes[k]`.
#[cfg(test)]
pub(crate) fn test_snapshot(stakes: &[(u64, u64)]) -> Vec<SnapshotWorker> {
    stakes
        .iter()
        .enumerate()
        .map(|(k, (stake, cluster))| SnapshotWorker {
            worker: Address::with_last_byte(k as u8 + 1),
            stake: U256::from(*stake),
            cluster: *cluster,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use super::test_snapshot as snapshot;

    #[test]
    fn an_empty_or_unstaked_snapshot_is_refused() {
        let r = B256::repeat_byte(1);
        assert_eq!(draw(r, r, 0, 3, &[]), Err(DrawError::NoStake));
        assert_eq!(
            draw(r, r, 0, 3, &snapshot(&[(0, 0), (0, 0)])),
            Err(DrawError::NoStake)
        );
    }

    #[test]
    fn a_zero_stake_worker_is_never_drawn() {
        let s = snapshot(&[(0, 0), (5, 0), (0, 0)]);
        for j in 0..50 {
            assert_eq!(
                position_worker(B256::ZERO, B256::ZERO, 1, j, &s).unwrap(),
                1
            );
        }
    }

    #[test]
    fn draws_follow_stake_shares() {
        // 1 : 3 stakes, 4000 positions: the heavy worker gets about three quarters
        let s = snapshot(&[(1, 0), (3, 0)]);
        let heavy = (0..4000)
            .filter(|j| position_worker(B256::repeat_byte(7), B256::ZERO, 0, *j, &s).unwrap() == 1)
            .count();
        assert!(
            (2800..3200).contains(&heavy),
            "heavy worker drawn {heavy} times of 4000"
        );
    }

    proptest! {
        /// No two chosen positions share a worker or a non-zero cluster, and a skipped position
        /// always clashes with an earlier chosen one.
        #[test]
        fn distancing_holds(
            stakes in proptest::collection::vec((1u64..100, 0u64..4), 1..12),
            r in any::<[u8; 32]>(),
            task in any::<u64>(),
        ) {
            let s = snapshot(&stakes);
            let d = draw(B256::from(r), B256::repeat_byte(3), task, 12, &s).unwrap();
            let chosen: Vec<&Position> = d.iter().filter(|p| p.chosen).collect();
            for (a, p) in chosen.iter().enumerate() {
                for q in &chosen[a + 1..] {
                    prop_assert_ne!(p.worker, q.worker);
                    let (cp, cq) = (s[p.worker].cluster, s[q.worker].cluster);
                    prop_assert!(cp == 0 || cp != cq);
                }
            }
            for p in d.iter().filter(|p| !p.chosen) {
                prop_assert!(d[..p.index as usize].iter().any(|q| q.chosen
                    && (q.worker == p.worker
                        || (s[p.worker].cluster != 0 && s[q.worker].cluster == s[p.worker].cluster))));
            }
        }
    }
}
