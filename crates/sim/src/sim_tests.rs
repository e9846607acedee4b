//! Tests of `sim.rs`.
use super::*;
use crate::config::Contradicted;
use crate::task::TaskRecord;

/// A task whose answers come from a script: one worker of score `score`, drawn with
/// replacement; `None` once the script runs out.
struct Script {
    answers: Vec<char>,
    next: usize,
    score: u64,
    arrivals: Vec<usize>,
}

impl Source for Script {
    fn candidate(&mut self) -> Option<usize> {
        Some(0)
    }
    fn score(&self, _: usize) -> u64 {
        self.score
    }
    fn assign(&mut self, _: usize) {}
    fn arrival(&mut self, pending: usize) -> usize {
        self.arrivals.push(pending);
        0
    }
    fn answer(&mut self, _: usize, faulty_ids: &mut u64) -> Option<Answer> {
        let a = *self.answers.get(self.next)?;
        self.next += 1;
        Some(match a {
            'C' => Answer::Correct,
            'X' => Answer::Collusion,
            _ => {
                *faulty_ids += 1;
                Answer::Faulty(*faulty_ids)
            }
        })
    }
}

fn script(trust: u64, answers: &str) -> (Option<TaskRecord>, Vec<usize>) {
    let mut s = Script {
        answers: answers.chars().collect(),
        next: 0,
        score: 0,
        arrivals: vec![],
    };
    let r = play_task(trust, 64, Cap::HUB, &mut s);
    (r, s.arrivals)
}

#[test]
fn a_dissenting_worker_gets_the_task_more_replicas() {
    // trust 5, weight 2: three are assigned. After C, X the optimistic group is 2·2 = 4
    // against 2: 20 > 28 fails, so two more are assigned (16·5 > 19·4).
    let (r, pending) = script(5, "CXCCC");
    let r = r.unwrap();
    assert_eq!(r.outcome, Outcome::Correct);
    assert_eq!(r.contributors.len(), 5);
    assert_eq!(r.wasted, 0);
    // pending workers seen at each arrival: 3, 2, then 1 + 2 more, 2, 1
    assert_eq!(pending, vec![3, 2, 3, 2, 1]);
    // C X X has no consensus: the task asks for more answers than the script has
    let (r, _) = script(5, "CXX");
    assert_eq!(r, None, "C X X is no consensus: more answers are needed");
}

#[test]
fn colluders_who_arrive_first_win() {
    let (r, _) = script(5, "XXX");
    assert_eq!(r.unwrap().outcome, Outcome::WrongCollusion);
    let (r, _) = script(1, "F");
    assert_eq!(r.unwrap().outcome, Outcome::WrongFaulty);
    // trust 2: a single worker no longer suffices (the reputation cap); two agreeing do
    let (r, _) = script(2, "F");
    assert_eq!(r, None, "one contribution is not a consensus at trust 2");
    let (r, _) = script(2, "XX");
    assert_eq!(r.unwrap().outcome, Outcome::WrongCollusion);
}

/// Every answer sequence, with its probability, through the simulator's own task engine
/// (Tally and replicas_needed): the exact model must give the same figures.
fn enumerate(trust: u64, cap: u32, pc: f64, pf: f64) -> [f64; 6] {
    let mut out = [0.0; 6]; // correct, collusion, faulty, none, E[contributions], E[wasted]
    let mut stack = vec![(String::new(), 1.0f64)];
    while let Some((prefix, p)) = stack.pop() {
        let mut s = Script {
            answers: prefix.chars().collect(),
            next: 0,
            score: 0,
            arrivals: vec![],
        };
        match play_task(trust, cap, Cap::HUB, &mut s) {
            None => {
                for (c, q) in [('C', 1.0 - pc - pf), ('X', pc), ('F', pf)] {
                    if q > 0.0 {
                        stack.push((format!("{prefix}{c}"), p * q));
                    }
                }
            }
            Some(r) => {
                let k = match r.outcome {
                    Outcome::Correct => 0,
                    Outcome::WrongCollusion => 1,
                    Outcome::WrongFaulty => 2,
                    Outcome::NoConsensus => 3,
                };
                out[k] += p;
                out[4] += p * r.contributors.len() as f64;
                out[5] += p * f64::from(r.wasted);
            }
        }
    }
    out
}

