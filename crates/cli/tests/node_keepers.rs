//! `decloud node --keeper` and `decloud secret push --keepers`: three keeper processes of the real
//! binary on one devnet, each registered as an attester at start; a requester's secret split
//! 2-of-3 among them lands as one share per keeper, none of which holds the value; a whole
//! secret pushed to one keeper is refused in one line.

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use common::{Cli, PASSWORD};
use decloud_protocol::tee::SecretKind;
use decloud_sms::SmsClient;
use decloud_testkit::Devnet;
use decloud_testkit::confidential::files_containing;
use decloud_testkit::fixtures::start_service;

const VALUE: &str = "sk-live-keepers-7c41d2";

#[tokio::test(flavor = "multi_thread")]
async fn keepers_started_by_the_cli_each_hold_only_their_share() {
    let devnet = Devnet::start().await.unwrap();
    let mut cli = Cli::new(devnet.home(), "");
    cli.market = String::new();
    let owner = cli.import("default", 4);
    let data = tempfile::tempdir().unwrap();
    let mut keepers = Vec::new();
    for (i, name) in ["k1", "k2", "k3"].iter().enumerate() {
        cli.import(name, 5 + i);
        let db = format!(
            "sqlite://{}",
            data.path().join(format!("{name}.db")).display()
        );
        let (node, url) = start_service(
            Command::new(env!("CARGO_BIN_EXE_decloud"))
                .args([
                    "node",
                    "--keeper",
                    "--sms-listen",
                    "127.0.0.1:0",
                    "--sms-db",
                    &db,
                    "--wallet",
                    name,
                    "--attester-stake",
                    "100DCT",
                ])
                .env("DECLOUD_HOME", devnet.home())
                .env("DECLOUD_WALLET_PASSWORD", PASSWORD),
        )
        .unwrap();
        keepers.push((node, url));
    }
    let urls: Vec<String> = keepers.iter().map(|(_, u)| u.clone()).collect();
    for url in &urls {
        let sms = SmsClient::new(url).unwrap();
        assert!(sms.info().await.unwrap().keeper, "{url} is not a keeper");
        let health = sms.health().await.unwrap();
        assert!(
            health.contains("registered: its attestations count"),
            "{health}"
        );
    }

    let push = |args: &[&str], sms: Option<&str>| {
        let mut command = cli.command(args);
        if let Some(sms) = sms {
            command.env("DECLOUD_SMS", sms);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(VALUE.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let list = urls.join(",");
    let out = push(
        &[
            "secret",
            "push",
            "api-token",
            "--stdin",
            "--keepers",
            &list,
            "--threshold",
            "2",
        ],
        None,
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("split 2-of-3 among keepers, each holds only its share"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("  share ").count(), 3, "{stdout}");
    assert!(!stdout.contains(VALUE) && !stderr.contains(VALUE));

    // The effect: each keeper holds version 1 of the secret, and no keeper's files the value.
    for url in &urls {
        let shown = SmsClient::new(url)
            .unwrap()
            .show(SecretKind::RequesterSecret, owner, "api-token")
            .await
            .unwrap();
        assert!(shown.exists && shown.version == Some(1), "{url}: {shown:?}");
    }
    let leaked = files_containing(data.path(), VALUE.as_bytes());
    assert!(leaked.is_empty(), "keeper files hold the value: {leaked:?}");

    // A whole secret sent to one keeper: refused in one line, nothing stored.
    let out = push(&["secret", "push", "whole", "--stdin"], Some(&urls[0]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("holds only shares")
            && err.trim().lines().count() == 1,
        "{err}"
    );
    let whole = SmsClient::new(&urls[0])
        .unwrap()
        .show(SecretKind::RequesterSecret, owner, "whole")
        .await
        .unwrap();
    assert!(!whole.exists, "{whole:?}");
}
