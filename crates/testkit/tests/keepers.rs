//! Keepers end to end on a real devnet: five keeper SMS nodes (each a registered, staked
//! attester), a requester secret split 3-of-5 among them, a TEE worker rebuilding it in its
//! enclave from any three shares. Keepers refuse whole secrets, shares meant for another keeper
//! and shares that do not match their commitments; with two keepers down tasks still run; with
//! three down the task fails saying why and nothing is opened; no keeper's files hold the
//! secret.

use std::time::Duration;

use alloy::primitives::B256;
use decloud_chain::client::Client;
use decloud_chain::contracts::IHub;
use decloud_protocol::TaskStatus;
use decloud_protocol::tee::SecretKind;
use decloud_scheduler::db::ReplicateStatus;
use decloud_sms::SmsClient;
use decloud_sms::client::{SmsClientError, keeper_group, push_to_keepers};
use decloud_sms::keepers::{Share, split};
use decloud_storage::ContentHash;
use decloud_tee::TeeKind;
use decloud_testkit::confidential::files_containing;
use decloud_testkit::pool::{DealRequest, Pool, PoolOptions, REQUESTER};
use decloud_testkit::{Devnet, fixtures, logs};

const TIMEOUT: Duration = Duration::from_secs(120);

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn result_text(chain: &Client, task: B256) -> String {
    let finalized = fixtures::hub_events::<IHub::TaskFinalize>(chain, task)
        .await
        .unwrap();
    assert_eq!(finalized.len(), 1, "finalized once");
    let location = String::from_utf8(finalized[0].resultsLocation.to_vec()).unwrap();
    let archive = fixtures::download(&location, 1 << 20).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    decloud_storage::results::unpack(&archive, dir.path(), 1 << 20).unwrap();
    std::fs::read_to_string(dir.path().join("result.txt")).unwrap()
}

async fn failure_reason(scheduler: &str, task: B256) -> String {
    let failed = fixtures::eventually(TIMEOUT, "the replicate did not fail", || async {
        let r = fixtures::scheduler_task(scheduler, task).await?;
        r.replicates
            .into_iter()
            .find(|r| r.status == ReplicateStatus::Failed)
    })
    .await
    .unwrap();
    failed.reason.unwrap()
}