#[test]
fn the_exact_model_equals_the_enumeration_of_the_task_engine() {
    for (trust, cap, pc, pf) in [
        (1, 4, 0.3, 0.2),
        (2, 5, 0.3, 0.2),
        (5, 7, 0.3, 0.1),
        (5, 9, 0.45, 0.0),
        (20, 7, 0.2, 0.1),
        (100, 9, 0.25, 0.0),
    ] {
        let e = enumerate(trust, cap, pc, pf);
        let x = exact(&ExactParams {
            trust,
            score: 0,
            p_collude: pc,
            p_faulty: pf,
            max_replicas: cap,
            cap: Cap::HUB,
        })
        .unwrap();
        let want = [
            x.correct,
            x.wrong_collusion,
            x.wrong_faulty,
            x.no_consensus,
            x.mean_contributions,
            x.mean_wasted,
        ];
        for (i, (a, b)) in e.iter().zip(want).enumerate() {
            assert!(
                (a - b).abs() < 1e-12,
                "trust {trust} cap {cap} figure {i}: {a} vs {b}"
            );
        }
        assert!(
            x.no_consensus > 0.0 || trust <= 2,
            "the cap binds in these cases"
        );
    }
}

/// Fresh workers whose weights stay 2 (frozen scores): the textbook counts.
fn config() -> SimConfig {
    SimConfig {
        population: 50,
        colluders: 0.0,
        tasks: 200,
        checkpoint_every: 100,
        frozen_scores: true,
        ..SimConfig::default()
    }
}

#[test]
fn scores_that_grow_make_tasks_cheaper() {
    // trust 100: fresh workers take 7 contributions (2^7 > 99); as scores grow weights rise
    // towards the cap (9), and three capped workers suffice (729 > 99): strictly fewer
    // contributions than frozen, never fewer than 3 per task. (At trust 5 the cap is 2: scores
    // would change nothing.)
    let r = simulate(&SimConfig {
        trust: 100,
        frozen_scores: false,
        ..config()
    })
    .unwrap();
    assert_eq!(r.correct, 200);
    assert!(r.contributions.total < 1400, "{}", r.contributions.total);
    assert!(r.contributions.total >= 600);
}

#[test]
fn fresh_honest_workers_at_trust_five_take_exactly_three_contributions() {
    let r = simulate(&SimConfig {
        trust: 5,
        ..config()
    })
    .unwrap();
    assert_eq!(r.correct, 200);
    assert_eq!(r.contributions.total, 600);
    assert_eq!((r.contributions.p50, r.contributions.max), (3, 3));
    assert_eq!(r.wasted_replicas, 0);
    assert_eq!(r.classes[0].wins, 600);
}

#[test]
fn trust_one_or_less_takes_exactly_one_contribution() {
    for trust in [0, 1] {
        let r = simulate(&SimConfig {
            trust,
            colluders: 0.3,
            ..config()
        })
        .unwrap();
        assert_eq!(r.contributions.total, 200, "trust {trust}");
        assert_eq!(r.contributions.max, 1);
        // colluders win whenever they are drawn; no scores move without replication
        assert!(r.wrong.count > 30 && r.wrong.count < 90, "{:?}", r.wrong);
        assert!(r.classes.iter().all(|c| c.wins == 0 && c.losses == 0));
    }
}

#[test]
fn colluders_who_always_lie_and_are_everyone_always_win() {
    let r = simulate(&SimConfig {
        trust: 100,
        colluders: 1.0,
        sabotage_rate: 1.0,
        ..config()
    })
    .unwrap();
    assert_eq!(r.wrong_collusion, 200);
    assert_eq!(r.contributions.total, 200 * 7);
}

