//! `decloud sim` and `decloud sim sweep`: the Proof-of-Contribution simulator (docs/simulator.md).
//! How often replicated consensus certifies a wrong result, and at what cost, with the hub's
//! consensus rule and the scheduler's replica policy.

mod report;
mod sweep;

use clap::{Args, Subcommand, ValueEnum};
use decloud_protocol::consensus::Cap;
use decloud_sim::{Contradicted, Selection, SimConfig, simulate};

use super::shared::print_json;

/// Arguments of `decloud sim`.
#[derive(Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "The model (docs/simulator.md): each task is replicated by the scheduler's policy (pending \
workers count as agreeing with the leading group; a dissent gets the task more replicas), \
certified by the hub's rule (weight max(score/3, 3) - 1 capped at max(2, isqrt(trust - 1)), group \
weight = product, consensus when a group of two or more has group x trust > (1 + sum of groups) x \
(trust - 1)), then settled: winners of a replicated task \
score + 1, the others lose their stake and a third of their score. With --spot-check a \
certified task gets, with probability q, a hidden audit by other workers drawn after it; when \
the audit certifies another result the task fails (the hub) and its contributions that disagree \
with the audit lose their stake and their score. Colluders return one common \
wrong result with the sabotage rate; faulty workers return wrong results of their own. When \
every class starts with the same score, the exact figures for independent draws and frozen \
weights are shown beside the simulated ones.

Examples:
  decloud sim                                   # trust 20, 20 % colluders, 10,000 tasks
  decloud sim --trust 100 --colluders 0.3 --sabotage-rate 0.5 --faulty 0.05
  decloud sim --selection with-replacement --frozen-scores   # the exact model's assumptions
  decloud sim --score-colluders 300 --trust 100 --frozen-scores  # reputable colluders, capped
  decloud sim --score-colluders 300 --trust 100 --rule none      # ... before the cap
  decloud sim --selection random --spot-check 0.1 --score-colluders 300 --colluders 0.4
  decloud sim --selection random --spot-check 0.1 --audit-rule flat --audit-trust-factor 10
  decloud sim --selection random --spot-check 0.1 --pool-slash --min-stake 95   # ejection
  decloud sim --selection colluding --trust 100  # a scheduler that picks its colluders
  decloud sim --selection top-score --tasks 2000 --json
  decloud sim sweep --trust 5,20,100 --f-to 0.45 --out docs/sim"
)]
pub(crate) struct SimArgs {
    #[command(subcommand)]
    command: Option<SimCommand>,
    #[command(flatten)]
    run: RunOpts,
}

#[derive(Subcommand)]
enum SimCommand {
    /// Simulate a grid of trust values and colluding fractions: CSV, SVG plot and findings.
    #[command(
        after_help = "Writes <OUT>/<NAME>.csv (one line per point: f, trust, simulated wrong rate \
with its 95 % Wilson interval, exact wrong rate, contributions, ...) and <OUT>/<NAME>.svg (wrong \
rate against f on a log scale, one colour per trust, the promise 1/trust dashed), then prints \
for each trust up to which f the promise holds and what it costs in contributions. Every point \
runs --tasks tasks with the same seed.

Examples:
  decloud sim sweep                                          # trust 5,20,100, f = 0..0.45
  decloud sim sweep --trust 20,100 --f-from 0.2 --f-to 0.4 --f-step 0.02 --tasks 50000
  decloud sim sweep --selection with-replacement --frozen-scores --out docs/sim --name fresh
  decloud sim sweep --faulty 0.1 --error-rate 0.05 --json"
    )]
    Sweep(sweep::SweepOpts),
}

/// How workers are picked for the replicas of a task.
#[derive(Clone, Copy, ValueEnum)]
enum SelectionArg {
    /// A random worker not already in the task.
    Uniform,
    /// A random worker of the whole population (independent draws: the exact model).
    WithReplacement,
    /// The highest-score worker not already in the task.
    TopScore,
    /// The protocol's draw: stake-weighted, with worker distancing; nobody picks.
    Random,
    /// A colluding scheduler: its colluders first.
    Colluding,
}

