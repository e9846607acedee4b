//! What a simulation is run with, and its validation.

use decloud_protocol::consensus::Cap;
use serde::Serialize;

use crate::SimError;

/// Most contributions a task may take before its deadline that the simulator accepts: with
/// fresh workers (weight 2) a group of 100 weighs 2^100, below the hub's 2^112 limit.
pub const MAX_REPLICAS_LIMIT: u32 = 100;

/// How the scheduler picks the worker for each replica of a task.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    /// A worker drawn uniformly among those not already in the task (what a scheduler
    /// serving whichever idle worker asks first does; the hub forbids contributing twice).
    #[default]
    Uniform,
    /// A worker drawn uniformly from the whole population, possibly one already in the task:
    /// every contribution is an independent draw, which is what the exact model assumes (the
    /// hub would refuse a second contribution of one worker; the simulator treats it as
    /// another worker of the same class and score).
    WithReplacement,
    /// The highest-score worker not already in the task (ties broken at random): a scheduler
    /// that prefers its most reputable workers.
    TopScore,
    /// The protocol's random draw (`decloud_protocol::draw`): each task's positions map to
    /// workers by keccak over a fresh randomness, weighted by stake, skipping a worker already
    /// in the task (worker distancing). Nobody picks.
    Random,
    /// A scheduler that colludes: it assigns its colluders first (the highest-score one not in
    /// the task), and other workers only when none is left.
    Colluding,
}

impl Selection {
    /// Every policy, in the order of the documentation.
    pub const ALL: [Selection; 5] = [
        Selection::Uniform,
        Selection::WithReplacement,
        Selection::TopScore,
        Selection::Random,
        Selection::Colluding,
    ];

    /// The policy's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Selection::Uniform => "uniform",
            Selection::WithReplacement => "with-replacement",
            Selection::TopScore => "top-score",
            Selection::Random => "random",
            Selection::Colluding => "colluding",
        }
    }
}

/// What the hub does with a certified task whose audit certified another result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Contradicted {
    /// The task is not certified: it fails and the requester is refunded (the hub's spot
    /// checks: finalization waits for the audit).
    #[default]
    Fails,
    /// The task's result stands; the audit only costs the disagreeing contributors their stake
    /// and score (the model before the hub ran audits).
    Stands,
}

impl Contradicted {
    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Contradicted::Fails => "fails",
            Contradicted::Stands => "stands",
        }
    }
}

