//! TEE tasks end to end on a real devnet: a workerpool whose worker runs `sim` enclaves, an SMS
//! registered as an attester, a requester secret pushed to it, and TEE deals (k = 1). The task
//! completes on chain in one `contributeAndFinalize` (no replication), the app reads the secret
//! from `/secrets/NAME`, and no secret byte is left in the logs, the pool's files or the result.
//! A lying worker (evidence for another app, a second enclave key) is refused and contributes
//! nothing.

use std::time::Duration;

use alloy::primitives::{B256, Bytes};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolValue;
use decloud_chain::client::Client;
use decloud_chain::contracts::IHub;
use decloud_protocol::TaskStatus;
use decloud_protocol::result::{authorization_signer, commitment, sign_enclave};
use decloud_protocol::tee::{EnclaveAttested, SignedAttestation, enclave_evidence, tcb_status};
use decloud_scheduler::db::ReplicateStatus;
use decloud_sms::SmsClient;
use decloud_sms::client::SmsClientError;
use decloud_sms::seal;
use decloud_sms::wire::ReleaseRequest;
use decloud_storage::ContentHash;
use decloud_tee::sim::SimAttester;
use decloud_tee::{Attester, ReportDataFields, TeeKind};
use decloud_testkit::confidential::files_containing;
use decloud_testkit::logs::contains;
use decloud_testkit::pool::{DealRequest, FIRST_WORKER, POOL_OWNER, Pool, PoolOptions, REQUESTER};
use decloud_testkit::{Devnet, fixtures, logs};
use decloud_worker::SchedulerClient;

const TIMEOUT: Duration = Duration::from_secs(120);

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn status(chain: &Client, task: B256) -> TaskStatus {
    let view = chain.hub().task(task).call().await.unwrap();
    TaskStatus::from_u8(view.status).unwrap()
}

/// The result archive of a finalized task.
async fn result_archive(chain: &Client, task: B256) -> Vec<u8> {
    let finalized = fixtures::hub_events::<IHub::TaskFinalize>(chain, task)
        .await
        .unwrap();
    assert_eq!(finalized.len(), 1, "finalized once");
    let location = String::from_utf8(finalized[0].resultsLocation.to_vec()).unwrap();
    fixtures::download(&location, 1 << 20).await.unwrap()
}

