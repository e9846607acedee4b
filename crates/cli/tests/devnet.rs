//! `decloud devnet up | status | down` through the real binary, and its error paths.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use common::one_line_failure;
use decloud_testkit::fixtures::{json_output, succeeded};

fn decloud(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_decloud"))
        .args(args)
        .env("DECLOUD_HOME", home)
        .output()
        .expect("the decloud binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Stops the devnet of a test even when an assertion fails half-way.
struct DownOnDrop<'a>(&'a Path);

impl Drop for DownOnDrop<'_> {
    fn drop(&mut self) {
        let _ = decloud(self.0, &["devnet", "down"]);
    }
}

#[test]
fn up_status_down_round_trip() {
    let home = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let _guard = DownOnDrop(home.path());

    let up = decloud(
        home.path(),
        &["devnet", "up", "--port", &port, "--instant", "--json"],
    );
    let report = json_output(&up).unwrap_or_else(|e| panic!("up failed: {e}"));
    let pid = report["process"]["pid"].as_u64().unwrap();
    assert_eq!(report["profile"]["chain_id"], 31337);
    assert!(home.path().join("chain.toml").exists());

    // A second `up` refuses to start another anvil and names the running one.
    let again = decloud(
        home.path(),
        &["devnet", "up", "--port", &free_port().to_string()],
    );
    assert!(!again.status.success());
    let message = stderr(&again);
    assert!(
        message.contains("already running") && message.contains(&pid.to_string()),
        "{message}"
    );

    let status = json_output(&decloud(home.path(), &["devnet", "status", "--json"])).unwrap();
    assert_eq!(status["running"], true);
    assert_eq!(status["process"]["pid"].as_u64(), Some(pid));
    assert!(
        status["block_number"].as_u64().unwrap() >= 1,
        "the deployment mined blocks"
    );

    let human = stdout(&decloud(home.path(), &["devnet", "status"]));
    assert!(human.contains("running, anvil pid"), "{human}");

    let down = succeeded(&decloud(home.path(), &["devnet", "down"])).unwrap();
    assert!(down.contains(&format!("pid {pid}")), "{down}");
    assert!(
        !Path::new(&format!("/proc/{pid}")).join("cmdline").exists() || {
            // A zombie has an empty cmdline; anything else would mean anvil still runs.
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .unwrap_or_default()
                .is_empty()
        }
    );

    let after = decloud(home.path(), &["devnet", "status", "--json"]);
    let after: serde_json::Value = serde_json::from_str(&stdout(&after)).unwrap();
    assert_eq!(after["running"], false);

    let down_again = succeeded(&decloud(home.path(), &["devnet", "down"])).unwrap();
    assert!(down_again.contains("no devnet"), "{down_again}");
}

#[test]
fn a_port_in_use_is_a_one_line_error_that_says_what_to_do() {
    let home = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let args = ["devnet", "up", "--port", &port];
    let message = one_line_failure(&decloud(home.path(), &args), &args);
    assert!(
        message.contains("already in use") && message.contains("--port"),
        "{message}"
    );
    assert!(
        !home.path().join("chain.toml").exists(),
        "nothing is written on failure"
    );
}

#[test]
fn a_bad_rpc_is_a_one_line_error_that_says_what_to_do() {
    let home = tempfile::tempdir().unwrap();
    // Nothing listens on a port we just released.
    let dead = format!("http://127.0.0.1:{}", free_port());
    for args in [
        vec!["devnet", "status", "--rpc", dead.as_str()],
        vec!["devnet", "up", "--rpc", dead.as_str()],
        vec!["devnet", "up", "--rpc", "not a url"],
    ] {
        let message = one_line_failure(&decloud(home.path(), &args), &args);
        assert!(
            message.contains("--rpc") || message.contains("expected something like"),
            "{args:?}: {message}"
        );
    }
    assert!(!home.path().join("chain.toml").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn fund_gives_a_new_account_ether_and_tokens() {
    use alloy::primitives::{Address, U256};
    use alloy::providers::Provider;
    use decloud_chain::contracts::DevToken;

    let devnet = decloud_testkit::Devnet::start().await.unwrap();
    let fresh = Address::repeat_byte(0x42);
    let out = decloud(
        devnet.home(),
        &[
            "devnet",
            "fund",
            &fresh.to_string(),
            "--ether",
            "3",
            "--tokens",
            "250",
        ],
    );
    let funded = succeeded(&out).unwrap();
    assert!(funded.contains("250 DCT"), "{funded}");
    let provider = devnet.provider(0);
    let wei = provider.get_balance(fresh).await.unwrap();
    assert_eq!(wei, U256::from(3) * U256::from(10u64).pow(U256::from(18)));
    let token = DevToken::new(devnet.profile().contracts.token, &provider);
    assert_eq!(
        token.balanceOf(fresh).call().await.unwrap(),
        U256::from(250_000_000_000u64)
    );

    // Over the faucet's limit: refused by the command line, nothing minted.
    let out = decloud(
        devnet.home(),
        &["devnet", "fund", &fresh.to_string(), "--tokens", "2000000"],
    );
    assert!(!out.status.success());
    assert_eq!(
        token.balanceOf(fresh).call().await.unwrap(),
        U256::from(250_000_000_000u64)
    );
    // Not an address.
    let out = decloud(devnet.home(), &["devnet", "fund", "0x1234"]);
    assert!(!out.status.success());
}
