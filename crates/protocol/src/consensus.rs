//! The on-chain consensus rule (`contracts/src/libs/Consensus.sol` and the hub's group
//! bookkeeping), mirrored so that a scheduler can tell how a task stands without asking the
//! chain.
//!
//! A worker's weight is `max(score / 3, 3) − 1`, capped at [`weight_cap`]`(trust)` =
//! `max(2, ⌊√(trust − 1)⌋)`; a result group weighs the product of its members' weights; with
//! `total = 1 + Σ groups`, a group wins when it has at least two members and
//! `group × trust > total × (trust − 1)` (credibility above `1 − 1/trust`); `trust ≤ 1` means
//! one contribution suffices.
//!
//! The cap (docs/design.md#the-reputation-cap) keeps reputation from certifying on its
//! own: at trust > 1 no single contribution wins, and from trust 10 on no two do, however high
//! their scores. [`Cap`] names the rule the hub runs and the candidates the simulator compared it
//! with.

use std::collections::BTreeMap;

use alloy::primitives::{B256, U256};
use serde::Serialize;

use crate::ProtocolError;

/// Largest group weight and sum of group weights the hub stores (112 bits).
pub const MAX_WEIGHT: u128 = (1u128 << 112) - 1;
/// Largest number of members of a group the hub stores (16 bits).
pub const MAX_MEMBERS: u32 = (1 << 16) - 1;

/// A worker's weight from its score before the cap: `max(score / 3, 3) − 1`, so at least 2.
pub fn worker_weight(score: u64) -> u64 {
    (score / 3).max(3) - 1
}

/// The most a worker weighs in a deal of trust `trust` (`Consensus.weightCap`):
/// `max(2, ⌊√(trust − 1)⌋)` when `trust > 1`, so that two capped workers weigh at most
/// `trust − 1` and can't win alone; unlimited at `trust ≤ 1`.
pub fn weight_cap(trust: u64) -> u64 {
    if trust <= 1 {
        u64::MAX
    } else {
        (trust - 1).isqrt().max(2)
    }
}

/// A worker's weight in the vote of a deal of trust `trust` (`Consensus.workerWeight`):
/// [`worker_weight`] capped at [`weight_cap`].
pub fn vote_weight(score: u64, trust: u64) -> u64 {
    worker_weight(score).min(weight_cap(trust))
}

/// Whether a group of weight `group` and `members` members wins when the task's groups weigh
/// `sum_groups` in total (`Consensus.reached`). On chain both weights are below 2^112 and `trust`
/// below 2^32, where this never overflows; it is exact for any `u128` weights and `u64` trust.
pub fn reached(group: u128, members: u32, sum_groups: u128, trust: u64) -> bool {
    Cap::HUB.reached(group, members, sum_groups, trust)
}

/// How far a worker's reputation counts in the vote. The hub runs [`Cap::HUB`]; the others are
/// the candidates `decloud sim` compares it with (docs/simulator.md), kept so that the
/// comparison can be rerun.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cap {
    /// No cap (the rule before the cap): a worker of weight above `trust − 1` wins alone.
    None,
    /// A group needs two members at trust > 1; weights uncapped, so two reputable workers
    /// still win together.
    Pair,
    /// Two members, and every weight at most `max(2, ⌊√(trust − 1)⌋)`: from trust 10 on a group
    /// needs three members whatever their scores. The hub's rule.
    #[default]
    Root,
    /// Two members, and every worker weighs 2 whatever its score: reputation out of the vote.
    Flat,
}

impl Cap {
    /// The rule the hub runs.
    pub const HUB: Cap = Cap::Root;
    /// Every rule, in the order of the documentation.
    pub const ALL: [Cap; 4] = [Cap::None, Cap::Pair, Cap::Root, Cap::Flat];

    /// The rule's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Cap::None => "none",
            Cap::Pair => "pair",
            Cap::Root => "root",
            Cap::Flat => "flat",
        }
    }

    /// The rule of that name, if any.
    pub fn from_name(name: &str) -> Option<Cap> {
        Cap::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The weight in the vote of a worker whose uncapped weight is `weight`.
    pub fn weight(self, weight: u64, trust: u64) -> u64 {
        let weight = weight.max(2);
        match self {
            Cap::None | Cap::Pair => weight,
            Cap::Root => weight.min(weight_cap(trust)),
            Cap::Flat if trust > 1 => 2,
            Cap::Flat => weight,
        }
    }

    /// Whether a group of weight `group` and `members` members wins when the task's groups
    /// weigh `sum_groups` in total.
    pub fn reached(self, group: u128, members: u32, sum_groups: u128, trust: u64) -> bool {
        if group == 0 {
            return false;
        }
        if trust <= 1 {
            return true;
        }
        if members < 2 && self != Cap::None {
            return false;
        }
        let trust = U256::from(trust);
        U256::from(group) * trust
            > (U256::from(1u8) + U256::from(sum_groups)) * (trust - U256::from(1u8))
    }
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
    cap: Cap,
    sum: u128,
    groups: BTreeMap<B256, Group>,
}

