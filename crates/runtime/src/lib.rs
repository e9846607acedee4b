//! The app sandbox (docs/design.md#runtime): runs a WASI preview-1 command module in wasmtime with
//! `/in` read-only and `/out` writable, argv from the request, the `DECLOUD_*` environment, no
//! network, a fixed clock, `random_get` seeded from the task id, no threads, canonical NaNs,
//! fuel, memory and wall-clock caps, and computes the result digest that workers vote on.
//!
//! ```no_run
//! use decloud_runtime::{Limits, Runtime, RuntimeConfig, TaskContext};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = Runtime::new(RuntimeConfig { cache_dir: Some("cache".into()), ..Default::default() })?;
//! let app = runtime.load("greeting.wasm".as_ref())?;
//! let task = TaskContext { args: vec!["Alice".into()], ..Default::default() };
//! let out = tempfile::tempdir()?;
//! let report = runtime.run(&app, &task, None, out.path(), &Limits::for_category(300))?;
//! println!("{:?}", report.outcome.digest());
//! # Ok(()) }
//! ```
//!
//! Determinism: the wall clock is fixed ([`TaskContext::clock_secs`]); the monotonic clock is
//! virtual (it advances by 1 µs per reading and by the requested time on `sleep`, which returns
//! at once); `random_get` is SHA-256 in counter mode seeded from the task id; NaNs are canonical;
//! relaxed SIMD is deterministic; there are no threads and no sockets; fuel accounting is
//! wasmtime's, so replicas must run the same wasmtime version (pinned in `Cargo.lock`).
//!
//! Output limits: `/out` is measured after the run, and also every 100 ms during it by a
//! watchdog on the epoch ticker, so an app that writes without end is stopped early
//! ([`FailureKind::OutputTooLarge`]) instead of filling the worker's disk. Within 100 ms an app
//! can still write past the limit (a host write call cannot be interrupted): a worker should
//! still keep `/out` on a filesystem with room to spare or a quota.

pub mod bundle;
mod capture;
mod clock;
pub mod digest;
mod limits;
mod outcome;
mod runtime;
mod sandbox;
mod task;

pub use capture::Captured;
pub use digest::{Computed, Digest, FailureKind, FailureRecord, ParseDigestError};
pub use limits::{FUEL_PER_SECOND, Limits};
pub use runtime::{
    APP_DIR, ARGV0, App, COMPUTED_JSON, CompiledFrom, ERROR_JSON, HOST_CALL_REFUSED, IN_DIR,
    Launch, LoadReport, OUT_DIR, Runtime, RuntimeConfig, RuntimeError,
};
pub use task::{Contribution, Outcome, RunReport, SplitArgsError, TaskContext, outcome_of_output};
