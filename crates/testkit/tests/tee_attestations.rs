//! k = 2 attestations from whole SMS nodes on a real devnet: three SMS nodes each holding the
//! whole secret, the first two registered attesters, the third not. With all up a deal that
//! needs two attestations completes; with one registered node down the unregistered one's
//! answer is not counted, so the task fails before running, saying which key holder refused
//! or did not count, and nothing is contributed. (Keepers, which hold shares, are in
//! `keepers.rs`.)

use std::time::Duration;

use alloy::primitives::B256;
use decloud_chain::client::Client;
use decloud_chain::contracts::IHub;
use decloud_protocol::TaskStatus;
use decloud_scheduler::db::ReplicateStatus;
use decloud_sms::SmsClient;
use decloud_tee::TeeKind;
use decloud_testkit::pool::{DealRequest, Pool, PoolOptions, REQUESTER};
use decloud_testkit::{Devnet, fixtures};

const TIMEOUT: Duration = Duration::from_secs(120);

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_attestations_from_two_registered_sms_nodes_and_an_unregistered_one_does_not_count() {
    let devnet = Devnet::start().await.unwrap();
    let mut pool = Pool::start(
        &devnet,
        PoolOptions {
            tee: Some(TeeKind::Sim),
            sms_nodes: 3,
            unregistered_sms: 1,
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let chain = Client::connect(&pool.profile, None, None).await.unwrap();
    let scheduler = pool.scheduler_url().unwrap();
    let urls = pool.keeper_urls();
    assert_eq!(urls.len(), 3);
    let secret = format!("tok-{}", alloy::hex::encode(B256::random()));
    let mut attesters = Vec::new();
    let mut hosts = Vec::new();
    for url in &urls {
        let sms = SmsClient::new(url).unwrap();
        attesters.push(sms.info().await.unwrap().attester);
        hosts.push(sms.url().to_owned());
        sms.push_requester_secret(
            &devnet.signer(REQUESTER),
            "api-token",
            secret.as_bytes(),
            now(),
        )
        .await
        .unwrap();
    }
    let module = fixtures::example_app("secret-digest").unwrap();
    let app = pool.deploy_tee_app("secret-digest", &module).await.unwrap();
    let request = DealRequest::new(app)
        .attestations(2)
        .args("api-token")
        .secret("api-token");

    // All up: completed with the two registered nodes' attestations.
    let task = pool.deal(&request).await.unwrap().task_ids()[0];
    pool.wait_completed(&[task], TIMEOUT).await.unwrap();
    let contributed = fixtures::hub_events::<IHub::TaskContribute>(&chain, task)
        .await
        .unwrap();
    assert_eq!(contributed.len(), 1);

    // A registered node down: two answers, but the unregistered node's does not count.
    pool.stop_keeper(0).await;
    let task = pool.deal(&request).await.unwrap().task_ids()[0];
    let failed = fixtures::eventually(TIMEOUT, "the replicate did not fail", || async {
        let r = fixtures::scheduler_task(&scheduler, task).await?;
        r.replicates
            .into_iter()
            .find(|r| r.status == ReplicateStatus::Failed)
    })
    .await
    .unwrap();
    let reason = failed.reason.unwrap();
    assert!(
        reason.contains("only 1 of the 2 key holder(s)")
            && reason.contains(&hosts[0])
            && reason.contains(&hosts[2])
            && reason.contains(&format!(
                "its signer {} is not an active attester",
                attesters[2]
            )),
        "{reason}"
    );
    assert!(!reason.contains(&hosts[1]), "{reason}");
    assert!(!reason.contains('\n'), "{reason}");
    let view = chain.hub().task(task).call().await.unwrap();
    assert_ne!(
        TaskStatus::from_u8(view.status),
        Some(TaskStatus::Completed)
    );
    assert!(
        fixtures::hub_events::<IHub::TaskContribute>(&chain, task)
            .await
            .unwrap()
            .is_empty(),
        "contributed with an attestation that does not count"
    );
}
