//! A scheduler whose chain stops answering says so with a 5xx, never with a 4xx that blames
//! the worker's request.

use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use decloud_protocol::pool::{Challenge, LoginRequest};
use decloud_testkit::Devnet;
use decloud_testkit::pool::{Pool, PoolOptions};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_while_the_chain_is_down_is_a_5xx_naming_the_chain() {
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(
        &devnet,
        PoolOptions {
            workers: 0,
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let url = pool.scheduler_url().unwrap();
    let http = reqwest::Client::new();
    let c: Challenge = http
        .get(format!("{url}/v1/login/challenge"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = PrivateKeySigner::random();
    let login = LoginRequest {
        worker: key.address(),
        nonce: c.nonce.clone(),
        deadline: c.deadline,
        signature: key
            .sign_message_sync(c.message.as_bytes())
            .unwrap()
            .to_string(),
        capacity: 1,
    };

    // The chain goes away: anvil is stopped.
    drop(devnet);
    let response = http
        .post(format!("{url}/v1/login"))
        .json(&login)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert!((500..600).contains(&status), "{status} {body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("chain"), "{error}");
}
