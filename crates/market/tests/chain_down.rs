//! A market whose chain stops answering says so (503, naming the chain), never blames the
//! order with a 4xx, and stores nothing.

use std::time::Duration;

use alloy::primitives::{B256, U256};
use decloud_market::MarketConfig;
use decloud_protocol::order::{AppOrder, Domain, Order, RequestOrder};
use decloud_testkit::{Devnet, fixtures};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn a_market_whose_chain_is_down_answers_503_and_stores_nothing() {
    let devnet = Devnet::start().await.unwrap();
    let app = fixtures::register_order_app(&devnet, 1, "greeting")
        .await
        .unwrap();
    let profile = devnet.profile().clone();
    let domain = Domain::new(profile.chain_id, profile.contracts.hub);
    let db = tempfile::tempdir().unwrap();
    let market = decloud_market::start(MarketConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: format!("sqlite://{}", db.path().join("market.db").display()),
        profile: profile.clone(),
        follow_interval: Duration::from_secs(3600),
    })
    .await
    .unwrap();

    let mut app_order = AppOrder {
        app,
        app_price: U256::from(10),
        volume: 5,
        salt: B256::repeat_byte(1),
        ..AppOrder::default()
    };
    let app_hash = app_order.sign_with(&devnet.signer(1), &domain).unwrap();
    let mut request = RequestOrder {
        app,
        requester: devnet.signer(2).address(),
        volume: 1,
        salt: B256::repeat_byte(2),
        ..RequestOrder::default()
    };
    let request_hash = request.sign_with(&devnet.signer(2), &domain).unwrap();

    // The chain goes away: anvil is stopped.
    let rpc = devnet.rpc_url().to_string();
    drop(devnet);

    let http = reqwest::Client::new();
    for (kind, order, hash) in [
        ("app", serde_json::to_value(&app_order).unwrap(), app_hash),
        (
            "request",
            serde_json::to_value(&request).unwrap(),
            request_hash,
        ),
    ] {
        let response = http
            .post(format!("{}/v1/orders", market.url()))
            .json(&json!({ "kind": kind, "order": order }))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 503, "{kind} order: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(
            error.starts_with(&format!("the chain at {rpc} does not answer")),
            "{kind} order: {error}"
        );
        assert!(!error.contains("not registered"), "{error}");

        let stored = http
            .get(format!("{}/v1/orders/{hash}", market.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(
            stored.status().as_u16(),
            404,
            "the {kind} order was not stored"
        );
    }
}
