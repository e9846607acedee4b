//! The report of one simulation, as tables.

use decloud_sim::sweep::percent;
use decloud_sim::{SimConfig, SimReport};

use crate::cmd::shared::table;

pub(super) fn interval(value: f64, lo: f64, hi: f64) -> String {
    format!("{} [{}, {}]", percent(value), percent(lo), percent(hi))
}

pub(super) fn describe(c: &SimConfig, report: &SimReport) -> String {
    let p = &report.population;
    format!(
        "{} tasks at trust {} ({}), {} workers: {} honest, {} faulty (e = {}), {} colluders \
         (s = {}); {} selection, rule {}, spot checks {}{}, scores {}, at most {} replicas, seed {}{}",
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
        c.cap.name(),
        c.spot_check,
        if c.spot_check > 0.0 {
            format!(
                " (audits at trust {} under rule {}; a contradicted task {})",
                c.audit_trust(),
                c.audit_cap().name(),
                c.contradicted.name()
            )
        } else {
            String::new()
        },
        if c.frozen_scores {
            "frozen"
        } else {
            "evolving"
        },
        c.max_replicas,
        c.seed,
        if c.pool_slash {
            format!(
                "; lost stakes leave the registry stake (minimum {}, {})",
                c.min_stake,
                if c.restake {
                    "re-staked"
                } else {
                    "ejected below it"
                }
            )
        } else {
            String::new()
        }
    )
}

pub(super) fn print_report(r: &SimReport) {
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
    let a = &r.audits;
    if a.audits > 0 {
        println!(
            "spot checks: {} tasks audited ({:.3} contributions per task of the run), {} certified \
             ({} with the colluders' result), {} void; {} wrong certifications caught; {} tasks \
             failed on a contradicting audit ({} of them correct)\n",
            a.audits,
            a.contributions_per_task,
            a.certified,
            a.certified_wrong,
            a.void,
            a.caught,
            a.refuted,
            a.refuted_correct
        );
    }
    if let Some(d) = &r.drawn {
        let mut t = table([
            "colluders among the first drawn",
            "tasks (simulated)",
            "share",
            "exact (hypergeometric)",
        ]);
        let tasks = d.at_least_m.trials.max(1) as f64;
        for (k, n) in d.simulated.iter().enumerate() {
            t.add_row([
                format!("{k} of {}", d.n),
                n.to_string(),
                percent(*n as f64 / tasks),
                d.exact
                    .as_ref()
                    .and_then(|e| e.get(k))
                    .map(|p| percent(*p))
                    .unwrap_or_default(),
            ]);
        }
        t.add_row([
            format!("at least {} (a colluding quorum)", d.m),
            d.at_least_m.count.to_string(),
            interval(
                d.at_least_m.value,
                d.at_least_m.ci_low,
                d.at_least_m.ci_high,
            ),
            d.exact_at_least_m.map(percent).unwrap_or_default(),
        ]);
        println!("{t}\n");
    }

    let mut t = table([
        "class",
        "workers",
        "contributions",
        "wins",
        "losses",
        "audited out",
        "score zeroed",
        "stake seized",
        "ejected / re-staked",
    ]);
    for c in r.classes.iter().filter(|c| c.workers > 0) {
        t.add_row([
            c.class.name().to_string(),
            c.workers.to_string(),
            c.contributions.to_string(),
            c.wins.to_string(),
            c.losses.to_string(),
            c.audited.to_string(),
            c.zeroed.to_string(),
            c.stake_seized.to_string(),
            format!("{} / {}", c.ejected, c.restaked),
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
        "failed on audit",
        "contributions (+ audits) since last",
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
                    percent(cp.window_refuted_rate)
                } else {
                    String::new()
                },
                if first {
                    format!(
                        "{:.2} + {:.2}",
                        cp.window_mean_contributions, cp.window_audit_contributions
                    )
                } else {
                    String::new()
                },
            ]);
        }
    }
    println!("{t}");
}
