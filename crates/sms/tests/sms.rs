//! The SMS for real: a devnet with the protocol contracts, TEE deals matched and initialized on
//! chain, the SMS over TLS, evidence from the sim attester appraised by the DCAP verifier.
//! Every refusal is a one-line error and changes nothing.

use std::io::Write as _;
use std::time::Instant;

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::signers::local::PrivateKeySigner;
use decloud_chain::ChainProfile;
use decloud_chain::client::Client;
use decloud_chain::orders::{MatchedDeal, match_orders};
use decloud_protocol::tee::{MAX_SECRET_BYTES, SecretKind};
use decloud_protocol::{AppOrder, DatasetOrder, Order, RequestOrder, Tag, WorkerpoolOrder};
use decloud_sms::client::{SmsClientError, sign_write};
use decloud_sms::seal::{self, HpkePrivateKey};
use decloud_sms::wire::{PutSecretBody, ReleaseAnswer, ReleaseRequest};
use decloud_sms::{SecretStore, SmsClient, SmsConfig};
use decloud_tee::sim::{SimAttester, sim_runner_measurements};
use decloud_tee::{Attester, ReportDataFields, TeeKind};
use decloud_testkit::Devnet;
use decloud_testkit::pool::{APP_OWNER, DATASET_OWNER, POOL_OWNER, REQUESTER};

const TOKEN: &[u8] = b"tok-7f3a9c51e2d84b06a1c3";
const DATASET_KEY: &[u8] = b"AGE-SECRET-KEY-1QQQSMSTESTDATASETKEY0000000000000000000000000000000";
const RECIPIENT: &str = "age1smstestrecipient0000000000000000000000000000000000000000";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

struct Fixture {
    devnet: Devnet,
    dir: tempfile::TempDir,
    /// The chain as the SMS reads it.
    profile: ChainProfile,
    /// What the SMS asked of the chain, when it reads through a proxy.
    proxy: Option<std::sync::Arc<RecordingProxy>>,
    /// `None` while stopped.
    sms: Option<decloud_sms::RunningSms>,
    client: SmsClient,
    tee_app: Address,
    app_checksum: B256,
    dataset: Address,
    workerpool: Address,
    salt: std::sync::atomic::AtomicU64,
    /// Whether the next deals ask for random selection too (tag bit 1).
    random: std::sync::atomic::AtomicBool,
}

/// Starts an SMS on the database in `dir`, reading the chain of `profile`.
async fn start_sms(profile: &ChainProfile, dir: &std::path::Path) -> decloud_sms::RunningSms {
    decloud_sms::start(SmsConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        database_url: format!("sqlite://{}", dir.join("sms.db").display()),
        profile: profile.clone(),
        signer: PrivateKeySigner::random(),
        key_path: dir.join("tls/sms-seal.key"),
        tee: TeeKind::Sim,
        keeper: false,
        transport: decloud_service::transport::Transport::ephemeral(),
    })
    .await
    .unwrap()
}

impl Fixture {
    async fn start() -> Self {
        Self::start_with(false).await
    }

    /// A fixture whose SMS reads the chain through a [`RecordingProxy`] if `proxy`.
    async fn start_with(proxy: bool) -> Self {
        let devnet = Devnet::start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut profile = devnet.profile().clone();
        let proxy = if proxy {
            let (url, proxy) = RecordingProxy::start(devnet.rpc_url()).await;
            profile.rpc_url = url;
            Some(proxy)
        } else {
            None
        };
        let sms = start_sms(&profile, dir.path()).await;
        let client = SmsClient::new(&sms.url()).unwrap();
        let app_owner = chain(&devnet, APP_OWNER).await;
        let app_checksum = B256::repeat_byte(0xa5);
        let mrenclave = B256::from(sim_runner_measurements().measurement().0);
        let tee_app = decloud_chain::actions::register_app(
            &app_owner,
            "tee-app",
            "http://127.0.0.1:1/app.wasm",
            app_checksum,
            mrenclave,
        )
        .await
        .unwrap();
        let dataset = decloud_chain::actions::register_dataset(
            &chain(&devnet, DATASET_OWNER).await,
            "secret-data",
            "http://127.0.0.1:1/data.age",
            B256::repeat_byte(0xd1),
        )
        .await
        .unwrap();
        let pool_owner = chain(&devnet, POOL_OWNER).await;
        let workerpool =
            decloud_chain::actions::register_workerpool(&pool_owner, "sms test pool", 30, 10)
                .await
                .unwrap();
        decloud_chain::actions::deposit(&pool_owner, U256::from(1_000_000_000_000u64))
            .await
            .unwrap();
        Self {
            devnet,
            dir,
            profile,
            proxy,
            sms: Some(sms),
            client,
            tee_app,
            app_checksum,
            dataset,
            workerpool,
            salt: 0.into(),
            random: false.into(),
        }
    }

