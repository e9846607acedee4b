//! The sandbox's walls and determinism (issue 5, "Done means"), with the example apps and the
//! `sandbox-probe` fixture from `apps/` (built by `scripts/build-apps`).

mod common;

use common::*;
use decloud_runtime::{
    Digest, FailureKind, Limits, Outcome, RunReport, Runtime, RuntimeConfig, RuntimeError,
};
use std::fs;

fn failure(outcome: &Outcome) -> (FailureKind, String) {
    match outcome {
        Outcome::Failed(r) => (r.kind, r.detail.clone()),
        other => panic!("expected a deterministic failure, got {other:?}"),
    }
}

/// Checks that the run completed; says why when it did not.
fn assert_completed(report: &RunReport) {
    assert!(
        matches!(report.outcome, Outcome::Completed { .. }),
        "{:?} {}",
        report.outcome,
        report.stderr.text()
    );
}

/// Runs `sandbox-probe` with `args` under [`small_limits`] changed by `limits`.
fn probe(args: &[&str], limits: impl FnOnce(&mut Limits)) -> (RunReport, tempfile::TempDir) {
    let mut small = small_limits();
    limits(&mut small);
    run_example("sandbox-probe", args, &small)
}

/// An input directory holding `data.txt`, mounted at `/in` as a dataset is.
fn probe_input() -> tempfile::TempDir {
    let input = tempfile::tempdir().unwrap();
    fs::write(input.path().join("data.txt"), "the input").unwrap();
    input
}