impl From<SelectionArg> for Selection {
    fn from(s: SelectionArg) -> Self {
        match s {
            SelectionArg::Uniform => Selection::Uniform,
            SelectionArg::WithReplacement => Selection::WithReplacement,
            SelectionArg::TopScore => Selection::TopScore,
            SelectionArg::Random => Selection::Random,
            SelectionArg::Colluding => Selection::Colluding,
        }
    }
}

/// The consensus rule: the hub's (`root`) or a candidate it was compared with.
#[derive(Clone, Copy, ValueEnum)]
enum RuleArg {
    /// No reputation cap (the rule before the cap: a high score certifies alone).
    None,
    /// A group needs two members; weights uncapped.
    Pair,
    /// Two members and weights capped at max(2, isqrt(trust - 1)): the hub's rule.
    Root,
    /// Two members and every weight 2: reputation out of the vote.
    Flat,
}

impl From<RuleArg> for Cap {
    fn from(r: RuleArg) -> Self {
        match r {
            RuleArg::None => Cap::None,
            RuleArg::Pair => Cap::Pair,
            RuleArg::Root => Cap::Root,
            RuleArg::Flat => Cap::Flat,
        }
    }
}

/// The population and the run, shared by `sim` and `sim sweep`.
#[derive(Args)]
struct ModelOpts {
    /// Number of workers.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    population: usize,
    /// How often a colluder lies (per contribution, 0 to 1); otherwise it is correct.
    #[arg(
        long,
        short = 's',
        default_value_t = 1.0,
        value_name = "S",
        allow_negative_numbers = true
    )]
    sabotage_rate: f64,
    /// Fraction of honest but faulty workers (0 to 1).
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "PHI",
        allow_negative_numbers = true
    )]
    faulty: f64,
    /// How often a faulty worker returns a wrong result of its own (0 to 1).
    #[arg(
        long,
        default_value_t = 0.1,
        value_name = "E",
        allow_negative_numbers = true
    )]
    error_rate: f64,
    /// Initial score of every worker (weight max(score/3, 3) - 1).
    #[arg(long, default_value_t = 0)]
    score: u64,
    /// Initial score of the honest workers (default: --score).
    #[arg(long, value_name = "SCORE")]
    score_honest: Option<u64>,
    /// Initial score of the faulty workers (default: --score).
    #[arg(long, value_name = "SCORE")]
    score_faulty: Option<u64>,
    /// Initial score of the colluders (default: --score).
    #[arg(long, value_name = "SCORE")]
    score_colluders: Option<u64>,
    /// Tasks to run, one after the other (per point for a sweep).
    #[arg(long, default_value_t = 10_000)]
    tasks: u64,
    /// Seed of the random generator: the same seed gives the same output.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How the scheduler picks the worker of each replica.
    #[arg(long, value_enum, default_value = "uniform")]
    selection: SelectionArg,
    /// Most replicas a task can take before its deadline (1 to 100); past it the task has no
    /// consensus.
    #[arg(long, default_value_t = 64, value_name = "N")]
    max_replicas: u32,
    /// Stake a worker locks per contribution (deal.workerStake), lost outside the winning group.
    #[arg(long, default_value_t = 1, value_name = "AMOUNT")]
    worker_stake: u64,
    /// Keep every score (and so every weight) as it starts: no reputation dynamics.
    #[arg(long)]
    frozen_scores: bool,
    /// Record score distributions every this many tasks (default: a tenth of the tasks).
    #[arg(long, value_name = "TASKS")]
    checkpoint_every: Option<u64>,
    /// The consensus rule: the hub's reputation cap, or a candidate to compare it with.
    #[arg(long, value_enum, default_value = "root")]
    rule: RuleArg,
    /// Probability that a task gets a hidden audit (0 to 1): a contribution that disagrees with
    /// a certified audit loses its stake and its score.
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "Q",
        allow_negative_numbers = true
    )]
    spot_check: f64,
    /// A colluder's registry stake relative to an honest worker's (the random draw weighs by
    /// stake; 0.01 to 100).
    #[arg(
        long,
        default_value_t = 1.0,
        value_name = "RATIO",
        allow_negative_numbers = true
    )]
    colluder_stake: f64,
    /// Audits run at trust x this factor (1: the task's trust; an audit the hub trusts more).
    #[arg(long, default_value_t = 1, value_name = "K")]
    audit_trust_factor: u64,
    /// The rule audits are certified under (default: the task's --rule).
    #[arg(long, value_enum, value_name = "RULE")]
    audit_rule: Option<RuleArg>,
    /// What a certified task whose audit certified another result becomes: `fails` (the hub:
    /// not certified, the requester refunded) or `stands` (the result stays certified).
    #[arg(long, value_enum, default_value = "fails")]
    contradicted: ContradictedArg,
    /// An auditor that disagrees with its audit's certified result loses its whole score (not a
    /// third of it, as a task's loser does).
    #[arg(long)]
    zero_audit_dissent: bool,
    /// Lost stakes come out of the registry stake (as slashAbsent takes them) instead of the
    /// escrow balance, so they change the draw (random selection only).
    #[arg(long)]
    pool_slash: bool,
    /// The pool's minimum stake (an honest worker joins with 100, in units of --worker-stake):
    /// with --pool-slash a worker below it is no longer drawn.
    #[arg(long, default_value_t = 100, value_name = "AMOUNT")]
    min_stake: u64,
    /// With --pool-slash, a worker that falls below the minimum stakes again at once (keeping its
    /// score) instead of leaving the draw; the report counts what it puts back.
    #[arg(long)]
    restake: bool,
}

