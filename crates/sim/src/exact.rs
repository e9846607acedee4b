//! Exact outcome probabilities of one task when every worker has the same, frozen weight and
//! every contribution is an independent draw: correct with probability `1 − pc − pf`, the
//! colluders' common wrong result with probability `pc = f·s`, and a wrong result of its own
//! (a new singleton group) with probability `pf = φ·e`.
//!
//! The process is a Markov chain whose state after `n` contributions is `(a, b, c, p)`: members
//! of the correct group, of the colluding group, number of faulty singletons (`a + b + c = n`),
//! and pending workers. Its transitions use the same code as the simulator: the scheduler's
//! [`replicas_needed`] tops the task up (never past the cap), one pending worker contributes,
//! and the protocol's [`reached`](decloud_protocol::consensus::reached) decides whether its
//! group now holds consensus. Dynamic programming over the states, level by level in `n`, gives
//! the exact probabilities of every outcome and the distribution of the number of
//! contributions.

use std::collections::BTreeMap;

use alloy::primitives::{B256, U256};
use decloud_protocol::consensus::{Cap, MAX_WEIGHT, worker_weight};
use decloud_protocol::policy::{TaskVotes, replicas_needed};
use serde::Serialize;

use crate::SimError;
use crate::config::MAX_REPLICAS_LIMIT;
use crate::stats::pmf_percentile;

/// The inputs of the exact model.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ExactParams {
    /// The deal's trust.
    pub trust: u64,
    /// Every worker's score (frozen); its weight is `max(score / 3, 3) − 1`.
    pub score: u64,
    /// Probability that a contribution is the colluders' wrong result (`f·s`).
    pub p_collude: f64,
    /// Probability that a contribution is a wrong result of its own (`φ·e`).
    pub p_faulty: f64,
    /// Most contributions before the deadline.
    pub max_replicas: u32,
    /// The consensus rule (the hub's unless comparing candidates).
    pub cap: Cap,
}

/// The exact outcome of a task.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExactReport {
    /// The common worker weight.
    pub weight: u64,
    /// Probability that the correct result is certified.
    pub correct: f64,
    /// Probability that a wrong result is certified (colluding or faulty).
    pub wrong: f64,
    /// Probability that the colluders' result is certified.
    pub wrong_collusion: f64,
    /// Probability that a faulty worker's result is certified.
    pub wrong_faulty: f64,
    /// Probability that the task has no consensus after `max_replicas` contributions.
    pub no_consensus: f64,
    /// Expected number of contributions per task.
    pub mean_contributions: f64,
    /// Median number of contributions.
    pub p50_contributions: u32,
    /// 90th percentile of the number of contributions.
    pub p90_contributions: u32,
    /// 99th percentile of the number of contributions.
    pub p99_contributions: u32,
    /// Largest number of contributions with a positive probability.
    pub max_contributions: u32,
    /// Expected number of workers still pending when consensus is reached.
    pub mean_wasted: f64,
    /// `P(contributions = n)` for `n = 0..=max_replicas`.
    #[serde(skip)]
    pub contributions_pmf: Vec<f64>,
    /// Number of states the dynamic programming visited.
    pub states: usize,
}

fn hash(id: u64) -> B256 {
    B256::from(U256::from(id).to_be_bytes::<32>())
}

/// What the scheduler sees of a task in state `(a, b, c)` with `p` pending workers, all of
/// weight `w`, written into `votes` (reused to spare allocations); `hashes[0]` is the correct
/// result, `hashes[1]` the colluders', the others the faulty singletons'.
fn fill_votes(votes: &mut TaskVotes, hashes: &[B256], (a, b, c, p): State, w: u64) {
    votes.contributions.clear();
    votes.contributions.extend((0..a).map(|_| (hashes[0], w)));
    votes.contributions.extend((0..b).map(|_| (hashes[1], w)));
    votes
        .contributions
        .extend(hashes[2..2 + c as usize].iter().map(|h| (*h, w)));
    votes.pending.clear();
    votes.pending.resize(p as usize, w);
}

/// `(a, b, c, p)`: correct members, colluding members, faulty singletons, pending workers.
type State = (u32, u32, u32, u32);

