//! The Monte Carlo simulation: tasks one after the other, each replicated by the scheduler's
//! policy and certified by the hub's consensus rule, then settled (scores and stakes) as the
//! hub's `finalize` does.

use alloy::primitives::{Address, B256, U256};
use decloud_protocol::consensus::{Cap, Tally};
use decloud_protocol::draw::{SnapshotWorker, cumulated_stakes, draw, pick, position_seed};
use decloud_protocol::policy::{TaskVotes, replicas_needed, weight_of};
use serde::Serialize;

use crate::SimError;
use crate::config::{ClassCounts, Selection, SimConfig};
use crate::exact::{ExactParams, ExactReport, exact, hypergeometric};
use crate::rng::Rng;
use crate::stats::{Moments, Rate, Z95, percentile, quantile_sorted};

/// The kind of a worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Always returns the correct result.
    Honest,
    /// Returns a wrong result of its own with the error rate.
    Faulty,
    /// Returns the colluders' common wrong result with the sabotage rate.
    Colluder,
}

impl Class {
    /// Every class, in report order.
    pub const ALL: [Class; 3] = [Class::Honest, Class::Faulty, Class::Colluder];

    /// The class's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Class::Honest => "honest",
            Class::Faulty => "faulty",
            Class::Colluder => "colluder",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The result a worker returns for a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The correct result.
    Correct,
    /// The colluders' common wrong result.
    Collusion,
    /// A faulty worker's wrong result, numbered within the task (all different).
    Faulty(u64),
}

impl Answer {
    /// The result hash the worker commits (any distinct values do: the hub only compares them).
    pub fn hash(self) -> B256 {
        let id = match self {
            Answer::Correct => 1,
            Answer::Collusion => 2,
            Answer::Faulty(k) => 3 + k,
        };
        B256::from(U256::from(id).to_be_bytes::<32>())
    }
}

/// How a task ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The correct result was certified.
    Correct,
    /// The colluders' result was certified.
    WrongCollusion,
    /// A faulty worker's result was certified.
    WrongFaulty,
    /// No consensus before the deadline (cap of replicas, population exhausted, or the hub's
    /// weight limit).
    NoConsensus,
}

impl Outcome {
    /// Whether a wrong result was certified.
    pub fn is_wrong(self) -> bool {
        matches!(self, Outcome::WrongCollusion | Outcome::WrongFaulty)
    }
}

/// One task as it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskRecord {
    /// How it ended.
    pub outcome: Outcome,
    /// Contributions counted by the hub, in arrival order: worker index and answer.
    pub contributors: Vec<(usize, Answer)>,
    /// Workers assigned that had not contributed when consensus was reached.
    pub wasted: u32,
    /// Whether a contribution was refused because the group weights passed the hub's limit.
    pub overflowed: bool,
}

/// Where a task's workers and answers come from: the simulator's population, or a script in
/// tests.
pub(crate) trait Source {
    /// A worker the scheduler could assign next (not yet in the task, unless drawing with
    /// replacement), or `None` when there is none.
    fn candidate(&mut self) -> Option<usize>;
    /// The worker's current score.
    fn score(&self, worker: usize) -> u64;
    /// The worker is now in the task.
    fn assign(&mut self, worker: usize);
    /// Which of `pending` waiting workers contributes next.
    fn arrival(&mut self, pending: usize) -> usize;
    /// The worker's answer (`faulty_ids` numbers faulty answers within the task); `None`
    /// stops the task (scripts only).
    fn answer(&mut self, worker: usize, faulty_ids: &mut u64) -> Option<Answer>;
}

