//! `decloud sim` and `decloud sim sweep`: the Proof-of-Contribution simulator (docs/simulator.md).
//! How often replicated consensus certifies a wrong result, and at what cost, with the hub's
//! consensus rule and the scheduler's replica policy.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use decloud_sim::sweep::{Finding, SweepPoint, findings, percent, to_csv, to_svg};
use decloud_sim::{Selection, SimConfig, SimReport, SweepSpec, simulate, sweep};
use serde::Serialize;

use super::shared::{print_json, table};

/// Arguments of `decloud sim`.
#[derive(Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "The model (docs/simulator.md): each task is replicated by the scheduler's policy (pending \
workers count as agreeing with the leading group; a dissent gets the task more replicas), \
certified by the hub's rule (weight max(score/3, 3) - 1, group weight = product, consensus when \
group x trust > (1 + sum of groups) x (trust - 1)), then settled: winners of a replicated task \
score + 1, the others lose their stake and a third of their score. Colluders return one common \
wrong result with the sabotage rate; faulty workers return wrong results of their own. When \
every class starts with the same score, the exact figures for independent draws and frozen \
weights are shown beside the simulated ones.

Examples:
  decloud sim                                   # trust 20, 20 % colluders, 10,000 tasks
  decloud sim --trust 100 --colluders 0.3 --sabotage-rate 0.5 --faulty 0.05
  decloud sim --selection with-replacement --frozen-scores   # the exact model's assumptions
  decloud sim --score-colluders 300 --trust 5   # reputable colluders certify alone
  decloud sim --selection top-score --tasks 2000 --json
  decloud sim sweep --trust 5,20,100 --f-to 0.45 --out docs/sim"
)]
pub struct SimArgs {
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
    Sweep(SweepOpts),
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
}