impl Tally {
    /// An empty tally for a deal of trust `trust`, under the hub's rule.
    pub fn new(trust: u64) -> Self {
        Self::with_cap(trust, Cap::HUB)
    }

    /// An empty tally under the rule `cap` (the simulator's candidates).
    pub fn with_cap(trust: u64, cap: Cap) -> Self {
        Self {
            trust,
            cap,
            ..Self::default()
        }
    }

    /// Adds the contribution of a worker of score `score` to the group of `result_hash`; returns
    /// whether that group now has consensus. Fails as the hub would (`WeightOverflow`) when the
    /// weights leave 112 bits.
    pub fn contribute(&mut self, result_hash: B256, score: u64) -> Result<bool, ProtocolError> {
        let w = u128::from(self.cap.weight(worker_weight(score), self.trust));
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
        let consensus = self.cap.reached(weight, members, sum, self.trust);
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
        assert!(!reached(0, 0, 0, 0));
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
    /// weights `min(max(score / 3, 3) − 1, max(2, ⌊√(trust − 1)⌋))`, and a group of at least two
    /// members wins when its credibility `g / total > 1 - 1/trust`, i.e.
    /// `total > trust × (total − g)`.
    fn reference(trust: u64, contributions: &[(u8, u64)]) -> Vec<bool> {
        let cap = |w: u64| {
            if trust <= 1 {
                return w;
            }
            let mut r = 0u64;
            while (r + 1) * (r + 1) < trust {
                r += 1;
            }
            w.min(r.max(2))
        };
        let mut out = Vec::new();
        for n in 1..=contributions.len() {
            let seen = &contributions[..n];
            let group_of = |r: u8| -> u128 {
                seen.iter()
                    .filter(|(g, _)| *g == r)
                    .map(|(_, s)| u128::from(cap((s / 3).max(3) - 1)))
                    .product()
            };
            let groups: std::collections::BTreeSet<u8> = seen.iter().map(|(g, _)| *g).collect();
            let total: u128 = 1 + groups.iter().map(|r| group_of(*r)).sum::<u128>();
            let last = seen[n - 1].0;
            let g = group_of(last);
            let members = seen.iter().filter(|(r, _)| *r == last).count();
            out.push(trust <= 1 || (members >= 2 && total > u128::from(trust) * (total - g)));
        }
        out
    }

    #[test]
    fn the_cap_follows_the_square_root() {
        assert_eq!(weight_cap(0), u64::MAX);
        assert_eq!(weight_cap(1), u64::MAX);
        for (trust, cap) in [
            (2, 2),
            (5, 2),
            (9, 2),
            (10, 3),
            (17, 4),
            (20, 4),
            (100, 9),
            (101, 10),
        ] {
            assert_eq!(weight_cap(trust), cap, "trust {trust}");
        }
        assert_eq!(vote_weight(300, 100), 9);
        assert_eq!(vote_weight(300, 1), 99);
        assert_eq!(vote_weight(0, 100), 2);
        assert_eq!(vote_weight(30, 1000), 9, "below the cap the score counts");
    }

    #[test]
    fn reputable_workers_need_company() {
        // trust 2: before the cap one fresh worker won alone (2 × 2 > 3 × 1)
        let mut t = Tally::new(2);
        assert!(!t.contribute(B256::repeat_byte(1), 0).unwrap());
        assert!(t.contribute(B256::repeat_byte(1), 0).unwrap());
        // trust 100: two workers of score 300 (weight 9 each) don't win, a third does
        let mut t = Tally::new(100);
        let h = B256::repeat_byte(1);
        assert!(!t.contribute(h, 300).unwrap());
        assert!(!t.contribute(h, 300).unwrap());
        assert!(t.contribute(h, 300).unwrap(), "729 × 100 > 730 × 99");
        // the candidates the simulator compares: uncapped, one of weight 99 wins at trust 50
        let mut t = Tally::with_cap(50, Cap::None);
        assert!(t.contribute(h, 300).unwrap());
        let mut t = Tally::with_cap(100, Cap::Pair);
        assert!(!t.contribute(h, 300).unwrap());
        assert!(
            t.contribute(h, 300).unwrap(),
            "two of weight 99 win at trust 100"
        );
        assert_eq!(Cap::Flat.weight(99, 100), 2);
        assert_eq!(Cap::Flat.weight(99, 1), 99);
        for c in Cap::ALL {
            assert_eq!(Cap::from_name(c.name()), Some(c));
        }
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
            if reached(group, 2, group + extra, trust) {
                prop_assert!(reached(group + 1, 2, group + 1 + extra, trust));
            }
        }

        /// The cap's promise: at trust > 1 one contribution never wins, whatever its score,
        /// and from trust 10 on two never do.
        #[test]
        fn reputation_never_certifies_alone(trust in 2u64..u64::from(u32::MAX), a in any::<u64>(), b in any::<u64>()) {
            let mut t = Tally::new(trust);
            let h = B256::repeat_byte(1);
            prop_assert!(!t.contribute(h, a).unwrap());
            let two = t.contribute(h, b).unwrap();
            if trust >= 10 {
                prop_assert!(!two);
            }
        }
    }
}
