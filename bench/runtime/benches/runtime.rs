//! The runtime benchmark (issue 5): the CPU-bound example app (`apps/hash-search`) run natively
//! and as WASI on the same input, and the instantiation time from the compiled-module cache.
//!
//! `cargo bench -p decloud-bench-runtime` (after `scripts/build-apps`). Targets: wasm ≤ 1.3× native;
//! load from the disk cache + instantiate ≤ 5 ms. `BENCH_DIFFICULTY` (default 21 bits) sets the
//! work; each figure is the best of `BENCH_REPEAT` (default 3) runs.

// The app is a binary crate of its own workspace: its `pub` items are its API there.
#[allow(unreachable_pub)]
#[path = "../../../apps/hash-search/src/search.rs"]
#[allow(dead_code)]
mod search;

use decloud_runtime::{Limits, Outcome, Runtime, RuntimeConfig, TaskContext};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn app(name: &str) -> Vec<u8> {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../apps/target/wasm32-wasip1/release")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run scripts/build-apps (or scripts/bootstrap) first",
            path.display()
        )
    })
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let difficulty = env_or("BENCH_DIFFICULTY", 21) as u32;
    let repeat = env_or("BENCH_REPEAT", 3).max(1);
    let prefix = "decloud-bench";

    // The native and the wasm hash function agree with a reference implementation.
    use sha2::Digest as _;
    assert_eq!(
        search::sha256(b"abc"),
        <[u8; 32]>::from(sha2::Sha256::digest(b"abc"))
    );

    // --- native and wasm (through the worker's sandbox), interleaved so that the load of the
    // machine weighs on both alike ---
    let cache = tempfile::tempdir().expect("tempdir");
    let config = RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..Default::default()
    };
    let runtime = Runtime::new(config.clone()).expect("runtime");
    let wasm = app("hash-search");
    let t = Instant::now();
    let compiled = runtime.compile(&wasm).expect("compile");
    let compile_time = t.elapsed();
    let task = TaskContext {
        args: vec![prefix.into(), difficulty.to_string()],
        ..Default::default()
    };
    let limits = Limits {
        fuel: u64::MAX / 2,
        ..Limits::for_category(3600)
    };
    let (mut native, mut wasm_time) = (Duration::MAX, Duration::MAX);
    let (mut nonce, mut fuel) = (0, 0);
    for _ in 0..repeat {
        let t = Instant::now();
        let (n, _) = black_box(search::search(
            black_box(prefix.as_bytes()),
            difficulty,
            u64::MAX,
        ))
        .expect("a nonce exists");
        native = native.min(t.elapsed());
        nonce = n;

        let out = tempfile::tempdir().expect("tempdir");
        let report = runtime
            .run(&compiled, &task, None, out.path(), &limits)
            .expect("run");
        assert!(
            matches!(report.outcome, Outcome::Completed { .. }),
            "{:?}",
            report.outcome
        );
        let result = std::fs::read_to_string(out.path().join("result.json")).expect("result.json");
        assert!(
            result.contains(&format!("\"nonce\":{nonce},")),
            "same answer natively and in wasm"
        );
        wasm_time = wasm_time.min(report.elapsed);
        fuel = report.fuel_consumed;
    }

    // --- instantiation from the compiled cache ---
    let greeting = app("greeting");
    let samples = 50;
    let warm = Runtime::new(config.clone()).expect("runtime");
    warm.compile(&greeting).expect("compile greeting");
    let (mut load, mut inst, mut both) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..samples {
        // As after a worker restart: the in-memory cache is empty, the disk cache is warm.
        warm.clear_memory_cache();
        let t = Instant::now();
        let app = warm.compile(&greeting).expect("load from the disk cache");
        let loaded = t.elapsed();
        let out = tempfile::tempdir().expect("tempdir");
        let report = warm
            .run(
                &app,
                &TaskContext::default(),
                None,
                out.path(),
                &Limits::default(),
            )
            .expect("run greeting");
        load.push(loaded);
        inst.push(report.elapsed);
        both.push(loaded + report.elapsed);
    }

    let ratio = wasm_time.as_secs_f64() / native.as_secs_f64();
    println!(
        "runtime benchmark (hash-search, prefix {prefix:?}, difficulty {difficulty} bits, nonce {nonce}, best of {repeat})"
    );
    println!("  native                      {:>10.1} ms", ms(native));
    println!(
        "  wasm (sandbox, fuel+epoch)  {:>10.1} ms   ({fuel} fuel)",
        ms(wasm_time)
    );
    println!(
        "  ratio wasm/native           {:>10.2}x   (target <= 1.30x)",
        ratio
    );
    println!(
        "  first compile (cranelift)   {:>10.1} ms",
        ms(compile_time)
    );
    println!("instantiation from the compiled cache (greeting, median of {samples})");
    println!(
        "  load from disk cache        {:>10.3} ms",
        ms(median(load))
    );
    println!(
        "  instantiate + run _start    {:>10.3} ms",
        ms(median(inst))
    );
    println!(
        "  total                       {:>10.3} ms   (target <= 5 ms)",
        ms(median(both))
    );
}