/// The parameters of one simulation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimConfig {
    /// Number of workers.
    pub population: usize,
    /// Fraction `f` of the workers that collude: when they lie they all return the same
    /// wrong result.
    pub colluders: f64,
    /// How often (`s`, per contribution) a colluder lies; otherwise it returns the correct
    /// result.
    pub sabotage_rate: f64,
    /// Fraction `φ` of honest but faulty workers.
    pub faulty: f64,
    /// How often (`e`, per contribution) a faulty worker returns a wrong result, each one
    /// different from every other.
    pub error_rate: f64,
    /// The deal's trust (`≤ 1`: one contribution suffices).
    pub trust: u64,
    /// Initial score of the honest workers.
    pub score_honest: u64,
    /// Initial score of the faulty workers.
    pub score_faulty: u64,
    /// Initial score of the colluders.
    pub score_colluders: u64,
    /// Number of tasks, run one after the other so that scores evolve.
    pub tasks: u64,
    /// Seed of the random generator: the same seed gives the same results.
    pub seed: u64,
    /// How workers are picked for the replicas of a task.
    pub selection: Selection,
    /// Most replicas a task can take before its deadline; a task without consensus by then
    /// fails ("no consensus before the deadline").
    pub max_replicas: u32,
    /// The stake a worker locks per contribution (`deal.workerStake`), lost when it is not in
    /// the winning group.
    pub worker_stake: u64,
    /// Keep every score as it was at the start (weights never change): the exact model's
    /// assumption.
    pub frozen_scores: bool,
    /// Record the distribution of scores every this many tasks (and after the last one).
    pub checkpoint_every: u64,
    /// The consensus rule (the hub's; the others are the candidates it was chosen among).
    pub cap: Cap,
    /// Probability `q` that a task gets a hidden audit: a second run of the same task by workers
    /// drawn the same way; once the audit certifies, every contribution to the task that
    /// disagrees with it loses its stake and its score drops to 0.
    pub spot_check: f64,
    /// A colluder's registry stake relative to an honest worker's (the random draw weighs by
    /// stake): 2 means colluders put up twice the stake each.
    pub colluder_stake: f64,
    /// An audit runs at trust `trust × audit_trust_factor` (1: the task's own trust).
    pub audit_trust_factor: u64,
    /// The rule an audit is certified under (`None`: the task's rule).
    pub audit_rule: Option<Cap>,
    /// What a contradicting audit does to the task.
    pub contradicted: Contradicted,
    /// An auditor that disagrees with its audit's certified result loses its score (like a task
    /// contributor that disagrees) instead of a third of it (a loser of a task).
    pub zero_audit_dissent: bool,
    /// Lost stakes come out of the worker's registry (pool) stake, as `slashAbsent` takes them,
    /// instead of its escrow balance (the hub's `contribute` locks from the balance, so by
    /// default the draw never changes). Random selection only.
    pub pool_slash: bool,
    /// The pool's minimum stake (`minWorkerStake`, in the units of `worker_stake`; an honest
    /// worker joins with 100): with `pool_slash`, a worker whose registry stake falls below it
    /// is no longer drawn.
    pub min_stake: u64,
    /// With `pool_slash`, a worker that falls below the minimum stakes again at once (what it
    /// had at the start; its score stays, the hub keeps scores per address) instead of leaving.
    pub restake: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            population: 1000,
            colluders: 0.2,
            sabotage_rate: 1.0,
            faulty: 0.0,
            error_rate: 0.1,
            trust: 20,
            score_honest: 0,
            score_faulty: 0,
            score_colluders: 0,
            tasks: 10_000,
            seed: 1,
            selection: Selection::Uniform,
            max_replicas: 64,
            worker_stake: 1,
            frozen_scores: false,
            checkpoint_every: 1000,
            cap: Cap::HUB,
            spot_check: 0.0,
            colluder_stake: 1.0,
            audit_trust_factor: 1,
            audit_rule: None,
            contradicted: Contradicted::Fails,
            zero_audit_dissent: false,
            pool_slash: false,
            min_stake: 100,
            restake: false,
        }
    }
}

fn fraction(name: &'static str, value: f64) -> Result<(), SimError> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(SimError::Fraction { name, value })
    }
}

/// How many workers of each class a population holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClassCounts {
    /// Workers that always return the correct result.
    pub honest: usize,
    /// Honest workers that sometimes return a wrong result of their own.
    pub faulty: usize,
    /// Colluding saboteurs.
    pub colluders: usize,
}

impl SimConfig {
    /// The trust an audit runs at.
    pub fn audit_trust(&self) -> u64 {
        self.trust.saturating_mul(self.audit_trust_factor)
    }

    /// The rule an audit is certified under.
    pub fn audit_cap(&self) -> Cap {
        self.audit_rule.unwrap_or(self.cap)
    }

    /// Checks every parameter; the error says which one is wrong and what to give instead.
    pub fn validate(&self) -> Result<(), SimError> {
        if self.population == 0 {
            return Err(SimError::EmptyPopulation);
        }
        fraction("colluders", self.colluders)?;
        fraction("sabotage rate", self.sabotage_rate)?;
        fraction("faulty", self.faulty)?;
        fraction("error rate", self.error_rate)?;
        fraction("spot check", self.spot_check)?;
        if !(self.colluder_stake.is_finite() && (0.01..=100.0).contains(&self.colluder_stake)) {
            return Err(SimError::ColluderStake(self.colluder_stake));
        }
        if self.colluders + self.faulty > 1.0 + 1e-12 {
            return Err(SimError::Overcommitted {
                colluders: self.colluders,
                faulty: self.faulty,
            });
        }
        if self.tasks == 0 {
            return Err(SimError::NoTasks);
        }
        if !(1..=MAX_REPLICAS_LIMIT).contains(&self.max_replicas) {
            return Err(SimError::MaxReplicas {
                got: self.max_replicas,
                max: MAX_REPLICAS_LIMIT,
            });
        }
        if self.checkpoint_every == 0 {
            return Err(SimError::Checkpoint);
        }
        if self.audit_trust_factor == 0 {
            return Err(SimError::AuditTrust);
        }
        if self.pool_slash && self.selection != Selection::Random {
            return Err(SimError::PoolSlash);
        }
        Ok(())
    }

