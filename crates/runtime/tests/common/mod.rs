//! Helpers shared by the runtime's integration tests.

#![allow(dead_code)]

use decloud_runtime::{App, Limits, RunReport, Runtime, RuntimeConfig, TaskContext};
use std::path::{Path, PathBuf};

/// The path of an example app built by `scripts/build-apps`; panics with what to do if missing.
pub(crate) fn app_path(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../apps/target/wasm32-wasip1/release")
        .join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: run scripts/bootstrap (or scripts/build-apps) to build the example apps",
        path.display()
    );
    path
}

/// A runtime without a disk cache.
pub(crate) fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).expect("runtime")
}

/// Loads an example app.
pub(crate) fn app(rt: &Runtime, name: &str) -> App {
    rt.load(&app_path(name)).expect("example app compiles")
}

/// Small limits so that the limit tests are quick.
pub(crate) fn small_limits() -> Limits {
    Limits {
        fuel: 2_000_000_000,
        memory_bytes: 64 << 20,
        wall_clock_ms: 30_000,
        output_bytes: 1 << 20,
        log_bytes: 4096,
        ..Limits::default()
    }
}

/// A task with `args` and a fixed id.
pub(crate) fn task(args: &[&str]) -> TaskContext {
    TaskContext {
        task_id: [0x42; 32],
        args: args.iter().map(|a| a.to_string()).collect(),
        clock_secs: 1_700_000_000,
        ..TaskContext::default()
    }
}

/// Runs example app `name` with `args`, no input and `limits`, in a fresh runtime and output
/// directory.
pub(crate) fn run_example(
    name: &str,
    args: &[&str],
    limits: &Limits,
) -> (RunReport, tempfile::TempDir) {
    let rt = runtime();
    run_in(&rt, &app(&rt, name), &task(args), None, limits)
}

/// Runs `app` with `task`, `input` and `limits` into a fresh output directory.
pub(crate) fn run_in(
    rt: &Runtime,
    app: &App,
    task: &TaskContext,
    input: Option<&Path>,
    limits: &Limits,
) -> (RunReport, tempfile::TempDir) {
    let out = tempfile::tempdir().expect("tempdir");
    let report = rt
        .run(app, task, input, out.path(), limits)
        .expect("the run itself works");
    (report, out)
}