    /// Stops the SMS (until [`Fixture::restart`]).
    async fn stop(&mut self) {
        if let Some(sms) = self.sms.take() {
            sms.stop().await;
        }
    }

    /// Starts a new SMS on the same database and points the client at it.
    async fn restart(&mut self) {
        self.stop().await;
        let sms = start_sms(&self.profile, self.dir.path()).await;
        self.client = SmsClient::new(&sms.url()).unwrap();
        self.sms = Some(sms);
    }

    fn salt(&self) -> B256 {
        let n = self.salt.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut salt = B256::random();
        salt.0[..8].copy_from_slice(&n.to_be_bytes());
        salt
    }

    /// Matches a deal of `app` (with the dataset if `dataset`), TEE-tagged if `tee`, with
    /// these params; initializes its tasks if `init`.
    async fn deal(
        &self,
        app: Address,
        dataset: bool,
        tee: bool,
        params: &str,
        volume: u64,
        init: bool,
    ) -> MatchedDeal {
        let requester = chain(&self.devnet, REQUESTER).await;
        let domain = requester.domain();
        let mut tag = if tee { Tag::TEE } else { Tag::default() };
        if self.random.load(std::sync::atomic::Ordering::Relaxed) {
            tag = Tag(tag.0 | Tag::RANDOM.0);
        }
        let mut app_order = AppOrder {
            app,
            app_price: U256::ZERO,
            volume,
            salt: self.salt(),
            ..Default::default()
        };
        app_order
            .sign_with(&self.devnet.signer(APP_OWNER), &domain)
            .unwrap();
        let mut pool_order = WorkerpoolOrder {
            workerpool: self.workerpool,
            workerpool_price: U256::ZERO,
            volume,
            tag,
            category: 0,
            trust: 1,
            salt: self.salt(),
            ..Default::default()
        };
        pool_order
            .sign_with(&self.devnet.signer(POOL_OWNER), &domain)
            .unwrap();
        let dataset_order = if dataset {
            let mut o = DatasetOrder {
                dataset: self.dataset,
                dataset_price: U256::ZERO,
                volume,
                salt: self.salt(),
                ..Default::default()
            };
            o.sign_with(&self.devnet.signer(DATASET_OWNER), &domain)
                .unwrap();
            o
        } else {
            DatasetOrder::none()
        };
        let me = self.devnet.signer(REQUESTER).address();
        let mut order = RequestOrder {
            app,
            app_max_price: U256::ZERO,
            dataset: if dataset { self.dataset } else { Address::ZERO },
            dataset_max_price: U256::ZERO,
            workerpool: self.workerpool,
            workerpool_max_price: U256::ZERO,
            requester: me,
            volume,
            tag,
            category: 0,
            trust: 1,
            beneficiary: me,
            callback: Address::ZERO,
            params: params.to_owned(),
            expiry: 0,
            salt: self.salt(),
            sign: Bytes::new(),
        };
        order
            .sign_with(&self.devnet.signer(REQUESTER), &domain)
            .unwrap();
        let matched = match_orders(&requester, &app_order, &dataset_order, &pool_order, &order)
            .await
            .unwrap();
        if init {
            let scheduler = chain(&self.devnet, POOL_OWNER).await;
            let deal: decloud_chain::contracts::IHub::Deal = (&matched.deal).into();
            scheduler
                .send(
                    "initializing",
                    scheduler
                        .hub()
                        .initializeBatch(deal, U256::ZERO, U256::from(volume))
                        .into_transaction_request(),
                )
                .await
                .unwrap();
        }
        matched
    }

