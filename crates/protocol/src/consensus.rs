//! The on-chain consensus rule (`contracts/src/libs/Consensus.sol` and the hub's group
//! bookkeeping), mirrored so that a scheduler can tell how a task stands without asking the
//! chain.
//!
//! A worker's weight is `max(score / 3, 3) - 1`; a result group weighs the product of its
//! members' weights; with `total = 1 + Σ groups`, a group wins when
//! `group × trust > total × (trust − 1)` (credibility above `1 − 1/trust`); `trust ≤ 1` means
//! one contribution suffices.

use std::collections::BTreeMap;

use alloy::primitives::{B256, U256};

use crate::ProtocolError;

/// Largest group weight and sum of group weights the hub stores (112 bits).
pub const MAX_WEIGHT: u128 = (1u128 << 112) - 1;
/// Largest number of members of a group the hub stores (16 bits).
pub const MAX_MEMBERS: u32 = (1 << 16) - 1;

/// A worker's weight from its score: `max(score / 3, 3) - 1`, so at least 2.
pub fn worker_weight(score: u64) -> u64 {
    (score / 3).max(3) - 1
}

/// Whether a group of weight `group` wins when the task's groups weigh `sum_groups` in total
/// (`Consensus.reached`). On chain both weights are below 2^112 and `trust` below 2^32, where
/// this never overflows; it is exact for any `u128` weights and `u64` trust.
pub fn reached(group: u128, sum_groups: u128, trust: u64) -> bool {
    if group == 0 {
        return false;
    }
    if trust <= 1 {
        return true;
    }
    let trust = U256::from(trust);
    U256::from(group) * trust
        > (U256::from(1u8) + U256::from(sum_groups)) * (trust - U256::from(1u8))
}

/// One result group of a task.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Group {
    /// Number of workers who contributed this result.
    pub members: u32,
    /// Product of their weights.
    pub weight: u128,
    /// Whether this group reached consensus.
    pub consensus: bool,
}

/// The contributions of one replicated task, as the hub tallies them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    trust: u64,
    sum: u128,
    groups: BTreeMap<B256, Group>,
}

impl Tally {
    /// An empty tally for a deal of trust `trust`.
    pub fn new(trust: u64) -> Self {
        Self {
            trust,
            ..Self::default()
        }
    }

    /// Adds the contribution of a worker of score `score` to the group of `result_hash`; returns
    /// whether that group now has consensus. Fails as the hub would (`WeightOverflow`) when the
    /// weights leave 112 bits.
    pub fn contribute(&mut self, result_hash: B256, score: u64) -> Result<bool, ProtocolError> {
        let w = u128::from(worker_weight(score));
        let old = self.groups.get(&result_hash).copied().unwrap_or_default();
        let weight = if old.weight == 0 {
            w
        } else {
            old.weight
                .checked_mul(w)
                .ok_or(ProtocolError::WeightOverflow)?
        };
        let sum = (self.sum - old.weight)
            .checked_add(weight)
            .ok_or(ProtocolError::WeightOverflow)?;
        let members = old.members + 1;
        if weight > MAX_WEIGHT || sum > MAX_WEIGHT || members > MAX_MEMBERS {
            return Err(ProtocolError::WeightOverflow);
        }
        let consensus = reached(weight, sum, self.trust);
        self.sum = sum;
        self.groups.insert(
            result_hash,
            Group {
                members,
                weight,
                consensus: old.consensus || consensus,
            },
        );
        Ok(consensus)
    }

    /// `1 + Σ groups`: the hub's `totalWeight`.
    pub fn total_weight(&self) -> u128 {
        1 + self.sum
    }

    /// The group of `result_hash`, if anyone contributed it.
    pub fn group(&self, result_hash: &B256) -> Option<&Group> {
        self.groups.get(result_hash)
    }

    /// The result that reached consensus, if any.
    pub fn winner(&self) -> Option<B256> {
        self.groups
            .iter()
            .find(|(_, g)| g.consensus)
            .map(|(h, _)| *h)
    }

    /// Mirrors `reopen`: the group of `result_hash` is rejected and its weight leaves the total.
    pub fn reopen(&mut self, result_hash: &B256) {
        if let Some(g) = self.groups.remove(result_hash) {
            self.sum -= g.weight;
        }
    }