/// Plays one task: the scheduler serves workers while [`replicas_needed`] says the task
/// needs them (never more than `cap` contributions and pending workers in all), pending
/// workers contribute one at a time, and the hub's [`Tally`] certifies. `None` when the source
/// stopped.
pub(crate) fn play_task(
    trust: u64,
    cap: u32,
    rule: Cap,
    src: &mut impl Source,
) -> Option<TaskRecord> {
    let cap = cap as usize;
    let mut tally = Tally::with_cap(trust, rule);
    let mut votes = TaskVotes {
        trust,
        cap: rule,
        ..TaskVotes::default()
    };
    let mut pending: Vec<usize> = Vec::new();
    let mut contributors: Vec<(usize, Answer)> = Vec::new();
    let mut faulty_ids = 0u64;
    let mut overflowed = false;
    let outcome = loop {
        // Workers keep asking for work: each is assigned while the task still needs replicas
        // with the pending ones counted as agreeing with the leading group.
        while contributors.len() + pending.len() < cap {
            let Some(worker) = src.candidate() else {
                break;
            };
            let weight = weight_of(src.score(worker));
            if replicas_needed(&votes, weight) == 0 {
                break;
            }
            src.assign(worker);
            pending.push(worker);
            votes.pending.push(weight);
        }
        if pending.is_empty() {
            break Outcome::NoConsensus;
        }
        let i = src.arrival(pending.len());
        let worker = pending.swap_remove(i);
        votes.pending.swap_remove(i);
        let answer = src.answer(worker, &mut faulty_ids)?;
        let score = src.score(worker);
        match tally.contribute(answer.hash(), score) {
            Ok(reached) => {
                votes.contributions.push((answer.hash(), weight_of(score)));
                contributors.push((worker, answer));
                if reached {
                    break match answer {
                        Answer::Correct => Outcome::Correct,
                        Answer::Collusion => Outcome::WrongCollusion,
                        Answer::Faulty(_) => Outcome::WrongFaulty,
                    };
                }
            }
            Err(_) => {
                // the hub reverts the contribution (WeightOverflow); the task cannot finish
                overflowed = true;
                break Outcome::NoConsensus;
            }
        }
    };
    Some(TaskRecord {
        outcome,
        contributors,
        wasted: pending.len() as u32,
        overflowed,
    })
}

#[derive(Clone, Copy, Debug)]
struct Worker {
    class: Class,
    score: u64,
}

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

/// Scores of one class at a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassScores {
    /// The class.
    pub class: Class,
    /// Its number of workers.
    pub workers: usize,
    /// Mean score.
    pub mean: f64,
    /// 10th percentile.
    pub p10: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// Highest score.
    pub max: u64,
    /// Mean weight in the vote (`max(score / 3, 3) − 1`, capped by the rule).
    pub mean_weight: f64,
}

/// The state of the population after some tasks.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Checkpoint {
    /// Tasks run so far.
    pub after_tasks: u64,
    /// Wrongly certified tasks among those since the previous checkpoint.
    pub window_wrong_rate: f64,
    /// Mean contributions per task since the previous checkpoint.
    pub window_mean_contributions: f64,
    /// Scores per class (classes with workers only).
    pub classes: Vec<ClassScores>,
}

/// What one class of workers went through.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassReport {
    /// The class.
    pub class: Class,
    /// Its number of workers.
    pub workers: usize,
    /// Contributions its workers made.
    pub contributions: u64,
    /// Contributions in a winning group of a replicated task (score + 1).
    pub wins: u64,
    /// Contributions outside the winning group (stake lost, score cut to 2/3).
    pub losses: u64,
    /// Contributions in a winning group (or of a claimed task) that a certified audit
    /// contradicted: stake seized after all.
    pub audited: u64,
    /// Contributions whose score a certified audit set to 0 (`audited` and losers alike).
    pub zeroed: u64,
    /// Stake seized from its workers (`(losses + audited) × worker_stake`).
    pub stake_seized: u64,
}

/// "m of the n drawn are colluders": the protocol's draw of each task's first `n` workers,
/// counted, beside the exact hypergeometric law (a stake-weighted draw with distancing over equal
/// stakes is a uniform sample without replacement).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DrawnReport {
    /// Workers drawn per task: as many as a unanimous task of fresh workers takes at this trust.
    pub n: u32,
    /// The fewest colluders, at their initial weight, whose group wins when nobody dissents.
    pub m: u32,
    /// Tasks whose first `n` drawn workers count `k` colluders, for `k = 0..=n`.
    pub simulated: Vec<u64>,
    /// The hypergeometric `P(k of n)`, when every stake is equal.
    pub exact: Option<Vec<f64>>,
    /// Tasks with at least `m` colluders among the `n`, with the 95 % Wilson interval.
    pub at_least_m: Rate,
    /// The hypergeometric `P(at least m of n)`, when every stake is equal.
    pub exact_at_least_m: Option<f64>,
}

/// What the spot checks did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AuditReport {
    /// Tasks audited.
    pub audits: u64,
    /// Audits that certified a result.
    pub certified: u64,
    /// Audits that certified the colluders' result (then the honest contributors pay).
    pub certified_wrong: u64,
    /// Wrongly certified tasks whose audit certified the correct result (the wrong result
    /// still counts as certified: the hub does not reopen a certified task).
    pub caught: u64,
    /// Contributions the audits took.
    pub contributions: u64,
    /// The same per task of the run.
    pub contributions_per_task: f64,
}

