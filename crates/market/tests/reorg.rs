//! The market's chain follower through a reorg, driven by hand: an order cancelled on chain in
//! a block the chain then drops is open again in the book.

use alloy::primitives::{B256, U256};
use alloy::providers::Provider;
use decloud_chain::contracts::IHub;
use decloud_market::check::ChainChecker;
use decloud_market::{OrderBook, OrderStatus, follower};
use decloud_protocol::order::{AppOrder, Domain, Order};
use decloud_testkit::market::IdleMarket;
use decloud_testkit::{Devnet, anvil, fixtures, pool};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_cancelled_in_an_orphaned_block_is_open_again() {
    let devnet = Devnet::start().await.unwrap();
    let profile = devnet.profile().clone();
    let owner = devnet.signer(1);
    // Account 1 registers an app.
    let app = fixtures::register_order_app(&devnet, 1, "greeting")
        .await
        .unwrap();

    let market = IdleMarket::start(&devnet).await.unwrap();
    let domain = Domain::new(profile.chain_id, profile.contracts.hub);
    let mut order = AppOrder {
        app,
        app_price: U256::from(10),
        volume: 5,
        salt: B256::repeat_byte(1),
        ..AppOrder::default()
    };
    let hash = order.sign_with(&owner, &domain).unwrap();
    let response = market
        .http_client()
        .unwrap()
        .post(format!("{}/v1/orders", market.base_url()))
        .json(&json!({ "kind": "app", "order": order }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);

    let book = market.book().await.unwrap();
    let checker = ChainChecker::new(profile.clone()).unwrap();
    let status = |book: &OrderBook| {
        let book = book.clone();
        async move { book.get(hash).await.unwrap().unwrap().status }
    };
    follower::follow_once(&book, &checker).await.unwrap();
    assert_eq!(status(&book).await, OrderStatus::Open);

    // The owner voids the order on chain, in a block the chain will drop.
    let snapshot = anvil::snapshot(&devnet).await.unwrap();
    let hub = IHub::new(profile.contracts.hub, devnet.provider(1));
    let void = hub.manageAppOrder((&order).into(), true);
    pool::send_as(
        &devnet,
        1,
        "voiding the order",
        void.into_transaction_request(),
    )
    .await
    .unwrap();
    follower::follow_once(&book, &checker).await.unwrap();
    assert_eq!(status(&book).await, OrderStatus::Cancelled);

    // The chain forgets the cancellation and grows past the old head.
    anvil::reorg(&devnet, snapshot, 3).await.unwrap();
    let head = devnet.provider(0).get_block_number().await.unwrap();
    assert_eq!(follower::follow_once(&book, &checker).await.unwrap(), head);
    assert_eq!(
        status(&book).await,
        OrderStatus::Open,
        "an order cancelled by a dropped block stayed cancelled"
    );
    // A reopened book resumes from the stored cursor: nothing more to undo.
    let reopened = market.book().await.unwrap();
    assert_eq!(
        follower::follow_once(&reopened, &checker).await.unwrap(),
        head
    );
    assert_eq!(status(&reopened).await, OrderStatus::Open);
}
