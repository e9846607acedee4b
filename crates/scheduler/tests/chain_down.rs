//! A scheduler whose chain stops answering says so with a 5xx, never with a 4xx that blames
//! the worker's request.

use alloy::signers::local::PrivateKeySigner;
use decloud_scheduler::client::{ClientError, SchedulerClient};
use decloud_testkit::Devnet;
use decloud_testkit::pool::{Pool, PoolOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_while_the_chain_is_down_is_a_5xx_naming_the_chain() {
    let devnet = Devnet::start().await.unwrap();
    let options = PoolOptions {
        workers: 0,
        ..PoolOptions::default()
    };
    let pool = Pool::start(&devnet, options).await.unwrap();
    let worker = SchedulerClient::new(
        &pool.scheduler_url().unwrap(),
        PrivateKeySigner::random(),
        1,
    )
    .unwrap();

    // The chain goes away: anvil is stopped. The login reads the worker's score on chain.
    drop(devnet);
    match worker.login().await {
        Err(ClientError::Refused { status, message }) => {
            assert!((500..600).contains(&status), "{status}: {message}");
            assert!(message.contains("chain"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}