/// The distribution of contributions per task.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Contributions {
    /// Mean per task.
    pub mean: f64,
    /// Lower bound of the 95 % interval of the mean.
    pub ci_low: f64,
    /// Upper bound of the 95 % interval of the mean.
    pub ci_high: f64,
    /// Median.
    pub p50: u32,
    /// 90th percentile.
    pub p90: u32,
    /// 99th percentile.
    pub p99: u32,
    /// Most in one task.
    pub max: u32,
    /// Total over all tasks.
    pub total: u64,
    /// Number of tasks with `i` contributions, for `i = 0..=max_replicas`.
    pub histogram: Vec<u64>,
}

/// Everything a simulation measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimReport {
    /// The parameters.
    pub config: SimConfig,
    /// Workers per class.
    pub population: ClassCounts,
    /// The error rate the trust promises (`1/trust`; 1 for trust ≤ 1).
    pub promise: f64,
    /// Tasks whose correct result was certified.
    pub correct: u64,
    /// Wrongly certified tasks (colluders or faulty), with the 95 % Wilson interval.
    pub wrong: Rate,
    /// Tasks certified with the colluders' result.
    pub wrong_collusion: u64,
    /// Tasks certified with a faulty worker's result.
    pub wrong_faulty: u64,
    /// Tasks without consensus before the deadline.
    pub no_consensus: Rate,
    /// Contributions refused because group weights passed the hub's 112-bit limit.
    pub overflows: u64,
    /// Contributions per task.
    pub contributions: Contributions,
    /// Workers assigned that had not contributed when consensus was reached: total.
    pub wasted_replicas: u64,
    /// The same per task.
    pub wasted_per_task: f64,
    /// Per class: contributions, wins, losses and stake seized.
    pub classes: Vec<ClassReport>,
    /// Score distributions over time.
    pub checkpoints: Vec<Checkpoint>,
    /// The exact model's figures for this population's draw probabilities, when every class
    /// starts with the same score.
    pub exact: Option<ExactReport>,
    /// Whether the exact figures are the exact expectation of this very simulation (draws
    /// with replacement and frozen scores); otherwise they are the fresh-worker reference.
    pub exact_is_this_model: bool,
    /// Why there are no exact figures, when there are none.
    pub exact_unavailable: Option<String>,
    /// The spot checks (all zero without them).
    pub audits: AuditReport,
    /// "m of the n drawn are colluders", with the random selection and trust > 1.
    pub drawn: Option<DrawnReport>,
}

/// The registry stake of an honest worker in the simulated snapshot (a colluder's is this times
/// `colluder_stake`).
const STAKE: f64 = 100.0;

/// Settles a task as `finalize` does: winners of a replicated task score + 1, the others lose
/// their stake and a third of their score; a task without consensus is claimed and refunds
/// everyone. Counts contributions, wins and losses per class.
fn settle(
    workers: &mut [Worker],
    per_class: &mut [[u64; 5]; 3],
    record: &TaskRecord,
    trust: u64,
    frozen: bool,
) {
    let winner = record
        .contributors
        .last()
        .filter(|_| record.outcome != Outcome::NoConsensus)
        .map(|(_, a)| *a);
    for (w, answer) in &record.contributors {
        let worker = &mut workers[*w];
        let c = worker.class.index();
        per_class[c][0] += 1;
        let Some(winner) = winner else { continue };
        if trust <= 1 {
            continue;
        }
        if *answer == winner {
            per_class[c][1] += 1;
            if !frozen {
                worker.score += 1;
            }
        } else {
            per_class[c][2] += 1;
            if !frozen {
                worker.score = worker.score * 2 / 3;
            }
        }
    }
}

/// Whether two answers from different runs of a task are the same result (faulty results are
/// each a result of their own).
fn same_result(a: Answer, b: Answer) -> bool {
    matches!(
        (a, b),
        (Answer::Correct, Answer::Correct) | (Answer::Collusion, Answer::Collusion)
    )
}

