//! `decloud app exec`: the same digest across fresh processes, and one-line errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use decloud_testkit::fixtures;

/// An example app's module path; fails the test with what to run when it was not built.
fn app_path(name: &str) -> PathBuf {
    fixtures::example_app(name).unwrap();
    fixtures::example_app_path(name)
}

fn decloud(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_decloud"))
        .args(args)
        .env("DECLOUD_HOME", home)
        .env_remove("DECLOUD_MODULE_CACHE")
        .output()
        .expect("run decloud")
}

/// `decloud app exec module args...` with home `home`.
fn exec(home: &Path, module: &Path, args: &[&str]) -> Output {
    let mut all = vec!["app", "exec", module.to_str().unwrap()];
    all.extend(args);
    decloud(home, &all)
}

fn json_digest(out: &Output) -> String {
    let v = fixtures::json_output(out).unwrap();
    assert_eq!(v["outcome"], "completed", "{v}");
    v["digest"].as_str().expect("digest").to_string()
}

#[test]
fn the_same_module_and_inputs_give_the_same_digest_in_fresh_processes() {
    let home = tempfile::tempdir().unwrap();
    let probe = app_path("sandbox-probe");
    let input = tempfile::tempdir().unwrap();
    std::fs::write(input.path().join("data.txt"), "x").unwrap();
    let args = [
        "--in",
        input.path().to_str().unwrap(),
        "--json",
        "--args",
        "report",
    ];
    // The first run compiles (and fills the cache), the second loads from the cache.
    let first = json_digest(&exec(home.path(), &probe, &args));
    let second = json_digest(&exec(home.path(), &probe, &args));
    assert_eq!(first, second);
    assert!(
        std::fs::read_dir(home.path().join("cache/modules"))
            .unwrap()
            .count()
            >= 1
    );
    // Another task id changes random_get, and so the digest of the probe's report.
    let id = "11".repeat(32);
    let mut other = args.to_vec();
    other.extend(["--task-id", &id]);
    assert_ne!(json_digest(&exec(home.path(), &probe, &other)), first);
}

#[test]
fn the_human_report_prints_the_digest() {
    let home = tempfile::tempdir().unwrap();
    let out = exec(home.path(), &app_path("greeting"), &["--args", "Alice"]);
    let text = fixtures::succeeded(&out).unwrap();
    assert!(
        text.contains("Hello, Alice!") && text.contains("digest    0x"),
        "{text}"
    );
}

#[test]
fn an_invalid_module_gets_a_one_line_error() {
    let home = tempfile::tempdir().unwrap();
    let bad = home.path().join("bad.wasm");
    std::fs::write(&bad, b"this is not wasm").unwrap();
    let out = exec(home.path(), &bad, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error:") && err.contains("not a valid WebAssembly module"),
        "{err}"
    );
}

#[test]
fn a_failing_app_prints_its_digest_and_exits_non_zero() {
    let home = tempfile::tempdir().unwrap();
    let probe = app_path("sandbox-probe");
    let out = exec(home.path(), &probe, &["--json", "--args", "panic"]);
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "failed");
    assert_eq!(v["failure"]["kind"], "trap");
    assert!(v["digest"].as_str().unwrap().starts_with("0x"));
}
