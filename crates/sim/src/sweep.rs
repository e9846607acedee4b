//! A grid of simulations over trust values and colluding fractions, as CSV, as an SVG plot
//! of the error rate against `f` (log scale, one line per trust, the promise `1/trust`
//! dashed), and as findings: up to which `f` each trust keeps its promise, and at what cost.

use std::fmt::Write as _;

use serde::Serialize;

use crate::SimError;
use crate::config::SimConfig;
use crate::sim::{promise, simulate};

/// What to sweep.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SweepSpec {
    /// Every other parameter (its `trust` and `colluders` are replaced at each point).
    pub base: SimConfig,
    /// The trust values.
    pub trusts: Vec<u64>,
    /// First colluding fraction.
    pub f_from: f64,
    /// Last colluding fraction (included).
    pub f_to: f64,
    /// Step between fractions.
    pub f_step: f64,
}

impl SweepSpec {
    /// The colluding fractions of the grid, `f_from, f_from + step, …, ≤ f_to`.
    pub fn fractions(&self) -> Result<Vec<f64>, SimError> {
        let (from, to, step) = (self.f_from, self.f_to, self.f_step);
        let bad = SimError::BadRange { from, to, step };
        if ![from, to, step].iter().all(|v| v.is_finite())
            || !(0.0..=1.0).contains(&from)
            || !(from..=1.0).contains(&to)
            || step <= 0.0
        {
            return Err(bad);
        }
        let n = ((to - from) / step + 1e-9).floor() as usize;
        if n > 1000 {
            return Err(bad);
        }
        // rounded so that 0.1 + 2·0.05 prints as 0.2
        Ok((0..=n)
            .map(|i| ((from + i as f64 * step) * 1e9).round() / 1e9)
            .collect())
    }
}

/// Whether a simulated point keeps the promise `1/trust`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The whole 95 % interval is at or below the promise.
    Holds,
    /// The whole 95 % interval is above the promise.
    Breaks,
    /// The interval straddles the promise: more tasks would tell.
    Inconclusive,
}

impl Verdict {
    /// The verdict's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Breaks => "breaks",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// One point of the grid.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SweepPoint {
    /// The trust.
    pub trust: u64,
    /// The colluding fraction.
    pub f: f64,
    /// `1/trust` (1 for trust ≤ 1).
    pub promise: f64,
    /// Tasks simulated.
    pub tasks: u64,
    /// Wrongly certified tasks.
    pub wrong: u64,
    /// `wrong / tasks`.
    pub wrong_rate: f64,
    /// Lower bound of its 95 % Wilson interval.
    pub ci_low: f64,
    /// Upper bound of its 95 % Wilson interval.
    pub ci_high: f64,
    /// The exact wrong rate (equal frozen scores, independent draws), when it applies.
    pub exact_wrong: Option<f64>,
    /// The exact rate of tasks without consensus before the deadline.
    pub exact_no_consensus: Option<f64>,
    /// Simulated rate of tasks without consensus.
    pub no_consensus_rate: f64,
    /// Simulated mean contributions per task.
    pub mean_contributions: f64,
    /// Exact mean contributions per task.
    pub exact_mean_contributions: Option<f64>,
    /// Simulated 99th percentile of contributions per task.
    pub p99_contributions: u32,
    /// Simulated pending workers left over at consensus, per task.
    pub wasted_per_task: f64,
    /// The highest wrong rate of a checkpoint window (`checkpoint_every` tasks).
    pub worst_window_wrong_rate: f64,
    /// The wrong rate of the last window.
    pub last_window_wrong_rate: f64,
    /// Audit contributions per task.
    pub audit_contributions_per_task: f64,
    /// Tasks failed because their audit contradicted them, per task.
    pub refuted_rate: f64,
    /// Whether the simulated rate keeps the promise.
    pub verdict: Verdict,
    /// Whether the exact rate keeps the promise.
    pub exact_holds: Option<bool>,
}

