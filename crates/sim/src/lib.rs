//! The Proof-of-Contribution simulator: how often decloud's replicated consensus certifies a
//! wrong result, and what it costs, for a population of honest, faulty and colluding workers.
//!
//! Tasks are certified with the hub's rule ([`decloud_protocol::consensus`]) and replicated by
//! the scheduler's policy ([`decloud_protocol::policy`]), the very code the services run.
//! [`simulate`] runs tasks one after the other (scores evolve as the hub settles them);
//! [`exact()`] computes the exact outcome probabilities when every worker has the same frozen
//! weight and contributions are independent draws; [`sweep()`] runs a grid of trust values and
//! colluding fractions and renders it as CSV and SVG. docs/simulator.md explains the model.

pub mod config;
pub mod exact;
mod ledger;
pub mod report;
pub mod rng;
pub mod sim;
pub mod stats;
pub mod sweep;
pub mod task;

pub use config::{ClassCounts, Contradicted, MAX_REPLICAS_LIMIT, Selection, SimConfig};
pub use exact::{ExactParams, ExactReport, exact, hypergeometric};
pub use report::{AuditReport, DrawnReport, SimReport};
pub use sim::{promise, simulate};
pub use sweep::{SweepPoint, SweepSpec, Verdict, sweep};
pub use task::{Class, Outcome};

/// Why a simulation cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// A fraction or rate outside `[0, 1]`.
    #[error("{name} must be a fraction between 0 and 1, got {value}")]
    Fraction {
        /// Which parameter.
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// Colluders and faulty workers more than the whole population.
    #[error(
        "colluders ({colluders}) and faulty ({faulty}) add up to more than 1: lower one of them"
    )]
    Overcommitted {
        /// The colluding fraction (or draw probability).
        colluders: f64,
        /// The faulty fraction (or draw probability).
        faulty: f64,
    },
    /// No worker at all.
    #[error("the population must have at least 1 worker")]
    EmptyPopulation,
    /// No task to run.
    #[error("the number of tasks must be at least 1")]
    NoTasks,
    /// A cap of replicas out of range.
    #[error("max replicas must be between 1 and {max}, got {got}")]
    MaxReplicas {
        /// The value given.
        got: u32,
        /// The largest accepted.
        max: u32,
    },
    /// A colluders' stake ratio out of range.
    #[error("the colluders' stake ratio must be between 0.01 and 100, got {0}")]
    ColluderStake(f64),
    /// An audit trust factor of 0.
    #[error("the audit trust factor must be at least 1 (1: audits run at the task's trust)")]
    AuditTrust,
    /// Pool stakes slashed without a registry draw.
    #[error("slashing the pool stake needs the random selection: add --selection random")]
    PoolSlash,
    /// A checkpoint interval of 0.
    #[error("the checkpoint interval must be at least 1 task")]
    Checkpoint,
    /// The exact model reaches group weights past the hub's 112-bit limit.
    #[error(
        "the exact model passes the hub's 112-bit weight limit within {max_replicas} contributions: lower max replicas or the scores"
    )]
    ExactOverflow {
        /// The cap of contributions in force.
        max_replicas: u32,
    },
    /// A sweep without trust values.
    #[error("the sweep needs at least one trust value")]
    NoTrust,
    /// A sweep range of colluding fractions that is empty or out of `[0, 1]`.
    #[error(
        "the colluding fractions {from}..={to} by {step} are not a range within [0, 1]: give 0 ≤ from ≤ to ≤ 1 and a step > 0"
    )]
    BadRange {
        /// First fraction.
        from: f64,
        /// Last fraction.
        to: f64,
        /// Step.
        step: f64,
    },
    /// A bug: the simulator's own task source stopped.
    #[error("internal error: the simulated task stopped early (please report it)")]
    Internal,
}
