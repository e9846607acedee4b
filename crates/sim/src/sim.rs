//! The Monte Carlo simulation: tasks one after the other, each replicated by the scheduler's
//! policy and certified by the hub's consensus rule, then settled (scores and stakes) as the
//! hub's `finalize` does.

use alloy::primitives::{Address, B256, U256};
use decloud_protocol::consensus::Cap;
use decloud_protocol::draw::{SnapshotWorker, draw, pick, position_seed};
use decloud_protocol::policy::weight_of;

use crate::SimError;
use crate::config::{Contradicted, Selection, SimConfig};
use crate::exact::{ExactParams, exact, hypergeometric};
use crate::ledger::{Ledger, Worker};
use crate::report::{
    AuditReport, Checkpoint, ClassReport, ClassScores, Contributions, DrawnReport, SimReport,
};
use crate::rng::Rng;
use crate::stats::{Moments, Rate, Z95, percentile, quantile_sorted};
use crate::task::{Answer, Class, Outcome, Source, certified, play_task, same_result};

/// The deal id of the simulator's draws (any fixed value does: the randomness is new per task).
const DEAL: B256 = B256::repeat_byte(0xde);

/// The state of the random draw within one task (and its audit, which continues the positions).
struct Drawing {
    /// Cumulated registry stakes (`decloud_protocol::draw::cumulated_stakes`).
    cum: Vec<U256>,
    /// The task's beacon randomness.
    randomness: B256,
    /// The task's index in the deal.
    task: u64,
    /// The next position j.
    next: u64,
    /// Workers with a stake in the registry (the others are never drawn).
    drawable: usize,
}

/// The population and the random generator, as a [`Source`].
struct World<'a> {
    workers: &'a [Worker],
    in_task: &'a mut [bool],
    used: &'a mut Vec<usize>,
    rng: &'a mut Rng,
    drawing: &'a mut Drawing,
    /// Colluders are the workers `0..colluders`.
    colluders: usize,
    selection: Selection,
    sabotage_rate: f64,
    error_rate: f64,
}

impl World<'_> {
    fn uniform_free(&mut self) -> usize {
        loop {
            let i = self.rng.below(self.workers.len());
            if !self.in_task[i] {
                return i;
            }
        }
    }
}

impl Source for World<'_> {
    fn candidate(&mut self) -> Option<usize> {
        let n = self.workers.len();
        if self.selection != Selection::WithReplacement && self.used.len() >= n {
            return None;
        }
        match self.selection {
            Selection::WithReplacement => Some(self.rng.below(n)),
            Selection::Uniform => Some(self.uniform_free()),
            Selection::Random => {
                // distancing: a position whose worker is already in the task is skipped (every
                // simulated worker is its own cluster)
                let d = &mut *self.drawing;
                if self.used.len() >= d.drawable {
                    // everybody left in the registry is in the task already
                    return None;
                }
                loop {
                    let k = pick(position_seed(d.randomness, DEAL, d.task, d.next), &d.cum);
                    if !self.in_task[k] {
                        return Some(k);
                    }
                    d.next += 1;
                }
            }
            Selection::Colluding => {
                let best = (0..self.colluders)
                    .filter(|i| !self.in_task[*i])
                    .max_by_key(|i| self.workers[*i].score);
                Some(best.unwrap_or_else(|| self.uniform_free()))
            }
            Selection::TopScore => {
                let mut best: Option<usize> = None;
                let mut ties = 0usize;
                for (i, w) in self.workers.iter().enumerate() {
                    if self.in_task[i] {
                        continue;
                    }
                    match best {
                        Some(b) if self.workers[b].score > w.score => {}
                        Some(b) if self.workers[b].score == w.score => {
                            ties += 1;
                            if self.rng.below(ties) == 0 {
                                best = Some(i);
                            }
                        }
                        _ => {
                            best = Some(i);
                            ties = 1;
                        }
                    }
                }
                best
            }
        }
    }

    fn score(&self, worker: usize) -> u64 {
        self.workers[worker].score
    }

    fn assign(&mut self, worker: usize) {
        if self.selection != Selection::WithReplacement {
            self.in_task[worker] = true;
            self.used.push(worker);
        }
        if self.selection == Selection::Random {
            // the position is taken
            self.drawing.next += 1;
        }
    }

    fn arrival(&mut self, pending: usize) -> usize {
        self.rng.below(pending)
    }

    fn answer(&mut self, worker: usize, faulty_ids: &mut u64) -> Option<Answer> {
        Some(match self.workers[worker].class {
            Class::Honest => Answer::Correct,
            Class::Faulty if self.rng.chance(self.error_rate) => {
                *faulty_ids += 1;
                Answer::Faulty(*faulty_ids)
            }
            Class::Colluder if self.rng.chance(self.sabotage_rate) => Answer::Collusion,
            _ => Answer::Correct,
        })
    }
}