#[test]
fn a_population_smaller_than_the_quorum_never_reaches_consensus() {
    let r = simulate(&SimConfig {
        population: 2,
        trust: 5,
        ..config()
    })
    .unwrap();
    assert_eq!(r.no_consensus.count, 200);
    assert_eq!(r.contributions.max, 2);
}

#[test]
fn winners_gain_losers_pay_and_frozen_scores_stay() {
    let base = SimConfig {
        frozen_scores: false,
        trust: 5,
        colluders: 0.3,
        // weight 2 like everyone: with 30 (weight 9) a colluder certifies alone at trust 5
        score_colluders: 6,
        worker_stake: 7,
        ..config()
    };
    let r = simulate(&base).unwrap();
    let colluders = &r.classes[2];
    assert!(colluders.losses > 0);
    assert_eq!(colluders.stake_seized, colluders.losses * 7);
    let last = r.checkpoints.last().unwrap();
    assert_eq!(last.after_tasks, 200);
    let score =
        |cp: &Checkpoint, class: Class| cp.classes.iter().find(|c| c.class == class).unwrap().mean;
    assert_eq!(score(&r.checkpoints[0], Class::Colluder), 6.0);
    assert!(score(last, Class::Colluder) < 3.0);
    assert!(score(last, Class::Honest) > 0.0);
    assert_eq!(r.checkpoints.len(), 3, "start, 100, 200");
    let frozen = simulate(&SimConfig {
        frozen_scores: true,
        ..base
    })
    .unwrap();
    let last = frozen.checkpoints.last().unwrap();
    assert_eq!(score(last, Class::Colluder), 6.0);
    assert_eq!(score(last, Class::Honest), 0.0);
    assert!(
        frozen.classes[2].stake_seized > 0,
        "stakes go even with frozen scores"
    );
}

#[test]
fn a_heavy_worker_leaves_pending_light_ones_wasted() {
    // colluders never lie here: they are just heavier (score 300, weight 9 at the cap of
    // trust 100) and three of them certify where seven light ones would; the light workers
    // assigned alongside are wasted when the heavy ones arrive first.
    let r = simulate(&SimConfig {
        trust: 100,
        colluders: 0.5,
        sabotage_rate: 0.0,
        score_colluders: 300,
        frozen_scores: true,
        ..config()
    })
    .unwrap();
    assert_eq!(r.correct, 200);
    assert!(r.wasted_replicas > 0);
    assert!(r.exact.is_none(), "unequal weights: no exact model");
    assert!(r.exact_unavailable.unwrap().contains("different scores"));
}

#[test]
fn an_exact_model_past_the_weight_limit_leaves_the_simulation_standing() {
    // weight 99 and a trust that needs 10 agreeing workers: the exact model's long
    // disputes pass 2^112, the simulated tasks end long before
    let r = simulate(&SimConfig {
        trust: 1_000_000_000_000_000_000,
        score_honest: 300,
        score_colluders: 300,
        colluders: 0.5,
        max_replicas: 100,
        tasks: 20,
        ..config()
    })
    .unwrap();
    assert!(r.exact.is_none());
    assert!(r.exact_unavailable.unwrap().contains("112-bit"));
    assert_eq!(r.wrong.trials, 20);
}

#[test]
fn top_score_keeps_giving_work_to_the_same_few() {
    let r = simulate(&SimConfig {
        trust: 5,
        selection: Selection::TopScore,
        frozen_scores: false,
        ..config()
    })
    .unwrap();
    let honest = &r.checkpoints.last().unwrap().classes[0];
    // the first winners are picked for every task after that: a handful of workers with
    // every point, everybody else at 0
    assert_eq!(honest.max, 200);
    assert_eq!(honest.p90, 0);
    let uniform = simulate(&SimConfig {
        trust: 5,
        frozen_scores: false,
        ..config()
    })
    .unwrap();
    assert!(uniform.checkpoints.last().unwrap().classes[0].p10 > 0);
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let c = SimConfig {
        trust: 20,
        colluders: 0.3,
        faulty: 0.1,
        max_replicas: 24,
        frozen_scores: false,
        ..config()
    };
    assert_eq!(simulate(&c).unwrap(), simulate(&c).unwrap());
    let other = simulate(&SimConfig {
        seed: 2,
        ..c.clone()
    })
    .unwrap();
    assert_ne!(simulate(&c).unwrap().contributions, other.contributions);
}

