//! The Monte Carlo simulation, with the sampling the exact model assumes (independent draws,
//! frozen equal weights), agrees with the exact dynamic programming: every estimate's
//! interval covers the exact value. The intervals are 99.9 % (z = 3.29) so that a dozen
//! comparisons are not a lottery; one check shows that the comparison discriminates.

use decloud_sim::stats::{Z95, wilson};
use decloud_sim::{Selection, SimConfig, SimReport, simulate};

const Z999: f64 = 3.290_526_731_491_926;

fn config(trust: u64, colluders: f64, tasks: u64) -> SimConfig {
    SimConfig {
        population: 1000,
        colluders,
        trust,
        tasks,
        seed: 42,
        selection: Selection::WithReplacement,
        frozen_scores: true,
        checkpoint_every: tasks,
        ..SimConfig::default()
    }
}

/// Asserts that the simulation agrees with its exact model; returns the report.
fn agree(config: SimConfig) -> SimReport {
    let r = simulate(&config).expect("valid parameters");
    let x = r
        .exact
        .clone()
        .expect("equal scores: the exact model applies");
    assert!(r.exact_is_this_model);
    let what = format!(
        "trust {} f {} s {} faulty {} e {}",
        config.trust, config.colluders, config.sabotage_rate, config.faulty, config.error_rate
    );
    assert!(
        r.wrong.covers(x.wrong, Z999),
        "{what}: wrong {:?} vs exact {}",
        r.wrong,
        x.wrong
    );
    assert!(
        r.no_consensus.covers(x.no_consensus, Z999),
        "{what}: no consensus {:?} vs exact {}",
        r.no_consensus,
        x.no_consensus
    );
    let (lo, hi) = wilson(r.wrong_faulty, config.tasks, Z999);
    assert!(
        (lo..=hi).contains(&x.wrong_faulty),
        "{what}: faulty wins {} vs exact {}",
        r.wrong_faulty,
        x.wrong_faulty
    );
    let c = &r.contributions;
    let half = (c.ci_high - c.mean) * Z999 / Z95;
    assert!(
        (x.mean_contributions - c.mean).abs() <= half.max(1e-12),
        "{what}: mean contributions {} ± {half} vs exact {}",
        c.mean,
        x.mean_contributions
    );
    // the distribution: P(contributions ≤ k) at the exact median, p90 and p99
    for k in [
        x.p50_contributions,
        x.p90_contributions,
        x.p99_contributions,
    ] {
        let k = k as usize;
        let exact_cdf: f64 = x.contributions_pmf[..=k].iter().sum();
        let seen: u64 = c.histogram[..=k].iter().sum();
        let (lo, hi) = wilson(seen, config.tasks, Z999);
        assert!(
            lo <= exact_cdf + 1e-12 && exact_cdf <= hi + 1e-12,
            "{what}: P(contributions ≤ {k}) = {} vs exact {exact_cdf}",
            seen as f64 / config.tasks as f64
        );
    }
    // with equal weights the scheduler never assigns a worker that is not needed
    assert_eq!(x.mean_wasted, 0.0, "{what}");
    assert_eq!(r.wasted_replicas, 0, "{what}");
    r
}

#[test]
fn trust_one_certifies_the_first_draw() {
    let r = agree(SimConfig {
        faulty: 0.1,
        error_rate: 0.5,
        ..config(1, 0.3, 4000)
    });
    assert!((r.exact.unwrap().wrong - 0.35).abs() < 1e-12);
}

#[test]
fn trust_five_with_a_quarter_of_colluders() {
    let r = agree(config(5, 0.25, 4000));
    let x = r.exact.clone().unwrap();
    assert!((0.03..0.04).contains(&x.wrong), "exact {}", x.wrong);
    // the comparison discriminates: f = 0.3 would be outside the interval
    let neighbour = decloud_sim::exact(&decloud_sim::ExactParams {
        trust: 5,
        score: 0,
        p_collude: 0.3,
        p_faulty: 0.0,
        max_replicas: 64,
        cap: decloud_protocol::consensus::Cap::HUB,
    })
    .unwrap();
    assert!(!r.wrong.covers(neighbour.wrong, Z95), "{:?}", r.wrong);
}

#[test]
fn trust_five_with_part_time_colluders_and_faulty_workers() {
    agree(SimConfig {
        sabotage_rate: 0.75,
        faulty: 0.1,
        error_rate: 0.2,
        max_replicas: 16,
        ..config(5, 0.4, 3000)
    });
}

#[test]
fn trust_twenty_without_and_with_colluders() {
    let r = agree(config(20, 0.0, 500));
    assert_eq!(r.wrong.count, 0);
    assert_eq!(r.contributions.total, 500 * 5);
    let r = agree(config(20, 0.4, 2000));
    assert!(r.wrong.value > 0.05, "{:?}", r.wrong);
}

#[test]
fn trust_hundred_below_and_above_a_third() {
    let r = agree(config(100, 0.3, 3000));
    assert!(
        r.exact.unwrap().wrong < 0.01,
        "the promise holds at f = 0.3"
    );
    let r = agree(config(100, 0.4, 1000));
    let x = r.exact.unwrap();
    assert!(x.wrong > 0.01, "the promise breaks at f = 0.4: {}", x.wrong);
    assert!(
        x.no_consensus > 0.05,
        "and the cap of 64 binds: {}",
        x.no_consensus
    );
}

#[test]
fn uniform_sampling_from_a_large_population_is_close_to_independent_draws() {
    let r = simulate(&SimConfig {
        population: 5000,
        selection: Selection::Uniform,
        ..config(20, 0.3, 3000)
    })
    .unwrap();
    assert!(!r.exact_is_this_model);
    let x = r.exact.unwrap();
    assert!(
        r.wrong.covers(x.wrong, Z999),
        "{:?} vs {}",
        r.wrong,
        x.wrong
    );
    let half = (r.contributions.ci_high - r.contributions.mean) * Z999 / Z95;
    assert!((x.mean_contributions - r.contributions.mean).abs() <= half);
}