/// Runs the grid, calling `progress(done, total)` after each point.
pub fn sweep(
    spec: &SweepSpec,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<SweepPoint>, SimError> {
    if spec.trusts.is_empty() {
        return Err(SimError::NoTrust);
    }
    let fs = spec.fractions()?;
    let mut trusts = spec.trusts.clone();
    trusts.sort_unstable();
    trusts.dedup();
    let total = trusts.len() * fs.len();
    let mut points = Vec::with_capacity(total);
    for trust in &trusts {
        for f in &fs {
            let config = SimConfig {
                trust: *trust,
                colluders: *f,
                ..spec.base.clone()
            };
            let r = simulate(&config)?;
            let windows = r.checkpoints[1..].iter().map(|c| c.window_wrong_rate);
            let promise = promise(*trust);
            let verdict = if r.wrong.ci_high <= promise {
                Verdict::Holds
            } else if r.wrong.ci_low > promise {
                Verdict::Breaks
            } else {
                Verdict::Inconclusive
            };
            points.push(SweepPoint {
                trust: *trust,
                f: *f,
                promise,
                tasks: r.wrong.trials,
                wrong: r.wrong.count,
                wrong_rate: r.wrong.value,
                ci_low: r.wrong.ci_low,
                ci_high: r.wrong.ci_high,
                exact_wrong: r.exact.as_ref().map(|e| e.wrong),
                exact_no_consensus: r.exact.as_ref().map(|e| e.no_consensus),
                no_consensus_rate: r.no_consensus.value,
                mean_contributions: r.contributions.mean,
                exact_mean_contributions: r.exact.as_ref().map(|e| e.mean_contributions),
                p99_contributions: r.contributions.p99,
                wasted_per_task: r.wasted_per_task,
                worst_window_wrong_rate: windows.clone().fold(0.0, f64::max),
                last_window_wrong_rate: windows.clone().next_back().unwrap_or(0.0),
                audit_contributions_per_task: r.audits.contributions_per_task,
                refuted_rate: r.audits.refuted as f64 / r.wrong.trials.max(1) as f64,
                verdict,
                exact_holds: r.exact.as_ref().map(|e| e.wrong <= promise),
            });
            progress(points.len(), total);
        }
    }
    Ok(points)
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.6e}")).unwrap_or_default()
}

/// The grid as CSV, one line per point, with a header.
pub fn to_csv(points: &[SweepPoint]) -> String {
    let mut out = String::from(
        "trust,f,promise,tasks,wrong,wrong_rate,ci_low,ci_high,exact_wrong,\
         exact_no_consensus,no_consensus_rate,mean_contributions,exact_mean_contributions,\
         p99_contributions,wasted_per_task,verdict,exact_holds,worst_window_wrong_rate,\
         last_window_wrong_rate,audit_contributions_per_task,refuted_rate\n",
    );
    for p in points {
        let _ = writeln!(
            out,
            "{},{},{:.6e},{},{},{:.6e},{:.6e},{:.6e},{},{},{:.6e},{:.4},{},{},{:.4},{},{},{:.6e},{:.6e},{:.4},{:.6e}",
            p.trust,
            p.f,
            p.promise,
            p.tasks,
            p.wrong,
            p.wrong_rate,
            p.ci_low,
            p.ci_high,
            opt(p.exact_wrong),
            opt(p.exact_no_consensus),
            p.no_consensus_rate,
            p.mean_contributions,
            p.exact_mean_contributions
                .map(|v| format!("{v:.4}"))
                .unwrap_or_default(),
            p.p99_contributions,
            p.wasted_per_task,
            p.verdict.name(),
            p.exact_holds.map(|b| b.to_string()).unwrap_or_default(),
            p.worst_window_wrong_rate,
            p.last_window_wrong_rate,
            p.audit_contributions_per_task,
            p.refuted_rate,
        );
    }
    out
}

/// What the grid says about one trust value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// The trust.
    pub trust: u64,
    /// Its promise `1/trust`.
    pub promise: f64,
    /// Largest `f` of the grid up to which (from the smallest) every exact rate keeps the
    /// promise; `None` when the exact model does not apply or the first point breaks it.
    pub exact_holds_up_to: Option<f64>,
    /// Smallest `f` whose exact rate breaks the promise.
    pub exact_breaks_from: Option<f64>,
    /// Largest `f` up to which no simulated point breaks the promise (verdict not `breaks`).
    pub holds_up_to: Option<f64>,
    /// Smallest `f` whose simulated 95 % interval is wholly above the promise.
    pub breaks_from: Option<f64>,
    /// Mean contributions per task at `holds_up_to` (simulated).
    pub cost_at_limit: Option<f64>,
    /// Mean contributions per task at the smallest `f` (simulated).
    pub cost_at_start: Option<f64>,
}

