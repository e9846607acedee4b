//! `decloud chain add | list | show | use | remove` through the real binary against a devnet:
//! a profile is built from the RPC endpoint and the hub, a mismatch is refused in one line, and
//! the active profile switches.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use alloy::primitives::Address;
use common::one_line_failure;
use decloud_testkit::Devnet;
use decloud_testkit::fixtures::{json_output, succeeded};

fn decloud(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_decloud"))
        .args(args)
        .env("DECLOUD_HOME", home)
        .output()
        .expect("the decloud binary runs")
}

/// Runs `decloud args` expecting a one-line failure, and returns it.
fn fails(home: &Path, args: &[&str]) -> String {
    one_line_failure(&decloud(home, args), args)
}

#[tokio::test]
async fn a_chain_is_added_from_its_rpc_and_hub_and_becomes_the_active_one() {
    let devnet = Devnet::start().await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let hub = devnet.profile().contracts.hub.to_string();
    // The URL carries a key (as a user part, which anvil ignores): never shown.
    let rpc = devnet
        .rpc_url()
        .replacen("http://", "http://user:SECRETKEY@", 1);

    // Another chain id than the endpoint's: refused, nothing written.
    let err = fails(
        home,
        &[
            "chain",
            "add",
            "lab",
            "--rpc",
            &rpc,
            "--hub",
            &hub,
            "--chain-id",
            "1",
        ],
    );
    assert!(err.contains("serves chain 31337, not 1"), "{err}");
    assert!(!err.contains("SECRETKEY"), "{err}");
    assert!(!home.join("chains/lab.toml").exists());
    // No hub at that address: refused.
    let not_hub = devnet.profile().admin.to_string();
    let err = fails(
        home,
        &["chain", "add", "lab", "--rpc", &rpc, "--hub", &not_hub],
    );
    assert!(err.contains("--hub"), "{err}");
    // A bad name: refused.
    let err = fails(
        home,
        &["chain", "add", "../x", "--rpc", &rpc, "--hub", &hub],
    );
    assert!(err.contains("not a profile name"), "{err}");

    let out = decloud(
        home,
        &[
            "chain",
            "add",
            "lab",
            "--rpc",
            &rpc,
            "--hub",
            &hub,
            "--chain-id",
            "31337",
            "--max-log-range",
            "500",
            "--max-fee-gwei",
            "3",
            "--json",
        ],
    );
    let added = json_output(&out).unwrap();
    assert_eq!(added["active"], true, "the first profile becomes active");
    let profile = &added["profile"];
    assert_eq!(profile["chain_id"], 31337);
    let expected = &devnet.profile().contracts;
    let address_of = |field: &str| -> Address {
        profile["contracts"][field]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        address_of("workerpool_registry"),
        expected.workerpool_registry
    );
    assert_eq!(address_of("token"), expected.token);
    // The registries are deployed before the hub: following starts at the first of them.
    let first = profile["deployment_block"].as_u64().unwrap();
    assert!(
        first >= devnet.profile().deployment_block && first > 0,
        "{profile}"
    );
    assert_eq!(profile["limits"]["max_log_range"], 500);
    assert_eq!(profile["limits"]["max_fee_per_gas_wei"], "3000000000");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("SECRETKEY"));

    // Same name again: refused without --force.
    let err = fails(home, &["chain", "add", "lab", "--rpc", &rpc, "--hub", &hub]);
    assert!(err.contains("--force"), "{err}");

    // A second one, then switch, list, show, remove.
    let out = decloud(
        home,
        &["chain", "add", "other", "--rpc", &rpc, "--hub", &hub],
    );
    let text = succeeded(&out).unwrap();
    assert!(text.contains("decloud chain use other"), "{text}");
    let list = json_output(&decloud(home, &["chain", "list", "--json"])).unwrap();
    let names: Vec<(String, bool)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["active"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(names, [("lab".into(), true), ("other".into(), false)]);
    succeeded(&decloud(home, &["chain", "use", "other"])).unwrap();
    let shown = json_output(&decloud(home, &["chain", "show", "--json"])).unwrap();
    assert_eq!(shown["name"], "other");
    assert_eq!(shown["limits"]["max_log_range"], 2000);
    // Other commands read the active profile: the categories come from this chain.
    succeeded(&decloud(home, &["category", "list"])).unwrap();
    let err = fails(home, &["chain", "remove", "other"]);
    assert!(err.contains("active"), "{err}");
    succeeded(&decloud(home, &["chain", "remove", "lab"])).unwrap();
    fails(home, &["chain", "use", "lab"]);
    let text = succeeded(&decloud(home, &["chain", "show"])).unwrap();
    assert!(!text.contains("SECRETKEY"), "{text}");
    assert!(text.contains("devnet:      yes"), "{text}");
}
