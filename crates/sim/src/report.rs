//! What a simulation reports: outcomes, costs, per-class accounts, score checkpoints, audits
//! and the draw's "m of the n drawn".

use serde::Serialize;

use crate::config::{ClassCounts, SimConfig};
use crate::exact::ExactReport;
use crate::stats::Rate;
use crate::task::Class;

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
    /// Tasks failed since the previous checkpoint because their audit contradicted them.
    pub window_refuted_rate: f64,
    /// Mean contributions per task since the previous checkpoint.
    pub window_mean_contributions: f64,
    /// Audit contributions per task since the previous checkpoint.
    pub window_audit_contributions: f64,
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
    /// Times one of its workers left the draw, its registry stake below the pool's minimum
    /// (`pool_slash` without `restake`).
    pub ejected: u64,
    /// Stake its workers put back into the registry to stay in the draw (`pool_slash` with
    /// `restake`).
    pub restaked: u64,
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
    /// Audits without consensus (void: the task settles as if unaudited).
    pub void: u64,
    /// Wrong results whose audit certified the correct one: the task failed (or, when the
    /// result stands, still counts as wrongly certified).
    pub caught: u64,
    /// Tasks that failed because their audit certified another result.
    pub refuted: u64,
    /// Of those, tasks whose correct result failed (the audit certified the colluders').
    pub refuted_correct: u64,
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
