//! `decloud node --sms` and `decloud secret push | show`: the secret management service run
//! from the profile under `$DECLOUD_HOME`, a requester's secret pushed from standard input and
//! from a file, never printed back.

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use common::{Cli, PASSWORD};
use decloud_testkit::Devnet;
use decloud_testkit::fixtures::start_service;

const VALUE: &str = "sk-live-4b1f0c9e7d2a";

#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_pushed_and_shown_but_never_printed() {
    let devnet = Devnet::start().await.unwrap();
    let mut cli = Cli::new(devnet.home(), "http://127.0.0.1:1");
    cli.import("default", 4);
    cli.import("sms", 8);
    let (_node, url) = start_service(
        Command::new(env!("CARGO_BIN_EXE_decloud"))
            .args([
                "node",
                "--sms",
                "--sms-listen",
                "127.0.0.1:0",
                "--wallet",
                "sms",
            ])
            .env("DECLOUD_HOME", devnet.home())
            .env("DECLOUD_WALLET_PASSWORD", PASSWORD),
    )
    .unwrap();
    assert!(
        url.starts_with("https://127.0.0.1:") && url.contains("#sha256:"),
        "{url}"
    );
    let (base, http) = decloud_service::transport::api_client(&url).unwrap();
    let health = http
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(health.contains("tee: sim (devnet only"), "{health}");
    cli.market = String::new();

    let push = |args: &[&str], stdin: &str| {
        let mut child = cli
            .command(args)
            .env("DECLOUD_SMS", &url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = push(
        &["secret", "push", "api-token", "--stdin"],
        &format!("{VALUE}\n"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("version 1"), "{stdout}");
    assert!(!stdout.contains(VALUE) && !String::from_utf8_lossy(&out.stderr).contains(VALUE));

    let file = cli.file("token.txt");
    std::fs::write(&file, "sk-live-rotated").unwrap();
    let out = push(
        &[
            "secret",
            "push",
            "api-token",
            "--file",
            file.to_str().unwrap(),
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let shown = cli
        .command(&["secret", "show", "api-token", "--json"])
        .env("DECLOUD_SMS", &url)
        .output()
        .unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["exists"], true);
    assert_eq!(shown["version"], 2);
    assert!(!shown.to_string().contains("sk-live"));
    let missing = cli
        .command(&["secret", "show", "nothing"])
        .env("DECLOUD_SMS", &url)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&missing.stdout).contains("not stored"));

    // The value never on the command line; a bad name; each a one-line refusal.
    let out = push(&["secret", "push", "api-token"], "");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--stdin") && err.trim().lines().count() == 1,
        "{err}"
    );
    let out = push(&["secret", "push", "a/b", "--stdin"], "x");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("secret name"),
        "{err}"
    );
    let out = push(&["secret", "push", "empty", "--stdin"], "");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("empty"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tee_worker_needs_a_key_holder_and_a_known_backend() {
    let devnet = Devnet::start().await.unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_decloud"))
            .args(args)
            .env("DECLOUD_HOME", devnet.home())
            .output()
            .unwrap()
    };
    let out = run(&["node", "--workers", "1", "--tee", "sim"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--tee needs a key holder") && stderr.trim().lines().count() == 1,
        "{stderr}"
    );
    let out = run(&["node", "--workers", "1", "--tee", "sgx", "--sms"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("unknown TEE backend"), "{stderr}");
}