    /// A release request of task `index` of `deal` by a fresh enclave (E, H) with a fresh nonce,
    /// authorized by the deal's scheduler; `edit` may change the fields bound into
    /// `report_data` before the evidence is made.
    async fn request(
        &self,
        deal: &MatchedDeal,
        index: u64,
        attester: &SimAttester,
        edit: impl FnOnce(&mut ReportDataFields),
    ) -> (ReleaseRequest, HpkePrivateKey) {
        let enclave = PrivateKeySigner::random();
        let (h_private, h_public) = seal::generate_keypair().unwrap();
        let nonce = self.client.challenge().await.unwrap().nonce;
        let task_id = decloud_protocol::task_id(deal.deal_id, index);
        let mut fields = ReportDataFields {
            chain_id: self.devnet.profile().chain_id,
            task_id,
            app_checksum: self.app_checksum,
            enclave: enclave.address(),
            hpke_public_key: h_public,
            nonce: nonce.0,
        };
        edit(&mut fields);
        let evidence = attester.evidence(&fields.report_data()).unwrap();
        let worker = Address::repeat_byte(0x77);
        let authorization = decloud_protocol::result::sign_authorization(
            &self.devnet.signer(POOL_OWNER),
            worker,
            task_id,
            enclave.address(),
        )
        .unwrap();
        (
            ReleaseRequest {
                deal_id: deal.deal_id,
                index,
                worker,
                enclave: enclave.address(),
                hpke_public_key: hex::encode(h_public),
                nonce,
                evidence,
                authorization,
                local_dataset: false,
            },
            h_private,
        )
    }

    async fn refused(&self, request: &ReleaseRequest, expect: &str) {
        let task_id = decloud_protocol::task_id(request.deal_id, request.index);
        let before = self.store().await.released_to(task_id).await.unwrap();
        match self.client.release(request).await {
            Err(SmsClientError::Refused { message, .. }) => {
                assert!(message.contains(expect), "{message:?} lacks {expect:?}");
                assert!(!message.contains('\n'), "not one line: {message:?}");
            }
            other => panic!("expected a refusal with {expect:?}, got {other:?}"),
        }
        assert_eq!(
            self.store().await.released_to(task_id).await.unwrap(),
            before,
            "a refused release changed the task's record"
        );
    }

    async fn store(&self) -> SecretStore {
        SecretStore::open(&format!(
            "sqlite://{}",
            self.dir.path().join("sms.db").display()
        ))
        .await
        .unwrap()
    }
}

async fn chain(devnet: &Devnet, index: usize) -> Client {
    Client::connect(devnet.profile(), None, Some(devnet.signer(index)))
        .await
        .unwrap()
}