fn refused(result: Result<impl std::fmt::Debug, SmsClientError>, needle: &str) {
    match result {
        Err(SmsClientError::Refused { message, .. }) => {
            assert!(message.contains(needle), "{message}")
        }
        other => panic!("not refused ({needle}): {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secret_split_3_of_5_opens_with_two_keepers_down_and_not_with_three() {
    let logs = logs::capture();
    let devnet = Devnet::start().await.unwrap();
    let mut pool = Pool::start(
        &devnet,
        PoolOptions {
            tee: Some(TeeKind::Sim),
            keepers: 5,
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(pool.sms_url().is_none(), "no single SMS beside the keepers");
    let chain = Client::connect(&pool.profile, None, None).await.unwrap();
    let scheduler = pool.scheduler_url().unwrap();
    let urls = pool.keeper_urls();
    let keepers: Vec<SmsClient> = urls.iter().map(|u| SmsClient::new(u).unwrap()).collect();
    let requester = devnet.signer(REQUESTER);

    // A keeper holds only its own, consistent share.
    refused(
        keepers[0]
            .push_requester_secret(&requester, "whole", b"a whole secret", now())
            .await,
        "holds only shares",
    );
    let (group, _) = keeper_group(&keepers, 3, 0).await.unwrap();
    let shares = split(&group, b"value").unwrap();
    let for_second = keepers[0]
        .prepare_write(
            &requester,
            SecretKind::RequesterSecret,
            requester.address(),
            "misrouted",
            &shares[1],
            now(),
        )
        .await
        .unwrap();
    refused(keepers[0].write(&for_second).await, "not this keeper");
    let mut altered = Share::decode(&shares[0]).unwrap();
    altered.value[31] ^= 1;
    let altered = keepers[0]
        .prepare_write(
            &requester,
            SecretKind::RequesterSecret,
            requester.address(),
            "altered",
            &altered.encode(),
            now(),
        )
        .await
        .unwrap();
    refused(
        keepers[0].write(&altered).await,
        "does not match its commitments",
    );

    // The requester's secret, split 3-of-5 by its client: each keeper gets only its share.
    let secret = format!("tok-{}", alloy::hex::encode(B256::random()));
    let written = push_to_keepers(
        &keepers,
        3,
        &requester,
        SecretKind::RequesterSecret,
        requester.address(),
        "api-token",
        secret.as_bytes(),
        now(),
    )
    .await
    .unwrap();
    assert_eq!(written.len(), 5);
    let module = fixtures::example_app("secret-digest").unwrap();
    let app = pool.deploy_tee_app("secret-digest", &module).await.unwrap();
    let expected = format!(
        "api-token bytes={} sha256={}",
        secret.len(),
        alloy::hex::encode(ContentHash::of(secret.as_bytes()).0)
    );
    let request = DealRequest::new(app)
        .attestations(3)
        .args("api-token")
        .secret("api-token");

    // All five up: three attestations on chain, the secret rebuilt in the enclave.
    let task = pool.deal(&request).await.unwrap().task_ids()[0];
    pool.wait_completed(&[task], TIMEOUT).await.unwrap();
    let result = result_text(&chain, task).await;
    assert!(result.contains(&expected), "{result}");

    // n − k = 2 keepers out: one down (its connection refused), one that takes connections
    // and never answers. The worker asks k keepers first (a rotation by task), the next one on a
    // failure and the others after a short wait: every task still runs.
    pool.stop_keeper(3).await;
    pool.stop_keeper(4).await;
    let hanging = hang_on(&urls[4]).await;
    let tasks = pool
        .deal(&request.clone().volume(3))
        .await
        .unwrap()
        .task_ids();
    pool.wait_completed(&tasks, TIMEOUT).await.unwrap();
    let text = logs.text();
    for task in tasks {
        let result = result_text(&chain, task).await;
        assert!(result.contains(&expected), "{result}");
        // A task's first three keepers are keeper (last byte of its id mod 5) and the next two:
        // unless that is keepers 0, 1, 2, the hanging one is asked before three have answered,
        // and only the wait for the others got the task its third share (keepers 0, 1, 2 may
        // also be slow enough for a wait on a loaded machine).
        let waited = text
            .lines()
            .any(|l| l.contains("asking the other key holders") && l.contains(&task.to_string()));
        assert!(
            waited || task.0[31] % 5 == 0,
            "task {task} did not wait for the others"
        );
    }
    hanging.abort();

    // k − 1 keepers answering: nothing opened, the task says why. The deal asks the hub for
    // two attestations only, so what stops it is the shares' threshold, not the hub's.
    pool.stop_keeper(2).await;
    let task = pool
        .deal(
            &DealRequest::new(app)
                .attestations(2)
                .args("api-token")
                .secret("api-token"),
        )
        .await
        .unwrap()
        .task_ids()[0];
    let reason = failure_reason(&scheduler, task).await;
    assert!(
        reason.contains("do not rebuild it")
            && reason.contains("only 2 of the 3 keeper shares")
            && reason.contains(keepers[2].url()),
        "{reason}"
    );
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
        "a task without its secret contributed"
    );

    // The secret is in no keeper's database, no file of the pool, no log.
    let leaked = files_containing(pool.data_dir(), secret.as_bytes());
    assert!(leaked.is_empty(), "files hold the secret: {leaked:?}");
    assert!(!logs.contain(secret.as_bytes()), "a log holds the secret");
}

/// Takes connections at `url`'s address (a stopped keeper's) and never answers them: a key
/// holder that hangs. Aborting the task closes them.
async fn hang_on(url: &str) -> tokio::task::JoinHandle<()> {
    let address = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', '#', '?']).next())
        .unwrap();
    let listener = tokio::net::TcpListener::bind(address).await.unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    })
}
