//! The market's chain follower through a reorg, driven by hand: an order cancelled on chain in
//! a block the chain then drops is open again in the book.

use std::time::Duration;

use alloy::primitives::{B256, U256};
use alloy::providers::Provider;
use decloud_chain::contracts::IHub;
use decloud_market::check::ChainChecker;
use decloud_market::{MarketConfig, OrderBook, OrderStatus, follower};
use decloud_protocol::order::{AppOrder, Domain, Order};
use decloud_testkit::{Devnet, fixtures};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_cancelled_in_an_orphaned_block_is_open_again() {
    let devnet = Devnet::start().await.unwrap();
    let profile = devnet.profile().clone();
    let owner = devnet.signer(1);
    // Account 1 registers an app.
    let app = fixtures::register_order_app(&devnet, 1, "greeting")
        .await
        .unwrap();

    let db = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", db.path().join("market.db").display());
    let market = decloud_market::start(MarketConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: url.clone(),
        profile: profile.clone(),
        // The test drives the follower by hand.
        follow_interval: Duration::from_secs(3600),
    })
    .await
    .unwrap();
    let domain = Domain::new(profile.chain_id, profile.contracts.hub);
    let mut order = AppOrder {
        app,
        app_price: U256::from(10),
        volume: 5,
        salt: B256::repeat_byte(1),
        ..AppOrder::default()
    };
    let hash = order.sign_with(&owner, &domain).unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/v1/orders", market.url()))
        .json(&json!({ "kind": "app", "order": order }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);

    let book = OrderBook::open(&url).await.unwrap();
    let checker = ChainChecker::new(profile.clone()).unwrap();
    let status = |book: &OrderBook| {
        let book = book.clone();
        async move { book.get(hash).await.unwrap().unwrap().status }
    };
    follower::follow_once(&book, &checker).await.unwrap();
    assert_eq!(status(&book).await, OrderStatus::Open);

    // The owner voids the order on chain, in a block the chain will drop.
    let provider = devnet.provider(0);
    let snapshot: U256 = provider
        .raw_request("evm_snapshot".into(), ())
        .await
        .unwrap();
    IHub::new(profile.contracts.hub, devnet.provider(1))
        .manageAppOrder(
            IHub::AppOrder {
                app: order.app,
                appprice: order.app_price,
                volume: U256::from(order.volume),
                tag: order.tag.0,
                datasetrestrict: order.dataset_restrict,
                workerpoolrestrict: order.workerpool_restrict,
                requesterrestrict: order.requester_restrict,
                expiry: U256::from(order.expiry),
                salt: order.salt,
                sign: order.sign.clone(),
            },
            true,
        )
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    follower::follow_once(&book, &checker).await.unwrap();
    assert_eq!(status(&book).await, OrderStatus::Cancelled);

    // The chain forgets the cancellation and grows past the old head.
    let reverted: bool = provider
        .raw_request("evm_revert".into(), (snapshot,))
        .await
        .unwrap();
    assert!(reverted);
    for _ in 0..3 {
        let _: Value = provider.raw_request("evm_mine".into(), ()).await.unwrap();
    }
    let head = provider.get_block_number().await.unwrap();
    assert_eq!(follower::follow_once(&book, &checker).await.unwrap(), head);
    assert_eq!(
        status(&book).await,
        OrderStatus::Open,
        "an order cancelled by a dropped block stayed cancelled"
    );
    // A reopened book resumes from the stored cursor: nothing more to undo.
    let reopened = OrderBook::open(&url).await.unwrap();
    assert_eq!(
        follower::follow_once(&reopened, &checker).await.unwrap(),
        head
    );
    assert_eq!(status(&reopened).await, OrderStatus::Open);
}
