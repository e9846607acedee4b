//! `decloud task show` and `decloud task retry-callback` through the real binary, against a
//! devnet and a real pool: a consumer that refuses results has its failure shown (text and
//! `--json`), a retry is refused in one line while it still refuses, and delivers once it is fixed.

mod common;

use std::time::Duration;

use alloy::primitives::{Address, B256};
use alloy::sol;
use common::Cli;
use decloud_testkit::Devnet;
use decloud_testkit::fixtures::{deploy_test_contract, example_app};
use decloud_testkit::pool::{DealRequest, Pool, PoolOptions};

sol! {
    /// contracts/test/utils/FixableConsumer.sol: refuses results until `fix()`.
    #[sol(rpc)]
    interface IFixableConsumer {
        function fix() external;
        function received(bytes32 taskid) external view returns (bytes memory);
    }
}

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
