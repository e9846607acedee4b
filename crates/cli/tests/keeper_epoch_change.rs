//! An epoch change of a dataset's keepers on a devnet, through the real binary: the hub's admin
//! sets a short keeper epoch (`attester keeper-epoch --set`), the owner gives its encrypted
//! dataset a 3-of-3 keeper group among five staked keepers (`dataset keeper-group`), anyone
//! commits the attester snapshot and draws epoch e (`attester snapshot`, `dataset
//! draw-keepers`), the owner splits the key to them (`dataset reshare`) and a TEE task on the
//! dataset completes with their three attestations. Then epoch e + 1 is drawn during e, the
//! owner re-splits to its keepers before it starts, the epoch turns, and a TEE task on the
//! dataset still completes, accepted on chain with the new keepers' attestations; the same
//! contribution with an attestation of a keeper of epoch e only is refused by the hub with
//! `NotKeeperOfEpoch`.
//!
//! The chain's clock is moved forward (anvil's `evm_increaseTime`) to each draw and epoch start
//! rather than waited for; each draw's beacon round is the one the devnet beacon (`decloud node
//! --beacon`, its default group) publishes, signed here by that group since the chain runs
//! ahead of the wall clock, and submitted to the chain's `Beacon` contract as anyone may.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use alloy::eips::BlockId;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolEvent;
use common::Cli;
use decloud_beacon::ThresholdGroup;
use decloud_chain::client::Client;
use decloud_chain::contracts::{Beacon, IHub};
use decloud_chain::{keepers, selection};
use decloud_protocol::result::{commitment, sign_authorization, sign_enclave};
use decloud_protocol::tee::{EnclaveAttested, SignedAttestation, enclave_evidence, tcb_status};
use decloud_tee::TeeKind;
use decloud_testkit::pool::{DealRequest, POOL_OWNER, Pool, PoolOptions};
use decloud_testkit::{Devnet, anvil, fixtures};

/// The keeper epoch's length: long enough for a draw and a task inside one epoch.
const EPOCH: u64 = 120;
const TIMEOUT: Duration = Duration::from_secs(60);