fn file_in(archive: &[u8], name: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    decloud_storage::results::unpack(archive, dir.path(), 1 << 20).unwrap();
    std::fs::read_to_string(dir.path().join(name)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tee_task_gets_its_secret_in_an_attested_enclave_and_a_liar_gets_nothing() {
    let logs = logs::capture();
    let devnet = Devnet::start().await.unwrap();
    let mut pool = Pool::start(
        &devnet,
        PoolOptions {
            tee: Some(TeeKind::Sim),
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let chain = Client::connect(&pool.profile, None, None).await.unwrap();
    let chain_id = pool.profile.chain_id;
    let sms_url = pool.sms_url().unwrap();
    let sms = SmsClient::new(&sms_url).unwrap();
    let sms_host = sms.url().to_owned();

    // The requester's secret, random so that it can't appear anywhere by chance.
    let secret = format!("tok-{}", alloy::hex::encode(B256::random()));
    sms.push_requester_secret(
        &devnet.signer(REQUESTER),
        "api-token",
        secret.as_bytes(),
        now(),
    )
    .await
    .unwrap();
    let module = fixtures::example_app("secret-digest").unwrap();
    let app = pool.deploy_tee_app("secret-digest", &module).await.unwrap();

    // The honest TEE task: completed in one transaction, no replication.
    let deal = pool
        .deal(
            &DealRequest::new(app)
                .tee()
                .args("api-token")
                .secret("api-token"),
        )
        .await
        .unwrap();
    let task = deal.task_ids()[0];
    pool.wait_completed(&[task], TIMEOUT).await.unwrap();
    let contributions = fixtures::hub_events::<IHub::TaskContribute>(&chain, task)
        .await
        .unwrap();
    assert_eq!(contributions.len(), 1, "one contribution, no replication");
    let archive = result_archive(&chain, task).await;
    let result = file_in(&archive, "result.txt");
    let digest = alloy::hex::encode(ContentHash::of(secret.as_bytes()).0);
    assert!(
        result.contains(&format!("api-token bytes={} sha256={digest}", secret.len())),
        "the app did not see the secret: {result}"
    );
    assert!(result.contains("secrets_read_only=true"), "{result}");
    assert!(
        !contains(&archive, secret.as_bytes()),
        "the result holds the secret"
    );
    let scheduler = pool.scheduler_url().unwrap();
    let report = fixtures::scheduler_task(&scheduler, task).await.unwrap();
    assert_eq!(report.replicates.len(), 1, "{:?}", report.replicates);

    // A deterministic failure of the app is a result too: signed and contributed.
    let failing = pool
        .deal(
            &DealRequest::new(app)
                .tee()
                .args("api-token not-released")
                .secret("api-token"),
        )
        .await
        .unwrap();
    let failing = failing.task_ids()[0];
    pool.wait_completed(&[failing], TIMEOUT).await.unwrap();
    let record = file_in(
        &result_archive(&chain, failing).await,
        decloud_runtime::ERROR_JSON,
    );
    assert!(record.contains("exit"), "{record}");

    // A secret the SMS does not hold: nothing is released, the replicate fails with a reason
    // naming the key holder, nothing is contributed.
    let unreleased = pool
        .deal(&DealRequest::new(app).tee().args("x").secret("never-pushed"))
        .await
        .unwrap();
    let unreleased = unreleased.task_ids()[0];
    let failed = fixtures::eventually(TIMEOUT, "the replicate did not fail", || async {
        let r = fixtures::scheduler_task(&scheduler, unreleased).await?;
        r.replicates
            .into_iter()
            .find(|r| r.status == ReplicateStatus::Failed)
    })
    .await
    .unwrap();
    let reason = failed.reason.unwrap();
    assert!(
        reason.contains("only 0 of the 1 key holder") && reason.contains(&sms_host),
        "{reason}"
    );
    assert!(!reason.contains('\n'), "{reason}");
    assert_ne!(status(&chain, unreleased).await, TaskStatus::Completed);

    // No secret byte anywhere: the logs, every file of the pool (databases, blobs, the
    // worker's state), the memory-backed secrets directories (removed after the run).
    let all_logs = logs.bytes();
    assert!(
        contains(&all_logs, b"TEE: SIMULATED"),
        "the worker's start line names the backend"
    );
    assert!(
        !contains(&all_logs, secret.as_bytes()),
        "a log holds the secret"
    );
    let leaked = files_containing(pool.data_dir(), secret.as_bytes());
    assert!(leaked.is_empty(), "files hold the secret: {leaked:?}");
    let prefix = format!("decloud-secrets-{}", &task.to_string()[2..14]);
    let left: Vec<_> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "secrets left in /dev/shm: {left:?}");

    // A lying worker: the same wallet, a modified worker (the honest one is stopped).
    pool.kill_worker(0).await;
    let liar_key = devnet.signer(FIRST_WORKER);
    let liar = SchedulerClient::new(&scheduler, liar_key.clone(), 1)
        .unwrap()
        .with_tee(decloud_protocol::pool::TeeBackend::Sim);
    liar.login().await.unwrap();
    let lied = pool
        .deal(
            &DealRequest::new(app)
                .tee()
                .args("api-token")
                .secret("api-token"),
        )
        .await
        .unwrap();
    let lied = lied.task_ids()[0];
    let assignment = fixtures::eventually(TIMEOUT, "the liar got no work", || async {
        liar.claim(Duration::from_secs(2))
            .await
            .ok()
            .flatten()
            .filter(|a| a.task_id == lied)
    })
    .await
    .unwrap();
    // Its evidence binds another app's checksum.
    let enclave = PrivateKeySigner::random();
    let (_h, h_public) = seal::generate_keypair().unwrap();
    let nonce = sms.challenge().await.unwrap().nonce;
    let fields = ReportDataFields {
        chain_id,
        task_id: lied,
        app_checksum: B256::repeat_byte(0xee),
        enclave: enclave.address(),
        hpke_public_key: h_public,
        nonce: nonce.0,
    };
    let evidence = SimAttester::new(chain_id)
        .unwrap()
        .evidence(&fields.report_data())
        .unwrap();
    let authorization = liar
        .enclave_authorization(lied, enclave.address())
        .await
        .unwrap();
    assert_eq!(authorization.enclave, enclave.address());
    assert_eq!(
        authorization_signer(
            &authorization.sign,
            liar_key.address(),
            lied,
            enclave.address()
        )
        .unwrap(),
        devnet.signer(POOL_OWNER).address(),
        "signed by the deal's scheduler"
    );
    // Asking again for the same enclave is a retry; another enclave is refused.
    assert_eq!(
        liar.enclave_authorization(lied, enclave.address())
            .await
            .unwrap(),
        authorization
    );
    let second = PrivateKeySigner::random();
    match liar.enclave_authorization(lied, second.address()).await {
        Err(decloud_scheduler::client::ClientError::Refused { status, message }) => {
            assert_eq!(status, 409);
            assert!(message.contains("one enclave per replicate"), "{message}");
        }
        other => panic!("a second enclave was authorized: {other:?}"),
    }
    let request = ReleaseRequest {
        deal_id: assignment.deal_id,
        index: assignment.index,
        worker: liar_key.address(),
        enclave: enclave.address(),
        hpke_public_key: alloy::hex::encode(h_public),
        nonce,
        evidence,
        authorization: authorization.sign.clone(),
        local_dataset: false,
    };
    match sms.release(&request).await {
        Err(SmsClientError::Refused { message, .. }) => {
            assert!(message.contains("report_data"), "{message}");
        }
        other => panic!("evidence for another app was released: {other:?}"),
    }
    // Contributing anyway, with an attestation it signed itself: the hub refuses it.
    let deal: decloud_protocol::typed::Deal =
        decloud_protocol::typed::Deal::abi_decode(&assignment.deal).unwrap();
    let digest = B256::repeat_byte(0x11);
    let c = commitment(liar_key.address(), lied, digest);
    let statement = EnclaveAttested {
        taskId: lied,
        enclave: enclave.address(),
        measurement: B256::from(decloud_tee::sim::sim_runner_measurements().measurement().0),
        tcbStatus: tcb_status::UP_TO_DATE,
        expiry: now() + 600,
        evidenceHash: B256::ZERO,
    };
    let own = SignedAttestation::sign(&statement, &chain.domain(), &liar_key).unwrap();
    let result = IHub::FastResult {
        digest,
        enclave: enclave.address(),
        enclaveSign: enclave_evidence(&sign_enclave(&enclave, &c).unwrap(), &[own]).unwrap(),
        authorizationSign: authorization.sign,
        resultsLocation: Bytes::from_static(b"file:///forged"),
        callbackData: Bytes::new(),
    };
    let liar_chain = Client::connect(&pool.profile, None, Some(liar_key.clone()))
        .await
        .unwrap();
    let refused = decloud_chain::attesters::contribute_and_finalize(
        &liar_chain,
        (&deal).into(),
        assignment.index,
        result,
    )
    .await;
    assert!(
        matches!(&refused, Err(e) if e.to_string().contains("not a registered attester")),
        "{refused:?}"
    );
    assert_ne!(status(&chain, lied).await, TaskStatus::Completed);
    assert!(
        fixtures::hub_events::<IHub::TaskContribute>(&chain, lied)
            .await
            .unwrap()
            .is_empty(),
        "the liar contributed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_without_a_tee_backend_is_never_handed_a_tee_task() {
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(&devnet, PoolOptions::default()).await.unwrap();
    let chain = Client::connect(&pool.profile, None, None).await.unwrap();
    let module = fixtures::example_app("secret-digest").unwrap();
    let app = pool.deploy_tee_app("secret-digest", &module).await.unwrap();
    let deal = pool
        .deal(&DealRequest::new(app).tee().args("api-token"))
        .await
        .unwrap();
    let task = deal.task_ids()[0];
    // A plain deal made after it: the worker claims oldest first, so by the time it completes
    // this one it has passed over the TEE task.
    let greeting = fixtures::example_app("greeting").unwrap();
    let plain_app = pool.deploy_app("greeting", &greeting).await.unwrap();
    let plain = pool.deal(&DealRequest::new(plain_app)).await.unwrap();
    pool.wait_completed(&plain.task_ids(), TIMEOUT)
        .await
        .unwrap();
    let scheduler = pool.scheduler_url().unwrap();
    let report = fixtures::scheduler_task(&scheduler, task).await.unwrap();
    assert!(report.replicates.is_empty(), "{:?}", report.replicates);
    assert_ne!(status(&chain, task).await, TaskStatus::Completed);
    assert!(
        fixtures::hub_events::<IHub::TaskContribute>(&chain, task)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_encrypted_dataset_opens_only_in_the_enclave_and_the_result_only_for_its_beneficiary() {
    let logs = logs::capture();
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(
        &devnet,
        PoolOptions {
            tee: Some(TeeKind::Sim),
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let chain = Client::connect(&pool.profile, None, None).await.unwrap();
    let sms = SmsClient::new(&pool.sms_url().unwrap()).unwrap();

    // The owner's dataset, encrypted (a marker row that appears nowhere by chance), and its key
    // at the SMS; the requester's result key, its recipient at the SMS.
    let marker = format!("secret-row-{}", alloy::hex::encode(&B256::random()[..8]));
    let plain = format!("day,price,{marker}\n1,10,1\n2,20,1\n3,30,1\n");
    let dataset_key = decloud_age::Identity::generate().unwrap();
    let sealed = decloud_age::encrypt(plain.as_bytes(), &[dataset_key.recipient()]).unwrap();
    let dataset = pool.deploy_dataset("prices.csv", &sealed).await.unwrap();
    let owner = decloud_chain::accounts::dev_signer(decloud_testkit::pool::DATASET_OWNER);
    sms.push_dataset_key(
        &owner,
        dataset,
        dataset_key.to_secret_string().as_bytes(),
        now(),
    )
    .await
    .unwrap();
    let result_key = decloud_age::Identity::generate().unwrap();
    sms.push_result_recipient(
        &devnet.signer(REQUESTER),
        &result_key.recipient().to_string(),
        now(),
    )
    .await
    .unwrap();

    let module = fixtures::example_app("csv-stats").unwrap();
    let app = pool.deploy_tee_app("csv-stats", &module).await.unwrap();
    let deal = pool
        .deal(&DealRequest::new(app).tee().dataset(dataset))
        .await
        .unwrap();
    let task = deal.task_ids()[0];
    pool.wait_completed(&[task], TIMEOUT).await.unwrap();

    // What is stored is an age file, certified by its ciphertext's hash.
    let stored = result_archive(&chain, task).await;
    assert!(decloud_age::is_age(&stored), "the result is not encrypted");
    let finalized = fixtures::hub_events::<IHub::TaskFinalize>(&chain, task)
        .await
        .unwrap();
    assert!(!finalized.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let fetch = |identity: Option<decloud_age::Identity>, dest: std::path::PathBuf| {
        let chain = &chain;
        async move {
            decloud_client::result::fetch_verified(chain, task, &dest, 1 << 20, identity.as_ref())
                .await
        }
    };
    let err = fetch(None, dir.path().join("a")).await.unwrap_err();
    assert!(
        err.to_string().contains("encrypted to its beneficiary"),
        "{err}"
    );
    let stranger = decloud_age::Identity::generate().unwrap();
    let err = fetch(Some(stranger), dir.path().join("b"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not open"), "{err}");
    let opened = fetch(Some(result_key), dir.path().join("c")).await.unwrap();
    assert_eq!(opened.digest, B256::from(ContentHash::of(&stored).0));
    let stats: serde_json::Value =
        serde_json::from_slice(&std::fs::read(opened.dir.join("stats.json")).unwrap()).unwrap();
    assert_eq!(stats["rows"], 3, "the app saw the opened dataset: {stats}");
    assert_eq!(
        stats["columns"]["price"]["mean"].as_f64(),
        Some(20.0),
        "{stats}"
    );

    // The dataset's plaintext and keys are nowhere: logs, the pool's files (databases, blobs,
    // the worker's state and work directories), the stored result.
    let needles = [
        marker.as_bytes().to_vec(),
        dataset_key.to_secret_string().into_bytes(),
    ];
    for needle in &needles {
        assert!(
            !contains(&stored, needle),
            "the stored result holds a secret"
        );
        assert!(!logs.contain(needle), "a log holds a secret");
    }
    // The dataset was opened in memory, beside the secrets, never in the task's work
    // directory: nothing to wait for, the worker's directories never held it.
    let leaked: Vec<_> = needles
        .iter()
        .flat_map(|n| files_containing(pool.data_dir(), n))
        .collect();
    assert!(leaked.is_empty(), "files hold the dataset: {leaked:?}");
    let prefix = format!("decloud-secrets-{}", &task.to_string()[2..14]);
    let left: Vec<_> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .collect();
    assert!(
        left.is_empty(),
        "the opened dataset is left in /dev/shm: {left:?}"
    );
}
