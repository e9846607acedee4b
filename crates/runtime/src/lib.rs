//! Sandboxed app execution (DESIGN §5): runs a WASI preview-1 command module under wasmtime with
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
//! Not enforced here: a quota on the disk space `/out` may use *during* a run (the size is
//! checked after it). A worker should mount `/out` on a size-limited filesystem.

mod capture;
mod clock;
pub mod digest;
mod limits;
mod runtime;
mod sandbox;

pub use capture::Captured;
pub use digest::{Computed, Digest, FailureKind, FailureRecord, ParseDigestError};
pub use limits::{FUEL_PER_SECOND, Limits};
pub use runtime::{
    ARGV0, App, COMPUTED_JSON, ERROR_JSON, IN_DIR, OUT_DIR, Outcome, RunReport, Runtime,
    RuntimeConfig, RuntimeError, TaskContext,
};
