//! `decloud task show` and `decloud task retry-callback` through the real binary, against a
//! devnet and a real pool: a consumer that refuses results has its failure shown (text and
//! `--json`), a retry is refused in one line while it still refuses, and delivers once it is fixed.
//! For a proxy task (two chains), `task show` follows it to the gateway on chain B: not delivered
//! yet, a consumer failure the gateway recorded, then delivered.

mod common;

use std::time::Duration;

use alloy::primitives::{Address, B256, FixedBytes, U256, keccak256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol;
use alloy::sol_types::SolEvent;
use common::Cli;
use decloud_oracle::contracts::{Gateway, StakeVoteFeed};
use decloud_oracle::delivery::{DeliveryWire, RECEIVE_RESULT};
use decloud_testkit::Devnet;
use decloud_testkit::fixtures::{deploy_test_contract, example_app};
use decloud_testkit::oracle::{TwoChains, relay};
use decloud_testkit::pool::{DealRequest, Pool, PoolOptions};

sol! {
    /// contracts/test/utils/FixableConsumer.sol: refuses results until `fix()`.
    #[sol(rpc)]
    interface IFixableConsumer {
        function fix() external;
        function received(bytes32 taskid) external view returns (bytes memory);
    }
}

/// The consumer's owner on chain B.
const OWNER: usize = 1;
/// The relayer's account on chain B.
const RELAYER: usize = 9;

/// The reason FixableConsumer gives while it refuses.
const PAUSED: &str = "consumer is paused for maintenance";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_callback_is_shown_and_retried_from_the_cli() {
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(
        &devnet,
        PoolOptions {
            workers: 1,
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let median = pool
        .deploy_app("median", &example_app("median").unwrap())
        .await
        .unwrap();
    let provider = devnet.provider(0);
    let consumer: Address = deploy_test_contract(&provider, "FixableConsumer")
        .await
        .unwrap();
    let deal = pool
        .deal(
            &DealRequest::new(median)
                .args("5 -1 9 3 7")
                .callback(consumer),
        )
        .await
        .unwrap();
    let task: B256 = deal.task_ids()[0];
    pool.wait_completed(&[task], Duration::from_secs(120))
        .await
        .unwrap();
    let task = task.to_string();
    let env = Cli::new(devnet.home(), "");
    env.import("stranger", 7);

    // The failure is on record, with the consumer's own reason and what to do.
    let text = env.ok(&["task", "show", &task]);
    let line = text
        .lines()
        .find(|l| l.starts_with("callback") && l.contains("FAILED"))
        .unwrap_or_else(|| panic!("no failed callback line in:\n{text}"));
    assert!(line.contains(PAUSED), "{line}");
    assert!(line.contains("decloud task retry-callback"), "{line}");
    let shown = env.json(&["task", "show", &task]);
    assert_eq!(shown["status"], "COMPLETED", "{shown}");
    let reason = shown["callback_failed"].as_str().unwrap_or_default();
    assert!(reason.contains(PAUSED), "{shown}");
    // Not a proxy task: no destination chain.
    assert!(shown["destination"].is_null(), "{shown}");
    assert!(!text.contains("on chain B"), "{text}");

    // While the consumer still refuses, a retry says so in one line; the failure stays.
    let err = env.fails(&["task", "retry-callback", &task, "--wallet", "stranger"]);
    assert!(err.contains("refused"), "{err}");
    assert!(err.contains(PAUSED), "{err}");
    let shown = env.json(&["task", "show", &task]);
    assert!(shown["callback_failed"].is_string(), "{shown}");

    // Fixed, the retry by anyone delivers the task's callback data.
    IFixableConsumer::new(consumer, &provider)
        .fix()
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let retried = env.json(&["task", "retry-callback", &task, "--wallet", "stranger"]);
    assert_eq!(retried["delivered"], true, "{retried}");
    assert!(retried["reason"].is_null(), "{retried}");
    let received = IFixableConsumer::new(consumer, &provider)
        .received(task.parse().unwrap())
        .call()
        .await
        .unwrap();
    assert_eq!(
        received,
        shown["callback_data"]
            .as_str()
            .unwrap()
            .parse::<alloy::primitives::Bytes>()
            .unwrap()
    );
    let shown = env.json(&["task", "show", &task]);
    assert!(shown["callback_failed"].is_null(), "{shown}");
    let text = env.ok(&["task", "show", &task]);
    assert!(!text.contains("FAILED"), "{text}");

    // Nothing is left to retry: one line that says where to look.
    let err = env.fails(&["task", "retry-callback", &task, "--wallet", "stranger"]);
    assert!(err.contains("no failed callback"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_show_follows_a_proxy_task_to_the_gateway_on_chain_b() {
    let chains = TwoChains::start().await.unwrap();
    let b = chains.b().clone();
    let pool = Pool::start(
        &chains.a,
        PoolOptions {
            workers: 1,
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let median = pool
        .deploy_app("median", &example_app("median").unwrap())
        .await
        .unwrap();
    // A vote feed on B where the workerpool has no weight yet: it refuses with NoWeight.
    let owner = decloud_chain::accounts::dev_signer(OWNER).address();
    let feed = StakeVoteFeed::deploy(
        chains.b_provider(OWNER),
        b.gateway,
        keccak256("vote"),
        owner,
    )
    .await
    .unwrap();
    chains
        .open_consumer(OWNER, *feed.address(), pool.workerpool, None)
        .await
        .unwrap();
    let deal = pool
        .deal(
            &chains
                .proxy_request(median, *feed.address(), Some(300_000))
                .args("7 8 9"),
        )
        .await
        .unwrap();
    let task = deal.task_ids()[0];
    pool.wait_completed(&[task], Duration::from_secs(120))
        .await
        .unwrap();
    let env = Cli::new(chains.a.home(), "");
    let id = task.to_string();

    // Final on A, nothing signed or carried yet.
    let shown = env.json(&["task", "show", &id]);
    let dest = &shown["destination"];
    assert_eq!(dest["destination"]["chain_id"], b.chain_id, "{shown}");
    assert_eq!(
        dest["key"],
        chains.delivery_key(task, *feed.address()).to_string(),
        "{shown}"
    );
    assert_eq!(dest["outcome"]["state"], "pending", "{shown}");
    let text = env.ok(&["task", "show", &id]);
    assert!(on_chain_b(&text).contains("not delivered yet"), "{text}");

    // The committee signs, a relayer carries it, the feed refuses: the gateway's record shows.
    let nodes = chains.signers().await.unwrap();
    let mut relayer = chains.relayer(&nodes, RELAYER, 10).unwrap();
    relay(&mut relayer, 1, Duration::from_secs(120))
        .await
        .unwrap();
    let shown = env.json(&["task", "show", &id]);
    let outcome = &shown["destination"]["outcome"];
    assert_eq!(outcome["state"], "failed", "{shown}");
    assert_eq!(outcome["out_of_gas"], false, "{shown}");
    assert!(
        outcome["reason"].as_str().unwrap().contains("NoWeight"),
        "{shown}"
    );
    let text = env.ok(&["task", "show", &id]);
    let line = on_chain_b(&text);
    assert!(
        line.contains("FAILED") && line.contains("NoWeight"),
        "{text}"
    );

    // Fixed by its owner and retried by a stranger: delivered.
    // A fresh provider: open_consumer sent from OWNER through another one (nonces).
    StakeVoteFeed::new(*feed.address(), chains.b_provider(OWNER))
        .setWeight(pool.workerpool, U256::from(1))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let failed = &chains
        .b_provider(0)
        .get_logs(
            &Filter::new()
                .address(b.gateway)
                .event_signature(Gateway::CallbackFailed::SIGNATURE_HASH)
                .from_block(0),
        )
        .await
        .unwrap()[0]
        .log_decode::<Gateway::CallbackFailed>()
        .unwrap()
        .inner
        .data;
    let delivery = DeliveryWire {
        source_chain_id: chains.profile.source.chain_id,
        source_hub: chains.profile.source.hub,
        dealid: deal.id(),
        taskid: task,
        app: median,
        dataset: Address::ZERO,
        workerpool: pool.workerpool,
        tag: B256::ZERO,
        trust: U256::from(1),
        digest: keccak256(&failed.data),
        consumer: *feed.address(),
        method: FixedBytes(RECEIVE_RESULT),
        gas_limit: 300_000,
    };
    Gateway::new(b.gateway, chains.b_provider(7))
        .retry((&delivery).into(), failed.data.clone())
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let shown = env.json(&["task", "show", &id]);
    assert_eq!(
        shown["destination"]["outcome"]["state"], "delivered",
        "{shown}"
    );
    let text = env.ok(&["task", "show", &id]);
    assert_eq!(
        on_chain_b(&text).split_whitespace().nth(3),
        Some("delivered"),
        "{text}"
    );
}

/// The `on chain B` line of `task show`'s text.
fn on_chain_b(text: &str) -> &str {
    text.lines()
        .find(|l| l.starts_with("on chain B"))
        .unwrap_or_else(|| panic!("no 'on chain B' line in:\n{text}"))
}
