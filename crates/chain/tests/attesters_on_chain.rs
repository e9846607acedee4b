//! The attester registry and the TEE fast path on a real hub: attesters register with a stake,
//! a TEE deal whose tag asks for k = 2 attestations is finalized with two `EnclaveAttested`
//! signatures made by `decloud_protocol::tee`, and refused with one, or with one from a leaving
//! attester; the k the Rust helpers read from a tag is the hub's.

use std::time::{SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::signers::local::PrivateKeySigner;
use decloud_chain::attesters::{self, AttesterInfo};
use decloud_chain::client::Client;
use decloud_chain::contracts::IHub;
use decloud_chain::deploy::DEFAULT_MIN_ATTESTER_STAKE;
use decloud_chain::orders::match_orders;
use decloud_chain::{ChainError, actions};
use decloud_protocol::tee::{
    self, EnclaveAttested, SignedAttestation, attestations_required, enclave_evidence,
    tag_for_attestations, tcb_status,
};
use decloud_protocol::{
    AppOrder, DatasetOrder, Order, RequestOrder, Tag, TaskStatus, WorkerpoolOrder, result, task_id,
};
use decloud_testkit::{Devnet, pool};

const MRENCLAVE: B256 = B256::repeat_byte(0xee);
const PRICE: u64 = 1_000_000;

struct Setup {
    /// 1 app owner, 2 worker, 3 scheduler, 4 requester, 5-7 attesters.
    clients: Vec<Client>,
    deal: IHub::Deal,
    deal_id: B256,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A TEE app, a workerpool, three registered attesters and a matched TEE deal of 3 tasks that
/// needs `k` attestations per task.
async fn setup(devnet: &Devnet, k: usize) -> Setup {
    let mut clients = Vec::new();
    for i in 0..8 {
        clients.push(pool::client(devnet, i).await.unwrap());
    }
    let (app_owner, scheduler, requester) = (&clients[1], &clients[3], &clients[4]);
    let app = actions::register_app(
        app_owner,
        "tee-echo",
        "file:///echo.wasm",
        B256::repeat_byte(0xcc),
        MRENCLAVE,
    )
    .await
    .unwrap();
    let workerpool = actions::register_workerpool(scheduler, "tee pool", 30, 10)
        .await
        .unwrap();
    for funded in [requester, scheduler] {
        actions::deposit(funded, U256::from(100 * PRICE))
            .await
            .unwrap();
    }
    for attester in &clients[5..8] {
        attesters::register(attester, U256::from(DEFAULT_MIN_ATTESTER_STAKE))
            .await
            .unwrap();
    }
    let tag = Tag::TEE.union(tag_for_attestations(k).unwrap());
    let domain = clients[0].domain();
    let mut app_order = AppOrder {
        app,
        app_price: U256::from(PRICE),
        volume: 3,
        tag: Tag::TEE,
        salt: B256::repeat_byte(1),
        ..Default::default()
    };
    app_order
        .sign_with(app_owner.signer().unwrap(), &domain)
        .unwrap();
    let mut pool_order = WorkerpoolOrder {
        workerpool,
        workerpool_price: U256::from(PRICE),
        volume: 3,
        tag,
        category: 0,
        trust: 1,
        salt: B256::repeat_byte(2),
        ..Default::default()
    };
    pool_order
        .sign_with(scheduler.signer().unwrap(), &domain)
        .unwrap();
    let mut request = RequestOrder {
        app,
        app_max_price: U256::from(PRICE),
        workerpool_max_price: U256::from(PRICE),
        requester: requester.address().unwrap(),
        volume: 3,
        tag,
        category: 0,
        trust: 1,
        beneficiary: requester.address().unwrap(),
        salt: B256::repeat_byte(3),
        ..Default::default()
    };
    request
        .sign_with(requester.signer().unwrap(), &domain)
        .unwrap();
    let matched = match_orders(
        requester,
        &app_order,
        &DatasetOrder::none(),
        &pool_order,
        &request,
    )
    .await
    .unwrap();
    Setup {
        deal: (&matched.deal).into(),
        deal_id: matched.deal_id,
        clients,
    }
}

impl Setup {
    /// The worker's fast-path evidence for task `index`, result `digest`, enclave key `enclave`,
    /// with attestations by the attesters `by` (client indexes).
    fn fast_result(
        &self,
        index: u64,
        digest: B256,
        enclave: &PrivateKeySigner,
        by: &[usize],
    ) -> IHub::FastResult {
        let worker = self.clients[2].address().unwrap();
        let task = task_id(self.deal_id, index);
        let commitment = result::commitment(worker, task, digest);
        let enclave_sign = result::sign_enclave(enclave, &commitment).unwrap();
        let authorization = result::sign_authorization(
            self.clients[3].signer().unwrap(),
            worker,
            task,
            enclave.address(),
        )
        .unwrap();
        let message = EnclaveAttested {
            taskId: task,
            enclave: enclave.address(),
            measurement: MRENCLAVE,
            tcbStatus: tcb_status::UP_TO_DATE,
            expiry: now() + 3600,
            evidenceHash: B256::repeat_byte(0xee),
        };
        let domain = self.clients[0].domain();
        let attestations: Vec<SignedAttestation> = by
            .iter()
            .map(|&i| {
                SignedAttestation::sign(&message, &domain, self.clients[i].signer().unwrap())
                    .unwrap()
            })
            .collect();
        IHub::FastResult {
            digest,
            enclave: enclave.address(),
            enclaveSign: enclave_evidence(&enclave_sign, &attestations).unwrap(),
            authorizationSign: authorization,
            resultsLocation: Bytes::from_static(b"file:///result"),
            callbackData: Bytes::new(),
        }
    }

    async fn status(&self, index: u64) -> TaskStatus {
        let view = self.clients[0]
            .hub()
            .task(task_id(self.deal_id, index))
            .call()
            .await
            .unwrap();
        TaskStatus::from_u8(view.status).unwrap()
    }
}

fn reason(r: Result<impl std::fmt::Debug, ChainError>) -> String {
    match r {
        Err(ChainError::Reverted { reason, .. }) => reason,
        other => panic!("expected a revert, got {other:?}"),
    }
}

#[tokio::test]
async fn a_tee_task_needing_two_attestations_finalizes_with_two_and_not_one() {
    let devnet = Devnet::start().await.unwrap();
    let s = setup(&devnet, 2).await;
    let worker = &s.clients[2];
    let enclave = PrivateKeySigner::random();
    let digest = B256::repeat_byte(0xd1);
    assert_eq!(
        attestations_required(Tag(s.deal.tag)),
        2,
        "the deal's tag asks for 2"
    );

    // The registry lists the three attesters, active, with their stakes.
    let listed = attesters::list(worker).await.unwrap();
    let mut expected: Vec<Address> = s.clients[5..8]
        .iter()
        .map(|c| c.address().unwrap())
        .collect();
    let mut got: Vec<Address> = listed.iter().map(|a| a.address).collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    assert!(listed.iter().all(|a| a.active
        && a.stake == U256::from(DEFAULT_MIN_ATTESTER_STAKE)
        && a.leaving_at == 0));

    // One attestation: refused, nothing changes.
    let one = s.fast_result(0, digest, &enclave, &[5]);
    let refused = reason(attesters::contribute_and_finalize(worker, s.deal.clone(), 0, one).await);
    assert!(
        refused.contains("needs 2 enclave attestations") && refused.contains("1 given"),
        "{refused}"
    );
    assert_eq!(s.status(0).await, TaskStatus::Unset);

    // The same attester's attestation twice (packed by hand: the Rust helper refuses it).
    let mut twice = s.fast_result(0, digest, &enclave, &[5]);
    let packed = twice.enclaveSign[65..].to_vec();
    twice.enclaveSign = [twice.enclaveSign.to_vec(), packed].concat().into();
    let refused =
        reason(attesters::contribute_and_finalize(worker, s.deal.clone(), 0, twice).await);
    assert!(refused.contains("signed two attestations"), "{refused}");

    // An attestation by a key that is not a registered attester.
    let stranger = s.fast_result(0, digest, &enclave, &[5, 1]);
    let refused =
        reason(attesters::contribute_and_finalize(worker, s.deal.clone(), 0, stranger).await);
    assert!(
        refused.contains("not a registered attester")
            && refused.contains(&s.clients[1].address().unwrap().to_string()),
        "{refused}"
    );

    // Two distinct registered attesters: the task is completed in one transaction and the
    // worker is paid its share of the workerpool price.
    let before = worker
        .escrow_balance(worker.address().unwrap())
        .await
        .unwrap();
    let two = s.fast_result(0, digest, &enclave, &[6, 5]);
    attesters::contribute_and_finalize(worker, s.deal.clone(), 0, two)
        .await
        .unwrap();
    assert_eq!(s.status(0).await, TaskStatus::Completed);
    let after = worker
        .escrow_balance(worker.address().unwrap())
        .await
        .unwrap();
    assert_eq!(after - before, U256::from(PRICE * 90 / 100), "worker paid");

    // A leaving attester no longer counts, even with a second valid one.
    attesters::leave(&s.clients[7]).await.unwrap();
    let info: AttesterInfo = attesters::attester(worker, s.clients[7].address().unwrap())
        .await
        .unwrap();
    assert!(!info.active && info.leaving_at > now(), "{info:?}");
    let with_leaving = s.fast_result(1, digest, &enclave, &[5, 7]);
    let refused =
        reason(attesters::contribute_and_finalize(worker, s.deal.clone(), 1, with_leaving).await);
    assert!(refused.contains("is leaving"), "{refused}");
    let withdrawn = reason(attesters::withdraw(&s.clients[7]).await);
    assert!(withdrawn.contains("stays locked until"), "{withdrawn}");
    let fine = s.fast_result(1, digest, &enclave, &[5, 6]);
    attesters::contribute_and_finalize(worker, s.deal.clone(), 1, fine)
        .await
        .unwrap();
    assert_eq!(s.status(1).await, TaskStatus::Completed);
}

#[tokio::test]
async fn the_hub_reads_k_and_hashes_attestations_as_the_rust_helpers() {
    let devnet = Devnet::start().await.unwrap();
    let client = pool::client(&devnet, 0).await.unwrap();
    let hub = client.hub();
    for byte in 0..=255u64 {
        let tag = Tag(B256::from(U256::from(byte) << 8));
        let on_chain = hub.attestationsRequired(tag.0).call().await.unwrap();
        assert_eq!(
            on_chain,
            U256::from(attestations_required(tag)),
            "bits 8-15 = {byte:#x}"
        );
    }
    let message = EnclaveAttested {
        taskId: B256::repeat_byte(1),
        enclave: Address::repeat_byte(2),
        measurement: MRENCLAVE,
        tcbStatus: tcb_status::OUT_OF_DATE,
        expiry: 1_900_000_000,
        evidenceHash: B256::repeat_byte(0xee),
    };
    let on_chain = hub
        .hashEnclaveAttested(IHub::EnclaveAttestation {
            taskId: message.taskId,
            enclave: message.enclave,
            measurement: message.measurement,
            tcbStatus: message.tcbStatus,
            expiry: message.expiry,
            evidenceHash: message.evidenceHash,
            sign: Bytes::new(),
        })
        .call()
        .await
        .unwrap();
    assert_eq!(on_chain, tee::signing_hash(&message, &client.domain()));
    assert_eq!(
        attesters::min_stake(&client).await.unwrap(),
        U256::from(DEFAULT_MIN_ATTESTER_STAKE),
        "a deployment opens the registry"
    );
}