/// Draws epoch `epoch`'s keepers of `dataset` with `decloud dataset draw-keepers`, after moving
/// the clock to when its beacon round is due and submitting that round.
async fn draw(
    devnet: &Devnet,
    chain: &Client,
    cli: &Cli,
    dataset: &str,
    epoch: u64,
) -> Vec<Address> {
    let (round, draw_time) = keepers::draw_round(chain, epoch).await.unwrap();
    let beacon = Beacon::new(chain.profile().contracts.beacon, chain.provider().clone());
    let due: u64 = beacon
        .roundTime(round)
        .call()
        .await
        .unwrap()
        .saturating_to();
    anvil::advance_to(devnet, due.max(draw_time)).await.unwrap();
    // Before its round is on chain the draw is refused with a reason.
    let early = cli.fails(&[
        "dataset",
        "draw-keepers",
        dataset,
        "--epoch",
        &epoch.to_string(),
        "--wallet",
        "admin",
    ]);
    assert!(early.contains("is not on chain yet"), "{early}");
    let group = ThresholdGroup::from_seed(b"decloud devnet beacon", 2, 3).unwrap();
    selection::submit_round(chain, round, &group.sign_round(round).to_bytes())
        .await
        .unwrap();
    let drawn = cli.json(&[
        "dataset",
        "draw-keepers",
        dataset,
        "--epoch",
        &epoch.to_string(),
        "--wallet",
        "admin",
    ]);
    assert_eq!(drawn["epoch"], epoch, "{drawn}");
    drawn["keepers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().parse().unwrap())
        .collect()
}

/// Runs a 3-attestation TEE task of `app` on `dataset` through the pool; returns the deal and
/// the block of its `contributeAndFinalize`.
async fn run_task(
    pool: &Pool,
    chain: &Client,
    app: Address,
    dataset: Address,
) -> (decloud_testkit::pool::Deal, u64) {
    let deal = pool
        .deal(&DealRequest::new(app).dataset(dataset).attestations(3))
        .await
        .unwrap();
    let task = deal.task_ids()[0];
    pool.wait_completed(&[task], TIMEOUT).await.unwrap();
    let logs = chain
        .provider()
        .get_logs(
            &Filter::new()
                .address(chain.profile().contracts.hub)
                .event_signature(IHub::TaskFinalize::SIGNATURE_HASH)
                .topic1(task)
                .from_block(0),
        )
        .await
        .unwrap();
    (deal, logs[0].block_number.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_an_epoch_change_the_new_keepers_attest_and_an_old_ones_attestation_is_refused() {
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(
        &devnet,
        PoolOptions {
            tee: Some(TeeKind::Sim),
            keepers: 5,
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let chain = Client::connect(&pool.profile, None, Some(devnet.signer(0)))
        .await
        .unwrap();
    let cli = Cli::new(devnet.home(), "");
    cli.import("admin", 0);
    // The pool signs the dataset order as the dataset owner, account 2.
    cli.import("owner", decloud_testkit::pool::DATASET_OWNER);
    let urls = pool.keeper_urls().join(",");

    // The owner's dataset, encrypted (its key kept in its home), uploaded, registered.
    let csv = "day,price\n1,10\n2,20\n3,30\n4,40\n";
    std::fs::write(cli.file("prices.csv"), csv).unwrap();
    cli.ok(&["dataset", "encrypt", "prices.csv"]);
    let dataset = cli.json(&[
        "dataset",
        "deploy",
        "--name",
        "prices",
        "--file",
        "prices.csv.age",
        "--upload",
        &pool.storage_url,
        "--wallet",
        "owner",
    ])["address"]
        .as_str()
        .unwrap()
        .to_string();
    let dataset_address: Address = dataset.parse().unwrap();
    let module = fixtures::example_app("csv-stats").unwrap();
    let app = pool.deploy_tee_app("csv-stats", &module).await.unwrap();

    // A short epoch; a 3-of-3 group; the snapshot before the next draw.
    let set = cli.json(&[
        "attester",
        "keeper-epoch",
        "--set",
        &EPOCH.to_string(),
        "--wallet",
        "admin",
    ]);
    assert_eq!(set["length"], EPOCH, "{set}");
    cli.json(&[
        "dataset",
        "keeper-group",
        &dataset,
        "--size",
        "3",
        "--threshold",
        "3",
        "--wallet",
        "owner",
    ]);
    let now = anvil::now(&devnet).await.unwrap();
    // The first epoch whose draw time (its start minus half an epoch) is still ahead.
    let mut e = now / EPOCH + 1;
    if e * EPOCH - EPOCH / 2 <= now + 5 {
        e += 1;
    }
    cli.json(&["attester", "snapshot", "--wallet", "admin"]);

    // Epoch e: drawn, the key split to its keepers, a task completes with their attestations.
    let old: BTreeSet<Address> = draw(&devnet, &chain, &cli, &dataset, e)
        .await
        .into_iter()
        .collect();
    assert_eq!(old.len(), 3);
    anvil::advance_to(&devnet, e * EPOCH).await.unwrap();
    let split = cli.json(&[
        "dataset",
        "reshare",
        &dataset,
        "--keepers",
        &urls,
        "--wallet",
        "owner",
    ]);
    assert_eq!(split["epoch"], e, "{split}");
    run_task(&pool, &chain, app, dataset_address).await;

    // Epoch e + 1 (or the first later one whose draw differs: a draw of 3 among 5 may repeat),
    // drawn during the epoch before it; the owner re-splits before it starts.
    let (mut next, mut new) = (e + 1, BTreeSet::new());
    loop {
        new.extend(draw(&devnet, &chain, &cli, &dataset, next).await);
        if new != old {
            break;
        }
        anvil::advance_to(&devnet, next * EPOCH).await.unwrap();
        (next, new) = (next + 1, BTreeSet::new());
    }
    let split = cli.json(&[
        "dataset",
        "reshare",
        &dataset,
        "--keepers",
        &urls,
        "--wallet",
        "owner",
    ]);
    assert_eq!(
        split["epoch"], next,
        "the re-split is for the next epoch: {split}"
    );
    anvil::advance_to(&devnet, next * EPOCH).await.unwrap();
    assert_eq!(keepers::current_epoch(&chain).await.unwrap(), next);

    // The epoch turned: the task runs, accepted on chain with the new keepers' attestations.
    let (deal, finalized_at) = run_task(&pool, &chain, app, dataset_address).await;

    // The same contribution, as it stood the block before it was finalized (the task active, in
    // epoch `next`): with the new keepers' attestations the hub takes it; with an attestation of
    // a keeper of epoch e only, it refuses it, naming that keeper.
    let task = deal.task_ids()[0];
    let worker = PrivateKeySigner::random();
    let enclave = PrivateKeySigner::random();
    let digest = B256::repeat_byte(0x42);
    let enclave_sign = sign_enclave(&enclave, &commitment(worker.address(), task, digest)).unwrap();
    let authorization = sign_authorization(
        &devnet.signer(POOL_OWNER),
        worker.address(),
        task,
        enclave.address(),
    )
    .unwrap();
    let before = BlockId::number(finalized_at - 1);
    let at_block = chain
        .provider()
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Number(finalized_at - 1))
        .await
        .unwrap()
        .unwrap()
        .header
        .timestamp;
    let keys: Vec<PrivateKeySigner> = (0..5)
        .map(|i| pool.keeper_key(i).unwrap().clone())
        .collect();
    let attest = |keeper: Address| {
        let key = keys.iter().find(|k| k.address() == keeper).unwrap();
        let statement = EnclaveAttested {
            taskId: task,
            enclave: enclave.address(),
            measurement: B256::from(decloud_tee::sim::sim_runner_measurements().measurement().0),
            tcbStatus: tcb_status::UP_TO_DATE,
            expiry: at_block + 600,
            evidenceHash: B256::repeat_byte(0xe5),
        };
        SignedAttestation::sign(&statement, &chain.domain(), key).unwrap()
    };
    let contribution = |attesters: &[Address]| {
        let attestations: Vec<SignedAttestation> = attesters.iter().map(|a| attest(*a)).collect();
        IHub::FastResult {
            digest,
            enclave: enclave.address(),
            enclaveSign: enclave_evidence(&enclave_sign, &attestations).unwrap(),
            authorizationSign: authorization.clone(),
            resultsLocation: Bytes::from_static(b"file:///simulated"),
            callbackData: Bytes::new(),
        }
    };
    let from = worker.address();
    let hub_deal: IHub::Deal = (&deal.matched.deal).into();
    let simulate = |result: IHub::FastResult| {
        let hub = chain.hub();
        let deal = hub_deal.clone();
        async move {
            hub.contributeAndFinalize(deal, U256::ZERO, result)
                .from(from)
                .block(before)
                .call()
                .await
        }
    };
    let newcomers: Vec<Address> = new.iter().copied().collect();
    simulate(contribution(&newcomers))
        .await
        .expect("the new keepers' attestations are taken");
    let stale = *old.difference(&new).next().unwrap();
    let mut mixed: Vec<Address> = new.iter().copied().take(2).collect();
    mixed.push(stale);
    let refused = simulate(contribution(&mixed)).await.unwrap_err();
    match refused.as_decoded_interface_error::<IHub::IHubErrors>() {
        Some(IHub::IHubErrors::NotKeeperOfEpoch(err)) => {
            assert_eq!(err.dataset, dataset_address);
            assert_eq!(err.epoch, U256::from(next));
            assert_eq!(err.signer, stale);
        }
        other => panic!("not NotKeeperOfEpoch: {other:?} ({refused})"),
    }
}
