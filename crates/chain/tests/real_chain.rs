//! decloud against a chain that behaves like a real one: a base fee and EIP-1559 fees, mining
//! stopped so that a transaction stays pending and is replaced with higher fees, and an RPC
//! endpoint (a proxy in this test) that caps the block range of `eth_getLogs` and answers
//! rate limits (HTTP 429, JSON-RPC -32005). The follower and a deal flow still complete, and
//! nothing is lost or done twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use axum::body::Bytes as Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use decloud_chain::client::Client;
use decloud_chain::contracts::IHub;
use decloud_chain::follower::{Cursor, Follower, FollowerOptions, Step, get_logs_chunked};
use decloud_chain::orders::match_orders;
use decloud_chain::{ChainProfile, actions};
use decloud_protocol::{AppOrder, DatasetOrder, Order, RequestOrder, Tag, WorkerpoolOrder};
use decloud_testkit::Devnet;
use serde_json::{Value, json};

/// The base fee anvil starts with (it falls as mostly empty blocks pass, as on a real chain).
const BASE_FEE: u128 = 1_000_000_000;

async fn rpc(devnet: &Devnet, method: &str, params: Value) -> Value {
    devnet
        .provider(0)
        .raw_request::<_, Value>(method.to_owned().into(), params)
        .await
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

/// The pending transactions of `from` in anvil's pool, as (hash, maxFeePerGas).
async fn pending_of(devnet: &Devnet, from: Address) -> Vec<(String, u128)> {
    let pool = rpc(devnet, "txpool_content", json!([])).await;
    let mut found = Vec::new();
    if let Some(by_sender) = pool["pending"].as_object() {
        for (sender, txs) in by_sender {
            if sender.eq_ignore_ascii_case(&from.to_string()) {
                for tx in txs.as_object().into_iter().flat_map(|m| m.values()) {
                    let fee = tx["maxFeePerGas"].as_str().unwrap_or("0x0");
                    let fee = u128::from_str_radix(fee.trim_start_matches("0x"), 16).unwrap();
                    found.push((tx["hash"].as_str().unwrap_or_default().to_owned(), fee));
                }
            }
        }
    }
    found
}

/// Sends a deposit of `amount` from `client`'s wallet in the background and waits until the
/// node holds it pending: the send's handle and the pending version (hash, max fee).
async fn deposit_until_pending(
    devnet: &Devnet,
    client: &Arc<Client>,
    amount: u64,
) -> (
    tokio::task::JoinHandle<
        Result<alloy::rpc::types::TransactionReceipt, decloud_chain::ChainError>,
    >,
    (String, u128),
) {
    let me = client.address().unwrap();
    let sending = {
        let client = client.clone();
        tokio::spawn(async move {
            let deposit = client
                .hub()
                .deposit(U256::from(amount))
                .into_transaction_request();
            client.send("depositing", deposit).await
        })
    };
    let first = decloud_testkit::fixtures::eventually(
        Duration::from_secs(60),
        "the transaction pending",
        || async { pending_of(devnet, me).await.into_iter().next() },
    )
    .await
    .unwrap();
    (sending, first)
}

/// Lets the hub take up to 1000 tokens from the client's wallet.
async fn approve(client: &Client) {
    let hub = client.profile().contracts.hub;
    let tx = client
        .token()
        .approve(hub, U256::from(1_000))
        .into_transaction_request();
    client.send("approving the hub", tx).await.unwrap();
}

/// Deposits one token at the hub (after [`approve`]) and returns the receipt.
async fn deposit_one(client: &Client) -> alloy::rpc::types::TransactionReceipt {
    let tx = client
        .hub()
        .deposit(U256::from(1))
        .into_transaction_request();
    client.send("depositing", tx).await.unwrap()
}

async fn pool_client(devnet: &Devnet, index: usize) -> Client {
    Client::connect(devnet.profile(), None, Some(devnet.signer(index)))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_stuck_transaction_is_replaced_with_higher_fees_and_counted_once() {
    let devnet =
        Devnet::start_with_anvil_args(&["--block-base-fee-per-gas", &BASE_FEE.to_string()])
            .await
            .unwrap();
    let mut profile = devnet.profile().clone();
    profile.limits.replace_after_secs = Some(1);
    let signer = devnet.signer(5);
    let me = signer.address();
    let client = Arc::new(Client::connect(&profile, None, Some(signer)).await.unwrap());
    // The hub may take tokens; a first deposit fills the gas cache, mined at once.
    approve(&client).await;
    actions::deposit(&client, U256::from(10)).await.unwrap();
    let before = client.escrow_balance(me).await.unwrap();

    // Mining stops: the next deposit stays pending until replaced.
    rpc(&devnet, "evm_setAutomine", json!([false])).await;
    let (sending, first) = deposit_until_pending(&devnet, &client, 7).await;
    let base_fee = devnet
        .provider(0)
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .unwrap()
        .unwrap()
        .header
        .base_fee_per_gas
        .unwrap();
    assert!(
        first.1 >= u128::from(base_fee),
        "the fee covers the base fee {base_fee}: {first:?}"
    );
    // The client replaces it: the pool now holds a version with fees raised >= 12.5 %.
    let second = decloud_testkit::fixtures::eventually(
        Duration::from_secs(60),
        "a replacement pending",
        || async {
            pending_of(&devnet, me)
                .await
                .into_iter()
                .find(|(hash, _)| *hash != first.0)
        },
    )
    .await
    .unwrap();
    assert!(
        second.1 * 8 >= first.1 * 9,
        "replacement fee {} is not 12.5 % above {}",
        second.1,
        first.1
    );
    rpc(&devnet, "evm_mine", json!([])).await;
    rpc(&devnet, "evm_setAutomine", json!([true])).await;
    let receipt = sending.await.unwrap().unwrap();
    assert!(receipt.status());
    let mined = format!("{:#x}", receipt.transaction_hash);
    assert_ne!(mined, first.0, "the replacement is the one mined");
    // Deposited once, not twice.
    assert_eq!(
        client.escrow_balance(me).await.unwrap(),
        before + U256::from(7)
    );
    // The nonce counter moved past the replaced nonce: the next transaction is mined at once,
    // and its gas limit is the one already estimated for a deposit.
    let calls = client.rpc_counts();
    actions::deposit(&client, U256::from(1)).await.unwrap();
    let made = client.rpc_counts().since(&calls);
    assert_eq!(made.of("eth_estimateGas"), 0, "{made:?}");
    assert_eq!(made.of("eth_sendRawTransaction"), 1, "{made:?}");
    assert_eq!(
        client.escrow_balance(me).await.unwrap(),
        before + U256::from(8)
    );
    // A fresh client (a restart) continues from the chain's count.
    let restarted = Client::connect(&profile, None, Some(devnet.signer(5)))
        .await
        .unwrap();
    actions::deposit(&restarted, U256::from(1)).await.unwrap();
    assert_eq!(
        client.escrow_balance(me).await.unwrap(),
        before + U256::from(9)
    );
}

#[tokio::test]
async fn fees_stay_under_the_profile_cap_and_a_capped_transaction_is_not_replaced() {
    let devnet =
        Devnet::start_with_anvil_args(&["--block-base-fee-per-gas", &BASE_FEE.to_string()])
            .await
            .unwrap();
    approve(&pool_client(&devnet, 6).await).await;
    let mut profile = devnet.profile().clone();
    // With mining stopped the node's estimate stays put: the cap is that estimate, which
    // leaves no room for a 12.5 % raise.
    rpc(&devnet, "evm_setAutomine", json!([false])).await;
    let estimate = devnet.provider(0).estimate_eip1559_fees().await.unwrap();
    let cap = estimate.max_fee_per_gas;
    profile.limits.max_fee_gwei = Some(cap as f64 / 1e9);
    profile.limits.replace_after_secs = Some(1);
    let signer = devnet.signer(6);
    let me = signer.address();
    let client = Arc::new(Client::connect(&profile, None, Some(signer)).await.unwrap());

    let (sending, first) = deposit_until_pending(&devnet, &client, 2).await;
    assert!(first.1 <= cap, "{} above the cap {cap}", first.1);
    // Past two replacement rounds, still the one version: no raise fits under the cap.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let pending = pending_of(&devnet, me).await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].0, first.0);
    rpc(&devnet, "evm_mine", json!([])).await;
    rpc(&devnet, "evm_setAutomine", json!([true])).await;
    let receipt = sending.await.unwrap().unwrap();
    assert_eq!(format!("{:#x}", receipt.transaction_hash), first.0);
    assert!(receipt.effective_gas_price <= cap);
}

/// What the proxy does to the requests it forwards.
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    /// Most blocks of an `eth_getLogs` it lets through.
    cap: u64,
    /// Whether every fifth request is answered with a rate limit.
    rate_limits: bool,
    /// Whether it answers `eth_sendRawTransactionSync` as a node without that method does.
    refuse_sync: bool,
    requests: AtomicU64,
    refused_ranges: AtomicU64,
    rate_limited: AtomicU64,
    refused_sync: AtomicU64,
}

async fn forward(State(proxy): State<Arc<Proxy>>, headers: HeaderMap, body: Body) -> Response {
    let n = proxy.requests.fetch_add(1, Ordering::SeqCst);
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if proxy.refuse_sync && request["method"] == "eth_sendRawTransactionSync" {
        proxy.refused_sync.fetch_add(1, Ordering::SeqCst);
        return axum::Json(json!({
            "jsonrpc": "2.0",
            "id": request["id"],
            "error": {"code": -32601, "message": "the method eth_sendRawTransactionSync does not exist/is not available"}
        }))
        .into_response();
    }
    // Every fifth request: a rate limit, as HTTP 429 (once with Retry-After) or as JSON-RPC.
    if proxy.rate_limits && n % 5 == 4 {
        proxy.rate_limited.fetch_add(1, Ordering::SeqCst);
        return match (n / 5) % 3 {
            0 => (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response(),
            1 if n < 10 => (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                "slow down",
            )
                .into_response(),
            _ => axum::Json(json!({
                "jsonrpc": "2.0",
                "id": request.get("id").cloned().unwrap_or(Value::Null),
                "error": {"code": -32005, "message": "request rate exceeded"}
            }))
            .into_response(),
        };
    }
    if request["method"] == "eth_getLogs" {
        let block = |key: &str| {
            request["params"][0][key]
                .as_str()
                .and_then(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok())
        };
        if let (Some(from), Some(to)) = (block("fromBlock"), block("toBlock"))
            && to - from + 1 > proxy.cap
        {
            proxy.refused_ranges.fetch_add(1, Ordering::SeqCst);
            return axum::Json(json!({
                "jsonrpc": "2.0",
                "id": request["id"],
                "error": {"code": -32602, "message": format!("exceed maximum block range: {}", proxy.cap)}
            }))
            .into_response();
        }
    }
    let _ = headers;
    let answer = proxy
        .http
        .post(&proxy.upstream)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    match answer {
        Ok(answer) => {
            let status = answer.status().as_u16();
            let bytes = answer.bytes().await.unwrap_or_default();
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                [("content-type", "application/json")],
                bytes,
            )
                .into_response()
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

/// A proxy to `upstream` that caps `eth_getLogs` ranges at `cap` blocks, answers rate limits
/// if `rate_limits`, and lacks `eth_sendRawTransactionSync` if `refuse_sync`.
async fn start_proxy(
    upstream: &str,
    cap: u64,
    rate_limits: bool,
    refuse_sync: bool,
) -> (String, Arc<Proxy>) {
    let proxy = Arc::new(Proxy {
        upstream: upstream.to_owned(),
        http: reqwest::Client::new(),
        cap,
        rate_limits,
        refuse_sync,
        requests: AtomicU64::new(0),
        refused_ranges: AtomicU64::new(0),
        rate_limited: AtomicU64::new(0),
        refused_sync: AtomicU64::new(0),
    });
    let app = axum::Router::new()
        .route("/", axum::routing::post(forward))
        .with_state(proxy.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, proxy)
}

#[tokio::test]
async fn a_deal_and_the_follower_complete_through_a_provider_with_range_caps_and_rate_limits() {
    let devnet = Devnet::start().await.unwrap();
    let (url, proxy) = start_proxy(devnet.rpc_url(), 4, true, false).await;
    let mut profile: ChainProfile = devnet.profile().clone();
    profile.rpc_url = url.clone();
    let connect = |i: usize| {
        let profile = profile.clone();
        let signer = devnet.signer(i);
        async move { Client::connect(&profile, None, Some(signer)).await.unwrap() }
    };
    let (app_owner, data_owner, scheduler, requester) = (
        connect(1).await,
        connect(2).await,
        connect(3).await,
        connect(4).await,
    );

    // A deal, every transaction and read through the proxy.
    let checksum = B256::repeat_byte(0xcc);
    let app = actions::register_app(
        &app_owner,
        "echo",
        "file:///echo.wasm",
        checksum,
        B256::ZERO,
    )
    .await
    .unwrap();
    let dataset = actions::register_dataset(&data_owner, "data", "file:///data", checksum)
        .await
        .unwrap();
    let workerpool = actions::register_workerpool(&scheduler, "pool", 10, 20)
        .await
        .unwrap();
    for funded in [&requester, &scheduler] {
        actions::deposit(funded, U256::from(1_000_000))
            .await
            .unwrap();
    }
    let domain = requester.domain();
    let mut app_order = AppOrder {
        app,
        app_price: U256::from(3),
        volume: 2,
        ..Default::default()
    };
    app_order
        .sign_with(app_owner.signer().unwrap(), &domain)
        .unwrap();
    let mut dataset_order = DatasetOrder {
        dataset,
        dataset_price: U256::from(2),
        volume: 2,
        ..Default::default()
    };
    dataset_order
        .sign_with(data_owner.signer().unwrap(), &domain)
        .unwrap();
    let mut pool_order = WorkerpoolOrder {
        workerpool,
        workerpool_price: U256::from(10),
        volume: 2,
        category: 1,
        trust: 1,
        ..Default::default()
    };
    pool_order
        .sign_with(scheduler.signer().unwrap(), &domain)
        .unwrap();
    let mut request = RequestOrder {
        app,
        app_max_price: U256::from(3),
        dataset,
        dataset_max_price: U256::from(2),
        workerpool,
        workerpool_max_price: U256::from(10),
        requester: requester.address().unwrap(),
        volume: 2,
        tag: Tag::NONE,
        category: 1,
        trust: 1,
        beneficiary: requester.address().unwrap(),
        callback: Address::ZERO,
        params: "{}".into(),
        expiry: 0,
        salt: B256::repeat_byte(4),
        sign: Bytes::new(),
    };
    request
        .sign_with(requester.signer().unwrap(), &domain)
        .unwrap();
    let deal = match_orders(
        &requester,
        &app_order,
        &dataset_order,
        &pool_order,
        &request,
    )
    .await
    .unwrap();

    // The follower reads every hub event from the deployment block through the proxy, in
    // ranges the proxy accepts, and misses none of what a direct read finds.
    let hub = profile.contracts.hub;
    let filter = Filter::new().address(hub);
    let through_proxy = requester.provider().clone();
    let follower = Follower::new(
        through_proxy.clone(),
        filter.clone(),
        FollowerOptions {
            max_range: 1_000,
            ..FollowerOptions::default()
        },
    )
    .unwrap();
    let mut cursor = Cursor::start_at(profile.deployment_block);
    let mut followed = Vec::new();
    loop {
        match follower.poll(&cursor).await.unwrap() {
            Step::Batch(batch) => {
                assert!(batch.to - batch.from < 4, "{}..={}", batch.from, batch.to);
                followed.extend(batch.logs);
                cursor = batch.cursor;
            }
            Step::Rewind(r) => panic!("no reorg happened: {r:?}"),
            Step::Idle => break,
        }
    }
    assert_eq!(follower.range(), 4, "the cap the endpoint named is learnt");
    let direct = decloud_chain::client::read_only_provider(devnet.rpc_url())
        .unwrap()
        .get_logs(&filter.clone().from_block(profile.deployment_block))
        .await
        .unwrap();
    let key = |l: &alloy::rpc::types::Log| (l.block_number, l.log_index);
    assert_eq!(
        followed.iter().map(key).collect::<Vec<_>>(),
        direct.iter().map(key).collect::<Vec<_>>()
    );
    let deals: Vec<B256> = followed
        .iter()
        .filter_map(|l| IHub::DealCreated::decode_log(&l.inner).ok())
        .map(|e| e.dealid)
        .collect();
    assert_eq!(deals, [deal.deal_id]);
    // One-off reads too (the CLI's): split to the cap from a larger max_range.
    let chunked = get_logs_chunked(
        &through_proxy,
        &filter,
        profile.deployment_block,
        None,
        1_000,
    )
    .await
    .unwrap();
    assert_eq!(chunked.len(), direct.len());

    assert!(proxy.refused_ranges.load(Ordering::SeqCst) >= 2);
    assert!(proxy.rate_limited.load(Ordering::SeqCst) >= 5);
    let counts = requester.rpc_counts();
    assert!(counts.retries > 0, "{counts:?}");
}

/// Measures the JSON-RPC calls per transaction of a burst of deposits, with and without the
/// gas-limit cache (run with `--run-ignored only`; prints the figures).
/// A node that mines at once answers a send with its receipt (EIP-7966's
/// `eth_sendRawTransactionSync`): one request per transaction and no receipt poll. Through an
/// endpoint that lacks the method, the client asks once, then sends and polls; every
/// transaction is mined exactly once either way.
#[tokio::test]
async fn sends_get_their_receipt_in_one_request_where_the_node_serves_it_and_poll_where_not() {
    let devnet = Devnet::start().await.unwrap();
    const N: u64 = 4;
    let chain = decloud_chain::client::read_only_provider(devnet.rpc_url()).unwrap();
    let nonce = |who: Address| {
        let chain = chain.clone();
        async move { chain.get_transaction_count(who).await.unwrap() }
    };

    let direct = pool_client(&devnet, 7).await;
    approve(&direct).await;
    let from = direct.address().unwrap();
    let (before, nonce_before) = (direct.rpc_counts(), nonce(from).await);
    for _ in 0..N {
        let receipt = deposit_one(&direct).await;
        assert!(receipt.status(), "the deposit was mined and succeeded");
    }
    let made = direct.rpc_counts().since(&before);
    assert_eq!(made.of("eth_sendRawTransactionSync"), N, "{made:?}");
    assert_eq!(made.of("eth_getTransactionReceipt"), 0, "{made:?}");
    assert_eq!(made.of("eth_sendRawTransaction"), 0, "{made:?}");
    assert_eq!(
        nonce(from).await,
        nonce_before + N,
        "each deposit mined once"
    );

    let (url, proxy) = start_proxy(devnet.rpc_url(), 1_000, false, true).await;
    let mut profile: ChainProfile = devnet.profile().clone();
    profile.rpc_url = url;
    let polled = Client::connect(&profile, None, Some(devnet.signer(8)))
        .await
        .unwrap();
    let from = polled.address().unwrap();
    let nonce_before = nonce(from).await;
    approve(&polled).await;
    let before = polled.rpc_counts();
    for _ in 0..N {
        assert!(deposit_one(&polled).await.status());
    }
    let made = polled.rpc_counts().since(&before);
    assert_eq!(
        proxy.refused_sync.load(Ordering::SeqCst),
        1,
        "asked once, then not again"
    );
    assert_eq!(made.of("eth_sendRawTransactionSync"), 0, "{made:?}");
    assert_eq!(made.of("eth_sendRawTransaction"), N, "{made:?}");
    assert!(made.of("eth_getTransactionReceipt") >= N, "{made:?}");
    assert_eq!(
        nonce(from).await,
        nonce_before + N + 1,
        "the approval and each deposit mined once"
    );
}

/// On a chain that mines on a clock, a wallet's sends are not queued one per block behind a
/// synchronous send waiting for its block: the client gives `eth_sendRawTransactionSync` up
/// after a short wait and polls, so sends made together share blocks.
#[tokio::test]
async fn a_chain_with_block_times_does_not_queue_a_wallets_sends_one_per_block() {
    let devnet = Devnet::start().await.unwrap();
    let client = Arc::new(pool_client(&devnet, 9).await);
    approve(&client).await;
    rpc(&devnet, "evm_setIntervalMining", json!([1])).await;
    let sends: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { deposit_one(&client).await })
        })
        .collect();
    let mut blocks = Vec::new();
    for send in sends {
        let receipt = send.await.unwrap();
        assert!(receipt.status());
        blocks.push(receipt.block_number.unwrap());
    }
    rpc(&devnet, "evm_setAutomine", json!([true])).await;
    blocks.sort_unstable();
    blocks.dedup();
    assert!(
        blocks.len() <= 2,
        "four sends made together were mined in blocks {blocks:?}: one per block means each waited for the previous one's block"
    );
}

#[tokio::test]
#[ignore = "a measurement: prints RPC calls per transaction"]
async fn rpc_calls_per_transaction_with_and_without_the_gas_cache() {
    let devnet = Devnet::start().await.unwrap();
    const N: u64 = 50;
    for (index, reuse) in [(7, false), (8, true)] {
        let client = Client::connect(devnet.profile(), None, Some(devnet.signer(index)))
            .await
            .unwrap()
            .with_options(decloud_chain::client::SendOptions {
                reuse_gas_limits: reuse,
                ..Default::default()
            });
        approve(&client).await;
        let before = client.rpc_counts();
        for _ in 0..N {
            let tx = client
                .hub()
                .deposit(U256::from(1))
                .into_transaction_request();
            client.send("depositing", tx).await.unwrap();
        }
        let made = client.rpc_counts().since(&before);
        let per = |m: &str| made.of(m) as f64 / N as f64;
        println!(
            "gas cache {}: {:.2} calls per transaction (eth_estimateGas {:.2}, eth_getTransactionReceipt {:.2}, eth_feeHistory {:.2}, eth_sendRawTransaction {:.2}, eth_sendRawTransactionSync {:.2}); {made:?}",
            if reuse { "on " } else { "off" },
            made.calls() as f64 / N as f64,
            per("eth_estimateGas"),
            per("eth_getTransactionReceipt"),
            per("eth_feeHistory"),
            per("eth_sendRawTransaction"),
            per("eth_sendRawTransactionSync"),
        );
        if reuse {
            // The first deposit is estimated; the 49 after it reuse its limit.
            assert_eq!(made.of("eth_estimateGas"), 1);
        } else {
            assert_eq!(made.of("eth_estimateGas"), N);
        }
    }
}