/// Per trust: where the promise holds and where it breaks, and what it costs.
pub fn findings(points: &[SweepPoint]) -> Vec<Finding> {
    let mut trusts: Vec<u64> = points.iter().map(|p| p.trust).collect();
    trusts.sort_unstable();
    trusts.dedup();
    trusts
        .into_iter()
        .map(|trust| {
            let mut row: Vec<&SweepPoint> = points.iter().filter(|p| p.trust == trust).collect();
            row.sort_by(|a, b| a.f.total_cmp(&b.f));
            let exact_holds_up_to = row
                .iter()
                .take_while(|p| p.exact_holds == Some(true))
                .last()
                .map(|p| p.f);
            let exact_breaks_from = row
                .iter()
                .find(|p| p.exact_holds == Some(false))
                .map(|p| p.f);
            let holding: Vec<&&SweepPoint> = row
                .iter()
                .take_while(|p| p.verdict != Verdict::Breaks)
                .collect();
            Finding {
                trust,
                promise: promise(trust),
                exact_holds_up_to,
                exact_breaks_from,
                holds_up_to: holding.last().map(|p| p.f),
                breaks_from: row
                    .iter()
                    .find(|p| p.verdict == Verdict::Breaks)
                    .map(|p| p.f),
                cost_at_limit: holding.last().map(|p| p.mean_contributions),
                cost_at_start: row.first().map(|p| p.mean_contributions),
            }
        })
        .collect()
}

const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn decade_label(e: i32) -> String {
    match e {
        0 => "1".into(),
        -1 => "0.1".into(),
        -2 => "0.01".into(),
        -3 => "0.001".into(),
        e => format!("1e{e}"),
    }
}

