//! Orders signed in Rust against a real hub: accepted by `matchOrders`, refused when any field
//! changed after signing; hashes, deal and task ids, result hashes, seals and the scheduler's
//! authorization equal the chain's.

use std::sync::Arc;

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::Provider;
use decloud_chain::ChainError;
use decloud_chain::actions;
use decloud_chain::client::{Client, SendOptions};
use decloud_chain::contracts::IHub;
use decloud_chain::orders::{MatchedDeal, match_orders};
use decloud_protocol::{
    AppOrder, DatasetOrder, Order, RequestOrder, Tag, WorkerpoolOrder, ids, result,
};
use decloud_testkit::{Devnet, pool};

const APP_PRICE: u64 = 3_000;
const DATASET_PRICE: u64 = 2_000;
const POOL_PRICE: u64 = 10_000;

#[derive(Clone)]
struct Orders {
    app: AppOrder,
    dataset: DatasetOrder,
    pool: WorkerpoolOrder,
    request: RequestOrder,
}

impl Orders {
    /// Has each order signed by its owner among the [`setup`] clients: 1 the app's, 2 the
    /// dataset's, 3 the scheduler and 4 the requester.
    fn sign(&mut self, clients: &[Client]) {
        let domain = clients[0].domain();
        let signer = |i: usize| clients[i].signer().unwrap();
        self.app.sign_with(signer(1), &domain).unwrap();
        self.dataset.sign_with(signer(2), &domain).unwrap();
        self.pool.sign_with(signer(3), &domain).unwrap();
        self.request.sign_with(signer(4), &domain).unwrap();
    }
}

/// Registers an app, a dataset and a workerpool, funds the requester and the scheduler, and
/// signs four compatible orders. Clients: 0 dev, 1 app owner, 2 dataset owner, 3 scheduler,
/// 4 requester.
async fn setup(devnet: &Devnet) -> (Orders, Vec<Client>) {
    let mut clients = Vec::new();
    for i in 0..5 {
        clients.push(pool::client(devnet, i).await.unwrap());
    }
    let (app_owner, data_owner, scheduler, requester) =
        (&clients[1], &clients[2], &clients[3], &clients[4]);
    let checksum = B256::repeat_byte(0xcc);
    let app = actions::register_app(app_owner, "echo", "file:///echo.wasm", checksum, B256::ZERO)
        .await
        .unwrap();
    let dataset = actions::register_dataset(data_owner, "data", "file:///data", checksum)
        .await
        .unwrap();
    let workerpool = actions::register_workerpool(scheduler, "pool", 10, 20)
        .await
        .unwrap();
    for funded in [requester, scheduler] {
        actions::deposit(funded, U256::from(1_000_000))
            .await
            .unwrap();
    }

    let app_order = AppOrder {
        app,
        app_price: U256::from(APP_PRICE),
        volume: 4,
        requester_restrict: requester.address().unwrap(),
        salt: B256::repeat_byte(1),
        ..Default::default()
    };
    let dataset_order = DatasetOrder {
        dataset,
        dataset_price: U256::from(DATASET_PRICE),
        volume: 4,
        app_restrict: app,
        salt: B256::repeat_byte(2),
        ..Default::default()
    };
    let pool_order = WorkerpoolOrder {
        workerpool,
        workerpool_price: U256::from(POOL_PRICE),
        volume: 4,
        tag: Tag::bit(3),
        category: 1,
        trust: 10,
        salt: B256::repeat_byte(3),
        ..Default::default()
    };
    let request = RequestOrder {
        app,
        app_max_price: U256::from(APP_PRICE),
        dataset,
        dataset_max_price: U256::from(DATASET_PRICE),
        workerpool,
        workerpool_max_price: U256::from(POOL_PRICE),
        requester: requester.address().unwrap(),
        volume: 2,
        tag: Tag::bit(3),
        category: 1,
        trust: 1,
        beneficiary: requester.address().unwrap(),
        callback: Address::ZERO,
        params: r#"{"args":"hello"}"#.into(),
        expiry: 4_000_000_000,
        salt: B256::repeat_byte(4),
        sign: Bytes::new(),
    };
    let mut orders = Orders {
        app: app_order,
        dataset: dataset_order,
        pool: pool_order,
        request,
    };
    orders.sign(&clients);
    (orders, clients)
}

