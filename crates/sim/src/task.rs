//! One task: who is assigned, who answers what, and whether the hub's rule certifies. The
//! scheduler's replica policy and the hub's [`Tally`] decide; the workers and their answers
//! come from a `Source` (the simulated population, or a script in tests).

use alloy::primitives::{B256, U256};
use decloud_protocol::consensus::{Cap, Tally};
use decloud_protocol::policy::{TaskVotes, replicas_needed, weight_of};
use serde::Serialize;

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

    pub(crate) fn index(self) -> usize {
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

/// Whether two answers from different runs of a task are the same result (faulty results are
/// each a result of their own).
pub(crate) fn same_result(a: Answer, b: Answer) -> bool {
    matches!(
        (a, b),
        (Answer::Correct, Answer::Correct) | (Answer::Collusion, Answer::Collusion)
    )
}

/// The task's certified answer, if any.
pub(crate) fn certified(record: &TaskRecord) -> Option<Answer> {
    if record.outcome == Outcome::NoConsensus {
        return None;
    }
    record.contributors.last().map(|(_, a)| *a)
}