fn refusal(result: Result<impl std::fmt::Debug, SmsClientError>, expect: &str) {
    match result {
        Err(SmsClientError::Refused { message, .. }) => {
            assert!(message.contains(expect), "{message:?} lacks {expect:?}");
            assert!(!message.contains('\n'), "not one line: {message:?}");
        }
        other => panic!("expected a refusal with {expect:?}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_follow_the_rules_and_secrets_rest_sealed() {
    let logs = decloud_testkit::logs::capture();
    let f = Fixture::start().await;
    let requester = f.devnet.signer(REQUESTER);
    let me = requester.address();
    let health = f.client.health().await.unwrap();
    assert!(health.contains("tee: sim (devnet only"), "{health}");

    let first = f
        .client
        .prepare_write(
            &requester,
            SecretKind::RequesterSecret,
            me,
            "token",
            TOKEN,
            now(),
        )
        .await
        .unwrap();
    let stored = f.client.write(&first).await.unwrap();
    assert_eq!((stored.exists, stored.version), (true, Some(1)));

    // Replayed write.
    refusal(f.client.write(&first).await, "replayed");
    // Rolled-back version: the next nonce, but version 1 again.
    let info = f.client.info().await.unwrap();
    let put = |version, nonce, deadline| PutSecretBody {
        owner: me,
        kind: SecretKind::RequesterSecret,
        object: me,
        name: "token".into(),
        ciphertext_hash: B256::ZERO,
        version,
        nonce,
        deadline,
    };
    let rollback = sign_write(&info, &requester, put(1, 2, now() + 60), b"old").unwrap();
    refusal(
        f.client.write(&rollback).await,
        "rolling a secret back is refused",
    );
    // Deadline past, and too far ahead.
    let late = sign_write(&info, &requester, put(2, 2, now() - 5), b"x").unwrap();
    refusal(f.client.write(&late).await, "has passed");
    let far = sign_write(&info, &requester, put(2, 2, now() + 7200), b"x").unwrap();
    refusal(f.client.write(&far).await, "more than 3600 s ahead");
    // Over 64 KiB (past the client's own check).
    let big = vec![b'x'; MAX_SECRET_BYTES + 1];
    let too_big = sign_write(&info, &requester, put(2, 2, now() + 60), &big).unwrap();
    refusal(f.client.write(&too_big).await, "over the limit of 65536");
    assert!(matches!(
        f.client
            .prepare_write(
                &requester,
                SecretKind::RequesterSecret,
                me,
                "big",
                &big,
                now()
            )
            .await,
        Err(SmsClientError::Invalid(_))
    ));
    // A non-owner: the requester writes the dataset's key, and signs as its owner.
    let mut theft = PutSecretBody {
        kind: SecretKind::DatasetKey,
        object: f.dataset,
        name: "key".into(),
        ..put(1, 2, now() + 60)
    };
    let w = sign_write(&info, &requester, theft.clone(), b"mine").unwrap();
    refusal(
        f.client.write(&w).await,
        "only the owner writes its secrets",
    );
    theft.owner = f.devnet.signer(DATASET_OWNER).address();
    theft.nonce = 1;
    let w = sign_write(&info, &requester, theft, b"mine").unwrap();
    refusal(f.client.write(&w).await, "is not signed by its owner");
    // A value changed after signing.
    let mut swapped = sign_write(&info, &requester, put(2, 2, now() + 60), b"new").unwrap();
    swapped.sealed = seal::seal(
        &hex::decode(&info.hpke_public_key)
            .unwrap()
            .try_into()
            .unwrap(),
        &seal::write_info(info.chain_id, me),
        b"evil",
    )
    .unwrap();
    refusal(f.client.write(&swapped).await, "changed after signing");

    // Nothing changed: version 1, nonce 1.
    let shown = f
        .client
        .show(SecretKind::RequesterSecret, me, "token")
        .await
        .unwrap();
    assert_eq!(shown.version, Some(1));
    assert_eq!(f.client.nonce(me).await.unwrap().last_nonce, 1);
    assert!(
        !f.client
            .show(SecretKind::DatasetKey, f.dataset, "key")
            .await
            .unwrap()
            .exists
    );

    // Rotation: version 2 with nonce 2 is accepted.
    let rotated = sign_write(
        &info,
        &requester,
        put(2, 2, now() + 60),
        b"tok-rotated-91c2",
    )
    .unwrap();
    assert_eq!(f.client.write(&rotated).await.unwrap().version, Some(2));

    // An ERC-1271 wallet: its deployer's signature is its own; anyone else's is not.
    let wallet_owner = 6;
    let wallet = decloud_testkit::fixtures::deploy_test_contract(
        &f.devnet.provider(wallet_owner),
        "SignerWallet",
    )
    .await
    .unwrap();
    let wallet_put = PutSecretBody {
        owner: wallet,
        object: wallet,
        nonce: 1,
        ..put(1, 1, now() + 60)
    };
    let stranger = sign_write(&info, &f.devnet.signer(7), wallet_put.clone(), b"w").unwrap();
    refusal(
        f.client.write(&stranger).await,
        "is not signed by its owner",
    );
    let by_wallet = sign_write(
        &info,
        &f.devnet.signer(wallet_owner),
        wallet_put,
        b"wallet-s3cret-55",
    )
    .unwrap();
    assert_eq!(
        f.client.write(&by_wallet).await.unwrap().owner,
        Some(wallet)
    );

    // The dataset's owner pushes its key.
    f.client
        .push_dataset_key(
            &f.devnet.signer(DATASET_OWNER),
            f.dataset,
            DATASET_KEY,
            now(),
        )
        .await
        .unwrap();

    // No value anywhere on disk or in the logs.
    let mut disk = Vec::new();
    for entry in std::fs::read_dir(f.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            disk.extend(std::fs::read(&path).unwrap());
        }
    }
    assert!(disk.len() > 1000, "the database files were not found");
    let logged = logs.bytes();
    assert!(
        String::from_utf8_lossy(&logged).contains("secret written"),
        "the logs were not captured"
    );
    for secret in [TOKEN, b"tok-rotated-91c2", b"wallet-s3cret-55", DATASET_KEY] {
        for (what, bytes) in [("database", &disk), ("logs", &logged)] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "a secret is in the {what}"
            );
        }
    }
    let _ = std::io::stdout().flush();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_goes_only_to_an_attested_enclave_of_an_active_tee_task() {
    let f = Fixture::start().await;
    let chain_id = f.devnet.profile().chain_id;
    let requester = f.devnet.signer(REQUESTER);
    f.client
        .push_requester_secret(&requester, "token", TOKEN, now())
        .await
        .unwrap();
    f.client
        .push_result_recipient(&requester, RECIPIENT, now())
        .await
        .unwrap();
    let attester = SimAttester::new(chain_id).unwrap();
    let deal = f
        .deal(f.tee_app, true, true, r#"{"secrets":["token"]}"#, 2, true)
        .await;

    // The dataset's key is missing: nothing is released.
    let (r, _) = f.request(&deal, 0, &attester, |_| {}).await;
    f.refused(&r, "has no key in this SMS").await;
    f.client
        .push_dataset_key(
            &f.devnet.signer(DATASET_OWNER),
            f.dataset,
            DATASET_KEY,
            now(),
        )
        .await
        .unwrap();

    // Authorization not by the deal's scheduler.
    let (mut r, _) = f.request(&deal, 0, &attester, |_| {}).await;
    r.authorization = decloud_protocol::result::sign_authorization(
        &f.devnet.signer(REQUESTER),
        r.worker,
        decloud_protocol::task_id(deal.deal_id, 0),
        r.enclave,
    )
    .unwrap();
    f.refused(&r, "not by the deal's scheduler").await;
    // Debug-mode evidence.
    let debug = SimAttester::new(chain_id).unwrap().debug(true);
    let (r, _) = f.request(&deal, 0, &debug, |_| {}).await;
    f.refused(&r, "debug").await;
    // Edited report_data, and an app checksum that is not the deal's.
    let (r, _) = f
        .request(&deal, 0, &attester, |fields| fields.hpke_public_key[0] ^= 1)
        .await;
    f.refused(&r, "report_data").await;
    let (r, _) = f
        .request(&deal, 0, &attester, |fields| {
            fields.app_checksum = B256::repeat_byte(0x99)
        })
        .await;
    f.refused(&r, "report_data").await;
    // An unknown nonce, and an expired one.
    let (mut r, _) = f.request(&deal, 0, &attester, |_| {}).await;
    r.nonce = B256::repeat_byte(0x42);
    f.refused(&r, "unknown nonce").await;
    // A nonce of this node's own making, but expired (challenges are made, not stored).
    let expired =
        decloud_sms::seal::NodeKey::load_or_create(&f.dir.path().join("tls/sms-seal.key"))
            .unwrap()
            .challenge(now() - 60)
            .unwrap();
    let (mut r, _) = f
        .request(&deal, 0, &attester, |fields| fields.nonce = expired.0)
        .await;
    r.nonce = expired;
    f.refused(&r, "expired").await;

    // The release: every secret the deal uses, sealed to H, and the attestation.
    let (r, h) = f.request(&deal, 0, &attester, |_| {}).await;
    let answer: ReleaseAnswer = f.client.release(&r).await.unwrap();
    let task_id = decloud_protocol::task_id(deal.deal_id, 0);
    let purposes: Vec<&str> = answer.secrets.iter().map(|s| s.purpose.as_str()).collect();
    assert_eq!(
        purposes,
        ["dataset-key", "requester-secret:token", "result-recipient"]
    );
    let opened: Vec<Vec<u8>> = answer
        .secrets
        .iter()
        .map(|s| {
            seal::open(
                &h,
                &seal::release_info(&s.purpose, chain_id, task_id),
                &s.sealed,
            )
            .unwrap()
        })
        .collect();
    assert_eq!(opened, [DATASET_KEY, TOKEN, RECIPIENT.as_bytes()]);
    let att = &answer.attestation;
    let domain = decloud_protocol::order::Domain::new(chain_id, f.devnet.profile().contracts.hub);
    let signer =
        decloud_protocol::tee::signer_of("attestation", &att.typed(), &domain, &att.signature)
            .unwrap();
    assert_eq!(signer, f.client.info().await.unwrap().attester);
    assert_eq!(att.enclave, r.enclave);
    assert_eq!(
        att.tcb_status,
        decloud_protocol::tee::tcb_status::UP_TO_DATE
    );
    assert!(att.expiry > now() - 60);

    // The same nonce again; another enclave key for the released task.
    f.refused(&r, "already used").await;
    let (r2, _) = f.request(&deal, 0, &attester, |_| {}).await;
    f.refused(&r2, "one enclave per task").await;
    // The other task of the deal is still released on its own.
    let (r3, _) = f.request(&deal, 1, &attester, |_| {}).await;
    f.client.release(&r3).await.unwrap();

    // Wrong measurement: an app whose mrenclave is not the sim runner's.
    let other_app = decloud_chain::actions::register_app(
        &chain(&f.devnet, APP_OWNER).await,
        "other-runner",
        "http://127.0.0.1:1/app.wasm",
        f.app_checksum,
        B256::repeat_byte(0x5e),
    )
    .await
    .unwrap();
    let d = f.deal(other_app, false, true, "", 1, true).await;
    let (r, _) = f.request(&d, 0, &attester, |_| {}).await;
    f.refused(&r, "measurement").await;
    // A task not ACTIVE (not initialized), and a deal without the TEE tag.
    let d = f.deal(f.tee_app, false, true, "", 1, false).await;
    let (r, _) = f.request(&d, 0, &attester, |_| {}).await;
    f.refused(&r, "not ACTIVE").await;
    let d = f.deal(f.tee_app, false, false, "", 1, true).await;
    let (r, _) = f.request(&d, 0, &attester, |_| {}).await;
    f.refused(&r, "no TEE tag").await;
    // A TEE deal that also asks for random selection: the hub takes a random deal's results
    // only from drawn workers, which run no TEE tasks, so its secrets go to no enclave (an
    // enclave the scheduler authorized would be the scheduler's pick).
    f.random.store(true, std::sync::atomic::Ordering::Relaxed);
    let d = f.deal(f.tee_app, false, true, "", 1, false).await;
    f.random.store(false, std::sync::atomic::Ordering::Relaxed);
    let (r, _) = f.request(&d, 0, &attester, |_| {}).await;
    f.refused(&r, "selects its workers at random").await;
    // Past the contribution deadline.
    let d = f.deal(f.tee_app, false, true, "", 1, true).await;
    let reference = u64::try_from(d.deal.workClockTimeRef).unwrap();
    decloud_testkit::anvil::advance_time(&f.devnet, 7 * reference + 5)
        .await
        .unwrap();
    let (r, _) = f.request(&d, 0, &attester, |_| {}).await;
    f.refused(&r, "past its contribution deadline").await;
    drop(f.sms);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_is_refused_off_devnet() {
    let devnet = Devnet::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut profile = devnet.profile().clone();
    profile.chain_id = 1;
    let started = decloud_sms::start(SmsConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        database_url: format!("sqlite://{}", dir.path().join("sms.db").display()),
        profile,
        signer: PrivateKeySigner::random(),
        key_path: dir.path().join("sms-seal.key"),
        tee: TeeKind::Sim,
        keeper: false,
        transport: decloud_service::transport::Transport::ephemeral(),
    })
    .await;
    let e = started.err().expect("sim accepted on chain 1").to_string();
    assert!(e.contains("devnet"), "{e}");
    assert!(
        !dir.path().join("sms.db").exists(),
        "a refused start created its database"
    );
}

/// Release round trip on loopback, from the worker's first request (the challenge) to the
/// sealed secrets, over TLS, with a dataset key, a requester secret and a recipient. Prints
/// p50/p99. Run: `cargo nextest run --workspace --run-ignored only -E 'test(release_round_trip)' --no-capture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: prints figures"]
async fn release_round_trip_latency() {
    let f = Fixture::start().await;
    let chain_id = f.devnet.profile().chain_id;
    push_secrets(&f).await;
    let n = 60u64;
    let deal = f
        .deal(f.tee_app, true, true, r#"{"secrets":["token"]}"#, n, true)
        .await;
    let attester = SimAttester::new(chain_id).unwrap();
    let mut times = Vec::new();
    for index in 0..n {
        let start = Instant::now();
        let (r, h) = f.request(&deal, index, &attester, |_| {}).await;
        let answer = f.client.release(&r).await.unwrap();
        let task_id = decloud_protocol::task_id(deal.deal_id, index);
        for s in &answer.secrets {
            seal::open(
                &h,
                &seal::release_info(&s.purpose, chain_id, task_id),
                &s.sealed,
            )
            .unwrap();
        }
        times.push(start.elapsed());
    }
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "release round trip over {n} tasks: p50 {:?}, p99 {:?}, max {:?}",
        pct(0.5),
        pct(0.99),
        times.last().unwrap()
    );
}

/// A JSON-RPC proxy in front of the devnet that records what the SMS asks of the chain: how
/// many `eth_getLogs` and from which block each starts.
struct RecordingProxy {
    upstream: String,
    http: reqwest::Client,
    /// `fromBlock` of every `eth_getLogs`, in order.
    log_queries: std::sync::Mutex<Vec<u64>>,
}

impl RecordingProxy {
    async fn start(upstream: &str) -> (String, std::sync::Arc<Self>) {
        let proxy = std::sync::Arc::new(Self {
            upstream: upstream.to_owned(),
            http: reqwest::Client::new(),
            log_queries: std::sync::Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/", axum::routing::post(Self::forward))
            .with_state(proxy.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, proxy)
    }

    fn log_queries(&self) -> Vec<u64> {
        self.log_queries.lock().unwrap().clone()
    }

    async fn forward(
        axum::extract::State(proxy): axum::extract::State<std::sync::Arc<Self>>,
        body: axum::body::Bytes,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        // A batch is an array: record each of its calls.
        let calls = match &request {
            serde_json::Value::Array(calls) => calls.clone(),
            call => vec![call.clone()],
        };
        for call in calls {
            if call["method"] == "eth_getLogs" {
                let from = call["params"][0]["fromBlock"]
                    .as_str()
                    .and_then(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok())
                    .unwrap_or_default();
                proxy.log_queries.lock().unwrap().push(from);
            }
        }
        let answer = proxy
            .http
            .post(&proxy.upstream)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        match answer {
            Ok(answer) => (
                [("content-type", "application/json")],
                answer.bytes().await.unwrap_or_default(),
            )
                .into_response(),
            Err(_) => axum::http::StatusCode::BAD_GATEWAY.into_response(),
        }
    }
}

/// The SMS's `/health` text.
async fn health(f: &Fixture) -> String {
    f.client.health().await.unwrap()
}

/// Pushes the secrets a release of [`Fixture::deal`]'s deals needs: the requester's token and
/// result recipient, and the dataset's key.
async fn push_secrets(f: &Fixture) {
    let requester = f.devnet.signer(REQUESTER);
    f.client
        .push_requester_secret(&requester, "token", TOKEN, now())
        .await
        .unwrap();
    f.client
        .push_result_recipient(&requester, RECIPIENT, now())
        .await
        .unwrap();
    f.client
        .push_dataset_key(
            &f.devnet.signer(DATASET_OWNER),
            f.dataset,
            DATASET_KEY,
            now(),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deals_come_from_the_follower_and_a_made_up_one_costs_no_log_query() {
    let f = Fixture::start_with(true).await;
    let proxy = f.proxy.clone().unwrap();
    push_secrets(&f).await;
    let attester = SimAttester::new(f.devnet.profile().chain_id).unwrap();

    // Created just before the request: the release waits for the follower to read it.
    let deal = f
        .deal(f.tee_app, true, true, r#"{"secrets":["token"]}"#, 1, true)
        .await;
    let (r, _) = f.request(&deal, 0, &attester, |_| {}).await;
    let answer = f.client.release(&r).await.unwrap();
    assert!(!answer.secrets.is_empty(), "{answer:?}");
    let health = health(&f).await;
    assert!(health.contains(" 0 behind)"), "{health}");

    // Made-up deal ids: refused with one line each, and not one log query between them (no
    // block was mined: the follower's passes read only the head).
    let before = proxy.log_queries().len();
    assert!(before > 0, "the follower read no logs");
    for _ in 0..5 {
        let (mut r, _) = f.request(&deal, 0, &attester, |_| {}).await;
        r.deal_id = B256::random();
        f.refused(&r, "no deal").await;
    }
    assert_eq!(
        proxy.log_queries().len(),
        before,
        "made-up deal ids made the SMS query logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_follower_resumes_from_its_cursor_after_a_restart() {
    let mut f = Fixture::start_with(true).await;
    let proxy = f.proxy.clone().unwrap();
    push_secrets(&f).await;
    let attester = SimAttester::new(f.devnet.profile().chain_id).unwrap();
    let first = f.deal(f.tee_app, false, true, "", 1, true).await;
    let (r, _) = f.request(&first, 0, &attester, |_| {}).await;
    f.client.release(&r).await.unwrap();
    let cursor = f.store().await.cursor().await.unwrap().unwrap();
    assert!(
        cursor.next_block() > f.profile.deployment_block + 1,
        "the cursor did not move past the deployment block: {cursor:?}"
    );

    // Deals created while the SMS is down are served after it restarts...
    f.stop().await;
    let second = f.deal(f.tee_app, false, true, "", 1, true).await;
    let third = f.deal(f.tee_app, true, true, "", 1, true).await;
    let queries = proxy.log_queries().len();
    f.restart().await;
    for deal in [&second, &third] {
        let (r, _) = f.request(deal, 0, &attester, |_| {}).await;
        f.client.release(&r).await.unwrap();
    }
    // ...read from the stored cursor on, not again from the deployment block.
    let after = proxy.log_queries()[queries..].to_vec();
    assert!(!after.is_empty(), "the restarted SMS read no logs");
    assert!(
        after.iter().all(|from| *from >= cursor.next_block()),
        "the restarted SMS read logs from before its cursor {}: {after:?}",
        cursor.next_block()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_forgets_the_deals_of_the_rewound_blocks() {
    let f = Fixture::start().await;
    let attester = SimAttester::new(f.devnet.profile().chain_id).unwrap();
    let kept = f.deal(f.tee_app, false, true, "", 1, true).await;
    let snapshot = decloud_testkit::anvil::snapshot(&f.devnet).await.unwrap();
    let rewound = f.deal(f.tee_app, false, true, "", 1, true).await;
    let store = f.store().await;
    let stored = |id: B256, present: bool| {
        let store = store.clone();
        move || {
            let store = store.clone();
            async move { (store.deal(id).await.unwrap().is_some() == present).then_some(()) }
        }
    };
    let wait = std::time::Duration::from_secs(30);
    decloud_testkit::fixtures::eventually(
        wait,
        "the follower stores the deal",
        stored(rewound.deal_id, true),
    )
    .await
    .unwrap();
    // A release of it before the reorg: the SMS has read (and keeps) the deal.
    let (r, _) = f.request(&rewound, 0, &attester, |_| {}).await;
    let _ = f.client.release(&r).await;

    decloud_testkit::anvil::reorg(&f.devnet, snapshot, 5)
        .await
        .unwrap();
    decloud_testkit::fixtures::eventually(
        wait,
        "the reorg removes the deal",
        stored(rewound.deal_id, false),
    )
    .await
    .unwrap();
    assert!(
        store.deal(kept.deal_id).await.unwrap().is_some(),
        "a deal before the reorg went"
    );
    let (r, _) = f.request(&rewound, 0, &attester, |_| {}).await;
    f.refused(&r, "no deal").await;
}