fn refused(r: Result<MatchedDeal, ChainError>, what: &str) -> String {
    match r {
        Err(ChainError::Reverted { reason, .. }) => reason,
        Err(other) => panic!("{what}: expected a revert, got {other}"),
        Ok(_) => panic!("{what}: a changed order was accepted"),
    }
}

#[tokio::test]
async fn rust_signed_orders_match_on_chain_and_tampered_ones_do_not() {
    let devnet = Devnet::start().await.unwrap();
    let (s, clients) = setup(&devnet).await;
    let (dev, scheduler, requester) = (&clients[0], &clients[3], &clients[4]);
    let domain = dev.domain();
    let ext = dev.hub();

    // Hashes and the domain separator are the hub's.
    assert_eq!(
        ext.domainSeparator().call().await.unwrap(),
        domain.separator()
    );
    let on_chain = [
        ext.hashAppOrder((&s.app).into()).call().await.unwrap(),
        ext.hashDatasetOrder((&s.dataset).into())
            .call()
            .await
            .unwrap(),
        ext.hashWorkerpoolOrder((&s.pool).into())
            .call()
            .await
            .unwrap(),
        ext.hashRequestOrder((&s.request).into())
            .call()
            .await
            .unwrap(),
    ];
    let in_rust = [
        s.app.hash(&domain),
        s.dataset.hash(&domain),
        s.pool.hash(&domain),
        s.request.hash(&domain),
    ];
    assert_eq!(on_chain, in_rust);

    // Every field of every order, changed after signing, is refused: by the signature check,
    // unless a cheaper check the change breaks comes first.
    let mut n = 0;
    let mut verdicts = Vec::new();
    macro_rules! tamper {
        ($order:ident: $($field:ident => $edit:expr),+ $(,)?) => {$(
            let mut t = s.clone();
            let edit = $edit;
            edit(&mut t.$order.$field);
            let what = concat!(stringify!($order), ".", stringify!($field));
            let reason = refused(match_orders(requester, &t.app, &t.dataset, &t.pool, &t.request).await, what);
            let verdict = hub_verdict(requester, &t).await.unwrap_or_else(|| panic!("{what}: {reason}"));
            verdicts.push((what, verdict));
            n += 1;
        )+};
    }
    let up = |v: &mut U256| *v += U256::from(1);
    let down = |v: &mut U256| *v -= U256::from(1);
    let inc = |v: &mut u64| *v += 1;
    let other = |a: &mut Address| *a = Address::repeat_byte(0x77);
    let zero = |a: &mut Address| *a = Address::ZERO;
    let salt = |b: &mut B256| *b = B256::repeat_byte(0x99);
    let expiry = |v: &mut u64| *v = 4_000_000_001;
    tamper!(app: app => other, app_price => down, volume => inc, tag => |t: &mut Tag| *t = Tag::bit(3),
        dataset_restrict => other, workerpool_restrict => other, requester_restrict => zero, expiry => expiry, salt => salt);
    tamper!(dataset: dataset => other, dataset_price => down, volume => inc, tag => |t: &mut Tag| *t = Tag::bit(3),
        app_restrict => zero, workerpool_restrict => other, requester_restrict => other, expiry => expiry, salt => salt);
    tamper!(pool: workerpool => other, workerpool_price => down, volume => inc, tag => |t: &mut Tag| *t = t.union(Tag::bit(9)),
        category => |v: &mut u64| *v = 2, trust => inc, app_restrict => other, dataset_restrict => other,
        requester_restrict => other, expiry => expiry, salt => salt);
    tamper!(request: app => other, app_max_price => up, dataset => other, dataset_max_price => up, workerpool => zero,
        workerpool_max_price => up, requester => other, volume => inc, tag => |t: &mut Tag| *t = Tag::NONE,
        category => |v: &mut u64| *v = 2, trust => inc, beneficiary => other, callback => other,
        params => |p: &mut String| p.push(' '), expiry => |v: &mut u64| *v += 1, salt => salt);
    assert_eq!(n, 45);
    // The changes a compatibility check refuses before the signature is read; every other one
    // must be refused as a bad signature.
    let first_checks = [
        ("app.app", "AppMismatch"),
        ("app.dataset_restrict", "AppOrderRestricted"),
        ("app.workerpool_restrict", "AppOrderRestricted"),
        ("dataset.dataset", "DatasetMismatch"),
        ("dataset.workerpool_restrict", "DatasetOrderRestricted"),
        ("dataset.requester_restrict", "DatasetOrderRestricted"),
        ("pool.workerpool", "WorkerpoolMismatch"),
        ("pool.category", "CategoryMismatch"),
        ("pool.app_restrict", "WorkerpoolOrderRestricted"),
        ("pool.dataset_restrict", "WorkerpoolOrderRestricted"),
        ("pool.requester_restrict", "WorkerpoolOrderRestricted"),
        ("request.app", "AppMismatch"),
        ("request.dataset", "DatasetMismatch"),
        ("request.requester", "AppOrderRestricted"),
        ("request.category", "CategoryMismatch"),
    ];
    for (what, verdict) in &verdicts {
        let expected = first_checks
            .iter()
            .find(|(field, _)| field == what)
            .map_or("InvalidSignature", |(_, error)| error);
        assert_eq!(verdict, expected, "{what}");
    }

    // A signature by someone else is refused with the hub's reason, decoded.
    let mut forged = s.clone();
    forged
        .request
        .sign_with(scheduler.signer().unwrap(), &domain)
        .unwrap();
    let reason = refused(
        match_orders(
            requester,
            &forged.app,
            &forged.dataset,
            &forged.pool,
            &forged.request,
        )
        .await,
        "forged",
    );
    assert!(reason.contains("is not signed by"), "{reason}");
    assert_eq!(
        hub_verdict(requester, &forged).await.as_deref(),
        Some("InvalidSignature")
    );

    // The untouched orders match; ids and the deal commitment agree with the chain.
    let matched = match_orders(requester, &s.app, &s.dataset, &s.pool, &s.request)
        .await
        .unwrap();
    let request_hash = s.request.hash(&domain);
    assert_eq!(matched.deal_id, ids::deal_id(request_hash, 0));
    assert_eq!(ids::deal_id_of(&matched.deal), matched.deal_id);
    assert_eq!(matched.deal.volume, U256::from(2));
    let record = ext.dealRecord(matched.deal_id).call().await.unwrap();
    assert_eq!(record.commitment, ids::deal_commitment(&matched.deal));
    for i in 0..2u64 {
        let on_chain = ext
            .taskId(matched.deal_id, U256::from(i))
            .call()
            .await
            .unwrap();
        assert_eq!(on_chain, ids::task_id(matched.deal_id, i));
    }
    let frozen = dev
        .hub()
        .frozenOf(requester.address().unwrap())
        .call()
        .await
        .unwrap();
    assert_eq!(
        frozen,
        U256::from((APP_PRICE + DATASET_PRICE + POOL_PRICE) * 2)
    );
    let consumed = ext
        .requestOrderConsumed(request_hash, U256::from(s.request.volume))
        .call()
        .await
        .unwrap();
    assert_eq!(consumed, U256::from(2));
    let app_status = ext.orderStatus(s.app.hash(&domain)).call().await.unwrap();
    assert_eq!(app_status.consumed, U256::from(2));

    // Matching the consumed request again is refused with a readable reason.
    let again = refused(
        match_orders(requester, &s.app, &s.dataset, &s.pool, &s.request).await,
        "again",
    );
    assert!(again.contains("fully consumed"), "{again}");

    // A worker contributes and reveals with a Rust-made seal and authorization: the hub agrees.
    let worker = pool::client(&devnet, 5).await.unwrap();
    actions::deposit(&worker, U256::from(100_000))
        .await
        .unwrap();
    let hub_deal: IHub::Deal = (&matched.deal).into();
    let sh = scheduler.hub();
    scheduler
        .send(
            "initializing",
            sh.initialize(hub_deal.clone(), U256::ZERO)
                .into_transaction_request(),
        )
        .await
        .unwrap();
    let task = ids::task_id(matched.deal_id, 0);
    let digest = B256::repeat_byte(0xd1);
    let me = worker.address().unwrap();
    let c = result::commitment(me, task, digest);
    let wh = worker.hub();
    let contribute = |auth: Bytes| {
        wh.contribute(
            hub_deal.clone(),
            U256::ZERO,
            c.result_hash,
            c.result_seal,
            Address::ZERO,
            Bytes::new(),
            auth,
        )
    };
    // An authorization not signed by the scheduler is refused.
    let bad =
        result::sign_authorization(worker.signer().unwrap(), me, task, Address::ZERO).unwrap();
    let refusal = contribute(bad.clone()).call().await.unwrap_err();
    assert_eq!(hub_error_name(&refusal), "InvalidAuthorization");
    let err = worker
        .send("contributing", contribute(bad).into_transaction_request())
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::Reverted { .. }), "{err}");
    let auth =
        result::sign_authorization(scheduler.signer().unwrap(), me, task, Address::ZERO).unwrap();
    worker
        .send("contributing", contribute(auth).into_transaction_request())
        .await
        .unwrap();
    worker
        .send(
            "revealing",
            wh.reveal(task, digest).into_transaction_request(),
        )
        .await
        .unwrap();
    let view = ext.task(task).call().await.unwrap();
    assert!(view.revealed);
}

