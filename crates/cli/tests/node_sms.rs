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

/// `decloud node --sms` on `devnet` with wallet "sms" (dev account 8) and a CLI whose default
/// wallet is dev account 4; the node, its URL and the CLI.
fn sms_node(devnet: &Devnet) -> (impl Drop, String, Cli) {
    let cli = Cli::new(devnet.home(), "http://127.0.0.1:1");
    cli.import("default", 4);
    cli.import("sms", 8);
    let (node, url) = start_service(
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
    (node, url, cli)
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_pushed_and_shown_but_never_printed() {
    let devnet = Devnet::start().await.unwrap();
    let (_node, url, mut cli) = sms_node(&devnet);
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
    assert!(
        health.contains("NOT registered (its attestations do not count)")
            && health.contains("--attester-stake"),
        "{health}"
    );
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

async fn health(url: &str) -> String {
    let (base, http) = decloud_service::transport::api_client(url).unwrap();
    http.get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sms_registers_its_wallet_as_an_attester_at_start() {
    let devnet = Devnet::start().await.unwrap();
    let cli = Cli::new(devnet.home(), "http://127.0.0.1:1");
    cli.import("sms", 8);
    let node = |stake: &str| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_decloud"));
        command
            .args([
                "node",
                "--sms",
                "--sms-listen",
                "127.0.0.1:0",
                "--wallet",
                "sms",
                "--attester-stake",
                stake,
            ])
            .env("DECLOUD_HOME", devnet.home())
            .env("DECLOUD_WALLET_PASSWORD", PASSWORD);
        command
    };
    // Below the hub's minimum: a one-line refusal, nothing registered, nothing served.
    let out = node("1DCT").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("below the attesters' minimum")
            && err.trim().lines().count() == 1,
        "{err}"
    );
    let shown = cli.json(&["attester", "show", "--wallet", "sms"]);
    assert_eq!(shown["active"], false, "{shown}");

    let (first, url) = start_service(&mut node("100DCT")).unwrap();
    let said = health(&url).await;
    assert!(
        said.contains("registered: its attestations count"),
        "{said}"
    );
    let shown = cli.json(&["attester", "show", "--wallet", "sms"]);
    assert_eq!(shown["active"], true, "{shown}");
    let stake = shown["stake"].clone();
    drop(first);
    // Started again: already an attester, nothing locked twice.
    let (_again, url) = start_service(&mut node("100DCT")).unwrap();
    assert!(health(&url).await.contains("its attestations count"));
    let shown = cli.json(&["attester", "show", "--wallet", "sms"]);
    assert_eq!(shown["stake"], stake, "{shown}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_encrypted_dataset_and_a_result_key_reach_the_sms_and_the_stock_age_opens_them() {
    let devnet = Devnet::start().await.unwrap();
    let (_node, url, cli) = sms_node(&devnet);
    let with_sms = |args: &[&str]| {
        let mut args = args.to_vec();
        args.push("--json");
        let out = cli
            .command(&args)
            .env("DECLOUD_SMS", &url)
            .output()
            .unwrap();
        decloud_testkit::fixtures::json_output(&out)
            .unwrap_or_else(|e| panic!("decloud {}: {e}", args.join(" ")))
    };
    let plain = "day,price\n1,10\n2,12\n";
    let data = cli.file("prices.csv");
    std::fs::write(&data, plain).unwrap();
    let data = data.to_str().unwrap();
    let store = cli.file("store");
    std::fs::create_dir_all(&store).unwrap();
    let store = store.to_str().unwrap();

    // Encrypted into an age file whose key stays in $DECLOUD_HOME; the stock tool opens it.
    let sealed = cli.json(&["dataset", "encrypt", data]);
    let (file, key) = (
        sealed["file"].as_str().unwrap().to_owned(),
        sealed["key_file"].as_str().unwrap().to_owned(),
    );
    assert!(key.starts_with(devnet.home().to_str().unwrap()), "{key}");
    let opened = Command::new("age")
        .args(["-d", "-i", &key, &file])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&opened.stdout), plain, "{opened:?}");
    let stored = std::fs::read(&file).unwrap();
    assert!(!stored.windows(5).any(|w| w == b"price"));
    assert!(cli.fails(&["dataset", "encrypt", data]).contains("exists"));

    // A plain file is not deployed as encrypted: refused before anything is sent.
    let err = cli.fails(&[
        "dataset",
        "deploy",
        "--name",
        "plain",
        "--file",
        data,
        "--upload",
        store,
        "--encrypted",
    ]);
    assert!(err.contains("not an age file"), "{err}");
    let listed = cli.json(&["dataset", "list"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "{listed}");

    // Deployed with --encrypted: registered with the ciphertext's checksum, its key at the SMS.
    let deployed = with_sms(&[
        "dataset",
        "deploy",
        "--name",
        "prices",
        "--file",
        &file,
        "--upload",
        store,
        "--encrypted",
    ]);
    assert_eq!(deployed["checksum"], sealed["checksum"], "{deployed}");
    assert_eq!(deployed["dataset_key"]["exists"], true, "{deployed}");
    assert_eq!(deployed["dataset_key"]["version"], 1, "{deployed}");
    assert!(!deployed.to_string().contains("AGE-SECRET-KEY"));

    // The beneficiary's result key: written 0600, its recipient pushed, never overwritten.
    let made = with_sms(&["result", "keygen"]);
    assert_eq!(made["pushed"]["exists"], true, "{made}");
    assert!(
        made["recipient"].as_str().unwrap().starts_with("age1"),
        "{made}"
    );
    let key_file = made["key_file"].as_str().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let recipient = Command::new("age-keygen")
        .args(["-y", key_file])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&recipient.stdout).trim(),
        made["recipient"].as_str().unwrap()
    );
    let before = std::fs::read(key_file).unwrap();
    let out = cli
        .command(&["result", "keygen"])
        .env("DECLOUD_SMS", &url)
        .output()
        .unwrap();
    let err = common::one_line_failure(&out, &["result", "keygen"]);
    assert!(err.contains("exists"), "{err}");
    assert_eq!(std::fs::read(key_file).unwrap(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tee_worker_needs_a_key_holder_and_a_known_backend() {
    let devnet = Devnet::start().await.unwrap();
    // The same chain in a profile that names no keeper registry: no keeper can be found on it.
    let no_registry = tempfile::tempdir().unwrap();
    let mut profile = devnet.profile().clone();
    profile.contracts.keeper_registry = alloy::primitives::Address::ZERO;
    profile.save(no_registry.path()).unwrap();
    let run_in = |home: &std::path::Path, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_decloud"))
            .args(args)
            .env("DECLOUD_HOME", home)
            .output()
            .unwrap()
    };
    let out = run_in(
        no_registry.path(),
        &["node", "--workers", "1", "--tee", "sim"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--tee needs a key holder") && stderr.trim().lines().count() == 1,
        "{stderr}"
    );
    // With the registry, the worker finds its keepers on chain: no key holder is needed here
    // (this node still fails, for want of a scheduler).
    let out = run_in(devnet.home(), &["node", "--workers", "1", "--tee", "sim"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("--tee needs a key holder"), "{stderr}");
    let run = |args: &[&str]| run_in(devnet.home(), args);
    let out = run(&["node", "--workers", "1", "--tee", "sgx", "--sms"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("unknown TEE backend"), "{stderr}");
}