/// The registry stake of an honest worker in the simulated snapshot (a colluder's is this times
/// `colluder_stake`).
const STAKE: f64 = 100.0;

/// The fewest workers of uncapped weight `weight` whose group wins alone at `trust` under `rule`.
fn quorum(rule: Cap, weight: u64, trust: u64) -> u32 {
    let w = u128::from(rule.weight(weight, trust));
    let mut g = 1u128;
    for m in 1..=100u32 {
        g = g.saturating_mul(w);
        if rule.reached(g, m, g, trust) {
            return m;
        }
    }
    100
}

/// Runs a simulation.
pub fn simulate(config: &SimConfig) -> Result<SimReport, SimError> {
    config.validate()?;
    let counts = config.class_counts();
    let mut workers = Vec::with_capacity(config.population);
    workers.extend((0..counts.colluders).map(|_| Worker {
        class: Class::Colluder,
        score: config.score_colluders,
    }));
    workers.extend((0..counts.faulty).map(|_| Worker {
        class: Class::Faulty,
        score: config.score_faulty,
    }));
    workers.extend((0..counts.honest).map(|_| Worker {
        class: Class::Honest,
        score: config.score_honest,
    }));
    let colluder_stake = (STAKE * config.colluder_stake).round().max(1.0) as u64;
    let snapshot: Vec<SnapshotWorker> = workers
        .iter()
        .enumerate()
        .map(|(i, w)| SnapshotWorker {
            worker: Address::left_padding_from(&(i as u64 + 1).to_be_bytes()),
            stake: U256::from(if w.class == Class::Colluder {
                colluder_stake
            } else {
                STAKE as u64
            }),
            cluster: 0,
        })
        .collect();
    let mut ledger = Ledger::new(workers, snapshot, config);
    let mut drawing = Drawing {
        cum: ledger.cumulated().ok_or(SimError::Internal)?,
        randomness: B256::ZERO,
        task: 0,
        next: 0,
        drawable: ledger.drawable(),
    };
    let mut rng = Rng::new(config.seed);
    let mut in_task = vec![false; ledger.workers.len()];
    let mut used = Vec::new();
    let cap = config.max_replicas;
    let (audit_trust, audit_cap) = (config.audit_trust(), config.audit_cap());
    let mut histogram = vec![0u64; cap as usize + 1];
    let mut moments = Moments::default();
    let (mut correct, mut collusion, mut faulty, mut none, mut overflows, mut wasted) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let mut audits = AuditReport::default();
    let mut window = Window::default();
    let mut checkpoints = vec![checkpoint(0, &ledger.workers, &window, config)];
    // "m of the n drawn": n as for fresh workers, m at the colluders' initial weight
    let drawn_nm = (config.selection == Selection::Random && config.trust > 1).then(|| {
        let n = quorum(config.cap, weight_of(0), config.trust);
        let m = quorum(config.cap, weight_of(config.score_colluders), config.trust);
        (n, m)
    });
    let mut drawn_counts = vec![0u64; drawn_nm.map_or(0, |(n, _)| n as usize + 1)];
    for t in 1..=config.tasks {
        if config.selection == Selection::Random {
            // only the draw consumes randomness, so the other policies replay the same runs
            drawing.randomness =
                B256::from(U256::from_limbs(std::array::from_fn(|_| rng.next_u64())));
            if ledger.dirty {
                drawing.cum = ledger.cumulated().unwrap_or_default();
                drawing.drawable = ledger.drawable();
            }
        }
        drawing.task = t;
        drawing.next = 0;
        let mut world = World {
            workers: &ledger.workers,
            in_task: &mut in_task,
            used: &mut used,
            rng: &mut rng,
            drawing: &mut drawing,
            colluders: counts.colluders,
            selection: config.selection,
            sabotage_rate: config.sabotage_rate,
            error_rate: config.error_rate,
        };
        let record =
            play_task(config.trust, cap, config.cap, &mut world).ok_or(SimError::Internal)?;
        // The hidden audit: decided and drawn from randomness that comes after the task's
        // contributions (workers not in the task); the hub audits only a task it would
        // certify, since a task without consensus is claimed, not finalized.
        let audited = config.spot_check > 0.0 && world.rng.chance(config.spot_check);
        let won = certified(&record);
        let audit = if audited && won.is_some() {
            Some(play_task(audit_trust, cap, audit_cap, &mut world).ok_or(SimError::Internal)?)
        } else {
            None
        };
        for w in used.drain(..) {
            in_task[w] = false;
        }
        if let Some((n, _)) = drawn_nm.filter(|_| !drawing.cum.is_empty()) {
            let k = drawn_colluders(&drawing, &ledger.snapshot, n as usize, counts.colluders)?;
            drawn_counts[k] += 1;
        }
        let n = record.contributors.len() as u64;
        histogram[record.contributors.len()] += 1;
        moments.push(n as f64);
        wasted += u64::from(record.wasted);
        overflows += u64::from(record.overflowed);
        let truth = audit.as_ref().and_then(certified);
        let refuted = config.contradicted == Contradicted::Fails
            && matches!((won, truth), (Some(w), Some(t)) if !same_result(w, t));
        window.tasks += 1;
        window.contributions += n;
        if refuted {
            audits.refuted += 1;
            window.refuted += 1;
            if record.outcome.is_wrong() {
                audits.caught += 1;
            } else {
                audits.refuted_correct += 1;
            }
        } else {
            match record.outcome {
                Outcome::Correct => correct += 1,
                Outcome::WrongCollusion => collusion += 1,
                Outcome::WrongFaulty => faulty += 1,
                Outcome::NoConsensus => none += 1,
            }
            window.wrong += u64::from(record.outcome.is_wrong());
        }
        match truth {
            Some(truth) if refuted => ledger.refute(&record, truth),
            Some(truth) => {
                ledger.settle(&record, config.trust);
                if record.outcome.is_wrong() && truth == Answer::Correct {
                    audits.caught += 1;
                }
                ledger.audit_standing(&record, config.trust, truth);
            }
            None => ledger.settle(&record, config.trust),
        }
        if let Some(audit) = audit {
            audits.audits += 1;
            audits.contributions += audit.contributors.len() as u64;
            window.audit_contributions += audit.contributors.len() as u64;
            ledger.settle_audit(&audit, audit_trust, config.zero_audit_dissent);
            match truth {
                Some(truth) => {
                    audits.certified += 1;
                    audits.certified_wrong += u64::from(truth != Answer::Correct);
                }
                None => audits.void += 1,
            }
        }
        if t % config.checkpoint_every == 0 || t == config.tasks {
            checkpoints.push(checkpoint(t, &ledger.workers, &window, config));
            window = Window::default();
        }
    }
    let tasks = config.tasks;
    audits.contributions_per_task = audits.contributions as f64 / tasks as f64;
    let half = moments.half_width(Z95);
    // the exact model is a reference: when it cannot be computed the simulation still stands
    let (exact, exact_unavailable) = match config.common_score() {
        Some(score) => {
            let (p_collude, p_faulty) = config.draw_probabilities();
            match exact(&ExactParams {
                trust: config.trust,
                score,
                p_collude,
                p_faulty,
                max_replicas: cap,
                cap: config.cap,
            }) {
                Ok(report) => (Some(report), None),
                Err(e) => (None, Some(e.to_string())),
            }
        }
        None => (
            None,
            Some("the classes start with different scores".to_string()),
        ),
    };
    let drawn_tasks = drawn_counts.iter().sum();
    let drawn = drawn_nm.map(|(n, m)| {
        let equal = colluder_stake == STAKE as u64 || counts.colluders == 0;
        let exact = equal.then(|| {
            hypergeometric(
                config.population as u64,
                counts.colluders as u64,
                u64::from(n),
            )
        });
        let at_least: u64 = drawn_counts[(m as usize).min(drawn_counts.len())..]
            .iter()
            .sum();
        DrawnReport {
            n,
            m,
            exact_at_least_m: exact
                .as_ref()
                .map(|p| p[(m as usize).min(p.len())..].iter().sum()),
            exact,
            at_least_m: Rate::new(at_least, drawn_tasks),
            simulated: drawn_counts,
        }
    });
    let classes = Class::ALL
        .iter()
        .map(|class| {
            let c = ledger.per_class[class.index()];
            ClassReport {
                class: *class,
                workers: ledger.workers.iter().filter(|w| w.class == *class).count(),
                contributions: c.contributions,
                wins: c.wins,
                losses: c.losses,
                audited: c.audited,
                zeroed: c.zeroed,
                stake_seized: (c.losses + c.audited).saturating_mul(config.worker_stake),
                ejected: c.ejected,
                restaked: c.restaked,
            }
        })
        .collect();
    Ok(SimReport {
        config: config.clone(),
        population: counts,
        promise: promise(config.trust),
        correct,
        wrong: Rate::new(collusion + faulty, tasks),
        wrong_collusion: collusion,
        wrong_faulty: faulty,
        no_consensus: Rate::new(none, tasks),
        overflows,
        contributions: Contributions {
            mean: moments.mean(),
            ci_low: (moments.mean() - half).max(0.0),
            ci_high: moments.mean() + half,
            p50: percentile(&histogram, 0.5),
            p90: percentile(&histogram, 0.9),
            p99: percentile(&histogram, 0.99),
            max: histogram.iter().rposition(|c| *c > 0).unwrap_or(0) as u32,
            total: histogram
                .iter()
                .enumerate()
                .map(|(i, c)| i as u64 * c)
                .sum(),
            histogram,
        },
        wasted_replicas: wasted,
        wasted_per_task: wasted as f64 / tasks as f64,
        classes,
        checkpoints,
        exact,
        exact_is_this_model: config.selection == Selection::WithReplacement && config.frozen_scores,
        exact_unavailable,
        audits,
        drawn,
    })
}

