//! The market over HTTP against a real devnet: publishing, refusals (signatures the hub would
//! refuse included), queries, cancellation, the chain follower, and a chain that stops
//! answering.

use alloy::primitives::{Address, B256, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use decloud_chain::contracts::IHub;
use decloud_market::{OrderStatus, api, follower};
use decloud_protocol::order::{AppOrder, Domain, Order, RequestOrder};
use decloud_testkit::market::IdleMarket;
use decloud_testkit::{Devnet, fixtures, pool};
use serde_json::{Value, json};

struct Setup {
    devnet: Devnet,
    market: IdleMarket,
    http: reqwest::Client,
    domain: Domain,
    app: Address,
    /// The app's owner (account 1).
    owner: PrivateKeySigner,
}

/// Account 1 owns an app; the market runs against the devnet (the tests drive its follower by
/// hand).
async fn setup() -> Setup {
    let devnet = Devnet::start().await.unwrap();
    let app = fixtures::register_order_app(&devnet, 1, "greeting")
        .await
        .unwrap();
    let market = IdleMarket::start(&devnet).await.unwrap();
    let http = market.http_client().unwrap();
    let domain = Domain::new(devnet.profile().chain_id, devnet.profile().contracts.hub);
    Setup {
        owner: devnet.signer(1),
        devnet,
        market,
        http,
        domain,
        app,
    }
}

impl Setup {
    fn app_order(&self, price: u64, salt: u8) -> AppOrder {
        AppOrder {
            app: self.app,
            app_price: U256::from(price),
            volume: 5,
            salt: B256::repeat_byte(salt),
            ..AppOrder::default()
        }
    }

    /// [`Setup::app_order`], signed by the app's owner; returns it and its hash.
    fn signed_app_order(&self, price: u64, salt: u8) -> (AppOrder, B256) {
        let mut order = self.app_order(price, salt);
        let hash = order.sign_with(&self.owner, &self.domain).unwrap();
        (order, hash)
    }

    async fn publish(&self, kind: &str, order: &impl serde::Serialize) -> (u16, Value) {
        self.market.publish(kind, order).await.unwrap()
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.market.get(path).await.unwrap()
    }
}

#[tokio::test]
async fn publish_query_and_refuse() {
    let s = setup().await;

    let (cheap, cheap_hash) = s.signed_app_order(10, 1);
    let (dear, _) = s.signed_app_order(30, 2);

    let (code, receipt) = s.publish("app", &dear).await;
    assert_eq!(code, 201, "{receipt}");
    let (code, receipt) = s.publish("app", &cheap).await;
    assert_eq!(code, 201, "{receipt}");
    assert_eq!(receipt["hash"], cheap_hash.to_string());
    assert_eq!(receipt["remaining"], 5);
    // Publishing twice is harmless.
    let (code, receipt) = s.publish("app", &cheap).await;
    assert_eq!((code, &receipt["created"]), (200, &json!(false)));

    let (code, page) = s
        .get(&format!("/v1/orderbook/app?resource={}", s.app))
        .await;
    assert_eq!(code, 200);
    let prices: Vec<u64> = page["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["price"].as_u64().unwrap())
        .collect();
    assert_eq!(prices, [10, 30], "cheapest first");
    let (code, one) = s.get(&format!("/v1/orders/{cheap_hash}")).await;
    assert_eq!(code, 200);
    assert_eq!(
        serde_json::from_value::<AppOrder>(one["order"].clone()).unwrap(),
        cheap
    );

    // Any field changed after signing: refused, naming the signer mismatch.
    let mut tampered = cheap.clone();
    tampered.app_price = U256::from(1);
    let (code, error) = s.publish("app", &tampered).await;
    assert_eq!(code, 400);
    assert!(
        error["error"].as_str().unwrap().contains("signed by"),
        "{error}"
    );

    // Signed by someone who does not own the app.
    let mut foreign = s.app_order(10, 3);
    foreign.sign_with(&s.devnet.signer(2), &s.domain).unwrap();
    let (code, error) = s.publish("app", &foreign).await;
    assert_eq!(code, 400, "{error}");

    // An app that is not registered.
    let mut ghost = s.app_order(10, 4);
    ghost.app = Address::repeat_byte(0x99);
    ghost.sign_with(&s.owner, &s.domain).unwrap();
    let (code, error) = s.publish("app", &ghost).await;
    assert_eq!(code, 400);
    assert!(
        error["error"].as_str().unwrap().contains("not registered"),
        "{error}"
    );

    // A requester with nothing in the escrow.
    let mut request = RequestOrder {
        app: s.app,
        app_max_price: U256::from(10),
        workerpool_max_price: U256::from(10),
        requester: s.devnet.signer(3).address(),
        volume: 1,
        ..RequestOrder::default()
    };
    request.sign_with(&s.devnet.signer(3), &s.domain).unwrap();
    let (code, error) = s.publish("request", &request).await;
    assert_eq!(code, 400);
    assert!(
        error["error"].as_str().unwrap().contains("deposit"),
        "{error}"
    );

    // Malformed input: unknown kind, a broken order, an unknown hash, an oversized body.
    let (code, _) = s.publish("banana", &cheap).await;
    assert_eq!(code, 400);
    let (code, error) = s.publish("app", &json!({ "app": "nope" })).await;
    assert_eq!(code, 400);
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("malformed app order"),
        "{error}"
    );
    let (code, _) = s.get(&format!("/v1/orders/{}", B256::repeat_byte(1))).await;
    assert_eq!(code, 404);
    let (code, _) = s.get("/v1/orders/0x1234").await;
    assert_eq!(code, 400);
    let huge = "x".repeat(api::MAX_BODY_BYTES + 1);
    let response = s
        .http
        .post(format!("{}/v1/orders", s.market.base_url()))
        .header("content-type", "application/json")
        .body(format!("{{\"kind\":\"app\",\"order\":\"{huge}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);

    // Nothing refused was stored.
    let (_, page) = s.get("/v1/orderbook/app?all=true").await;
    assert_eq!(page["orders"].as_array().unwrap().len(), 2);
    let (code, spec) = s.get("/openapi.json").await;
    assert_eq!(code, 200);
    assert!(spec["paths"]["/v1/orderbook/{kind}"].is_object());
}

#[tokio::test]
async fn cancellation_off_chain_and_on_chain() {
    let s = setup().await;
    let (withdrawn, withdrawn_hash) = s.signed_app_order(10, 1);
    let (voided, voided_hash) = s.signed_app_order(20, 2);
    assert_eq!(s.publish("app", &withdrawn).await.0, 201);
    assert_eq!(s.publish("app", &voided).await.0, 201);

    let profile = s.devnet.profile();
    let cancel = |signer: &PrivateKeySigner, deadline: u64| {
        let message = api::cancel_message(
            profile.chain_id,
            profile.contracts.hub,
            withdrawn_hash,
            deadline,
        );
        let signature = signer.sign_message_sync(message.as_bytes()).unwrap();
        json!({ "deadline": deadline, "signature": signature.to_string() })
    };
    let url = format!("{}/v1/orders/{withdrawn_hash}/cancel", s.market.base_url());
    let now = decloud_market::check::unix_now();
    // Someone else, or a deadline far in the future, is refused; then the owner cancels.
    let stranger = s.devnet.signer(2);
    for (signer, deadline, status) in [
        (&stranger, now + 60, 400),
        (&s.owner, now + 100_000, 400),
        (&s.owner, now + 60, 200),
    ] {
        let body = cancel(signer, deadline);
        let response = s.http.post(&url).json(&body).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{body}");
    }

    // The owner voids the other order on chain; the follower notices.
    let hub = IHub::new(profile.contracts.hub, s.devnet.provider(1));
    let void = hub.manageAppOrder((&voided).into(), true);
    pool::send_as(
        &s.devnet,
        1,
        "voiding the order",
        void.into_transaction_request(),
    )
    .await
    .unwrap();
    let book = s.market.book().await.unwrap();
    let checker = decloud_market::check::ChainChecker::new(profile.clone()).unwrap();
    follower::follow_once(&book, &checker).await.unwrap();
    let (_, one) = s.get(&format!("/v1/orders/{voided_hash}")).await;
    assert_eq!(one["status"], "cancelled");
    let (_, page) = s.get("/v1/orderbook/app").await;
    assert!(page["orders"].as_array().unwrap().is_empty(), "{page}");
    // Re-publishing a voided order is refused.
    let (code, error) = s.publish("app", &voided).await;
    assert_eq!(code, 400);
    assert!(
        error["error"].as_str().unwrap().contains("cancelled"),
        "{error}"
    );
    assert_eq!(
        book.get(withdrawn_hash).await.unwrap().unwrap().status,
        OrderStatus::Cancelled
    );
}

/// The market accepts exactly the signatures the hub accepts: a copy of someone's signed order
/// whose signature the hub would refuse (v lowered by 27, an EIP-155 v) is refused with a
/// one-line reason and stores nothing, so the owner's own publish still goes in
/// (`crates/chain/tests/signatures_on_chain.rs` compares the check with the hub's).
#[tokio::test(flavor = "multi_thread")]
async fn a_copy_the_hub_would_refuse_does_not_block_the_owners_order() {
    let s = setup().await;
    let (order, hash) = s.signed_app_order(1_000, 7);
    let good = order.sign.clone();
    for v in [good[64] - 27, good[64] + 8] {
        let mut copy = order.clone();
        let mut bytes = good.to_vec();
        bytes[64] = v;
        copy.sign = bytes.into();
        let (status, body) = s.publish("app", &copy).await;
        assert_eq!(status, 400, "v = {v}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(
            error.contains(&format!("v = {v}"))
                && error.contains("27 or 28")
                && !error.contains('\n'),
            "{error}"
        );
    }
    let (status, _) = s.get(&format!("/v1/orders/{hash}")).await;
    assert_eq!(status, 404, "a refused copy stores nothing");

    let (status, body) = s.publish("app", &order).await;
    assert_eq!(status, 201, "the owner's order goes in: {body}");
    let (status, stored) = s.get(&format!("/v1/orders/{hash}")).await;
    assert_eq!(status, 200);
    assert_eq!(stored["order"]["sign"], json!(good.to_string()), "{stored}");
}

/// A market whose chain stops answering says so (503, naming the chain), never blames the order
/// with a 4xx, and stores nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_market_whose_chain_is_down_answers_503_and_stores_nothing() {
    let s = setup().await;
    let (app_order, app_hash) = s.signed_app_order(10, 1);
    let requester = s.devnet.signer(2);
    let mut request = RequestOrder {
        app: s.app,
        requester: requester.address(),
        volume: 1,
        salt: B256::repeat_byte(2),
        ..RequestOrder::default()
    };
    let request_hash = request.sign_with(&requester, &s.domain).unwrap();

    // The chain goes away: anvil is stopped.
    let Setup { devnet, market, .. } = s;
    let rpc = devnet.rpc_url().to_string();
    drop(devnet);
    for (kind, order, hash) in [
        ("app", serde_json::to_value(&app_order).unwrap(), app_hash),
        (
            "request",
            serde_json::to_value(&request).unwrap(),
            request_hash,
        ),
    ] {
        let (status, body) = market.publish(kind, &order).await.unwrap();
        assert_eq!(status, 503, "{kind} order: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(
            error.starts_with(&format!("the chain at {rpc} does not answer")),
            "{kind} order: {error}"
        );
        assert!(!error.contains("not registered"), "{error}");
        let (status, _) = market.get(&format!("/v1/orders/{hash}")).await.unwrap();
        assert_eq!(status, 404, "the {kind} order was not stored");
    }
}

/// Defect 6 (order-book spam): a key with nothing in the escrow signs price-0 requests at no
/// cost; it gets a few places in the book, not more, and every signer and every client
/// address publishes at a bounded rate. A refusal says what to do and stores nothing; a copy
/// of an order already in the book takes no space.
#[tokio::test]
async fn an_empty_account_gets_little_book_space_and_publishing_is_rate_limited() {
    let devnet = Devnet::start().await.unwrap();
    let app = fixtures::register_order_app(&devnet, 1, "greeting")
        .await
        .unwrap();
    let limits = decloud_market::MarketLimits {
        per_signer: decloud_service::limits::Rate {
            burst: 5,
            per_sec: 0.001,
        },
        max_open_unfunded: 3,
        ..decloud_market::MarketLimits::default()
    };
    let market = IdleMarket::start_with(&devnet, limits).await.unwrap();
    let domain = Domain::new(devnet.profile().chain_id, devnet.profile().contracts.hub);
    let spammer = PrivateKeySigner::random();
    let free_request = |salt: u8| {
        let mut request = RequestOrder {
            app,
            requester: spammer.address(),
            volume: 1,
            salt: B256::repeat_byte(salt),
            ..RequestOrder::default()
        };
        request.sign_with(&spammer, &domain).unwrap();
        request
    };
    for salt in 1..=3 {
        let (code, receipt) = market
            .publish("request", &free_request(salt))
            .await
            .unwrap();
        assert_eq!(code, 201, "{receipt}");
    }
    let (code, error) = market.publish("request", &free_request(4)).await.unwrap();
    assert_eq!(code, 429, "{error}");
    let message = error["error"].as_str().unwrap();
    assert!(
        message.contains("nothing in the escrow") && message.contains("decloud account deposit"),
        "{message}"
    );
    let (code, receipt) = market.publish("request", &free_request(2)).await.unwrap();
    assert_eq!(
        (code, &receipt["created"]),
        (200, &json!(false)),
        "a copy takes no space"
    );
    let book = market.book().await.unwrap();
    assert_eq!(book.open_count(spammer.address()).await.unwrap(), 3);

    // Five publications by this signer so far (refused ones count): the sixth waits.
    let answer = market
        .http_client()
        .unwrap()
        .post(format!("{}/v1/orders", market.base_url()))
        .json(&json!({ "kind": "request", "order": free_request(2) }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 429);
    let retry_after: u64 = answer.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "{retry_after}");
    let error: Value = answer.json().await.unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("too many publications by this signer"),
        "{error}"
    );
    // Another signer is not held back by it.
    let owner = devnet.signer(1);
    let mut order = AppOrder {
        app,
        volume: 1,
        ..AppOrder::default()
    };
    order.sign_with(&owner, &domain).unwrap();
    assert_eq!(market.publish("app", &order).await.unwrap().0, 201);
}

/// Defect 6, per client address: a client that publishes faster than its rate is refused
/// before anything is read or stored, whoever signed the orders.
#[tokio::test]
async fn one_client_address_publishes_at_a_bounded_rate() {
    let devnet = Devnet::start().await.unwrap();
    let app = fixtures::register_order_app(&devnet, 1, "greeting")
        .await
        .unwrap();
    let limits = decloud_market::MarketLimits {
        per_client: decloud_service::limits::Rate {
            burst: 2,
            per_sec: 0.001,
        },
        ..decloud_market::MarketLimits::default()
    };
    let market = IdleMarket::start_with(&devnet, limits).await.unwrap();
    let domain = Domain::new(devnet.profile().chain_id, devnet.profile().contracts.hub);
    let mut hashes = Vec::new();
    for salt in 1..=3u8 {
        let key = PrivateKeySigner::random();
        let mut request = RequestOrder {
            app,
            requester: key.address(),
            volume: 1,
            salt: B256::repeat_byte(salt),
            ..RequestOrder::default()
        };
        hashes.push(request.sign_with(&key, &domain).unwrap());
        let (code, answer) = market.publish("request", &request).await.unwrap();
        let expected = if salt <= 2 { 201 } else { 429 };
        assert_eq!(code, expected, "{answer}");
    }
    let (code, _) = market
        .get(&format!("/v1/orders/{}", hashes[2]))
        .await
        .unwrap();
    assert_eq!(code, 404, "a refused order is not stored");
}
