//! `decloud wallet` and `decloud account` through the real binary, against a devnet, with their
//! error paths: wrong password, missing wallet, insufficient balance or tokens, unreachable RPC.

use std::path::Path;
use std::process::{Command, Output};

use decloud_testkit::Devnet;
use serde_json::Value;

/// anvil's well-known dev key 4 (funded with devnet tokens by the testkit).
const DEV_KEY_4: &str = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a";
const DEV_ADDRESS_4: &str = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65";

fn decloud(home: &Path, password: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_decloud"));
    cmd.args(args)
        .env("DECLOUD_HOME", home)
        .env_remove("DECLOUD_WALLET")
        .env_remove("DECLOUD_RPC")
        .env_remove("DECLOUD_WALLET_PASSWORD_FILE")
        .stdin(std::process::Stdio::null());
    match password {
        Some(p) => cmd.env("DECLOUD_WALLET_PASSWORD", p),
        None => cmd.env_remove("DECLOUD_WALLET_PASSWORD"),
    };
    cmd.output().expect("the decloud binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "command failed: {}", stderr(out));
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}

/// A failure with a one-line message containing every `needle`.
fn fails_with(out: &Output, needles: &[&str]) {
    assert!(
        !out.status.success(),
        "expected a failure, got: {}",
        stdout(out)
    );
    let err = stderr(out);
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
}

#[test]
fn wallet_create_import_show_and_their_errors() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();

    let created = json(&decloud(
        home,
        Some("pw1"),
        &["wallet", "create", "--name", "alice", "--json"],
    ));
    let alice = created["address"].as_str().unwrap().to_string();
    assert!(home.join("wallets/alice.json").is_file());
    let shown = json(&decloud(
        home,
        None,
        &["wallet", "show", "--wallet", "alice", "--json"],
    ));
    assert_eq!(shown["address"].as_str().unwrap(), alice);
    // by path, too
    let path = home.join("wallets/alice.json");
    let by_path = json(&decloud(
        home,
        None,
        &[
            "wallet",
            "show",
            "--wallet",
            path.to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(by_path["address"], shown["address"]);

    // a key from a file
    let key_file = home.join("key.txt");
    std::fs::write(&key_file, format!("{DEV_KEY_4}\n")).unwrap();
    let pw_file = home.join("pw.txt");
    std::fs::write(&pw_file, "pw2\n").unwrap();
    let imported = json(&decloud(
        home,
        None,
        &[
            "wallet",
            "import",
            "--name",
            "dev4",
            "--key-file",
            key_file.to_str().unwrap(),
            "--password-file",
            pw_file.to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(
        imported["address"].as_str().unwrap().to_lowercase(),
        DEV_ADDRESS_4.to_lowercase()
    );

    let all = json(&decloud(home, None, &["wallet", "show", "--all", "--json"]));
    assert_eq!(all.as_array().unwrap().len(), 2);
    let human = decloud(home, None, &["wallet", "show", "--wallet", "dev4"]);
    assert!(stdout(&human).contains(DEV_ADDRESS_4), "{}", stdout(&human));

    // errors
    fails_with(
        &decloud(home, Some("pw"), &["wallet", "create", "--name", "alice"]),
        &["exists already"],
    );
    fails_with(
        &decloud(home, None, &["wallet", "show", "--wallet", "bob"]),
        &["no wallet", "decloud wallet create"],
    );
    fails_with(
        &decloud(
            home,
            Some("pw"),
            &["wallet", "import", "--name", "bad", "0x1234"],
        ),
        &["invalid private key"],
    );
    fails_with(
        &decloud(home, None, &["wallet", "create", "--name", "nopw"]),
        &["DECLOUD_WALLET_PASSWORD", "--password-file"],
    );
    fails_with(
        &decloud(home, Some("pw"), &["wallet", "create", "--name", "../evil"]),
        &["invalid wallet name"],
    );
    assert!(!home.join("wallets/nopw.json").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn account_deposit_withdraw_show_and_their_errors() {
    let devnet = Devnet::start().await.unwrap();
    let home = devnet.home().to_path_buf();
    let home = home.as_path();
    let rpc = devnet.rpc_url().to_string();
    let out = decloud(
        home,
        Some("pw"),
        &["wallet", "import", "--name", "req", DEV_KEY_4],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // `show` needs no password.
    let before = json(&decloud(
        home,
        None,
        &["account", "show", "--wallet", "req", "--json"],
    ));
    assert_eq!(before["balance"], "0");
    assert_eq!(before["frozen"], "0");
    let tokens: u128 = before["wallet_tokens"].as_str().unwrap().parse().unwrap();
    assert!(tokens >= 5_000_000_000);

    let dep = json(&decloud(
        home,
        Some("pw"),
        &["account", "deposit", "5DCT", "--wallet", "req", "--json"],
    ));
    assert_eq!(dep["balance"], "5000000000");
    assert_eq!(dep["amount"], "5000000000");
    assert!(dep["transaction"].as_str().unwrap().starts_with("0x"));

    let wd = json(&decloud(
        home,
        Some("pw"),
        &[
            "account",
            "withdraw",
            "1500000000",
            "--wallet",
            "req",
            "--json",
        ],
    ));
    assert_eq!(wd["balance"], "3500000000");
    let shown = json(&decloud(
        home,
        None,
        &["account", "show", "--address", DEV_ADDRESS_4, "--json"],
    ));
    assert_eq!(shown["balance"], "3500000000");
    let human = decloud(home, None, &["account", "show", "--wallet", "req"]);
    assert!(stdout(&human).contains("3.5 DCT"), "{}", stdout(&human));

    // Errors, each one line naming the fix.
    fails_with(
        &decloud(
            home,
            Some("wrong"),
            &["account", "deposit", "1DCT", "--wallet", "req"],
        ),
        &["wrong password", "DECLOUD_WALLET_PASSWORD"],
    );
    fails_with(
        &decloud(
            home,
            Some("pw"),
            &["account", "withdraw", "100DCT", "--wallet", "req"],
        ),
        &["insufficient balance", "3.5 DCT", "withdraw all"],
    );
    let out = decloud(home, Some("pw"), &["wallet", "create", "--name", "empty"]);
    assert!(out.status.success(), "{}", stderr(&out));
    fails_with(
        &decloud(
            home,
            Some("pw"),
            &["account", "deposit", "1DCT", "--wallet", "empty"],
        ),
        &["insufficient tokens"],
    );
    fails_with(
        &decloud(
            home,
            Some("pw"),
            &["account", "withdraw", "all", "--wallet", "empty"],
        ),
        &["nothing to withdraw"],
    );
    fails_with(
        &decloud(
            home,
            None,
            &[
                "account",
                "show",
                "--wallet",
                "req",
                "--rpc",
                "http://127.0.0.1:1",
            ],
        ),
        &["cannot reach the chain", "--rpc", "decloud devnet up"],
    );
    fails_with(
        &decloud(
            home,
            Some("pw"),
            &["account", "deposit", "1.5", "--wallet", "req"],
        ),
        &["invalid amount", "DCT"],
    );
    fails_with(
        &decloud(
            home,
            Some("pw"),
            &["account", "deposit", "1DCT", "--wallet", "nobody"],
        ),
        &["no wallet"],
    );

    // withdraw all empties the free balance.
    let all = json(&decloud(
        home,
        Some("pw"),
        &[
            "account", "withdraw", "all", "--wallet", "req", "--rpc", &rpc, "--json",
        ],
    ));
    assert_eq!(all["balance"], "0");
    assert_eq!(all["amount"], "3500000000");
}