    /// Whether a group of weight `group` would win if added as a new group, without changing the
    /// tally (to decide whether a task needs more replicas).
    pub fn would_reach(&self, group: u128) -> bool {
        self.sum
            .checked_add(group)
            .is_some_and(|sum| reached(group, sum, self.trust))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn weights_follow_the_formula() {
        assert_eq!(worker_weight(0), 2);
        assert_eq!(worker_weight(11), 2);
        assert_eq!(worker_weight(12), 3);
        assert_eq!(worker_weight(300), 99);
    }

    #[test]
    fn trust_one_needs_one_contribution() {
        let mut t = Tally::new(1);
        assert!(t.contribute(B256::repeat_byte(1), 0).unwrap());
        assert_eq!(t.winner(), Some(B256::repeat_byte(1)));
        assert!(!reached(0, 0, 0));
    }

    #[test]
    fn trust_five_with_fresh_workers() {
        // weights 2: g = 2^n, total = 1 + 2^n; 2^n * 5 > (1 + 2^n) * 4 <=> 2^n > 4.
        let mut t = Tally::new(5);
        let h = B256::repeat_byte(1);
        assert!(!t.contribute(h, 0).unwrap());
        assert!(!t.contribute(h, 0).unwrap());
        assert!(t.contribute(h, 0).unwrap());
        assert_eq!(t.total_weight(), 9);
        assert_eq!(t.group(&h).unwrap().members, 3);
    }

    #[test]
    fn a_dissenting_group_delays_consensus_and_reopen_drops_it() {
        let mut t = Tally::new(5);
        let (a, b) = (B256::repeat_byte(1), B256::repeat_byte(2));
        t.contribute(a, 0).unwrap();
        t.contribute(b, 0).unwrap();
        t.contribute(a, 0).unwrap();
        assert!(!t.contribute(a, 0).unwrap(), "8 * 5 > 11 * 4 is false");
        assert!(t.contribute(a, 0).unwrap(), "16 * 5 > 19 * 4");
        t.reopen(&a);
        assert_eq!(t.total_weight(), 3);
        assert_eq!(t.winner(), None);
    }

    #[test]
    fn overflow_is_refused_like_the_hub() {
        let mut t = Tally::new(u64::from(u32::MAX));
        let h = B256::repeat_byte(1);
        let mut err = None;
        for _ in 0..200 {
            if let Err(e) = t.contribute(h, u64::from(u32::MAX)) {
                err = Some(e);
                break;
            }
        }
        assert_eq!(err, Some(ProtocolError::WeightOverflow));
    }

    /// The rule as docs/design.md#consensus states it, computed from scratch per contribution:
    /// credibility `g / total > 1 - 1/trust`, i.e. `total > trust × (total − g)`.
    fn reference(trust: u64, contributions: &[(u8, u64)]) -> Vec<bool> {
        let mut out = Vec::new();
        for n in 1..=contributions.len() {
            let seen = &contributions[..n];
            let group_of = |r: u8| -> u128 {
                seen.iter()
                    .filter(|(g, _)| *g == r)
                    .map(|(_, s)| u128::from((s / 3).max(3) - 1))
                    .product()
            };
            let groups: std::collections::BTreeSet<u8> = seen.iter().map(|(g, _)| *g).collect();
            let total: u128 = 1 + groups.iter().map(|r| group_of(*r)).sum::<u128>();
            let g = group_of(seen[n - 1].0);
            out.push(trust <= 1 || total > u128::from(trust) * (total - g));
        }
        out
    }

    proptest! {
        #[test]
        fn mirror_matches_the_reference(
            trust in 0u64..200,
            contributions in proptest::collection::vec((0u8..3, 0u64..400), 1..9),
        ) {
            let expected = reference(trust, &contributions);
            let mut tally = Tally::new(trust);
            for (i, (r, score)) in contributions.iter().enumerate() {
                let got = tally.contribute(B256::repeat_byte(*r), *score).unwrap();
                prop_assert_eq!(got, expected[i], "contribution {}", i);
                if got {
                    // the hub stops accepting contributions once a group wins
                    break;
                }
            }
        }

        #[test]
        fn reached_is_monotonic_in_the_group(group in 1u128..1_000_000, extra in 0u128..1_000_000, trust in 0u64..1000) {
            if reached(group, group + extra, trust) {
                prop_assert!(reached(group + 1, group + 1 + extra, trust));
            }
        }
    }
}