/// What a contradicting audit does to the task.
#[derive(Clone, Copy, ValueEnum)]
enum ContradictedArg {
    /// The task is not certified: it fails and the requester is refunded (the hub).
    Fails,
    /// The task's result stays certified; only the disagreeing contributors pay.
    Stands,
}

impl From<ContradictedArg> for Contradicted {
    fn from(c: ContradictedArg) -> Self {
        match c {
            ContradictedArg::Fails => Contradicted::Fails,
            ContradictedArg::Stands => Contradicted::Stands,
        }
    }
}

impl ModelOpts {
    fn config(&self, trust: u64, colluders: f64) -> SimConfig {
        SimConfig {
            population: self.population,
            colluders,
            sabotage_rate: self.sabotage_rate,
            faulty: self.faulty,
            error_rate: self.error_rate,
            trust,
            score_honest: self.score_honest.unwrap_or(self.score),
            score_faulty: self.score_faulty.unwrap_or(self.score),
            score_colluders: self.score_colluders.unwrap_or(self.score),
            tasks: self.tasks,
            seed: self.seed,
            selection: self.selection.into(),
            max_replicas: self.max_replicas,
            worker_stake: self.worker_stake,
            frozen_scores: self.frozen_scores,
            checkpoint_every: self
                .checkpoint_every
                .unwrap_or_else(|| (self.tasks / 10).max(1)),
            cap: self.rule.into(),
            spot_check: self.spot_check,
            colluder_stake: self.colluder_stake,
            audit_trust_factor: self.audit_trust_factor,
            audit_rule: self.audit_rule.map(Cap::from),
            contradicted: self.contradicted.into(),
            zero_audit_dissent: self.zero_audit_dissent,
            pool_slash: self.pool_slash,
            min_stake: self.min_stake,
            restake: self.restake,
        }
    }
}

/// Arguments of a single simulation.
#[derive(Args)]
struct RunOpts {
    /// The deal's trust: promises at most 1/trust wrong results (≤ 1: one contribution).
    #[arg(long, default_value_t = 20)]
    trust: u64,
    /// Fraction f of colluding workers (0 to 1): when they lie they agree on one wrong result.
    #[arg(
        long,
        short = 'f',
        default_value_t = 0.2,
        value_name = "F",
        allow_negative_numbers = true
    )]
    colluders: f64,
    #[command(flatten)]
    model: ModelOpts,
}

/// Runs `decloud sim [sweep]`.
pub(crate) fn run(args: SimArgs, json: bool) -> anyhow::Result<()> {
    match args.command {
        Some(SimCommand::Sweep(opts)) => sweep::run(opts, json),
        None => run_one(args.run, json),
    }
}

fn run_one(opts: RunOpts, json: bool) -> anyhow::Result<()> {
    let config = opts.model.config(opts.trust, opts.colluders);
    let report = simulate(&config)?;
    if json {
        return print_json(&report);
    }
    report::print_report(&report);
    Ok(())
}