fn random(trust: u64, colluders: f64, tasks: u64) -> SimConfig {
    SimConfig {
        population: 200,
        colluders,
        trust,
        tasks,
        checkpoint_every: tasks,
        selection: Selection::Random,
        ..SimConfig::default()
    }
}

/// z of a two-sided 99.9 % interval: with a dozen comparisons per test, a false alarm stays rare.
const Z999: f64 = 3.290_526_731_491_926;

#[test]
fn the_protocol_draw_follows_the_hypergeometric_law() {
    // equal stakes and distancing: the first n drawn workers are a uniform sample without
    // replacement, so "k of the n are colluders" is hypergeometric
    let r = simulate(&random(100, 0.3, 3000)).unwrap();
    let d = r
        .drawn
        .expect("random selection at trust > 1 reports the draw");
    assert_eq!(
        (d.n, d.m),
        (7, 7),
        "fresh workers: 7 at trust 100, and 7 colluders"
    );
    let exact = d.exact.expect("equal stakes");
    assert_eq!(d.simulated.iter().sum::<u64>(), 3000);
    for (k, (count, p)) in d.simulated.iter().zip(&exact).enumerate() {
        let rate = Rate::new(*count, 3000);
        assert!(rate.covers(*p, Z999), "k = {k}: {rate:?} against {p}");
    }
    // the comparison discriminates: with replacement (binomial) P(0 of 7) would be 0.7^7 = 8.2 %
    // against 7.9 % here, too close to tell; a stake ratio of 2 is not
    let heavier = simulate(&SimConfig {
        colluder_stake: 2.0,
        ..random(100, 0.3, 3000)
    })
    .unwrap()
    .drawn
    .unwrap();
    assert!(
        heavier.exact.is_none(),
        "unequal stakes: no hypergeometric figure"
    );
    let zero_of_seven = Rate::new(heavier.simulated[0], 3000);
    assert!(!zero_of_seven.covers(exact[0], Z999), "{zero_of_seven:?}");
    assert!(d.at_least_m.covers(d.exact_at_least_m.unwrap(), Z999));
}

#[test]
fn a_colluding_scheduler_captures_every_task() {
    // its colluders first: five fresh colluders agree before anybody else contributes
    let r = simulate(&SimConfig {
        selection: Selection::Colluding,
        frozen_scores: true,
        ..random(20, 0.1, 300)
    })
    .unwrap();
    assert_eq!(r.wrong_collusion, 300);
    assert_eq!(r.contributions.mean, 5.0);
    // the same colluders under the protocol's draw win a small share
    let r = simulate(&random(20, 0.1, 300)).unwrap();
    assert!(r.wrong.value < 0.05, "{:?}", r.wrong);
}

#[test]
fn spot_checks_strip_reputable_colluders_of_their_score() {
    let base = SimConfig {
        score_colluders: 300,
        ..random(20, 0.2, 600)
    };
    let without = simulate(&base).unwrap();
    let with = simulate(&SimConfig {
        spot_check: 0.5,
        ..base.clone()
    })
    .unwrap();
    let mean = |r: &SimReport| {
        r.checkpoints
            .last()
            .unwrap()
            .classes
            .iter()
            .find(|c| c.class == Class::Colluder)
            .unwrap()
            .mean
    };
    assert_eq!(without.audits.audits, 0);
    assert!(
        (250..350).contains(&with.audits.audits),
        "{:?}",
        with.audits
    );
    let colluders = &with.classes[Class::Colluder.index()];
    // colluders mostly lose their disputes already (stake gone, score cut by a third); the audit
    // takes the rest of the score
    assert!(colluders.zeroed > 0, "{colluders:?}");
    assert_eq!(without.classes[Class::Colluder.index()].zeroed, 0);
    assert!(
        mean(&with) < mean(&without) / 2.0,
        "{} against {}",
        mean(&with),
        mean(&without)
    );
    assert!(with.audits.contributions_per_task > 0.0);
    assert!(with.wrong.count <= without.wrong.count);
}

