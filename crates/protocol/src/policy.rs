//! How many more workers a task needs: pure functions over the contributions already on chain
//! and the replicates still pending, with the hub's consensus rule
//! ([`crate::consensus`]).
//!
//! Like iExec's scheduler, pending workers are counted as if they will agree with the leading
//! result group (the heaviest one): the scheduler adds replicas only when even that optimistic
//! outcome would not reach consensus. If a pending worker disagrees or fails, the task is
//! looked at again and gets more replicas then.

use std::collections::BTreeMap;

use crate::consensus::{Cap, MAX_WEIGHT, worker_weight};
use alloy::primitives::B256;

/// Most replicas the policy ever asks for at once (weights are at least 2, so the group
/// weight at least doubles with each agreeing worker and this is never reached below
/// trust 2^32).
pub const MAX_REPLICAS: u32 = 128;

/// The weight of a worker of on-chain score `score` before the deal's cap
/// (`max(score / 3, 3) − 1`); the policy caps it with the task's trust.
pub fn weight_of(score: u64) -> u64 {
    worker_weight(score)
}

/// What the policy sees of a task.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskVotes {
    /// The deal's trust (`≤ 1`: one contribution suffices).
    pub trust: u64,
    /// Contributions on chain (of the current epoch): result hash and worker weight.
    pub contributions: Vec<(B256, u64)>,
    /// Weights of the workers holding a replicate they have not contributed yet.
    pub pending: Vec<u64>,
    /// The consensus rule: the hub's unless the simulator compares candidates. Weights above
    /// its cap count as capped.
    pub cap: Cap,
}

fn times(group: u128, weight: u64) -> u128 {
    let w = u128::from(weight);
    if group == 0 {
        w
    } else {
        group.saturating_mul(w).min(MAX_WEIGHT)
    }
}

/// A result group as the policy sees it: weight (product of its members' capped weights) and
/// members.
#[derive(Clone, Copy, Default)]
struct Group {
    weight: u128,
    members: u32,
}

impl Group {
    fn with(self, weight: u64) -> Group {
        Group {
            weight: times(self.weight, weight),
            members: self.members.saturating_add(1),
        }
    }
}

/// The result groups and the sum of their weights.
fn groups(votes: &TaskVotes) -> (BTreeMap<B256, Group>, u128) {
    let mut groups = BTreeMap::<B256, Group>::new();
    for (hash, weight) in &votes.contributions {
        let g = groups.entry(*hash).or_default();
        *g = g.with(votes.cap.weight(*weight, votes.trust));
    }
    let sum = groups
        .values()
        .fold(0u128, |s, g| s.saturating_add(g.weight).min(MAX_WEIGHT));
    (groups, sum)
}

fn wins(votes: &TaskVotes, g: Group, sum: u128) -> bool {
    votes.cap.reached(g.weight, g.members, sum, votes.trust)
}

/// Whether a result group already holds consensus (then no replica is needed).
pub fn has_consensus(votes: &TaskVotes) -> bool {
    if votes.trust <= 1 {
        return !votes.contributions.is_empty();
    }
    let (groups, sum) = groups(votes);
    groups.values().any(|g| wins(votes, *g, sum))
}

