//! Per-category resource limits of a run.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Fuel units granted per second of a category's reference time: roughly what one core executes
/// in a second (wasmtime charges about one unit per wasm instruction).
pub const FUEL_PER_SECOND: u64 = 2_000_000_000;

/// The limits of one run. Every worker of a deal must use the same values (they derive from the
/// deal's category), because the deterministic limits (fuel, memory, output size) decide results
/// that replicas vote on. Only `wall_clock` differs in nature: hitting it is a non-deterministic
/// outcome ([`crate::Outcome::TimedOut`]) that is reported, never contributed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Fuel budget (about one unit per wasm instruction); exhausting it is a deterministic failure.
    pub fuel: u64,
    /// Maximum size of the module's linear memory, in bytes; growing past it is a deterministic
    /// failure.
    pub memory_bytes: u64,
    /// Maximum number of elements of any table.
    pub table_elements: u64,
    /// Wall-clock cap of the whole run, in milliseconds; enforced by epoch interruption.
    pub wall_clock_ms: u64,
    /// Maximum total size of the files under `/out`, in bytes: checked after the run and every
    /// 100 ms during it.
    pub output_bytes: u64,
    /// Maximum number of files under `/out` after the run.
    pub output_files: u64,
    /// Maximum size of the decoded `callback-data`, in bytes.
    pub callback_data_bytes: u64,
    /// How many bytes of stdout and of stderr are kept (each); the rest is dropped, and the
    /// capture is marked truncated. Writes never fail because of this cap.
    pub log_bytes: u64,
}

impl Limits {
    /// The limits of a category whose workClockTimeRef (docs/design.md#categories-and-deadlines) is
    /// `work_clock_time_ref_secs` seconds: a wall-clock cap of that time, fuel for that many seconds
    /// of work ([`FUEL_PER_SECOND`]), 1 GiB of memory, 1 GiB of output in at most 10,000 files,
    /// 64 KiB of callback data and 64 KiB of each log.
    pub fn for_category(work_clock_time_ref_secs: u64) -> Self {
        let secs = work_clock_time_ref_secs.max(1);
        Limits {
            fuel: secs.saturating_mul(FUEL_PER_SECOND),
            memory_bytes: 1 << 30,
            table_elements: 1 << 20,
            wall_clock_ms: secs.saturating_mul(1000),
            output_bytes: 1 << 30,
            output_files: 10_000,
            callback_data_bytes: 64 << 10,
            log_bytes: 64 << 10,
        }
    }

    /// The wall-clock cap as a [`Duration`].
    pub fn wall_clock(&self) -> Duration {
        Duration::from_millis(self.wall_clock_ms)
    }
}

impl Default for Limits {
    /// The limits of the smallest iExec-like category (XS, 300 s).
    fn default() -> Self {
        Limits::for_category(300)
    }
}