#[test]
fn a_contradicted_task_fails_instead_of_standing() {
    // frozen scores: both runs draw the same tasks and audits, so they differ only in what a
    // contradicting audit does to the task
    let base = SimConfig {
        score_colluders: 300,
        frozen_scores: true,
        spot_check: 0.5,
        audit_rule: Some(Cap::Flat),
        ..random(20, 0.3, 1500)
    };
    let fails = simulate(&base).unwrap();
    let stands = simulate(&SimConfig {
        contradicted: Contradicted::Stands,
        ..base.clone()
    })
    .unwrap();
    let a = &fails.audits;
    assert!(a.caught > 20, "{a:?}");
    assert_eq!(a.refuted, a.caught + a.refuted_correct);
    assert_eq!(stands.audits.refuted, 0);
    assert_eq!(stands.audits.caught, a.caught, "the same audits");
    // a caught wrong result is no longer certified: it failed
    assert_eq!(stands.wrong.count, fails.wrong.count + a.caught);
    assert_eq!(stands.correct, fails.correct + a.refuted_correct);
    assert_eq!(
        fails.correct + fails.wrong.count + fails.no_consensus.count + a.refuted,
        1500
    );
    let windows: f64 = fails.checkpoints[1..]
        .iter()
        .map(|c| c.window_refuted_rate)
        .sum();
    assert!((windows - a.refuted as f64 / 1500.0).abs() < 1e-9);
}

#[test]
fn a_refuted_task_pays_nobody_and_zeroes_its_dissenters() {
    let config = SimConfig::default();
    let workers = vec![
        Worker {
            class: Class::Honest,
            score: 5,
        },
        Worker {
            class: Class::Colluder,
            score: 300,
        },
        Worker {
            class: Class::Colluder,
            score: 300,
        },
    ];
    let snapshot = vec![
        SnapshotWorker {
            worker: Address::ZERO,
            stake: U256::from(100),
            cluster: 0,
        };
        3
    ];
    let record = TaskRecord {
        outcome: Outcome::WrongCollusion,
        contributors: vec![
            (0, Answer::Correct),
            (1, Answer::Collusion),
            (2, Answer::Collusion),
        ],
        wasted: 0,
        overflowed: false,
    };
    let mut ledger = Ledger::new(workers.clone(), snapshot.clone(), &config);
    ledger.refute(&record, Answer::Correct);
    let scores: Vec<u64> = ledger.workers.iter().map(|w| w.score).collect();
    assert_eq!(scores, [5, 0, 0], "the honest one neither wins nor loses");
    let c = ledger.per_class[Class::Colluder.index()];
    assert_eq!(
        (c.contributions, c.wins, c.losses, c.audited, c.zeroed),
        (2, 0, 0, 2, 2)
    );
    assert_eq!(ledger.per_class[Class::Honest.index()].wins, 0);
    // the result standing: the task settles first (the honest one loses), then the audit
    let mut ledger = Ledger::new(workers, snapshot, &config);
    ledger.settle(&record, 20);
    ledger.audit_standing(&record, 20, Answer::Correct);
    let scores: Vec<u64> = ledger.workers.iter().map(|w| w.score).collect();
    assert_eq!(scores, [3, 0, 0]);
    let c = ledger.per_class[Class::Colluder.index()];
    assert_eq!((c.wins, c.audited, c.zeroed), (2, 2, 2));
}