fn report_lines(out: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    fs::read_to_string(out.join("report.txt"))
        .expect("report.txt")
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

#[test]
fn greeting_digest_follows_the_documented_encoding() {
    let (report, out) = run_example("greeting", &["Alice", "Bob"], &Limits::default());
    let text = b"Hello, Alice Bob!\n";
    assert_eq!(fs::read(out.path().join("result.txt")).unwrap(), text);
    let mut enc = b"decloud-output-v1".to_vec();
    enc.extend(1u64.to_be_bytes());
    enc.extend(10u64.to_be_bytes());
    enc.extend(b"result.txt");
    enc.extend((text.len() as u64).to_be_bytes());
    enc.extend(text);
    assert_eq!(report.outcome.digest(), Some(Digest::sha256(&enc)));
    assert_eq!(report.stdout.bytes, text);
    assert!(!report.stdout.truncated);
}

#[test]
fn same_module_same_inputs_same_bytes_even_with_clock_and_random() {
    let rt = runtime();
    let app = app(&rt, "sandbox-probe");
    let input = probe_input();
    let t = task(&["report", "x y"]);
    let (a, out_a) = run_in(&rt, &app, &t, Some(input.path()), &Limits::default());
    let (b, out_b) = run_in(&rt, &app, &t, Some(input.path()), &Limits::default());
    assert_completed(&a);
    assert_eq!(a.outcome.digest(), b.outcome.digest());
    let report_a = fs::read(out_a.path().join("report.txt")).unwrap();
    assert_eq!(report_a, fs::read(out_b.path().join("report.txt")).unwrap());

    // A fresh runtime (new engine, new ticker) gives the same bytes too.
    let rt2 = runtime();
    let app2 = common::app(&rt2, "sandbox-probe");
    let (c, out_c) = run_in(&rt2, &app2, &t, Some(input.path()), &Limits::default());
    assert_eq!(a.outcome.digest(), c.outcome.digest());
    assert_eq!(report_a, fs::read(out_c.path().join("report.txt")).unwrap());

    let lines = report_lines(out_a.path());
    assert_eq!(
        lines["wall_clock_ns"],
        (1_700_000_000u128 * 1_000_000_000).to_string()
    );
    assert_ne!(
        lines["random"], lines["random_again"],
        "random_get is a stream, not a constant"
    );
    assert!(
        lines["env"].contains(&format!("DECLOUD_TASK_ID=0x{}", "42".repeat(32))),
        "{}",
        lines["env"]
    );
    assert!(lines["env"].contains("DECLOUD_IN=/in") && lines["env"].contains("DECLOUD_OUT=/out"));
    assert_eq!(lines["args"], "app report x y");
    assert_eq!(lines["nan_bits"], "7ff8000000000000", "NaNs are canonical");

    // Another task id gives other random bytes.
    let mut other = t.clone();
    other.task_id = [0x43; 32];
    let (_, out_d) = run_in(&rt, &app, &other, Some(input.path()), &Limits::default());
    assert_ne!(report_lines(out_d.path())["random"], lines["random"]);
}

#[test]
fn paths_outside_in_and_out_threads_and_network_fail_inside_the_sandbox() {
    let rt = runtime();
    let app = app(&rt, "sandbox-probe");
    let input = probe_input();
    // A file beside the input directory, which `/in/..` would reach without the sandbox.
    let (report, out) = run_in(
        &rt,
        &app,
        &task(&["report"]),
        Some(input.path()),
        &Limits::default(),
    );
    assert_completed(&report);
    let lines = report_lines(out.path());
    assert_eq!(lines["read_in_data"], "ok");
    for key in [
        "read_etc_passwd",
        "read_in_dotdot",
        "read_in_dotdot_file",
        "read_out_dotdot",
        "read_root",
        "write_in",
        "remove_in",
        "write_tmp",
        "thread",
        "tcp",
    ] {
        assert!(
            lines[key].starts_with("err"),
            "{key} should fail in the sandbox, got {}",
            lines[key]
        );
    }
    assert_eq!(
        fs::read_to_string(input.path().join("data.txt")).unwrap(),
        "the input"
    );
    assert!(!input.path().join("new.txt").exists());
}

#[test]
fn an_infinite_loop_stops_at_the_fuel_cap() {
    let (report, out) = probe(&["spin"], |l| l.fuel = 50_000_000);
    let (kind, _) = failure(&report.outcome);
    assert_eq!(kind, FailureKind::OutOfFuel);
    assert_eq!(report.fuel_consumed, 50_000_000);
    // The record is written for the requester, and its digest is the contributed one.
    let record = fs::read(out.path().join("decloud-error.json")).unwrap();
    assert_eq!(report.outcome.digest(), Some(Digest::sha256(&record)));
}

#[test]
fn an_infinite_loop_stops_at_the_wall_clock_cap_as_a_non_deterministic_outcome() {
    let rt = runtime();
    let app = rt
        .compile(b"(module (func (export \"_start\") (loop (br 0))))")
        .unwrap();
    let limits = Limits {
        fuel: u64::MAX,
        wall_clock_ms: 200,
        ..small_limits()
    };
    let (report, _out) = run_in(&rt, &app, &task(&[]), None, &limits);
    assert!(
        matches!(report.outcome, Outcome::TimedOut { .. }),
        "{:?}",
        report.outcome
    );
    assert_eq!(report.outcome.digest(), None);
    assert!(!report.outcome.is_deterministic());
}

#[test]
fn sleeping_costs_no_host_time_and_is_deterministic() {
    let (report, out) = probe(&["sleep"], |l| l.wall_clock_ms = 10_000);
    assert_completed(&report);
    let slept: u128 = report_lines(out.path())["slept_ns"].parse().unwrap();
    assert!(
        slept >= 3600 * 1_000_000_000,
        "the virtual clock advanced by the sleep: {slept}"
    );
}

#[test]
fn unbounded_memory_growth_stops_at_the_cap() {
    let (report, _out) = probe(&["alloc"], |_| ());
    let (kind, detail) = failure(&report.outcome);
    assert_eq!(kind, FailureKind::MemoryLimit, "{detail}");

    // A raw memory.grow loop, and a module whose initial memory is over the cap.
    let rt = runtime();
    let grow = rt
        .compile(
            br#"(module (memory 1)
                 (func (export "_start") (loop (drop (memory.grow (i32.const 16))) (br 0))))"#,
        )
        .unwrap();
    let (report, _out) = run_in(&rt, &grow, &task(&[]), None, &small_limits());
    assert_eq!(failure(&report.outcome).0, FailureKind::MemoryLimit);
    let big = rt
        .compile(br#"(module (memory 2000) (func (export "_start")))"#)
        .unwrap();
    let (report, _out) = run_in(&rt, &big, &task(&[]), None, &small_limits());
    assert_eq!(failure(&report.outcome).0, FailureKind::MemoryLimit);
}

#[test]
fn an_oversized_output_is_refused() {
    let rt = runtime();
    let app = app(&rt, "sandbox-probe");
    let limits = small_limits();
    let (report, _out) = run_in(&rt, &app, &task(&["write", "2000000"]), None, &limits);
    let (kind, detail) = failure(&report.outcome);
    assert_eq!(kind, FailureKind::OutputTooLarge, "{detail}");
    let (report, _out) = run_in(&rt, &app, &task(&["write", "1000"]), None, &limits);
    assert_completed(&report);
}

#[test]
fn an_app_that_writes_without_end_is_stopped_during_the_run() {
    let (report, out) = probe(&["fill"], |l| l.fuel = u64::MAX);
    let (kind, detail) = failure(&report.outcome);
    assert_eq!(kind, FailureKind::OutputTooLarge, "{detail}");
    assert!(detail.contains("during the run"), "{detail}");
    let written = fs::metadata(out.path().join("fill.bin")).unwrap().len();
    assert!(
        written < 4 << 30,
        "stopped early, not at the fuel or wall-clock cap: {written} bytes"
    );
}

#[test]
fn logs_are_capped_without_failing_the_app() {
    let (report, _out) = probe(&["stdout", "100000"], |_| ());
    assert_completed(&report);
    assert_eq!(report.stdout.bytes.len(), 4096);
    assert!(report.stdout.truncated);
}

#[test]
fn computed_json_problems_are_deterministic_failures() {
    let rt = runtime();
    let app = app(&rt, "sandbox-probe");
    let cases = [
        ("no-computed", FailureKind::MissingComputedJson),
        ("bad-computed", FailureKind::MalformedComputedJson),
        ("escape-output", FailureKind::InvalidOutputPath),
        ("panic", FailureKind::Trap),
        ("exit", FailureKind::Exit),
    ];
    for (mode, expected) in cases {
        let (a, _o) = run_in(&rt, &app, &task(&[mode]), None, &small_limits());
        let (b, _o) = run_in(&rt, &app, &task(&[mode]), None, &small_limits());
        assert_eq!(failure(&a.outcome).0, expected, "mode {mode}");
        assert_eq!(
            a.outcome.digest(),
            b.outcome.digest(),
            "mode {mode}: replicas agree"
        );
    }
}

#[test]
fn a_callback_deal_digests_the_callback_data() {
    let rt = runtime();
    let app = app(&rt, "median");
    let mut t = task(&["5", "-3", "10", "7"]);
    t.callback = true;
    let (report, out) = run_in(&rt, &app, &t, None, &Limits::default());
    let mut word = [0u8; 32];
    word[31] = 6; // median of -3 5 7 10 = (5 + 7) / 2
    match &report.outcome {
        Outcome::Completed {
            digest,
            callback_data,
            ..
        } => {
            assert_eq!(callback_data.as_deref(), Some(word.as_slice()));
            assert_eq!(*digest, Digest::keccak256(&word));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fs::read_to_string(out.path().join("median.txt")).unwrap(),
        "6\n"
    );
    // A callback deal whose app writes no callback-data fails deterministically.
    let greeting = common::app(&rt, "greeting");
    let (report, _o) = run_in(&rt, &greeting, &t, None, &Limits::default());
    assert_eq!(failure(&report.outcome).0, FailureKind::InvalidCallbackData);
}

#[test]
fn csv_stats_reads_the_dataset_from_in() {
    let rt = runtime();
    let app = app(&rt, "csv-stats");
    let input = tempfile::tempdir().unwrap();
    fs::write(
        input.path().join("data.csv"),
        "name,x,y\na,1,10\nb,2,20\nc,3,30\n",
    )
    .unwrap();
    let mut t = task(&[]);
    t.dataset_filename = Some("data.csv".into());
    let (report, out) = run_in(&rt, &app, &t, Some(input.path()), &Limits::default());
    assert_completed(&report);
    let stats = fs::read_to_string(out.path().join("stats.json")).unwrap();
    assert!(
        stats.contains(r#""x":{"count":3,"min":1,"max":3,"mean":2,"#),
        "{stats}"
    );
    assert!(
        !stats.contains("name"),
        "a text column has no statistics: {stats}"
    );
}

#[test]
fn hash_search_finds_the_expected_nonce() {
    let (report, out) = run_example("hash-search", &["decloud", "12"], &Limits::default());
    assert_completed(&report);
    let result = fs::read_to_string(out.path().join("result.json")).unwrap();
    let nonce: u64 = result
        .split("\"nonce\":")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(format!("decloud{nonce}"));
    assert!(hash[0] == 0 && hash[1] >> 4 == 0, "12 leading zero bits");
}

#[test]
fn invalid_modules_get_a_one_line_error() {
    let rt = runtime();
    for bytes in [&b"definitely not wasm"[..], b"\0asm\x01\0\0\0\x01\xff", b""] {
        match rt.compile(bytes) {
            Err(RuntimeError::InvalidModule(msg)) => {
                assert!(!msg.contains('\n') && !msg.is_empty(), "{msg:?}");
            }
            other => panic!("expected InvalidModule, got {other:?}"),
        }
    }
    // Valid wasm but no `_start`, or an import the sandbox does not provide.
    for wat in [
        &b"(module)"[..],
        br#"(module (import "wasi" "thread-spawn" (func)) (func (export "_start")))"#,
    ] {
        let err = rt.compile(wat).unwrap_err();
        assert!(matches!(err, RuntimeError::NotACommand(_)), "{err}");
        assert!(!err.to_string().contains('\n'));
    }
}

#[test]
fn deep_recursion_and_bad_arithmetic_are_deterministic_traps() {
    let rt = runtime();
    let recursion = rt
        .compile(br#"(module (func $f (export "_start") (call $f)))"#)
        .unwrap();
    let divide = rt
        .compile(
            br#"(module (func (export "_start")
                 (drop (i32.div_u (i32.const 1) (i32.const 0)))))"#,
        )
        .unwrap();
    for app in [recursion, divide] {
        let (a, _o) = run_in(&rt, &app, &task(&[]), None, &small_limits());
        let (b, _o) = run_in(&rt, &app, &task(&[]), None, &small_limits());
        let (kind, detail) = failure(&a.outcome);
        assert_eq!(kind, FailureKind::Trap, "{detail}");
        assert!(
            !detail.contains('\n') && !detail.contains("0x"),
            "no backtrace: {detail}"
        );
        assert_eq!(a.outcome.digest(), b.outcome.digest());
    }
}

/// Whether an error is of the kind a test expects.
type ErrorKind = fn(&RuntimeError) -> bool;

#[test]
fn threads_are_not_available() {
    let rt = runtime();
    let cases: [(&[u8], ErrorKind); 2] = [
        // Shared memory (the threads proposal) does not even validate.
        (
            br#"(module (memory 1 1 shared) (func (export "_start")))"#,
            |e| matches!(e, RuntimeError::InvalidModule(_)),
        ),
        // wasi-threads is not linked.
        (
            br#"(module (import "wasi" "thread-spawn" (func (param i32) (result i32)))
                 (func (export "_start")))"#,
            |e| matches!(e, RuntimeError::NotACommand(_)),
        ),
    ];
    for (wat, expected) in cases {
        let err = rt.compile(wat).unwrap_err();
        assert!(expected(&err), "{err}");
    }
}

#[test]
fn output_directory_must_be_empty() {
    let rt = runtime();
    let app = app(&rt, "greeting");
    let out = tempfile::tempdir().unwrap();
    fs::write(out.path().join("stale"), "x").unwrap();
    let err = rt
        .run(&app, &task(&[]), None, out.path(), &Limits::default())
        .unwrap_err();
    assert!(matches!(err, RuntimeError::OutputDir(_)));
}

#[test]
fn compiled_modules_are_cached_on_disk_across_runtimes() {
    let cache = tempfile::tempdir().unwrap();
    let config = RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..Default::default()
    };
    let wasm = fs::read(app_path("greeting")).unwrap();
    // Each call is a worker (re)started over the same cache: a new runtime compiles the module
    // and runs it.
    let run_fresh = || {
        let rt = Runtime::new(config.clone()).unwrap();
        let app = rt.compile(&wasm).unwrap();
        let path = rt.cache_path(&app.checksum()).unwrap();
        assert!(path.is_file());
        let (report, _out) = run_in(&rt, &app, &task(&["x"]), None, &Limits::default());
        (report.outcome.digest(), path)
    };
    let (digest, path) = run_fresh();
    // A "restarted worker": a new runtime over the same cache loads the compiled module.
    assert_eq!(run_fresh().0, digest);
    // A corrupted entry is dropped and recompiled, never trusted.
    fs::write(&path, b"garbage").unwrap();
    assert_eq!(run_fresh().0, digest);
    assert!(fs::metadata(&path).unwrap().len() > 100);
}

