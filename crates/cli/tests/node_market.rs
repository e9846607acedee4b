//! `decloud node --market`: the order book served from the chain profile under `$DECLOUD_HOME`,
//! its data kept across a restart.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use decloud_testkit::Devnet;

/// Kills the node when the test ends, however it ends.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `decloud node --market` on a free port and returns it with its URL.
fn start_market(home: &std::path::Path) -> (Node, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_decloud"))
        .args(["node", "--market", "--market-listen", "127.0.0.1:0"])
        .env("DECLOUD_HOME", home)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start decloud node");
    let stdout = child.stdout.take().unwrap();
    let node = Node(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .split(" on ")
        .nth(1)
        .expect("the node prints its address")
        .trim()
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    (node, url)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_market_node_serves_the_book_of_the_profiled_chain() {
    let devnet = Devnet::start().await.unwrap();
    let (node, url) = start_market(devnet.home());
    let http = reqwest::Client::new();
    let health = http.get(format!("{url}/health")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let page: serde_json::Value = http
        .get(format!("{url}/v1/orderbook/workerpool"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["orders"], serde_json::json!([]));
    // The database lives under the home, so a restarted node finds it again.
    drop(node);
    assert!(devnet.home().join("market/orders.db").is_file());
    let (_node, url) = start_market(devnet.home());
    let health = http.get(format!("{url}/health")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

#[test]
fn the_market_node_without_a_profile_says_how_to_get_one() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_decloud"))
        .args(["node", "--market", "--market-listen", "127.0.0.1:0"])
        .env("DECLOUD_HOME", home.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let message = String::from_utf8_lossy(&out.stderr);
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    assert!(message.contains("decloud devnet up"), "{message}");
}
