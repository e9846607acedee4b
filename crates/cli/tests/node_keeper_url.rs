//! `decloud node --keeper --public-url URL` as a process on a devnet: a URL the keeper registry
//! would refuse stops the node before it starts, in one line; a good one is published at start
//! with the node's own TLS pin added; a restart finds it on chain and sends nothing.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::{Cli, PASSWORD};
use decloud_chain::client::Client;
use decloud_chain::keeper_registry;
use decloud_testkit::Devnet;

/// Kills the node however the test ends.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `decloud node --keeper --public-url URL` as wallet "keeper"; its first two lines (the
/// URL it serves on, what it did with the public URL).
fn keeper_node(devnet: &Devnet, public_url: &str) -> (Node, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_decloud"))
        .args([
            "node",
            "--keeper",
            "--sms-listen",
            "127.0.0.1:0",
            "--public-url",
            public_url,
            "--wallet",
            "keeper",
        ])
        .env("DECLOUD_HOME", devnet.home())
        .env("DECLOUD_WALLET_PASSWORD", PASSWORD)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let node = Node(child);
    let served = lines.next().unwrap().unwrap();
    let published = lines.next().unwrap().unwrap();
    (node, served, published)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_keeper_publishes_its_url_at_start_once() {
    let devnet = Devnet::start().await.unwrap();
    let cli = Cli::new(devnet.home(), "http://127.0.0.1:1");
    let keeper = cli.import("keeper", 8);

    let refused = cli.fails(&[
        "node",
        "--keeper",
        "--sms-listen",
        "127.0.0.1:0",
        "--public-url",
        "http://keeper.example:7651",
        "--wallet",
        "keeper",
    ]);
    assert!(
        refused.contains("--public-url") && refused.contains("https"),
        "{refused}"
    );

    let (node, served, published) = keeper_node(&devnet, "https://keeper.example:7651");
    let pin = served.split_once('#').map(|(_, pin)| pin).unwrap();
    let expected = format!("https://keeper.example:7651#{pin}");
    assert!(
        published.contains(&format!("published {expected} as keeper {keeper}'s URL")),
        "{published}"
    );
    let chain = Client::connect(devnet.profile(), None, None).await.unwrap();
    assert_eq!(
        keeper_registry::url_of(&chain, keeper)
            .await
            .unwrap()
            .as_deref(),
        Some(expected.as_str())
    );
    drop(node);

    // Restarted (same TLS key, same pin): the URL is on chain already, nothing is sent.
    let (_node, _, again) = keeper_node(&devnet, "https://keeper.example:7651");
    assert!(again.contains("on chain already"), "{again}");
    let listed = cli.json(&["keeper", "list"]);
    assert_eq!(listed["keepers"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["keepers"][0]["url"], expected.as_str(), "{listed}");
    assert_eq!(
        listed["keepers"][0]["active"], false,
        "not a staked attester: {listed}"
    );
}