    /// The number of workers of each class: `round(f·N)` colluders, `round(φ·N)` faulty
    /// (at most what is left), the rest honest.
    pub fn class_counts(&self) -> ClassCounts {
        let n = self.population;
        let colluders = ((self.colluders * n as f64).round() as usize).min(n);
        let faulty = ((self.faulty * n as f64).round() as usize).min(n - colluders);
        ClassCounts {
            honest: n - colluders - faulty,
            faulty,
            colluders,
        }
    }

    /// The per-contribution probabilities of the exact model for this population: a colluding
    /// wrong result `(colluders / N)·s`, a faulty one `(faulty / N)·e`.
    pub fn draw_probabilities(&self) -> (f64, f64) {
        let c = self.class_counts();
        let n = self.population as f64;
        (
            c.colluders as f64 / n * self.sabotage_rate,
            c.faulty as f64 / n * self.error_rate,
        )
    }

    /// The common initial score of the classes present, when they all have the same one (the
    /// exact model needs every weight equal).
    pub fn common_score(&self) -> Option<u64> {
        let c = self.class_counts();
        let mut scores = [
            (c.honest, self.score_honest),
            (c.faulty, self.score_faulty),
            (c.colluders, self.score_colluders),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(_, s)| s);
        let first = scores.next()?;
        scores.all(|s| s == first).then_some(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_parameters_are_refused_with_a_reason() {
        let ok = SimConfig::default();
        assert_eq!(ok.validate(), Ok(()));
        let cases = [
            SimConfig {
                population: 0,
                ..ok.clone()
            },
            SimConfig {
                colluders: 1.5,
                ..ok.clone()
            },
            SimConfig {
                sabotage_rate: f64::NAN,
                ..ok.clone()
            },
            SimConfig {
                faulty: -0.1,
                ..ok.clone()
            },
            SimConfig {
                colluders: 0.6,
                faulty: 0.6,
                ..ok.clone()
            },
            SimConfig {
                tasks: 0,
                ..ok.clone()
            },
            SimConfig {
                max_replicas: 0,
                ..ok.clone()
            },
            SimConfig {
                max_replicas: 101,
                ..ok.clone()
            },
            SimConfig {
                checkpoint_every: 0,
                ..ok.clone()
            },
            SimConfig {
                spot_check: 1.2,
                ..ok.clone()
            },
            SimConfig {
                colluder_stake: 0.0,
                ..ok.clone()
            },
            SimConfig {
                audit_trust_factor: 0,
                ..ok.clone()
            },
            SimConfig {
                pool_slash: true,
                ..ok.clone()
            },
        ];
        for c in cases {
            let err = c.validate().expect_err("refused");
            assert!(!err.to_string().contains('\n'), "{err}");
        }
        assert_eq!(
            SimConfig {
                colluders: 1.5,
                ..ok
            }
            .validate()
            .unwrap_err()
            .to_string(),
            "colluders must be a fraction between 0 and 1, got 1.5"
        );
    }

    #[test]
    fn classes_round_and_never_exceed_the_population() {
        let c = SimConfig {
            population: 3,
            colluders: 0.5,
            faulty: 0.5,
            ..SimConfig::default()
        };
        let k = c.class_counts();
        assert_eq!(k.honest + k.faulty + k.colluders, 3);
        assert_eq!(k.colluders, 2);
        let c = SimConfig {
            population: 1000,
            colluders: 0.25,
            faulty: 0.1,
            sabotage_rate: 0.5,
            error_rate: 0.2,
            ..SimConfig::default()
        };
        assert_eq!(
            c.class_counts(),
            ClassCounts {
                honest: 650,
                faulty: 100,
                colluders: 250
            }
        );
        let (pc, pf) = c.draw_probabilities();
        assert!((pc - 0.125).abs() < 1e-12 && (pf - 0.02).abs() < 1e-12);
        assert_eq!(c.common_score(), Some(0));
        let c = SimConfig {
            score_colluders: 30,
            ..c
        };
        assert_eq!(c.common_score(), None);
        let c = SimConfig {
            colluders: 0.0,
            ..c
        };
        assert_eq!(c.common_score(), Some(0), "absent classes don't count");
    }
}
