//! `decloud sim sweep`: a grid of trust values and colluding fractions, as CSV, SVG and
//! findings.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use decloud_sim::sweep::{Finding, SweepPoint, findings, percent, to_csv, to_svg};
use decloud_sim::{SweepSpec, sweep};
use serde::Serialize;

use super::ModelOpts;
use super::report::interval;
use crate::cmd::shared::{print_json, table};

/// Arguments of `decloud sim sweep`.
#[derive(Args)]
pub(super) struct SweepOpts {
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
}

/// The JSON of `decloud sim sweep --json`.
#[derive(Serialize)]
struct SweepOutput<'a> {
    csv: String,
    svg: String,
    points: &'a [SweepPoint],
    findings: &'a [Finding],
}

/// Runs `decloud sim sweep`.
pub(super) fn run(opts: SweepOpts, json: bool) -> anyhow::Result<()> {
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
    let bar = if json {
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
        "s = {}, N = {}, {} tasks/point, {} selection{}, rule {}, {} scores {}{}",
        base.sabotage_rate,
        base.population,
        base.tasks,
        base.selection.name(),
        if base.spot_check > 0.0 {
            format!(" + spot checks q = {}", base.spot_check)
        } else {
            String::new()
        },
        if base.spot_check > 0.0
            && (base.audit_trust_factor != 1
                || base.audit_rule.is_some()
                || base.zero_audit_dissent)
        {
            format!(
                "{} (audits: rule {}, trust x{}{})",
                base.cap.name(),
                base.audit_cap().name(),
                base.audit_trust_factor,
                if base.zero_audit_dissent {
                    ", dissent zeroed"
                } else {
                    ""
                }
            )
        } else {
            base.cap.name().to_string()
        },
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
    if json {
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
        "worst / last window",
        "audits",
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
            format!(
                "{} / {}",
                percent(p.worst_window_wrong_rate),
                percent(p.last_window_wrong_rate)
            ),
            format!("{:.2}", p.audit_contributions_per_task),
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
