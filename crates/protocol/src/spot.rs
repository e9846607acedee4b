//! Spot checks (docs/randomness.md#spot-checks): with a probability q carried in a random
//! deal's tag, a task gets a hidden audit replica, decided and drawn by a beacon round published
//! only after the task's contributions closed.
//!
//! - **q** is the tag's byte at bits 16–23 ([`TAG_SPOT_SHIFT`]): q = byte / 256, 0 = no audits.
//!   It counts only on a random-selection deal ([`Tag::RANDOM`]); the hub ignores it otherwise.
//! - **Audited?** Task `i` of deal `d` is audited when the top byte of
//!   `keccak256(R ‖ d ‖ i ‖ "audit")` is below q, R being the randomness of the round due
//!   [`AUDIT_ROUND_DELAY`] rounds after the one current at the task's consensus.
//! - **Auditors**: the positions of [`crate::draw::draw`]`(R, auditId, i, ..)` over the deal's
//!   snapshot (`auditId = keccak256(taskId ‖ "audit")`) that the draw chose and whose worker is
//!   neither a contributor of the task nor in a contributor's non-zero cluster, the first
//!   `positionsPerWave(trust)` of them.
//!
//! `contracts/src/libs/Audit.sol` computes the same; a property test compares them on a real
//! chain (`crates/testkit/tests/beacon_on_chain.rs`).

use alloy::primitives::{Address, B256, U256, keccak256};

use crate::draw::{DrawError, SnapshotWorker, draw};
use crate::tag::Tag;

/// The tag's first bit of q, the spot-check byte (the hub's `TAG_SPOT_SHIFT`).
pub const TAG_SPOT_SHIFT: usize = 16;

/// Rounds between the one current at a task's consensus and its audit round (the hub's
/// `SELECTION_ROUND_DELAY`): the audit round is published at least one period after the
/// contributions closed.
pub const AUDIT_ROUND_DELAY: u64 = 2;

/// The audit window closes this many reference durations after the task's consensus (the hub's
/// `AUDIT_RATIO`).
pub const AUDIT_RATIO: u64 = 1;

/// Why a spot-check setting is refused.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum SpotError {
    /// The probability is not in [0, 1).
    #[error(
        "spot-check probability {0} is out of range: give a number from 0 (no audits) to 0.996 (255/256)"
    )]
    OutOfRange(f64),
}

/// The spot-check byte q of `tag` (0 = no audits).
pub fn spot_byte(tag: Tag) -> u8 {
    (U256::from_be_bytes(tag.0.0) >> TAG_SPOT_SHIFT).byte(0)
}

/// `tag` with its spot-check byte set to `q` (the other bits kept).
pub fn with_spot_byte(tag: Tag, q: u8) -> Tag {
    let v = U256::from_be_bytes(tag.0.0);
    let cleared = v & !(U256::from(0xffu8) << TAG_SPOT_SHIFT);
    Tag(B256::from(cleared | (U256::from(q) << TAG_SPOT_SHIFT)))
}

/// Whether tasks of a deal of tag `tag` are spot-checked: a random-selection deal with q ≠ 0.
pub fn is_spot_checked(tag: Tag) -> bool {
    tag.is_random() && spot_byte(tag) != 0
}

/// The byte for a probability `p` in [0, 1): `round(p · 256)`, capped at 255.
pub fn spot_byte_for(p: f64) -> Result<u8, SpotError> {
    if !(0.0..1.0).contains(&p) {
        return Err(SpotError::OutOfRange(p));
    }
    Ok((p * 256.0).round().min(255.0) as u8)
}

/// The probability a byte stands for: q / 256.
pub fn probability(q: u8) -> f64 {
    f64::from(q) / 256.0
}

/// `keccak256(taskId ‖ "audit")`: the audit's key wherever a task's id keys its records (its
/// contributions, result hashes and seals, `hub.reveal(auditId, digest)`).
pub fn audit_id(task: B256) -> B256 {
    keccak256([task.as_slice(), b"audit"].concat())
}

/// The audit round of a task that reached consensus when `round_at_consensus` was current.
pub fn audit_round(round_at_consensus: u64) -> u64 {
    round_at_consensus + AUDIT_ROUND_DELAY
}