/// Computes the exact outcome probabilities (see the module documentation).
pub fn exact(params: &ExactParams) -> Result<ExactReport, SimError> {
    let ExactParams {
        trust,
        score,
        p_collude,
        p_faulty,
        max_replicas: cap,
        cap: rule,
    } = *params;
    for (name, v) in [("colluding draw", p_collude), ("faulty draw", p_faulty)] {
        if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
            return Err(SimError::Fraction { name, value: v });
        }
    }
    if p_collude + p_faulty > 1.0 + 1e-12 {
        return Err(SimError::Overcommitted {
            colluders: p_collude,
            faulty: p_faulty,
        });
    }
    if !(1..=MAX_REPLICAS_LIMIT).contains(&cap) {
        return Err(SimError::MaxReplicas {
            got: cap,
            max: MAX_REPLICAS_LIMIT,
        });
    }
    let p_correct = (1.0 - p_collude - p_faulty).max(0.0);
    let weight = rule.weight(worker_weight(score), trust);
    let w = u128::from(weight);
    // w^k, None once it passes the hub's limit
    let mut powers: Vec<Option<u128>> = vec![Some(1)];
    for k in 1..=cap as usize {
        let next = powers[k - 1]
            .and_then(|x| x.checked_mul(w))
            .filter(|x| *x <= MAX_WEIGHT);
        powers.push(next);
    }
    let group = |k: u32| -> Result<u128, SimError> {
        if k == 0 {
            Ok(0)
        } else {
            powers[k as usize].ok_or(SimError::ExactOverflow { max_replicas: cap })
        }
    };
    let sum = |a: u32, b: u32, c: u32| -> Result<u128, SimError> {
        group(a)?
            .checked_add(group(b)?)
            .and_then(|s| s.checked_add(u128::from(c) * w))
            .filter(|s| *s <= MAX_WEIGHT)
            .ok_or(SimError::ExactOverflow { max_replicas: cap })
    };

    let mut pmf = vec![0.0; cap as usize + 1];
    let (mut correct, mut collusion, mut faulty, mut none, mut wasted) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut states = 0usize;
    let hashes: Vec<B256> = (1..=u64::from(cap) + 2).map(hash).collect();
    let mut votes = TaskVotes {
        trust,
        cap: rule,
        ..TaskVotes::default()
    };
    let mut level: BTreeMap<State, f64> = BTreeMap::from([((0, 0, 0, 0), 1.0)]);
    for n in 0..=cap {
        let mut next: BTreeMap<State, f64> = BTreeMap::new();
        for ((a, b, c, p), mass) in level {
            states += 1;
            // the scheduler serves workers while the task needs replicas, never past the cap
            fill_votes(&mut votes, &hashes, (a, b, c, p), weight);
            let need = replicas_needed(&votes, weight);
            let p = p + need.min(cap - n - p);
            if p == 0 {
                none += mass;
                pmf[n as usize] += mass;
                continue;
            }
            // one pending worker contributes
            let branches = [
                (p_correct, (a + 1, b, c)),
                (p_collude, (a, b + 1, c)),
                (p_faulty, (a, b, c + 1)),
            ];
            for (kind, (prob, (a2, b2, c2))) in branches.into_iter().enumerate() {
                if prob <= 0.0 {
                    continue;
                }
                let m = mass * prob;
                let (g, members) = match kind {
                    0 => (group(a2)?, a2),
                    1 => (group(b2)?, b2),
                    _ => (w, 1),
                };
                if rule.reached(g, members, sum(a2, b2, c2)?, trust) {
                    pmf[n as usize + 1] += m;
                    wasted += m * f64::from(p - 1);
                    match kind {
                        0 => correct += m,
                        1 => collusion += m,
                        _ => faulty += m,
                    }
                } else {
                    *next.entry((a2, b2, c2, p - 1)).or_default() += m;
                }
            }
        }
        level = next;
    }
    debug_assert!(level.is_empty());
    let mean_contributions = pmf.iter().enumerate().map(|(n, p)| n as f64 * p).sum();
    Ok(ExactReport {
        weight,
        correct,
        wrong: collusion + faulty,
        wrong_collusion: collusion,
        wrong_faulty: faulty,
        no_consensus: none,
        mean_contributions,
        p50_contributions: pmf_percentile(&pmf, 0.5),
        p90_contributions: pmf_percentile(&pmf, 0.9),
        p99_contributions: pmf_percentile(&pmf, 0.99),
        max_contributions: pmf.iter().rposition(|p| *p > 0.0).unwrap_or(0) as u32,
        mean_wasted: wasted,
        contributions_pmf: pmf,
        states,
    })
}

/// `ln C(a, b)` (0 ≤ b ≤ a).
fn ln_choose(a: u64, b: u64) -> f64 {
    let b = b.min(a - b);
    (1..=b).map(|i| ((a - b + i) as f64 / i as f64).ln()).sum()
}

