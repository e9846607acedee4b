//! Send the code to the data: a **local** dataset is registered with its checksum and never
//! uploaded; its owner runs a worker beside it (`--data 0xDATASET=PATH`); the pool confines the
//! dataset to its owner's private worker, so every task on it goes there even while two other
//! workers sit idle and the owner's is busy; the owner's worker reads it from the path. The
//! bytes never leave: a marker in the dataset is in no other worker's files, no storage blob,
//! not the scheduler's database, not the result, and in none of the bytes the owner's worker
//! sent (to the scheduler, the storage node and the chain, recorded by proxies in front of
//! each; the pool speaks plain HTTP so the recording sees the requests' bodies).

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::signers::local::PrivateKeySigner;
use decloud_chain::client::Client;
use decloud_chain::contracts::IHub;
use decloud_testkit::Devnet;
use decloud_testkit::confidential::{Recorder, confine_to_owner, files_containing};
use decloud_testkit::fixtures;
use decloud_testkit::logs::contains;
use decloud_testkit::pool::{DealRequest, Pool, PoolOptions};
use serde_json::Value;

const ADMIN_PASSWORD: &str = "pool administrator password";
const TIMEOUT: Duration = Duration::from_secs(240);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_local_dataset_runs_only_on_its_owners_worker_and_its_bytes_never_leave() {
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(
        &devnet,
        PoolOptions {
            workers: 2,
            plain_http: true,
            pool_admin_password: Some(ADMIN_PASSWORD.into()),
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let chain = Client::connect(&pool.profile, None, None).await.unwrap();
    let scheduler = pool.scheduler_url().unwrap();

    // The owner's data, with a marker that appears nowhere by chance, stays in its directory.
    let owners_machine = tempfile::tempdir().unwrap();
    let marker = format!("private-row-{}", alloy::hex::encode(&B256::random()[..8]));
    let csv = format!("day,price,note\n1,10,{marker}\n2,20,x\n3,30,y\n4,40,z\n");
    let data_path = owners_machine.path().join("prices.csv");
    std::fs::write(&data_path, &csv).unwrap();
    let dataset = pool
        .deploy_local_dataset("prices.csv", csv.as_bytes())
        .await
        .unwrap();

    let owners_key = PrivateKeySigner::random();
    let owners = owners_key.address();
    decloud_chain::devnet::fund(
        &pool.profile,
        owners,
        U256::from(100u64) * U256::from(10u64).pow(U256::from(18)),
        U256::from(10_000_000_000_000u64),
    )
    .await
    .unwrap();
    // The pool: ann's private worker, and the dataset confined to ann.
    confine_to_owner(&pool, ADMIN_PASSWORD, dataset, owners)
        .await
        .unwrap();

    // The owner's worker, beside the data, every byte it sends recorded.
    let recorder = Recorder::default();
    let mut proxied = Vec::new();
    for url in [
        scheduler.clone(),
        pool.storage_url.clone(),
        pool.profile.rpc_url.clone(),
    ] {
        proxied.push(recorder.proxy(&url).await.unwrap());
    }
    let mut config = decloud_worker::WorkerConfig::new(
        &proxied[0],
        pool.profile.clone(),
        owners_key,
        owners_machine.path().join("worker"),
        &proxied[1],
    );
    config.rpc = Some(proxied[2].clone());
    config.allow_private_hosts = true;
    config.claim_wait = Duration::from_secs(2);
    config.stake_reserve = U256::from(300_000_000_000u64);
    config.local_data = vec![(dataset, data_path.clone())];
    let owners_worker = decloud_worker::start(config).await.unwrap();

    // Four tasks; the owner's worker runs one at a time, the two others stay idle.
    let module = fixtures::example_app("csv-stats").unwrap();
    let app = pool.deploy_app("csv-stats", &module).await.unwrap();
    let deal = pool
        .deal(&DealRequest::new(app).dataset(dataset).volume(4))
        .await
        .unwrap();
    let tasks = deal.task_ids();
    pool.wait_completed(&tasks, TIMEOUT).await.unwrap();
    let store = pool.scheduler().unwrap().store();
    for task in &tasks {
        let replicates = store.replicates(*task).await.unwrap();
        assert!(!replicates.is_empty(), "task {task} has no replicate");
        for r in &replicates {
            assert_eq!(r.worker, owners, "task {task} reached another worker");
        }
    }
    // The app saw the data on the owner's machine.
    let finalized = fixtures::hub_events::<IHub::TaskFinalize>(&chain, tasks[0])
        .await
        .unwrap();
    let location = String::from_utf8(finalized[0].resultsLocation.to_vec()).unwrap();
    let archive = fixtures::download(&location, 1 << 20).await.unwrap();
    let out = tempfile::tempdir().unwrap();
    decloud_storage::results::unpack(&archive, out.path(), 1 << 20).unwrap();
    let stats: Value =
        serde_json::from_slice(&std::fs::read(out.path().join("stats.json")).unwrap()).unwrap();
    assert_eq!(stats["rows"], 4, "{stats}");
    assert_eq!(stats["columns"]["price"]["mean"].as_f64(), Some(25.0));

    // The bytes never left: not in what the owner's worker sent, not in any file of the pool
    // (the scheduler's database, every storage blob, the other workers' directories), not in
    // the result.
    owners_worker.stop().await;
    let recorded = recorder.bytes();
    assert!(
        contains(&recorded, b"POST /v1/claim") || contains(&recorded, b"/v1/claim"),
        "the proxies recorded the worker's traffic"
    );
    assert!(
        !contains(&recorded, marker.as_bytes()),
        "the owner's worker sent the marker"
    );
    let leaked = files_containing(pool.data_dir(), marker.as_bytes());
    assert!(leaked.is_empty(), "files hold the marker: {leaked:?}");
    assert!(
        !contains(&archive, marker.as_bytes()),
        "the result holds it"
    );
    assert_ne!(owners, Address::ZERO);
}
