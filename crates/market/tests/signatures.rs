//! The market accepts exactly the signatures the hub accepts: a copy of someone's signed order
//! whose signature the hub would refuse (v lowered by 27, an EIP-155 v) is refused with a
//! one-line reason and stores nothing, so the owner's own publish of the order still goes in.
//! (`crates/chain/tests/signatures_on_chain.rs` compares the check itself with the hub's on
//! random signatures.)

use alloy::primitives::{B256, Bytes, U256};
use decloud_protocol::order::{AppOrder, Domain, Order};
use decloud_testkit::market::IdleMarket;
use decloud_testkit::{Devnet, fixtures};
use serde_json::{Value, json};

async fn publish(http: &reqwest::Client, market: &IdleMarket, order: &AppOrder) -> (u16, Value) {
    let response = http
        .post(format!("{}/v1/orders", market.url()))
        .json(&json!({ "kind": "app", "order": order }))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_the_hub_would_refuse_does_not_block_the_owners_order() {
    let devnet = Devnet::start().await.unwrap();
    let app = fixtures::register_order_app(&devnet, 1, "greeting")
        .await
        .unwrap();
    let market = IdleMarket::start(&devnet).await.unwrap();
    let http = reqwest::Client::new();
    let domain = Domain::new(devnet.profile().chain_id, devnet.profile().contracts.hub);
    let mut order = AppOrder {
        app,
        app_price: U256::from(1_000u64),
        volume: 5,
        salt: B256::repeat_byte(7),
        ..AppOrder::default()
    };
    let hash = order.sign_with(&devnet.signer(1), &domain).unwrap();
    let good = order.sign.clone();

    for v in [good[64] - 27, good[64] + 8] {
        let mut copy = order.clone();
        let mut bytes = good.to_vec();
        bytes[64] = v;
        copy.sign = Bytes::from(bytes);
        let (status, body) = publish(&http, &market, &copy).await;
        assert_eq!(status, 400, "v = {v}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(
            error.contains(&format!("v = {v}"))
                && error.contains("27 or 28")
                && !error.contains('\n'),
            "{error}"
        );
    }
    let (status, _) = http_get(&http, &market, hash).await;
    assert_eq!(status, 404, "a refused copy stores nothing");

    let (status, body) = publish(&http, &market, &order).await;
    assert_eq!(status, 201, "the owner's order goes in: {body}");
    let (status, stored) = http_get(&http, &market, hash).await;
    assert_eq!(status, 200);
    assert_eq!(stored["order"]["sign"], json!(good.to_string()), "{stored}");
}

async fn http_get(http: &reqwest::Client, market: &IdleMarket, hash: B256) -> (u16, Value) {
    let response = http
        .get(format!("{}/v1/orders/{hash}", market.url()))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}