impl From<SelectionArg> for Selection {
    fn from(s: SelectionArg) -> Self {
        match s {
            SelectionArg::Uniform => Selection::Uniform,
            SelectionArg::WithReplacement => Selection::WithReplacement,
            SelectionArg::TopScore => Selection::TopScore,
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
    /// Print the full report as JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `decloud sim sweep`.
#[derive(Args)]
struct SweepOpts {
    /// Trust values, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [5u64, 20, 100])]
    trust: Vec<u64>,
    /// Smallest colluding fraction.
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "F",
        allow_negative_numbers = true
    )]
    f_from: f64,
    /// Largest colluding fraction (included).
    #[arg(long, default_value_t = 0.45, value_name = "F")]
    f_to: f64,
    /// Step between colluding fractions.
    #[arg(long, default_value_t = 0.05, value_name = "STEP")]
    f_step: f64,
    #[command(flatten)]
    model: ModelOpts,
    /// Directory to write the CSV and the SVG into (created if missing).
    #[arg(long, default_value = ".", value_name = "DIR")]
    out: PathBuf,
    /// File name of the CSV and SVG, without extension.
    #[arg(long, default_value = "sweep")]
    name: String,
    /// Print the points and findings as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `decloud sim [sweep]`.
pub fn run(args: SimArgs) -> anyhow::Result<()> {
    match args.command {
        Some(SimCommand::Sweep(opts)) => run_sweep(opts),
        None => run_one(args.run),
    }
}

fn run_one(opts: RunOpts) -> anyhow::Result<()> {
    let config = opts.model.config(opts.trust, opts.colluders);
    let report = simulate(&config)?;
    if opts.json {
        return print_json(&report);
    }
    print_report(&report);
    Ok(())
}

fn interval(value: f64, lo: f64, hi: f64) -> String {
    format!("{} [{}, {}]", percent(value), percent(lo), percent(hi))
}

fn describe(c: &SimConfig, report: &SimReport) -> String {
    let p = &report.population;
    format!(
        "{} tasks at trust {} ({}), {} workers: {} honest, {} faulty (e = {}), {} colluders \
         (s = {}); {} selection, scores {}, at most {} replicas, seed {}",
        c.tasks,
        c.trust,
        if c.trust <= 1 {
            "one contribution, no promise".to_string()
        } else {
            format!("promise ≤ {}", percent(report.promise))
        },
        c.population,
        p.honest,
        p.faulty,
        c.error_rate,
        p.colluders,
        c.sabotage_rate,
        c.selection.name(),
        if c.frozen_scores {
            "frozen"
        } else {
            "evolving"
        },
        c.max_replicas,
        c.seed
    )
}

fn print_report(r: &SimReport) {
    println!("{}\n", describe(&r.config, r));
    let exact = r.exact.as_ref();
    let mut t = table([
        "",
        "simulated (95 % interval)",
        if r.exact_is_this_model {
            "exact"
        } else {
            "exact (independent draws, frozen)"
        },
    ]);
    let ex = |f: &dyn Fn(&decloud_sim::ExactReport) -> String| exact.map(f).unwrap_or_default();
    t.add_row([
        "wrongly certified".to_string(),
        interval(r.wrong.value, r.wrong.ci_low, r.wrong.ci_high),
        ex(&|e| percent(e.wrong)),
    ]);
    t.add_row([
        "  by colluders / faulty".to_string(),
        format!("{} / {} tasks", r.wrong_collusion, r.wrong_faulty),
        ex(&|e| {
            format!(
                "{} / {}",
                percent(e.wrong_collusion),
                percent(e.wrong_faulty)
            )
        }),
    ]);
    t.add_row([
        "no consensus by the deadline".to_string(),
        interval(
            r.no_consensus.value,
            r.no_consensus.ci_low,
            r.no_consensus.ci_high,
        ),
        ex(&|e| percent(e.no_consensus)),
    ]);
    let c = &r.contributions;
    t.add_row([
        "contributions per task".to_string(),
        format!("{:.3} [{:.3}, {:.3}]", c.mean, c.ci_low, c.ci_high),
        ex(&|e| format!("{:.3}", e.mean_contributions)),
    ]);
    t.add_row([
        "  p50 / p90 / p99 / max".to_string(),
        format!("{} / {} / {} / {}", c.p50, c.p90, c.p99, c.max),
        ex(&|e| {
            format!(
                "{} / {} / {} / {}",
                e.p50_contributions, e.p90_contributions, e.p99_contributions, e.max_contributions
            )
        }),
    ]);
    t.add_row([
        "wasted replicas per task".to_string(),
        format!("{:.4} ({} in all)", r.wasted_per_task, r.wasted_replicas),
        ex(&|e| format!("{:.4}", e.mean_wasted)),
    ]);
    println!("{t}");
    if let Some(why) = &r.exact_unavailable {
        println!("no exact figures: {why}");
    }
    if r.overflows > 0 {
        println!(
            "{} contributions passed the hub's 112-bit weight limit (their tasks count as no consensus)",
            r.overflows
        );
    }
    let verdict = if r.config.trust <= 1 {
        "trust ≤ 1 makes no promise".to_string()
    } else if r.wrong.ci_high <= r.promise {
        format!("the promise ≤ {} holds", percent(r.promise))
    } else if r.wrong.ci_low > r.promise {
        format!("the promise ≤ {} is broken", percent(r.promise))
    } else {
        format!(
            "the interval straddles the promise {}: run more tasks",
            percent(r.promise)
        )
    };
    println!("\n{verdict}\n");

    let mut t = table([
        "class",
        "workers",
        "contributions",
        "wins",
        "losses",
        "stake seized",
    ]);
    for c in r.classes.iter().filter(|c| c.workers > 0) {
        t.add_row([
            c.class.name().to_string(),
            c.workers.to_string(),
            c.contributions.to_string(),
            c.wins.to_string(),
            c.losses.to_string(),
            c.stake_seized.to_string(),
        ]);
    }
    println!("{t}\n");

    let mut t = table([
        "after tasks",
        "class",
        "mean score",
        "p10",
        "p50",
        "p90",
        "max",
        "mean weight",
        "wrong since last",
        "contributions since last",
    ]);
    for cp in &r.checkpoints {
        for (i, c) in cp.classes.iter().enumerate() {
            let first = i == 0 && cp.after_tasks > 0;
            t.add_row([
                if i == 0 {
                    cp.after_tasks.to_string()
                } else {
                    String::new()
                },
                c.class.name().to_string(),
                format!("{:.2}", c.mean),
                c.p10.to_string(),
                c.p50.to_string(),
                c.p90.to_string(),
                c.max.to_string(),
                format!("{:.2}", c.mean_weight),
                if first {
                    percent(cp.window_wrong_rate)
                } else {
                    String::new()
                },
                if first {
                    format!("{:.2}", cp.window_mean_contributions)
                } else {
                    String::new()
                },
            ]);
        }
    }
    println!("{t}");
}

/// The JSON of `decloud sim sweep --json`.
#[derive(Serialize)]
struct SweepOutput<'a> {
    csv: String,
    svg: String,
    points: &'a [SweepPoint],
    findings: &'a [Finding],
}

fn run_sweep(opts: SweepOpts) -> anyhow::Result<()> {
    if opts.name.is_empty() || opts.name.contains(['/', '\\']) {
        anyhow::bail!(
            "--name {:?} must be a plain file name without extension (the directory goes in --out)",
            opts.name
        );
    }
    let spec = SweepSpec {
        base: opts.model.config(0, 0.0),
        trusts: opts.trust.clone(),
        f_from: opts.f_from,
        f_to: opts.f_to,
        f_step: opts.f_step,
    };
    // everything is checked before the first point runs
    let fs = spec.fractions()?;
    spec.base.validate()?;
    let bar = if opts.json {
        indicatif::ProgressBar::hidden()
    } else {
        let total = (opts.trust.len() * fs.len()) as u64;
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} points {elapsed:.dim}")
        {
            bar.set_style(style);
        }
        bar
    };
    let points = sweep(&spec, |done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    std::fs::create_dir_all(&opts.out).with_context(|| {
        format!(
            "cannot create {}: give a writable directory with --out",
            opts.out.display()
        )
    })?;
    let csv_path = opts.out.join(format!("{}.csv", opts.name));
    let svg_path = opts.out.join(format!("{}.svg", opts.name));
    let base = &spec.base;
    let scores = (base.score_honest, base.score_faulty, base.score_colluders);
    let title = format!(
        "s = {}, N = {}, {} tasks/point, {} selection, {} scores {}{}",
        base.sabotage_rate,
        base.population,
        base.tasks,
        base.selection.name(),
        match scores {
            (h, f, c) if h == f && f == c => format!("initial score {h},"),
            (h, f, c) => format!("initial scores {h} honest / {f} faulty / {c} colluders,"),
        },
        if base.frozen_scores {
            "frozen"
        } else {
            "evolving"
        },
        if base.faulty > 0.0 {
            format!(", faulty {} (e = {})", base.faulty, base.error_rate)
        } else {
            String::new()
        }
    );
    for (path, text) in [
        (&csv_path, to_csv(&points)),
        (
            &svg_path,
            to_svg(
                &points,
                "Wrongly certified tasks against the colluding fraction",
                &title,
            ),
        ),
    ] {
        std::fs::write(path, text).with_context(|| {
            format!(
                "cannot write {}: give a writable directory with --out",
                path.display()
            )
        })?;
    }
    let found = findings(&points);
    if opts.json {
        return print_json(&SweepOutput {
            csv: csv_path.display().to_string(),
            svg: svg_path.display().to_string(),
            points: &points,
            findings: &found,
        });
    }
    println!("sweep: {title}\n");
    let mut t = table([
        "trust",
        "f",
        "wrong (simulated, 95 %)",
        "exact",
        "promise",
        "verdict",
        "contributions",
        "exact",
        "p99",
        "no consensus",
    ]);
    for p in &points {
        t.add_row([
            p.trust.to_string(),
            p.f.to_string(),
            interval(p.wrong_rate, p.ci_low, p.ci_high),
            p.exact_wrong.map(percent).unwrap_or_default(),
            percent(p.promise),
            p.verdict.name().to_string(),
            format!("{:.2}", p.mean_contributions),
            p.exact_mean_contributions
                .map(|v| format!("{v:.2}"))
                .unwrap_or_default(),
            p.p99_contributions.to_string(),
            percent(p.no_consensus_rate),
        ]);
    }
    println!("{t}\n");
    for f in &found {
        println!("{}", finding_line(f));
    }
    println!("\nwrote {} and {}", csv_path.display(), svg_path.display());
    Ok(())
}

fn finding_line(f: &Finding) -> String {
    if f.trust <= 1 {
        return format!(
            "trust {}: no promise; every task takes one contribution",
            f.trust
        );
    }
    let sim = match (f.holds_up_to, f.breaks_from) {
        (Some(h), Some(b)) => format!("simulated: holds up to f = {h}, broken from f = {b}"),
        (Some(h), None) => format!("simulated: never broken (up to f = {h})"),
        (None, Some(b)) => format!("simulated: broken from f = {b}"),
        (None, None) => "simulated: no point".to_string(),
    };
    let exact = match (f.exact_holds_up_to, f.exact_breaks_from) {
        (Some(h), Some(b)) => format!("exact: holds up to f = {h}, broken from f = {b}"),
        (Some(h), None) => format!("exact: holds on the whole range (up to f = {h})"),
        (None, Some(b)) => format!("exact: broken from f = {b}"),
        (None, None) => "exact: n/a (unequal scores)".to_string(),
    };
    let cost = match (f.cost_at_start, f.cost_at_limit, f.holds_up_to) {
        (Some(a), Some(b), Some(h)) => {
            format!("; {a:.1} contributions/task at the first f, {b:.1} at f = {h}")
        }
        _ => String::new(),
    };
    format!(
        "trust {} (promise ≤ {}): {exact}; {sim}{cost}",
        f.trust,
        percent(f.promise)
    )
}