#[test]
fn only_a_certified_task_is_audited() {
    // two workers never reach consensus at trust 5: the tasks are claimed, never audited
    let r = simulate(&SimConfig {
        population: 2,
        spot_check: 1.0,
        ..random(5, 0.0, 50)
    })
    .unwrap();
    assert_eq!(r.no_consensus.count, 50);
    assert_eq!(r.audits.audits, 0);
    let r = simulate(&SimConfig {
        spot_check: 1.0,
        ..random(5, 0.0, 50)
    })
    .unwrap();
    assert_eq!(r.audits.audits, 50);
}

#[test]
fn an_audit_runs_at_its_own_trust_and_rule() {
    // fresh honest workers, frozen: a task at trust 100 takes 7 (2^7 > 99), an audit at trust
    // 1000 takes 10 (2^10 > 999)
    let base = SimConfig {
        frozen_scores: true,
        spot_check: 1.0,
        ..random(100, 0.0, 40)
    };
    let same = simulate(&base).unwrap();
    assert_eq!(same.audits.contributions, 40 * 7);
    let higher = simulate(&SimConfig {
        audit_trust_factor: 10,
        ..base.clone()
    })
    .unwrap();
    assert_eq!(higher.audits.contributions, 40 * 10);
    assert_eq!(higher.contributions.total, 40 * 7, "tasks are unchanged");
    // veterans: 3 capped workers certify a task; under the flat rule an audit takes 7
    let veterans = SimConfig {
        score_honest: 300,
        ..base
    };
    assert_eq!(simulate(&veterans).unwrap().audits.contributions, 40 * 3);
    let flat = simulate(&SimConfig {
        audit_rule: Some(Cap::Flat),
        ..veterans
    })
    .unwrap();
    assert_eq!(flat.audits.contributions, 40 * 7);
}

#[test]
fn a_worker_below_the_minimum_stake_is_no_longer_drawn() {
    // every loss takes 1 from a registry stake of 100 with a minimum of 100: the first loss
    // ejects. Colluders who always lie lose, leave the draw, and stop winning.
    let base = SimConfig {
        population: 30,
        pool_slash: true,
        checkpoint_every: 500,
        ..random(5, 0.3, 2000)
    };
    let r = simulate(&base).unwrap();
    let colluders = &r.classes[Class::Colluder.index()];
    assert_eq!(colluders.workers, 9);
    assert_eq!(colluders.ejected, 9, "{colluders:?}");
    assert!(r.correct > 1500, "the honest ones stay: {}", r.correct);
    assert_eq!(r.checkpoints.last().unwrap().window_wrong_rate, 0.0);
    assert!(colluders.contributions < 200, "{colluders:?}");
    // re-staking keeps them in: they keep contributing, and pay for it
    let r = simulate(&SimConfig {
        restake: true,
        ..base
    })
    .unwrap();
    let colluders = &r.classes[Class::Colluder.index()];
    assert_eq!(colluders.ejected, 0);
    assert_eq!(colluders.restaked, colluders.losses + colluders.audited);
    assert!(colluders.contributions > 500, "{colluders:?}");
}

#[test]
fn an_auditor_who_disagrees_with_its_audit_is_zeroed_only_when_asked() {
    let workers = vec![
        Worker {
            class: Class::Honest,
            score: 30,
        };
        4
    ];
    let snapshot = vec![
        SnapshotWorker {
            worker: Address::ZERO,
            stake: U256::from(100),
            cluster: 0,
        };
        4
    ];
    let audit = TaskRecord {
        outcome: Outcome::Correct,
        contributors: vec![
            (0, Answer::Collusion),
            (1, Answer::Correct),
            (2, Answer::Correct),
            (3, Answer::Correct),
        ],
        wasted: 0,
        overflowed: false,
    };
    let config = SimConfig::default();
    for (zero, want) in [(false, [20, 31, 31, 31]), (true, [0, 31, 31, 31])] {
        let mut ledger = Ledger::new(workers.clone(), snapshot.clone(), &config);
        ledger.settle_audit(&audit, 20, zero);
        let scores: Vec<u64> = ledger.workers.iter().map(|w| w.score).collect();
        assert_eq!(scores, want, "zero dissent: {zero}");
    }
}