#[test]
fn a_module_compiled_in_memory_never_reaches_the_disk_cache() {
    let cache = tempfile::tempdir().unwrap();
    let rt = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    let wasm = fs::read(app_path("greeting")).unwrap();
    let checksum = decloud_runtime::Digest::sha256(&wasm);
    // Other bytes under this checksum are refused.
    let mut other = wasm.clone();
    other.push(0);
    assert!(matches!(
        rt.compile_in_memory(checksum, &other),
        Err(RuntimeError::InvalidModule(_))
    ));
    let (app, _) = rt.compile_in_memory(checksum, &wasm).unwrap();
    let (report, _out) = run_in(&rt, &app, &task(&["x"]), None, &Limits::default());
    assert!(report.outcome.digest().is_some());
    assert_eq!(
        fs::read_dir(cache.path()).unwrap().count(),
        0,
        "the compiled module was written to the disk cache"
    );
}

/// CPython-WASI's shape (issue 15): a reactor whose `run` returns the status, which imports
/// `host.call` (answered with a refusal, -1) and throws and catches wasm exceptions.
#[test]
fn a_reactor_runs_host_call_is_refused_and_exceptions_work() {
    let rt = runtime();
    let reactor = rt
        .compile(
            br#"(module
                 (import "host" "call" (func $call (param i32 i32 i32 i32) (result i32)))
                 (tag $e (param i32))
                 (global $init (mut i32) (i32.const 0))
                 (func (export "_initialize") (global.set $init (i32.const 1)))
                 (func $thrower (param i32) (throw $e (local.get 0)))
                 (func (export "run") (result i32)
                   ;; the status: host.call's answer + caught exception value + _initialize ran
                   (i32.add
                     (i32.add
                       (call $call (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))
                       (block $caught (result i32)
                         (try_table (catch $e $caught)
                           (call $thrower (i32.const 40)))
                         (i32.const 0)))
                     (global.get $init))))"#,
        )
        .unwrap();
    let (report, _out) = run_in(&rt, &reactor, &task(&[]), None, &small_limits());
    let (kind, detail) = failure(&report.outcome);
    assert_eq!(kind, FailureKind::Exit);
    // -1 (refused) + 40 (caught) + 1 (initialized)
    assert!(detail.contains("status 40"), "{detail}");

    // A reactor whose `run` returns 0 and writes nothing: a missing computed.json, as for a
    // command that exits 0.
    let quiet = rt
        .compile(br#"(module (func (export "run") (result i32) (i32.const 0)))"#)
        .unwrap();
    let (report, _out) = run_in(&rt, &quiet, &task(&[]), None, &small_limits());
    assert_eq!(failure(&report.outcome).0, FailureKind::MissingComputedJson);

    // Neither `_start` nor `run: () -> i32`: refused at load with what to do.
    let err = rt
        .compile(br#"(module (func (export "run") (param i32)))"#)
        .unwrap_err();
    assert!(matches!(err, RuntimeError::NotACommand(_)), "{err}");
}