/// The task's certified answer, if any.
fn certified(record: &TaskRecord) -> Option<Answer> {
    if record.outcome == Outcome::NoConsensus {
        return None;
    }
    record.contributors.last().map(|(_, a)| *a)
}

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
    let mut drawing = Drawing {
        cum: cumulated_stakes(&snapshot).map_err(|_| SimError::Internal)?,
        randomness: B256::ZERO,
        task: 0,
        next: 0,
    };
    let mut rng = Rng::new(config.seed);
    let mut in_task = vec![false; workers.len()];
    let mut used = Vec::new();
    let cap = config.max_replicas;
    let mut histogram = vec![0u64; cap as usize + 1];
    let mut moments = Moments::default();
    let (mut correct, mut collusion, mut faulty, mut none, mut overflows, mut wasted) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    // contributions, wins, losses, audited, zeroed
    let mut per_class = [[0u64; 5]; 3];
    let mut audits = AuditReport::default();
    let mut window = (0u64, 0u64, 0u64); // tasks, wrong, contributions
    let mut checkpoints = vec![checkpoint(0, &workers, window, config)];
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
        }
        drawing.task = t;
        drawing.next = 0;
        let mut world = World {
            workers: &workers,
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
        // the hidden audit: more workers drawn the same way, after the task's (they are not in it)
        let audit = if config.spot_check > 0.0 && world.rng.chance(config.spot_check) {
            Some(play_task(config.trust, cap, config.cap, &mut world).ok_or(SimError::Internal)?)
        } else {
            None
        };
        for w in used.drain(..) {
            in_task[w] = false;
        }
        if let Some((n, _)) = drawn_nm {
            let k = drawn_colluders(&drawing, &snapshot, n as usize, counts.colluders)?;
            drawn_counts[k] += 1;
        }
        let n = record.contributors.len() as u64;
        histogram[record.contributors.len()] += 1;
        moments.push(n as f64);
        wasted += u64::from(record.wasted);
        overflows += u64::from(record.overflowed);
        match record.outcome {
            Outcome::Correct => correct += 1,
            Outcome::WrongCollusion => collusion += 1,
            Outcome::WrongFaulty => faulty += 1,
            Outcome::NoConsensus => none += 1,
        }
        window.0 += 1;
        window.1 += u64::from(record.outcome.is_wrong());
        window.2 += n;
        settle(
            &mut workers,
            &mut per_class,
            &record,
            config.trust,
            config.frozen_scores,
        );
        if let Some(audit) = audit {
            audits.audits += 1;
            audits.contributions += audit.contributors.len() as u64;
            settle(
                &mut workers,
                &mut per_class,
                &audit,
                config.trust,
                config.frozen_scores,
            );
            if let Some(truth) = certified(&audit) {
                audits.certified += 1;
                audits.certified_wrong += u64::from(truth != Answer::Correct);
                if record.outcome.is_wrong() && truth == Answer::Correct {
                    audits.caught += 1;
                }
                let won = certified(&record);
                for (w, answer) in &record.contributors {
                    if same_result(*answer, truth) {
                        continue;
                    }
                    let worker = &mut workers[*w];
                    let c = worker.class.index();
                    // a loser already paid its stake; a winner (or a refunded one) pays now
                    let lost = config.trust > 1 && won.is_some_and(|a| a != *answer);
                    if !lost {
                        per_class[c][3] += 1;
                    }
                    per_class[c][4] += 1;
                    if !config.frozen_scores {
                        worker.score = 0;
                    }
                }
            }
        }
        if t % config.checkpoint_every == 0 || t == config.tasks {
            checkpoints.push(checkpoint(t, &workers, window, config));
            window = (0, 0, 0);
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
            at_least_m: Rate::new(at_least, tasks),
            simulated: drawn_counts,
        }
    });
    let classes = Class::ALL
        .iter()
        .map(|class| {
            let [contributions, wins, losses, audited, zeroed] = per_class[class.index()];
            ClassReport {
                class: *class,
                workers: workers.iter().filter(|w| w.class == *class).count(),
                contributions,
                wins,
                losses,
                audited,
                zeroed,
                stake_seized: (losses + audited).saturating_mul(config.worker_stake),
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

fn checkpoint(
    after_tasks: u64,
    workers: &[Worker],
    window: (u64, u64, u64),
    config: &SimConfig,
) -> Checkpoint {
    let (tasks, wrong, contributions) = window;
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
        window_wrong_rate: ratio(wrong),
        window_mean_contributions: ratio(contributions),
        classes,
    }
}

#[cfg(test)]
#[path = "sim_tests.rs"]
mod tests;
