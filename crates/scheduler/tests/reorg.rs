//! The scheduler's chain follower driven by hand: through a reorg (a deal seen in a block the
//! chain then drops is forgotten, and the blocks of the new chain are read), and through a pass
//! the chain fails part way (what it stored comes back with the error).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use decloud_chain::client::Client;
use decloud_scheduler::db::Store;
use decloud_scheduler::follower::{FollowerOptions, follow_once};
use decloud_sql::testing::TestDb;
use decloud_testkit::pool::{self, DealRequest, Pool, PoolOptions, REQUESTER};
use decloud_testkit::{Devnet, anvil, fixtures};

/// A devnet and a pool without workers whose own scheduler (another database) stays out of
/// the way, the greeting app deployed, and the requester funded (before any snapshot a test
/// takes, so that a reorg keeps the deposit).
async fn quiet_pool() -> (Devnet, Pool, Address) {
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(
        &devnet,
        PoolOptions {
            workers: 0,
            follow_interval: Duration::from_secs(3600),
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let greeting = fixtures::example_app("greeting").unwrap();
    let app = pool.deploy_app("greeting", &greeting).await.unwrap();
    pool::deposit(&devnet, REQUESTER, U256::from(10_000_000_000_000u64))
        .await
        .unwrap();
    (devnet, pool, app)
}

/// On every backend: the follower's rewind is SQL too (a deal and its tasks deleted).
async fn a_deal_of_an_orphaned_block_is_forgotten(db: &TestDb) {
    let (devnet, pool, app) = quiet_pool().await;

    let store = Store::open(db.url()).await.unwrap();
    let client = Client::connect(devnet.profile(), None, None).await.unwrap();
    let options = FollowerOptions::default();
    follow_once(&client, &store, pool.workerpool, options)
        .await
        .unwrap();

    let snapshot = anvil::snapshot(&devnet).await.unwrap();
    let deal = pool.deal(&DealRequest::new(app)).await.unwrap();
    let progress = follow_once(&client, &store, pool.workerpool, options)
        .await
        .unwrap();
    assert_eq!(progress.new_deals, vec![deal.id()]);
    assert!(store.deal(deal.id()).await.unwrap().is_some());

    // The chain forgets the match and grows past the old head.
    anvil::reorg(&devnet, snapshot, 3).await.unwrap();
    let head = devnet.provider(0).get_block_number().await.unwrap();
    let progress = follow_once(&client, &store, pool.workerpool, options)
        .await
        .unwrap();
    assert!(progress.reorg);
    assert_eq!(progress.block, head);
    assert!(
        store.deal(deal.id()).await.unwrap().is_none(),
        "the scheduler kept a deal the chain no longer has"
    );
    // Nothing more to undo.
    let progress = follow_once(&client, &store, pool.workerpool, options)
        .await
        .unwrap();
    assert!(!progress.reorg);
}

decloud_sql::test_on_every_backend!(multi_thread: a_deal_of_an_orphaned_block_is_forgotten);

/// A JSON-RPC endpoint in front of `upstream` that answers an error to every `eth_getLogs` of
/// `contract` from block `refuse_from` on: the chain failing part way through a pass, where the
/// test says.
async fn logs_refused_from(
    upstream: String,
    contract: Address,
    refuse_from: Arc<AtomicU64>,
) -> String {
    let http = reqwest::Client::new();
    let forward = move |body: axum::body::Bytes| {
        let (http, upstream, refuse_from) = (http.clone(), upstream.clone(), refuse_from.clone());
        async move {
            let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let from = request["params"][0]["fromBlock"]
                .as_str()
                .and_then(|b| u64::from_str_radix(b.trim_start_matches("0x"), 16).ok());
            let json = [(axum::http::header::CONTENT_TYPE, "application/json")];
            let of_contract = request["params"][0]["address"]
                .as_str()
                .and_then(|a| a.parse::<Address>().ok())
                == Some(contract);
            if request["method"] == "eth_getLogs"
                && of_contract
                && from.is_some_and(|b| b >= refuse_from.load(Ordering::SeqCst))
            {
                let refused = serde_json::json!({
                    "jsonrpc": "2.0",
                    "id": request["id"],
                    "error": {"code": -32000, "message": "the node is going down"},
                });
                return (json, refused.to_string().into_bytes());
            }
            let answer = http
                .post(&upstream)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            (json, answer.bytes().await.unwrap().to_vec())
        }
    };
    let app = axum::Router::new().route("/", axum::routing::post(forward));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// A pass that stored a new deal and then lost the chain returns the deal with its error: the
/// scheduler owes its claims the wake-up, and the next pass no longer sees the deal as new.
async fn a_pass_failing_part_way_returns_what_it_stored(db: &TestDb) {
    let (devnet, pool, app) = quiet_pool().await;

    let store = Store::open(db.url()).await.unwrap();
    let refuse_from = Arc::new(AtomicU64::new(u64::MAX));
    let rpc = logs_refused_from(
        devnet.profile().rpc_url.clone(),
        devnet.profile().contracts.hub,
        refuse_from.clone(),
    )
    .await;
    // One block per range, so that the pass stores the deal's block before it asks for the next.
    let mut profile = devnet.profile().clone();
    profile.limits.max_log_range = Some(1);
    let client = Client::connect(&profile, Some(&rpc), None).await.unwrap();
    let options = FollowerOptions::default();
    follow_once(&client, &store, pool.workerpool, options)
        .await
        .unwrap();

    let deal = pool.deal(&DealRequest::new(app)).await.unwrap();
    let deal_block = devnet.provider(0).get_block_number().await.unwrap();
    anvil::mine(&devnet, 3).await.unwrap();
    refuse_from.store(deal_block + 1, Ordering::SeqCst);
    let failed = follow_once(&client, &store, pool.workerpool, options)
        .await
        .expect_err("the pass reads past the deal's block, which the chain refuses");
    assert!(
        failed.error.to_string().contains("going down"),
        "the error says what failed: {}",
        failed.error
    );
    assert_eq!(failed.done.new_deals, vec![deal.id()], "{failed:?}");
    assert_eq!(failed.done.block, deal_block);
    assert!(store.deal(deal.id()).await.unwrap().is_some());

    // The chain back: the pass goes on from the deal's block, and the deal is not new to it.
    refuse_from.store(u64::MAX, Ordering::SeqCst);
    let progress = follow_once(&client, &store, pool.workerpool, options)
        .await
        .unwrap();
    assert!(progress.new_deals.is_empty(), "{progress:?}");
    assert_eq!(progress.block, deal_block + 3);
}

decloud_sql::test_on_every_backend!(multi_thread: a_pass_failing_part_way_returns_what_it_stored);
