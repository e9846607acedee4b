//! `cargo bench -p decloud-bench-system`: the system benchmarks (see `bench/README.md`).
//!
//! `BENCH_SYSTEM=latency,throughput,scale` (the default) picks the benchmarks (`tls` and `keepers` too); `runtime` and
//! `gas` put the runtime benchmark's output (`BENCH_RUNTIME_OUTPUT`) and the gas report's
//! totals in the README (`scripts/bench` does all of it). `BENCH_TMPDIR` moves the pools'
//! temporary directories (scheduler database, worker state, storage) elsewhere, e.g.
//! `/dev/shm`. `BENCH_LOG` sets a tracing filter for the services' logs (off by default).

use anyhow::bail;

fn main() -> anyhow::Result<()> {
    if let Ok(dir) = std::env::var("BENCH_TMPDIR") {
        // SAFETY: no other thread runs yet (the runtime is built below).
        unsafe { std::env::set_var("TMPDIR", dir) };
    }
    if let Ok(filter) = std::env::var("BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match std::env::var("BENCH_ROLE").as_deref() {
        Ok("scale-clients") => return runtime.block_on(decloud_bench_system::scale::clients()),
        Ok("tls-clients") => return runtime.block_on(decloud_bench_system::tls::clients()),
        Ok("workers") => return runtime.block_on(decloud_bench_system::pool::workers_process()),
        _ => {}
    }
    let which = std::env::var("BENCH_SYSTEM").unwrap_or_else(|_| "latency,throughput,scale".into());
    for name in which.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match name {
            "latency" => runtime.block_on(decloud_bench_system::latency::run())?,
            "throughput" => runtime.block_on(decloud_bench_system::throughput::run())?,
            "scale" => runtime.block_on(decloud_bench_system::scale::run())?,
            "tls" => runtime.block_on(decloud_bench_system::tls::run())?,
            "keepers" => runtime.block_on(decloud_bench_system::keepers::run())?,
            "runtime" => decloud_bench_system::imports::runtime()?,
            "gas" => decloud_bench_system::imports::gas()?,
            other => bail!(
                "unknown benchmark {other:?} in BENCH_SYSTEM: use latency, throughput, scale, tls, keepers, runtime or gas"
            ),
        }
    }
    Ok(())
}