/// Whether randomness `r` audits task `index` of deal `deal` at spot-check byte `q`.
pub fn audited(r: B256, deal: B256, index: u64, q: u8) -> bool {
    let h = keccak256(
        [
            r.as_slice(),
            deal.as_slice(),
            &U256::from(index).to_be_bytes::<32>(),
            b"audit",
        ]
        .concat(),
    );
    h[0] < q
}

/// What an audit position is worth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// An auditor's position.
    Counts,
    /// The draw's distancing skipped it.
    Skipped,
    /// Its worker contributed to the task, or shares a non-zero cluster with a contributor.
    Excluded,
}

/// One position of an audit's draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditPosition {
    /// The position j.
    pub index: u64,
    /// The drawn worker's index in the snapshot.
    pub worker: usize,
    /// Whether it counts.
    pub verdict: Verdict,
}

/// Positions `0..positions` of the audit of task `task` (index `index`) under the audit round's
/// randomness `r`, the task's contributors being `contributors`.
pub fn audit_draw(
    r: B256,
    task: B256,
    index: u64,
    positions: u64,
    snapshot: &[SnapshotWorker],
    contributors: &[Address],
) -> Result<Vec<AuditPosition>, DrawError> {
    let drawn = draw(r, audit_id(task), index, positions, snapshot)?;
    let contributed = |k: usize| contributors.contains(&snapshot[k].worker);
    let excluded = |k: usize| {
        contributed(k) || {
            let c = snapshot[k].cluster;
            c != 0 && (0..snapshot.len()).any(|m| snapshot[m].cluster == c && contributed(m))
        }
    };
    Ok(drawn
        .into_iter()
        .map(|p| AuditPosition {
            index: p.index,
            worker: p.worker,
            verdict: if !p.chosen {
                Verdict::Skipped
            } else if excluded(p.worker) {
                Verdict::Excluded
            } else {
                Verdict::Counts
            },
        })
        .collect())
}

/// The auditors of a task: the first `limit` counting positions among the first `max` (the
/// hub's `MAX_DRAW_POSITIONS`), as (position, worker address).
pub fn auditors(
    r: B256,
    task: B256,
    index: u64,
    limit: usize,
    max: u64,
    snapshot: &[SnapshotWorker],
    contributors: &[Address],
) -> Result<Vec<(u64, Address)>, DrawError> {
    Ok(audit_draw(r, task, index, max, snapshot, contributors)?
        .into_iter()
        .filter(|p| p.verdict == Verdict::Counts)
        .take(limit)
        .map(|p| (p.index, snapshot[p.worker].worker))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::draw::test_snapshot as snapshot;

    #[test]
    fn the_byte_round_trips_and_keeps_other_bits() {
        let t = with_spot_byte(Tag::RANDOM, 200);
        assert_eq!(spot_byte(t), 200);
        assert!(t.is_random() && is_spot_checked(t));
        assert_eq!(with_spot_byte(t, 0), Tag::RANDOM);
        assert!(
            !is_spot_checked(with_spot_byte(Tag::NONE, 200)),
            "q needs random selection"
        );
        assert_eq!(spot_byte_for(0.5).unwrap(), 128);
        assert_eq!(spot_byte_for(0.999).unwrap(), 255);
        assert_eq!(spot_byte_for(0.0).unwrap(), 0);
        assert!(spot_byte_for(1.0).is_err());
        assert!(spot_byte_for(-0.1).is_err());
    }

    #[test]
    fn audits_follow_q() {
        let deal = B256::repeat_byte(9);
        let n = (0..4000u64)
            .filter(|i| audited(B256::repeat_byte(4), deal, *i, 64))
            .count();
        assert!((800..1200).contains(&n), "{n} audited of 4000 at q = 1/4");
        assert!((0..100u64).all(|i| !audited(B256::repeat_byte(4), deal, i, 0)));
    }

    #[test]
    fn contributors_and_their_clusters_never_audit() {
        let s = snapshot(&[(10, 0), (10, 7), (10, 7), (10, 0), (10, 0)]);
        let contributors = [s[0].worker, s[1].worker];
        for k in 0..50u8 {
            let d = audit_draw(B256::repeat_byte(k), B256::ZERO, 0, 16, &s, &contributors).unwrap();
            for p in d.iter().filter(|p| p.verdict == Verdict::Counts) {
                assert!(p.worker >= 3, "worker {} audits", p.worker);
            }
        }
    }
}