/// The hypergeometric law: `P(k of the n drawn are colluders)` for `k = 0..=n`, drawing `n` of
/// `population` workers without replacement when `colluders` of them collude (`n` past the
/// population draws everyone; `colluders` past it counts as everyone).
pub fn hypergeometric(population: u64, colluders: u64, n: u64) -> Vec<f64> {
    let big_n = population;
    let big_k = colluders.min(big_n);
    let drawn = n.min(big_n);
    let total = ln_choose(big_n, drawn);
    (0..=n)
        .map(|k| {
            if k > drawn || k > big_k || drawn - k > big_n - big_k {
                return 0.0;
            }
            (ln_choose(big_k, k) + ln_choose(big_n - big_k, drawn - k) - total).exp()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(trust: u64, pc: f64, pf: f64) -> ExactReport {
        exact(&ExactParams {
            trust,
            score: 0,
            p_collude: pc,
            p_faulty: pf,
            max_replicas: 64,
            cap: Cap::HUB,
        })
        .unwrap()
    }

    #[test]
    fn honest_workers_take_the_textbook_number_of_contributions() {
        // weight 2: 2^n > trust − 1 agreeing workers (trust 5: 3, trust 20: 5, trust 100: 7)
        for (trust, n) in [(0, 1), (1, 1), (2, 2), (3, 2), (5, 3), (20, 5), (100, 7)] {
            let r = run(trust, 0.0, 0.0);
            assert_eq!(r.correct, 1.0, "trust {trust}");
            assert_eq!(r.mean_contributions, n as f64, "trust {trust}");
            assert_eq!(r.max_contributions, n, "trust {trust}");
            assert_eq!(
                r.mean_wasted, 0.0,
                "trust {trust}: all assigned at once, all needed"
            );
        }
    }

    #[test]
    fn the_hypergeometric_law_by_hand() {
        // 2 colluders among 5, draw 2: P(0) = 3/10, P(1) = 6/10, P(2) = 1/10
        let p = hypergeometric(5, 2, 2);
        for (got, want) in p.iter().zip([0.3, 0.6, 0.1]) {
            assert!((got - want).abs() < 1e-12, "{p:?}");
        }
        // large population: close to the binomial; sums to 1
        let p = hypergeometric(1000, 400, 7);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((p[7] - 0.4f64.powi(7)).abs() < 2e-4, "{}", p[7]);
        // drawing everyone: exactly the colluders
        assert_eq!(hypergeometric(3, 1, 5), vec![0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(hypergeometric(10, 0, 3)[0], 1.0);
    }

    #[test]
    fn trust_one_certifies_whatever_comes_first() {
        let r = run(1, 0.3, 0.1);
        assert!((r.wrong_collusion - 0.3).abs() < 1e-15);
        assert!((r.wrong_faulty - 0.1).abs() < 1e-15);
        assert!((r.mean_contributions - 1.0).abs() < 1e-15);
        assert_eq!(r.contributions_pmf[0], 0.0);
    }

    #[test]
    fn colluders_who_always_come_always_win() {
        let r = run(100, 1.0, 0.0);
        assert_eq!(r.wrong_collusion, 1.0);
        assert_eq!(r.mean_contributions, 7.0);
    }

    #[test]
    fn trust_five_by_hand() {
        // Three workers are assigned at once; unanimity among them ends the task at 3
        // contributions, anything else needs more. The probabilities add up, and three
        // colluders first (0.2^3) is the bulk of the wrong rate.
        let r = run(5, 0.2, 0.0);
        let total = r.correct + r.wrong + r.no_consensus;
        assert!((total - 1.0).abs() < 1e-12, "{total}");
        // P(first three are colluders) = 0.008 is a lower bound of the wrong rate.
        assert!(r.wrong > 0.008 && r.wrong < 0.02, "{}", r.wrong);
        let pmf_total: f64 = r.contributions_pmf.iter().sum();
        assert!((pmf_total - 1.0).abs() < 1e-12);
        assert_eq!(r.contributions_pmf[3], 0.8f64.powi(3) + 0.2f64.powi(3));
    }

    #[test]
    fn a_tight_cap_turns_disputes_into_missed_deadlines() {
        let r = exact(&ExactParams {
            trust: 5,
            score: 0,
            p_collude: 0.5,
            p_faulty: 0.0,
            max_replicas: 3,
            cap: Cap::HUB,
        })
        .unwrap();
        // with 3 contributions only unanimity wins: 2 · 0.5^3
        assert!((r.correct - 0.125).abs() < 1e-15 && (r.wrong - 0.125).abs() < 1e-15);
        assert!((r.no_consensus - 0.75).abs() < 1e-15);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let mut p = ExactParams {
            trust: 5,
            score: 0,
            p_collude: 0.7,
            p_faulty: 0.7,
            max_replicas: 64,
            cap: Cap::None,
        };
        assert!(matches!(exact(&p), Err(SimError::Overcommitted { .. })));
        p.p_faulty = f64::NAN;
        assert!(matches!(exact(&p), Err(SimError::Fraction { .. })));
        p.p_faulty = 0.0;
        p.max_replicas = 0;
        assert!(matches!(exact(&p), Err(SimError::MaxReplicas { .. })));
        // weight 99 and a trust that needs 10 agreeing workers: a long dispute (17 a side)
        // passes the hub's 2^112 limit
        p.max_replicas = 100;
        p.score = 300;
        p.trust = 1_000_000_000_000_000_000;
        p.p_collude = 0.5;
        assert!(matches!(exact(&p), Err(SimError::ExactOverflow { .. })));
    }
}
