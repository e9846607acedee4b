//! On a devnet, a node whose workers work for another node's scheduler makes them members of
//! that scheduler's workerpool (read from its `/v1/info`), so they are served.

use alloy::primitives::U256;
use decloud_local::node::{Node, NodeConfig, WorkerIdentity, WorkersConfig};
use decloud_local::pool::{DEVNET_MIN_WORKER_STAKE, worker_keys};
use decloud_local::{Devnet, Pool, PoolOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_of_a_remote_scheduler_join_its_pool() {
    let devnet = Devnet::start().await.unwrap();
    // A pool with its scheduler and storage, and no worker of its own.
    let options = PoolOptions {
        workers: 0,
        ..PoolOptions::default()
    };
    let pool = Pool::start(&devnet, options).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = worker_keys(&devnet, 1).await.unwrap().remove(0);
    let mut workers = WorkersConfig::new(
        devnet.profile().clone(),
        vec![WorkerIdentity {
            signer: key.clone(),
            data_dir: dir.path().join("worker"),
        }],
    );
    workers.scheduler_url = pool.scheduler_url();
    workers.results_store = Some(pool.storage_url.clone());
    workers.allow_private_hosts = true;
    workers.capacity = 2;
    let _node = Node::start(NodeConfig {
        workers: Some(workers),
        ..NodeConfig::default()
    })
    .await
    .unwrap();
    let chain = decloud_chain::client::Client::connect(devnet.profile(), None, None)
        .await
        .unwrap();
    let m = decloud_chain::actions::membership(&chain, pool.workerpool, key.address())
        .await
        .unwrap();
    assert!(m.is_member(), "{m:?}");
    assert_eq!(m.stake, U256::from(2 * DEVNET_MIN_WORKER_STAKE));
    assert_eq!(m.capacity(), 2);
}
