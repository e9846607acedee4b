//! `decloud node --market`: the order book served from the chain profile under `$DECLOUD_HOME`,
//! its data kept across a restart.

use std::process::Command;

use alloy::primitives::{B256, U256};
use decloud_protocol::order::{AppOrder, Domain, Order};
use decloud_testkit::Devnet;
use decloud_testkit::fixtures::{self, Service, start_service};
use serde_json::{Value, json};

/// Starts `decloud node --market` on a free port and returns it with its URL.
fn start_market(home: &std::path::Path) -> (Service, String) {
    let (node, url) = start_service(
        Command::new(env!("CARGO_BIN_EXE_decloud"))
            .args(["node", "--market", "--market-listen", "127.0.0.1:0"])
            .env("DECLOUD_HOME", home),
    )
    .unwrap();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    assert!(
        url.contains("#sha256:"),
        "the market announces its key: {url}"
    );
    (node, url)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_market_node_serves_the_book_of_the_profiled_chain() {
    let devnet = Devnet::start().await.unwrap();
    let (node, pinned) = start_market(devnet.home());
    let (url, http) = decloud_service::transport::api_client(&pinned).unwrap();
    let health = http.get(format!("{url}/health")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(book(&http, &url, "workerpool").await, json!([]));

    // Publish two app orders of a registered app, so the restart has something to lose.
    let app = fixtures::register_order_app(&devnet, 1, "greeting")
        .await
        .unwrap();
    let domain = Domain::new(devnet.profile().chain_id, devnet.profile().contracts.hub);
    let mut published = Vec::new();
    for (price, salt) in [(10u64, 1u8), (30, 2)] {
        let mut order = AppOrder {
            app,
            app_price: U256::from(price),
            volume: 5,
            salt: B256::repeat_byte(salt),
            ..AppOrder::default()
        };
        let hash = order.sign_with(&devnet.signer(1), &domain).unwrap();
        let response = http
            .post(format!("{url}/v1/orders"))
            .json(&json!({ "kind": "app", "order": order }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        published.push(hash.to_string());
    }
    published.sort();
    assert_eq!(hashes(&book(&http, &url, "app").await), published);

    // The database lives under the home, so a restarted node serves the same book.
    drop(node);
    assert!(devnet.home().join("market/orders.db").is_file());
    let (_node, pinned_again) = start_market(devnet.home());
    let (url, _) = decloud_service::transport::api_client(&pinned_again).unwrap();
    // The key is kept: clients pinned to the first start still reach it.
    assert_eq!(
        pinned_again.split('#').nth(1),
        pinned.split('#').nth(1),
        "the market's key changed across a restart"
    );
    let health = http.get(format!("{url}/health")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(hashes(&book(&http, &url, "app").await), published);
}

/// The orders of one kind the node lists.
async fn book(http: &reqwest::Client, url: &str, kind: &str) -> Value {
    let url = format!("{url}/v1/orderbook/{kind}");
    let page: Value = http.get(url).send().await.unwrap().json().await.unwrap();
    page["orders"].clone()
}

/// The sorted order hashes of a book page.
fn hashes(orders: &Value) -> Vec<String> {
    let mut hashes: Vec<String> = orders
        .as_array()
        .expect("a list of orders")
        .iter()
        .map(|o| o["hash"].as_str().expect("an order hash").to_owned())
        .collect();
    hashes.sort();
    hashes
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

#[test]
fn plain_http_is_refused_off_a_devnet_and_nothing_starts() {
    let home = tempfile::tempdir().unwrap();
    // A profile of another chain (id 1): no RPC call is needed to refuse.
    let profile = decloud_chain::ChainProfile {
        rpc_url: "http://127.0.0.1:9".into(),
        chain_id: 1,
        deployment_block: 0,
        admin: alloy::primitives::Address::ZERO,
        contracts: decloud_chain::deploy::Contracts::example(),
        name: None,
        devnet: None,
        beacon_url: None,
        limits: Default::default(),
    };
    profile.save(home.path()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_decloud"))
        .args([
            "node",
            "--market",
            "--market-listen",
            "127.0.0.1:0",
            "--insecure-http",
        ])
        .env("DECLOUD_HOME", home.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let message = String::from_utf8_lossy(&out.stderr);
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    assert!(message.contains("devnets only"), "{message}");
    assert!(
        !home.path().join("market").exists(),
        "nothing was created: {:?}",
        std::fs::read_dir(home.path()).unwrap().collect::<Vec<_>>()
    );
}