#[tokio::test]
async fn unreachable_rpc_and_wrong_chain_are_one_line_errors() {
    let devnet = Devnet::start().await.unwrap();
    let err = Client::connect(devnet.profile(), Some("http://127.0.0.1:1"), None)
        .await
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(matches!(err, ChainError::Unreachable { .. }), "{msg}");
    assert!(
        msg.contains("--rpc") && msg.contains("decloud devnet up") && !msg.contains('\n'),
        "{msg}"
    );
    // A provider's API key (path, query or user part) never shows in the error: it reaches
    // logs and, through the services, remote clients.
    let keyed = "http://user:pw@127.0.0.1:1/v3/SECRETKEY?key=SECRETQUERY";
    let msg = Client::connect(devnet.profile(), Some(keyed), None)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("http://127.0.0.1:1"), "{msg}");
    for secret in ["SECRETKEY", "SECRETQUERY", "pw@"] {
        assert!(!msg.contains(secret), "{msg}");
    }

    let mut other = devnet.profile().clone();
    other.chain_id = 1;
    let err = Client::connect(&other, None, None).await.err().unwrap();
    assert!(
        matches!(err, ChainError::WrongChain { actual: 31337, .. }),
        "{err}"
    );

    let err = Client::connect(devnet.profile(), Some("not a url"), None)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ChainError::BadRpcUrl { .. }), "{err}");

    // Sending without a wallet says so.
    let c = Client::connect(devnet.profile(), None, None).await.unwrap();
    let err = c
        .send(
            "depositing",
            c.hub().deposit(U256::from(1)).into_transaction_request(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--wallet"), "{err}");
}

#[tokio::test]
async fn concurrent_sends_get_distinct_nonces() {
    let devnet = Devnet::start().await.unwrap();
    let c = Arc::new(pool::client(&devnet, 6).await.unwrap());
    let hub = c.profile().contracts.hub;
    let first = c
        .provider()
        .get_transaction_count(c.address().unwrap())
        .await
        .unwrap();
    let mut handles = Vec::new();
    for i in 1..=5u64 {
        let c = Arc::clone(&c);
        handles.push(tokio::spawn(async move {
            let tx = c
                .token()
                .approve(hub, U256::from(i))
                .into_transaction_request();
            c.send("approving", tx).await
        }));
    }
    let mut nonces = Vec::new();
    for h in handles {
        let r = h.await.unwrap().unwrap();
        let tx = c
            .provider()
            .get_transaction_by_hash(r.transaction_hash)
            .await
            .unwrap()
            .unwrap();
        nonces.push(alloy::consensus::Transaction::nonce(&tx));
    }
    nonces.sort();
    assert_eq!(nonces, (first..first + 5).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_dropped_transaction_is_broadcast_again() {
    let devnet = Devnet::start().await.unwrap();
    let c = pool::client(&devnet, 7)
        .await
        .unwrap()
        .with_options(SendOptions {
            poll: std::time::Duration::from_millis(50),
            rebroadcast_after: std::time::Duration::from_secs(2),
            broadcasts: 10,
            gas_margin_percent: 20,
            reuse_gas_limits: true,
            // Mining is off: the first send waits for the sync answer, then polls.
            sync_send: true,
        });
    let c = Arc::new(c);
    let p = c.provider().clone();
    let none: Vec<()> = Vec::new();
    p.raw_request::<_, serde_json::Value>("anvil_setAutomine".into(), (false,))
        .await
        .unwrap();
    let sender = Arc::clone(&c);
    let hub = c.profile().contracts.hub;
    let send = tokio::spawn(async move {
        let tx = sender
            .token()
            .approve(hub, U256::from(42))
            .into_transaction_request();
        sender.send("approving", tx).await
    });
    // Wait until the transaction sits in the pool, then make the node forget it.
    let me = c.address().unwrap();
    let mut first = None;
    for _ in 0..100 {
        first = pooled(&p, me).await.into_iter().next();
        if first.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (nonce, hash) = first.expect("the transaction never reached the pool");
    p.raw_request::<_, serde_json::Value>("anvil_dropAllTransactions".into(), none)
        .await
        .unwrap();
    assert_eq!(pooled(&p, me).await, vec![], "the pool still holds it");
    assert!(
        p.get_transaction_by_hash(hash).await.unwrap().is_none(),
        "the node still knows the dropped transaction"
    );
    // Only a broadcast after the drop can bring it back.
    let mut again = Vec::new();
    for _ in 0..200 {
        again = pooled(&p, me).await;
        if !again.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(
        again.first().map(|(n, _)| *n),
        Some(nonce),
        "not sent again"
    );
    p.raw_request::<_, serde_json::Value>("anvil_setAutomine".into(), (true,))
        .await
        .unwrap();
    let receipt = send.await.unwrap().unwrap();
    assert!(receipt.status());
    let mined = p
        .get_transaction_by_hash(receipt.transaction_hash)
        .await
        .unwrap()
        .expect("the mined transaction is known");
    assert_eq!(alloy::consensus::Transaction::nonce(&mined), nonce);
    assert!(
        p.get_transaction_receipt(receipt.transaction_hash)
            .await
            .unwrap()
            .is_some(),
        "no receipt for the rebroadcast transaction"
    );
    let allowance = c.token().allowance(me, hub).call().await.unwrap();
    assert_eq!(allowance, U256::from(42));
}

/// The (nonce, hash) of `who`'s transactions waiting in the node's pool (`txpool_content`).
async fn pooled(p: &impl Provider, who: Address) -> Vec<(u64, B256)> {
    let none: Vec<()> = Vec::new();
    let content: serde_json::Value = p.raw_request("txpool_content".into(), none).await.unwrap();
    let mut found = Vec::new();
    for section in ["pending", "queued"] {
        let Some(by_sender) = content[section].as_object() else {
            continue;
        };
        for (sender, txs) in by_sender {
            if !sender.eq_ignore_ascii_case(&who.to_string()) {
                continue;
            }
            for tx in txs.as_object().into_iter().flat_map(|m| m.values()) {
                let nonce = tx["nonce"]
                    .as_str()
                    .and_then(|n| u64::from_str_radix(n.trim_start_matches("0x"), 16).ok());
                let hash = tx["hash"].as_str().and_then(|h| h.parse::<B256>().ok());
                if let (Some(nonce), Some(hash)) = (nonce, hash) {
                    found.push((nonce, hash));
                }
            }
        }
    }
    found.sort();
    found
}

/// A small deterministic generator (no extra dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<T: Clone>(&mut self, options: &[T]) -> T {
        options[(self.next() % options.len() as u64) as usize].clone()
    }
}

/// The hub's error name from a failed `eth_call`, or `None` when it succeeded.
async fn hub_verdict(c: &Client, o: &Orders) -> Option<String> {
    let hub = c.hub();
    match hub
        .matchOrders(
            (&o.app).into(),
            (&o.dataset).into(),
            (&o.pool).into(),
            (&o.request).into(),
        )
        .call()
        .await
    {
        Ok(_) => None,
        Err(e) => Some(hub_error_name(&e)),
    }
}

/// The name of the hub's custom error behind a failed call (panics on any other failure, so a
/// test cannot mistake an unrelated revert for the one it expects).
fn hub_error_name(e: &alloy::contract::Error) -> String {
    let decoded = e
        .as_decoded_interface_error::<IHub::IHubErrors>()
        .unwrap_or_else(|| panic!("undecodable revert: {e}"));
    let debug = format!("{decoded:?}");
    debug.split('(').next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn the_rust_compatibility_check_agrees_with_match_orders() {
    let devnet = Devnet::start().await.unwrap();
    let (base, clients) = setup(&devnet).await;
    let requester = &clients[4];
    let stranger = Address::repeat_byte(0x55);
    let big = decloud_protocol::matching::MAX_PRICE + U256::from(1);
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for case in 0..150 {
        let mut o = base.clone();
        for _ in 0..(1 + rng.next() % 2) {
            match rng.next() % 14 {
                0 => o.request.app = rng.pick(&[stranger, o.app.app]),
                1 => o.request.dataset = rng.pick(&[stranger, Address::ZERO, o.dataset.dataset]),
                2 => o.request.workerpool = rng.pick(&[stranger, Address::ZERO, o.pool.workerpool]),
                3 => o.request.category = rng.pick(&[0, 1, 2]),
                4 => o.request.trust = rng.pick(&[0, 1, 10, 11, (1 << 32) + 1]),
                5 => o.pool.trust = rng.pick(&[1, 10, (1 << 32) + 5]),
                6 => {
                    o.app.app_price =
                        rng.pick(&[U256::from(APP_PRICE - 1), U256::from(APP_PRICE + 1)])
                }
                7 => {
                    o.request.dataset_max_price =
                        rng.pick(&[U256::from(DATASET_PRICE - 1), U256::from(DATASET_PRICE)])
                }
                8 => {
                    o.pool.workerpool_price = big;
                    o.request.workerpool_max_price = rng.pick(&[big, U256::from(POOL_PRICE)]);
                }
                9 => {
                    o.app.workerpool_restrict =
                        rng.pick(&[Address::ZERO, o.pool.workerpool, stranger])
                }
                10 => {
                    o.dataset.requester_restrict =
                        rng.pick(&[Address::ZERO, o.request.requester, stranger])
                }
                11 => {
                    o.pool.dataset_restrict =
                        rng.pick(&[Address::ZERO, o.dataset.dataset, stranger])
                }
                12 => o.request.tag = rng.pick(&[Tag::NONE, Tag::bit(3), Tag::bit(9)]),
                _ => {
                    o.pool.tag = rng.pick(&[Tag::NONE, Tag::bit(3), Tag::bit(3).union(Tag::bit(9))])
                }
            }
        }
        o.sign(&clients);
        let ours = decloud_protocol::matching::check(&o.app, &o.dataset, &o.pool, &o.request)
            .err()
            .map(|e| e.hub_error().to_string());
        let theirs = hub_verdict(requester, &o).await;
        assert_eq!(ours, theirs, "case {case}");
        *seen.entry(ours.unwrap_or_else(|| "ok".into())).or_default() += 1;
    }
    eprintln!("verdicts: {seen:?}");
    // The cases reach most checks, and some matches succeed.
    assert!(seen.contains_key("ok"), "{seen:?}");
    assert!(seen.len() >= 10, "{seen:?}");
}
