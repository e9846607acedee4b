//! `decloud attester challenge` through the real binary on a real devnet: a lying keeper that
//! signed `EnclaveAttested` for a debug TD's quote is challenged with that quote and loses its
//! whole stake (half to the challenger); the honest keeper's attestation of the same task, in the
//! same file, is refused with a one-line reason and keeps its stake; a second challenge of the
//! slashed keeper is refused.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, B256, U256};
use common::Cli;
use decloud_chain::actions;
use decloud_chain::attesters;
use decloud_chain::client::Client;
use decloud_chain::deploy::DEFAULT_MIN_ATTESTER_STAKE;
use decloud_chain::orders::match_orders;
use decloud_protocol::tee::{
    AttestationEvidence, EnclaveAttested, SignedAttestation, evidence_hash, tcb_status,
};
use decloud_protocol::{AppOrder, DatasetOrder, Order, RequestOrder, Tag, WorkerpoolOrder};
use decloud_tee::ReportDataFields;
use decloud_tee::sim::{SimAttester, sim_runner_measurements};
use decloud_testkit::{Devnet, pool};

const PRICE: u64 = 1_000_000;

/// A TEE app on the sim runner and a matched TEE deal of one task; returns its id and the app's
/// checksum.
async fn tee_deal(app_owner: &Client, scheduler: &Client, requester: &Client) -> (B256, B256) {
    let checksum = B256::repeat_byte(0xcc);
    let app = actions::register_app(
        app_owner,
        "tee-echo",
        "file:///echo.wasm",
        checksum,
        B256::from(sim_runner_measurements().measurement().0),
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
    let domain = requester.domain();
    let mut app_order = AppOrder {
        app,
        app_price: U256::from(PRICE),
        volume: 1,
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
        volume: 1,
        tag: Tag::TEE,
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
        volume: 1,
        tag: Tag::TEE,
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
    (matched.deal_id, checksum)
}

/// Keeper `keeper`'s attestation of `enclave` for task 0 of `deal_id`, committing to `quote`, as
/// the worker keeps it.
fn attest(
    keeper: &Client,
    deal_id: B256,
    enclave: Address,
    quote: Vec<u8>,
    h: [u8; 32],
    nonce: [u8; 32],
) -> AttestationEvidence {
    let task_id = decloud_protocol::task_id(deal_id, 0);
    let expiry = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let statement = EnclaveAttested {
        taskId: task_id,
        enclave,
        measurement: B256::from(sim_runner_measurements().measurement().0),
        tcbStatus: tcb_status::UP_TO_DATE,
        expiry,
        evidenceHash: evidence_hash(&quote, &h, &nonce),
    };
    let signed =
        SignedAttestation::sign(&statement, &keeper.domain(), keeper.signer().unwrap()).unwrap();
    AttestationEvidence {
        deal_id,
        index: 0,
        task_id,
        enclave,
        measurement: statement.measurement,
        tcb_status: statement.tcbStatus,
        expiry,
        attester: signed.attester,
        signature: signed.signature,
        quote: quote.into(),
        hpke_public_key: B256::from(h),
        nonce: B256::from(nonce),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_keeper_is_slashed_and_an_honest_one_is_not() {
    let devnet = Devnet::start().await.unwrap();
    let mut clients = Vec::new();
    for i in 0..8 {
        clients.push(pool::client(&devnet, i).await.unwrap());
    }
    let (liar, honest) = (&clients[5], &clients[6]);
    for keeper in [liar, honest] {
        attesters::register(keeper, U256::from(DEFAULT_MIN_ATTESTER_STAKE))
            .await
            .unwrap();
    }
    let (deal_id, checksum) = tee_deal(&clients[1], &clients[3], &clients[4]).await;

    // One enclave, one release request per keeper (each its own nonce): the honest keeper
    // appraised a production-mode quote; the liar signed for a debug TD's.
    let enclave = Address::repeat_byte(0xe1);
    let h = [0x44; 32];
    let fields = |nonce| ReportDataFields {
        chain_id: 31337,
        task_id: decloud_protocol::task_id(deal_id, 0),
        app_checksum: checksum,
        enclave,
        hpke_public_key: h,
        nonce,
    };
    let honest_quote = SimAttester::new(31337)
        .unwrap()
        .quote(&fields([1; 32]).report_data())
        .unwrap();
    let debug_quote = SimAttester::new(31337)
        .unwrap()
        .debug(true)
        .quote(&fields([2; 32]).report_data())
        .unwrap();
    let kept = vec![
        attest(honest, deal_id, enclave, honest_quote, h, [1; 32]),
        attest(liar, deal_id, enclave, debug_quote, h, [2; 32]),
    ];
    let env = Cli::new(devnet.home(), "");
    env.import("alice", 7);
    let file = env.file("attestations.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&kept).unwrap()).unwrap();
    let file = file.to_str().unwrap();
    let alice = clients[7].address().unwrap();
    let before = clients[7].escrow_balance(alice).await.unwrap();

    // Each attestation of the file is challenged: the liar is slashed, the honest one is not.
    let out = env.json(&[
        "attester",
        "challenge",
        "--evidence",
        file,
        "--wallet",
        "alice",
    ]);
    let slashed = out["slashed"].as_array().unwrap();
    assert_eq!(slashed.len(), 1, "{out}");
    assert_eq!(
        slashed[0]["attester"].as_str().unwrap().to_lowercase(),
        liar.address().unwrap().to_string().to_lowercase(),
        "{out}"
    );
    assert_eq!(
        slashed[0]["contradictions"][0], "the TD is a debug TD",
        "{out}"
    );
    let stake = U256::from(DEFAULT_MIN_ATTESTER_STAKE);
    assert_eq!(slashed[0]["amount"], stake.to_string(), "{out}");
    let refused = out["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{out}");
    assert!(
        refused[0]["reason"]
            .as_str()
            .unwrap()
            .contains("nothing to challenge"),
        "{out}"
    );
    let liar_record = env.json(&["attester", "show", &liar.address().unwrap().to_string()]);
    assert_eq!(liar_record["slashed"], true, "{liar_record}");
    assert_eq!(liar_record["stake"], "0", "{liar_record}");
    let honest_record = env.json(&["attester", "show", &honest.address().unwrap().to_string()]);
    assert_eq!(honest_record["active"], true, "{honest_record}");
    assert_eq!(honest_record["stake"], stake.to_string(), "{honest_record}");
    assert_eq!(
        clients[7].escrow_balance(alice).await.unwrap(),
        before + stake / U256::from(2),
        "the challenger's half"
    );

    // The honest keeper alone: refused in one line, nothing sent.
    let refusal = env.fails(&[
        "attester",
        "challenge",
        "--evidence",
        file,
        "--attester",
        &honest.address().unwrap().to_string(),
        "--wallet",
        "alice",
    ]);
    assert!(refusal.contains("nothing to challenge"), "{refusal}");
    assert!(!refusal.contains('\n'), "one line: {refusal}");
    // The liar a second time: it has nothing left.
    let again = env.fails(&[
        "attester",
        "challenge",
        "--evidence",
        file,
        "--attester",
        &liar.address().unwrap().to_string(),
        "--wallet",
        "alice",
    ]);
    assert!(again.contains("no stake to slash"), "{again}");
    // A file that is not one, and no file at all.
    let garbage = env.file("garbage.json");
    std::fs::write(&garbage, "{}").unwrap();
    let bad = env.fails(&[
        "attester",
        "challenge",
        "--evidence",
        garbage.to_str().unwrap(),
        "--wallet",
        "alice",
    ]);
    assert!(bad.contains("is not a worker's attestations file"), "{bad}");
    let task = decloud_protocol::task_id(deal_id, 0).to_string();
    let missing = env.fails(&["attester", "challenge", &task, "--wallet", "alice"]);
    assert!(missing.contains("--evidence"), "{missing}");
}