/// The grid as an SVG plot: wrong rate (log scale) against `f`, per trust the exact rate as a
/// solid line, the simulated rate as dots with 95 % bars (shifted a little per trust so that
/// they don't hide each other), the promise `1/trust` dashed; `title` and a smaller
/// `subtitle` on top.
pub fn to_svg(points: &[SweepPoint], title: &str, subtitle: &str) -> String {
    let (width, height) = (860.0, 540.0);
    let (left, right, top, bottom) = (80.0, 250.0, 50.0, 60.0);
    let (pw, ph) = (width - left - right, height - top - bottom);
    let mut trusts: Vec<u64> = points.iter().map(|p| p.trust).collect();
    trusts.sort_unstable();
    trusts.dedup();
    let f_min = points.iter().map(|p| p.f).fold(f64::INFINITY, f64::min);
    let f_max = points.iter().map(|p| p.f).fold(f64::NEG_INFINITY, f64::max);
    let (f_min, f_max) = if !f_min.is_finite() {
        (0.0, 1.0)
    } else if f_max - f_min < 1e-9 {
        ((f_min - 0.05).max(0.0), f_max + 0.05)
    } else {
        // a little room so that the shifted dots at the ends stay inside the frame
        let pad = (f_max - f_min) * 0.03;
        (f_min - pad, f_max + pad)
    };
    let smallest = points
        .iter()
        .flat_map(|p| {
            [
                Some(p.wrong_rate),
                Some(p.ci_low),
                Some(p.ci_high),
                p.exact_wrong,
            ]
        })
        .flatten()
        .chain(points.iter().map(|p| p.promise))
        .filter(|v| *v > 0.0)
        .fold(1.0f64, f64::min);
    let e_min = (smallest.log10().floor() as i32).clamp(-12, -1);
    let (y_lo, y_hi) = (f64::from(e_min), 0.0);
    let x = |f: f64| left + (f - f_min) / (f_max - f_min) * pw;
    let y = |v: f64| {
        let l = v.max(10f64.powi(e_min)).log10();
        top + (y_hi - l) / (y_hi - y_lo) * ph
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r#"<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="20" text-anchor="middle" font-size="15">{}</text>"#,
        width / 2.0,
        escape(title)
    );
    let _ = writeln!(
        s,
        r##"<text x="{}" y="38" text-anchor="middle" font-size="11" fill="#444">{}</text>"##,
        width / 2.0,
        escape(subtitle)
    );
    // grid and axes
    for e in e_min..=0 {
        let yy = y(10f64.powi(e));
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + pw,
            left - 6.0,
            yy + 4.0,
            decade_label(e)
        );
    }
    let mut fs: Vec<f64> = points.iter().map(|p| p.f).collect();
    fs.sort_by(f64::total_cmp);
    fs.dedup();
    let every = fs.len().div_ceil(11).max(1);
    for f in fs.iter().step_by(every) {
        let xx = x(*f);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{top}" x2="{xx:.1}" y2="{:.1}" stroke="#eee"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            top + ph,
            top + ph + 18.0,
            trim(*f)
        );
    }
    let _ = writeln!(
        s,
        r#"<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="black"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">colluding fraction f</text>"#,
        left + pw / 2.0,
        height - 16.0
    );
    let _ = writeln!(
        s,
        r#"<text x="20" y="{:.1}" text-anchor="middle" transform="rotate(-90 20 {:.1})">wrongly certified tasks (log scale)</text>"#,
        top + ph / 2.0,
        top + ph / 2.0
    );
    for (i, trust) in trusts.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let mut row: Vec<&SweepPoint> = points.iter().filter(|p| p.trust == *trust).collect();
        row.sort_by(|a, b| a.f.total_cmp(&b.f));
        // the promise
        let py = y(promise(*trust));
        let _ = writeln!(
            s,
            r#"<line x1="{left}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="{color}" stroke-dasharray="6 4"/>"#,
            left + pw
        );
        // the exact rate: a line through the positive values
        let mut path = String::new();
        let mut pen_down = false;
        for p in &row {
            match p.exact_wrong {
                Some(v) if v > 0.0 => {
                    let _ = write!(
                        path,
                        "{}{:.1},{:.1} ",
                        if pen_down { "L" } else { "M" },
                        x(p.f),
                        y(v)
                    );
                    pen_down = true;
                }
                _ => pen_down = false,
            }
        }
        if !path.is_empty() {
            let _ = writeln!(
                s,
                r#"<path d="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
                path.trim_end()
            );
        }
        // the simulated rate: a bar for the interval, a dot for the value
        let shift = (i as f64 - (trusts.len() as f64 - 1.0) / 2.0) * 5.0;
        for p in &row {
            let xx = x(p.f) + shift;
            let _ = writeln!(
                s,
                r#"<line x1="{xx:.1}" y1="{:.1}" x2="{xx:.1}" y2="{:.1}" stroke="{color}"/>"#,
                y(p.ci_low),
                y(p.ci_high)
            );
            if p.wrong_rate > 0.0 {
                let _ = writeln!(
                    s,
                    r#"<circle cx="{xx:.1}" cy="{:.1}" r="3.5" fill="{color}"><title>trust {} f {}: {:.3e} [{:.3e}, {:.3e}]</title></circle>"#,
                    y(p.wrong_rate),
                    p.trust,
                    trim(p.f),
                    p.wrong_rate,
                    p.ci_low,
                    p.ci_high
                );
            }
        }
        // legend entry
        let ly = top + 10.0 + i as f64 * 22.0;
        let lx = left + pw + 20.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{:.1}" y2="{ly}" stroke="{color}" stroke-width="2"/><circle cx="{:.1}" cy="{ly}" r="3.5" fill="{color}"/><text x="{:.1}" y="{:.1}">trust {trust} (promise {})</text>"#,
            lx + 28.0,
            lx + 14.0,
            lx + 36.0,
            ly + 4.0,
            percent(promise(*trust))
        );
    }
    let ly = top + 30.0 + trusts.len() as f64 * 22.0;
    let lx = left + pw + 20.0;
    let legend = [
        ("solid", "exact (equal frozen weights)"),
        ("dots", "simulated, 95 % bars"),
        ("dashed", "promise 1/trust"),
    ];
    for (k, (style, text)) in legend.iter().enumerate() {
        let yy = ly + k as f64 * 20.0;
        match *style {
            "solid" => {
                let _ = write!(
                    s,
                    r#"<line x1="{lx}" y1="{yy}" x2="{:.1}" y2="{yy}" stroke="black" stroke-width="2"/>"#,
                    lx + 28.0
                );
            }
            "dots" => {
                let _ = write!(
                    s,
                    r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black"/><circle cx="{:.1}" cy="{yy}" r="3.5" fill="black"/>"#,
                    lx + 14.0,
                    yy - 7.0,
                    lx + 14.0,
                    yy + 7.0,
                    lx + 14.0
                );
            }
            _ => {
                let _ = write!(
                    s,
                    r#"<line x1="{lx}" y1="{yy}" x2="{:.1}" y2="{yy}" stroke="black" stroke-dasharray="6 4"/>"#,
                    lx + 28.0
                );
            }
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 36.0,
            yy + 4.0,
            escape(text)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// `0.05` rather than `0.05000000001`.
fn trim(f: f64) -> String {
    let t = format!("{f:.4}");
    let t = t.trim_end_matches('0').trim_end_matches('.');
    if t.is_empty() { "0".into() } else { t.into() }
}

/// A rate as a percentage with three significant digits (`35.0 %`, `0.0981 %`, `1.59e-5 %`).
pub fn percent(v: f64) -> String {
    let pct = v * 100.0;
    if v == 0.0 {
        "0 %".into()
    } else if pct >= 10.0 {
        format!("{pct:.1} %")
    } else if pct >= 1.0 {
        format!("{pct:.2} %")
    } else if pct >= 0.01 {
        format!("{pct:.3} %")
    } else {
        format!("{pct:.2e} %")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SweepSpec {
        SweepSpec {
            base: SimConfig {
                population: 200,
                tasks: 300,
                selection: crate::Selection::WithReplacement,
                frozen_scores: true,
                ..SimConfig::default()
            },
            trusts: vec![20, 5],
            f_from: 0.0,
            f_to: 0.45,
            f_step: 0.15,
        }
    }

    #[test]
    fn fractions_include_both_ends_and_refuse_bad_ranges() {
        assert_eq!(spec().fractions().unwrap(), vec![0.0, 0.15, 0.3, 0.45]);
        for (from, to, step) in [
            (0.5, 0.1, 0.1),
            (0.0, 1.5, 0.1),
            (0.0, 0.5, 0.0),
            (-0.1, 0.5, 0.1),
        ] {
            let s = SweepSpec {
                f_from: from,
                f_to: to,
                f_step: step,
                ..spec()
            };
            assert!(matches!(s.fractions(), Err(SimError::BadRange { .. })));
        }
        let s = SweepSpec {
            trusts: vec![],
            ..spec()
        };
        assert_eq!(sweep(&s, |_, _| {}), Err(SimError::NoTrust));
    }

    #[test]
    fn the_grid_renders_as_csv_svg_and_findings() {
        let mut calls = 0;
        let points = sweep(&spec(), |done, total| {
            calls += 1;
            assert_eq!(total, 8);
            assert_eq!(done, calls);
        })
        .unwrap();
        assert_eq!(points.len(), 8);
        assert_eq!(points[0].trust, 5, "sorted by trust");
        // no colluders, no faulty: never wrong, exactly
        assert_eq!(points[0].wrong, 0);
        assert_eq!(points[0].exact_wrong, Some(0.0));
        assert_eq!(points[0].verdict, Verdict::Holds);
        // at f = 0.45 trust 5 breaks (exact ≈ 35 %)
        let last = &points[3];
        assert_eq!(last.exact_holds, Some(false));
        assert_eq!(last.verdict, Verdict::Breaks);
        let csv = to_csv(&points);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 9);
        let columns = lines[0].split(',').count();
        assert!(lines.iter().all(|l| l.split(',').count() == columns));
        let svg = to_svg(&points, "a & b", "c < d");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("a &amp; b") && svg.contains("c &lt; d"));
        assert_eq!(
            svg.matches("stroke-dasharray").count(),
            3,
            "2 promises + legend"
        );
        assert_eq!(percent(0.35), "35.0 %");
        assert_eq!(percent(0.000_981), "0.098 %");
        assert_eq!(percent(1.59e-7), "1.59e-5 %");
        let found = findings(&points);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].trust, 5);
        assert_eq!(found[0].exact_breaks_from, Some(0.45));
        assert_eq!(found[0].exact_holds_up_to, Some(0.3));
    }
}