/// How many more workers of weight `new_weight` the task needs so that consensus can hold,
/// counting its pending workers as agreeing with the leading group. 0 when the task has a
/// consensus already or when its contributions plus pending workers would make one.
pub fn replicas_needed(votes: &TaskVotes, new_weight: u64) -> u32 {
    if votes.trust <= 1 {
        return u32::from(votes.contributions.is_empty() && votes.pending.is_empty());
    }
    let (groups, sum) = groups(votes);
    if groups.values().any(|g| wins(votes, *g, sum)) {
        return 0;
    }
    // the heaviest group leads; among equals, the one with more members (closer to two)
    let leading = groups
        .values()
        .copied()
        .max_by_key(|g| (g.weight, g.members))
        .unwrap_or_default();
    let others = sum - leading.weight;
    let mut group = leading;
    for w in &votes.pending {
        group = group.with(votes.cap.weight(*w, votes.trust));
    }
    let holds = |g: Group| wins(votes, g, others.saturating_add(g.weight).min(MAX_WEIGHT));
    if holds(group) {
        return 0;
    }
    let new_weight = votes.cap.weight(new_weight.max(weight_of(0)), votes.trust);
    for needed in 1..=MAX_REPLICAS {
        group = group.with(new_weight);
        if holds(group) {
            return needed;
        }
    }
    MAX_REPLICAS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::Tally;
    use proptest::prelude::*;

    fn h(b: u8) -> B256 {
        B256::repeat_byte(b)
    }

    /// The score that gives weight `w` (w ≥ 2).
    fn score_for(w: u64) -> u64 {
        (w + 1) * 3
    }

    #[test]
    fn trust_one_needs_exactly_one_worker() {
        let mut v = TaskVotes {
            trust: 1,
            ..Default::default()
        };
        assert_eq!(replicas_needed(&v, 2), 1);
        v.pending.push(2);
        assert_eq!(replicas_needed(&v, 2), 0);
        v.pending.clear();
        v.contributions.push((h(1), 2));
        assert_eq!(replicas_needed(&v, 2), 0);
        assert!(has_consensus(&v));
    }

    #[test]
    fn trust_five_with_fresh_workers_needs_three() {
        // 2^n * 5 > (1 + 2^n) * 4 <=> 2^n > 4: three agreeing workers of weight 2.
        let mut v = TaskVotes {
            trust: 5,
            ..Default::default()
        };
        assert_eq!(replicas_needed(&v, 2), 3);
        v.pending = vec![2, 2];
        assert_eq!(replicas_needed(&v, 2), 1, "pending workers count");
        v.pending = vec![2];
        v.contributions = vec![(h(1), 2)];
        assert_eq!(replicas_needed(&v, 2), 1);
        // A dissenter must be outweighed: with b = 2 beside it, a grows 4 (20 > 28? no),
        // 8 (40 > 44? no), 16 (80 > 76): three more agreeing workers.
        v.pending.clear();
        v.contributions = vec![(h(1), 2), (h(2), 2)];
        assert_eq!(replicas_needed(&v, 2), 3);
        v.contributions = vec![(h(1), 2), (h(1), 2), (h(1), 2)];
        assert!(has_consensus(&v));
        assert_eq!(replicas_needed(&v, 2), 0);
    }

    #[test]
    fn heavier_workers_need_fewer_replicas() {
        let v = TaskVotes {
            trust: 5,
            ..Default::default()
        };
        // at trust 5 the cap is 2: a worker of score 300 counts as a fresh one.
        assert_eq!(replicas_needed(&v, weight_of(300)), 3);
        // at trust 1000 (cap 31) weight 12 needs 3 (12^3 × 1000 > 1729 × 999), weight 2 needs
        // 10 (2^10 > 999), and weight 99 counts as 31: 3 as well (31^2 ≤ 999).
        let v = TaskVotes {
            trust: 1000,
            ..Default::default()
        };
        assert_eq!(replicas_needed(&v, weight_of(39)), 3);
        assert_eq!(replicas_needed(&v, 2), 10);
        assert_eq!(replicas_needed(&v, weight_of(300)), 3);
        // before the cap, one worker of weight 99 sufficed at trust 5
        let v = TaskVotes {
            trust: 5,
            cap: Cap::None,
            ..Default::default()
        };
        assert_eq!(replicas_needed(&v, weight_of(300)), 1);
        // weights below 2 don't exist: a zero weight counts as a fresh worker.
        assert_eq!(replicas_needed(&v, 0), 3);
    }

    proptest! {
        /// The number asked for is exactly what the hub's tally needs: that many agreeing
        /// workers on the leading group reach consensus, one fewer does not.
        #[test]
        fn needed_is_sufficient_and_minimal(
            trust in 2u64..300,
            contributions in proptest::collection::vec((0u8..3, 2u64..40), 0..5),
            new_weight in 2u64..40,
        ) {
            let votes = TaskVotes {
                trust,
                contributions: contributions.iter().map(|(r, w)| (h(*r), *w)).collect(),
                ..Default::default()
            };
            let mut tally = Tally::new(trust);
            let mut done = false;
            for (r, w) in &votes.contributions {
                done |= tally.contribute(*r, score_for(*w)).unwrap();
            }
            prop_assume!(!done);
            let n = replicas_needed(&votes, new_weight);
            prop_assert!((1..MAX_REPLICAS).contains(&n));
            let (groups, _) = groups(&votes);
            let leading = groups
                .iter()
                .max_by_key(|(_, g)| (g.weight, g.members))
                .map(|(r, _)| *r)
                .unwrap_or(h(9));
            for i in 1..=n {
                let reached = tally.contribute(leading, score_for(new_weight)).unwrap();
                prop_assert_eq!(reached, i == n, "after {} of {} agreeing workers", i, n);
            }
        }

        /// Pending workers only ever lower the count.
        #[test]
        fn pending_workers_never_raise_the_count(
            trust in 0u64..300,
            contributions in proptest::collection::vec((0u8..3, 2u64..40), 0..4),
            pending in proptest::collection::vec(2u64..40, 0..4),
        ) {
            let mut votes = TaskVotes {
                trust,
                contributions: contributions.iter().map(|(r, w)| (h(*r), *w)).collect(),
                ..Default::default()
            };
            let without = replicas_needed(&votes, 2);
            votes.pending = pending;
            prop_assert!(replicas_needed(&votes, 2) <= without);
            if trust <= 1 {
                prop_assert!(without <= 1);
            }
        }
    }
}
