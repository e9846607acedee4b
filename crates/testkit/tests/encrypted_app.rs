//! The code goes to the data, and neither owner sees the other's asset: an **encrypted app**
//! (its module age-encrypted, only the ciphertext in storage, its key an app secret the SMS
//! releases only to an attested enclave) runs in a TEE task over a **local dataset** on its
//! owner's worker (a `sim` enclave), on a real devnet. The result is right; the app's plaintext
//! bytes are in no file and no log of the dataset owner's worker, the scheduler, the storage or
//! the SMS, and in no byte the owner's worker sent (recorded by proxies in front of the
//! scheduler, the storage, the chain and the SMS); the dataset's marker is nowhere but in its
//! file on the owner's machine. A deal without the TEE tag can't run the encrypted app, and
//! says why.

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{B256, U256};
use alloy::signers::local::PrivateKeySigner;
use decloud_chain::client::Client;
use decloud_chain::contracts::IHub;
use decloud_scheduler::db::ReplicateStatus;
use decloud_sms::SmsClient;
use decloud_tee::TeeKind;
use decloud_testkit::confidential::{
    Recorder, confine_to_owner, deploy_encrypted_tee_app, files_containing,
};
use decloud_testkit::logs::contains;
use decloud_testkit::pool::{APP_OWNER, DealRequest, Pool, PoolOptions};
use decloud_testkit::{Devnet, fixtures, logs};
use serde_json::Value;

const ADMIN_PASSWORD: &str = "pool administrator password";
const TIMEOUT: Duration = Duration::from_secs(240);

/// Windows of `module` that appear nowhere by chance (no long run of one byte): what a copy of
/// the plaintext, whole or in part, would contain.
fn needles(module: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    for fifth in 1..5 {
        let start = module.len() * fifth / 5;
        let window = &module[start..start + 48];
        let distinct = window
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        if distinct >= 16 {
            out.push(window);
        }
    }
    assert!(out.len() >= 2, "the module has too few distinctive windows");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_encrypted_app_runs_on_a_local_dataset_and_neither_owner_sees_the_others_asset() {
    let logs = logs::capture();
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(
        &devnet,
        PoolOptions {
            workers: 1,
            plain_http: true,
            pool_admin_password: Some(ADMIN_PASSWORD.into()),
            tee: Some(TeeKind::Sim),
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let chain = Client::connect(&pool.profile, None, None).await.unwrap();
    let scheduler = pool.scheduler_url().unwrap();
    let sms_url = pool.sms_url().unwrap();

    // The dataset owner's data stays on its machine, with a marker found nowhere by chance.
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
    confine_to_owner(&pool, ADMIN_PASSWORD, dataset, owners)
        .await
        .unwrap();

    // The app developer's module, encrypted: storage gets the ciphertext, the SMS the key.
    let module = fixtures::example_app("csv-stats").unwrap();
    let (app, key) = deploy_encrypted_tee_app(&pool, "csv-stats", &module)
        .await
        .unwrap();
    let sms = SmsClient::new(&sms_url).unwrap();
    decloud_client::secret::push_app_key(&sms, &devnet.signer(APP_OWNER), app, &key)
        .await
        .unwrap();

    // The dataset owner's TEE worker beside the data, every byte it sends recorded.
    let recorder = Recorder::default();
    let mut proxied = Vec::new();
    for url in [
        &scheduler,
        &pool.storage_url,
        &pool.profile.rpc_url,
        &sms_url,
    ] {
        proxied.push(recorder.proxy(url).await.unwrap());
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
    config.tee = Some(decloud_worker::TeeConfig {
        attester: Arc::new(decloud_tee::sim::SimAttester::new(pool.profile.chain_id).unwrap()),
        sms_urls: vec![proxied[3].clone()],
    });
    let owners_worker = decloud_worker::start(config).await.unwrap();

    // The TEE task: on the owner's worker, the app opened in its enclave, the result right.
    let task = pool
        .deal(&DealRequest::new(app).dataset(dataset).tee())
        .await
        .unwrap()
        .task_ids()[0];
    pool.wait_completed(&[task], TIMEOUT).await.unwrap();
    let replicates = pool
        .scheduler()
        .unwrap()
        .store()
        .replicates(task)
        .await
        .unwrap();
    assert_eq!(replicates.len(), 1, "one enclave, no replicas");
    assert_eq!(
        replicates[0].worker, owners,
        "the task left the owner's worker"
    );
    let finalized = fixtures::hub_events::<IHub::TaskFinalize>(&chain, task)
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

    // Without the TEE tag nobody gets the key, so nobody runs the app: the task says why.
    let plain = pool.deal(&DealRequest::new(app)).await.unwrap().task_ids()[0];
    let failed = fixtures::eventually(TIMEOUT, "the plain task did not fail", || async {
        let r = fixtures::scheduler_task(&scheduler, plain).await?;
        r.replicates
            .into_iter()
            .find(|r| r.status == ReplicateStatus::Failed)
    })
    .await
    .unwrap();
    let reason = failed.reason.unwrap();
    assert!(
        reason.contains(&format!("app {app} is encrypted")) && reason.contains("TEE task"),
        "{reason}"
    );
    assert!(!reason.contains('\n'), "{reason}");
    assert!(
        fixtures::hub_events::<IHub::TaskContribute>(&chain, plain)
            .await
            .unwrap()
            .is_empty(),
        "the plain task contributed"
    );
    owners_worker.stop().await;

    // The app's plaintext: in no file of the pool (the scheduler's database, every storage
    // blob, the SMS's database, the other worker), of the owner's machine (its worker's apps,
    // state and results), in no byte the owner's worker sent, in no log.
    let recorded = recorder.bytes();
    assert!(
        contains(&recorded, b"/v1/releases"),
        "the proxies recorded the worker's traffic"
    );
    for needle in needles(&module) {
        let leaked = files_containing(pool.data_dir(), needle);
        assert!(
            leaked.is_empty(),
            "the pool's files hold the app: {leaked:?}"
        );
        let leaked = files_containing(owners_machine.path(), needle);
        assert!(
            leaked.is_empty(),
            "the owner's machine holds the app: {leaked:?}"
        );
        assert!(
            !contains(&recorded, needle),
            "the owner's worker sent the app"
        );
        assert!(!logs.contain(needle), "a log holds the app");
    }
    // What the owner's worker downloaded is the ciphertext.
    let apps = owners_machine.path().join("worker/apps");
    let kept: Vec<_> = std::fs::read_dir(&apps).unwrap().flatten().collect();
    assert!(!kept.is_empty(), "the owner's worker kept no app");
    for entry in kept {
        assert!(
            decloud_age::is_age(&std::fs::read(entry.path()).unwrap()),
            "{} is not the ciphertext",
            entry.path().display()
        );
    }

    // The dataset's marker: only in its file on the owner's machine.
    assert_eq!(
        files_containing(owners_machine.path(), marker.as_bytes()),
        vec![data_path.clone()]
    );
    let leaked = files_containing(pool.data_dir(), marker.as_bytes());
    assert!(
        leaked.is_empty(),
        "the pool's files hold the data: {leaked:?}"
    );
    assert!(
        !contains(&recorded, marker.as_bytes()),
        "the owner's worker sent the data"
    );
    assert!(!logs.contain(marker.as_bytes()), "a log holds the data");
    assert!(
        !contains(&archive, marker.as_bytes()),
        "the result holds it"
    );
}