/// How many colluders (workers `0..colluders`) the protocol's draw puts among the first `n`
/// chosen positions of the current task.
fn drawn_colluders(
    drawing: &Drawing,
    snapshot: &[SnapshotWorker],
    n: usize,
    colluders: usize,
) -> Result<usize, SimError> {
    let mut positions = n as u64 + 8;
    loop {
        let d = draw(drawing.randomness, DEAL, drawing.task, positions, snapshot)
            .map_err(|_| SimError::Internal)?;
        let chosen: Vec<usize> = d.iter().filter(|p| p.chosen).map(|p| p.worker).collect();
        if chosen.len() >= n || positions > 64 * n as u64 + 64 {
            return Ok(chosen.iter().take(n).filter(|w| **w < colluders).count());
        }
        positions *= 2;
    }
}

/// The error rate a trust promises: `1/trust`, and 1 (no promise) for trust ≤ 1.
pub fn promise(trust: u64) -> f64 {
    if trust <= 1 { 1.0 } else { 1.0 / trust as f64 }
}

/// What happened since the last checkpoint.
#[derive(Default)]
struct Window {
    tasks: u64,
    wrong: u64,
    refuted: u64,
    contributions: u64,
    audit_contributions: u64,
}

fn checkpoint(
    after_tasks: u64,
    workers: &[Worker],
    window: &Window,
    config: &SimConfig,
) -> Checkpoint {
    let tasks = window.tasks;
    let ratio = |x: u64| {
        if tasks == 0 {
            0.0
        } else {
            x as f64 / tasks as f64
        }
    };
    let classes = Class::ALL
        .iter()
        .filter_map(|class| {
            let mut scores: Vec<u64> = workers
                .iter()
                .filter(|w| w.class == *class)
                .map(|w| w.score)
                .collect();
            if scores.is_empty() {
                return None;
            }
            scores.sort_unstable();
            let n = scores.len() as f64;
            Some(ClassScores {
                class: *class,
                workers: scores.len(),
                mean: scores.iter().sum::<u64>() as f64 / n,
                p10: quantile_sorted(&scores, 0.1),
                p50: quantile_sorted(&scores, 0.5),
                p90: quantile_sorted(&scores, 0.9),
                max: *scores.last().unwrap_or(&0),
                mean_weight: scores
                    .iter()
                    .map(|s| config.cap.weight(weight_of(*s), config.trust) as f64)
                    .sum::<f64>()
                    / n,
            })
        })
        .collect();
    Checkpoint {
        after_tasks,
        window_wrong_rate: ratio(window.wrong),
        window_refuted_rate: ratio(window.refuted),
        window_mean_contributions: ratio(window.contributions),
        window_audit_contributions: ratio(window.audit_contributions),
        classes,
    }
}

#[cfg(test)]
#[path = "sim_tests.rs"]
mod tests;
