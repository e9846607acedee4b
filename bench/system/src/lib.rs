//! System benchmarks of decloud (see `bench/README.md`): end-to-end latency on 1-second blocks,
//! throughput of bulk deals through the real contracts, scheduler and workers, the scheduler's
//! scale under simulated workers, what TLS costs the scheduler, a TEE task's release from keepers against one SMS, and the tables of the runtime benchmark and the gas report.
//!
//! `cargo bench -p decloud-bench-system` runs them all (`benches/system.rs`); `BENCH_SYSTEM`
//! picks some (`latency,throughput,scale,tls,keepers,runtime,gas`). Each prints its figures and rewrites its
//! generated section of `bench/README.md` (`BENCH_README=0` leaves the file alone).

pub mod deal;
pub mod imports;
pub mod keepers;
pub mod latency;
pub mod pool;
pub mod report;
pub mod rpc;
pub mod scale;
pub mod throughput;
pub mod tls;
