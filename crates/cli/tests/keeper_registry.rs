//! Keepers found on chain, through the real binary on a devnet: three keepers publish their URLs
//! in the keeper registry (`decloud node --keeper --public-url` does it at start; the pool here
//! does the same call), and a fourth staked attester, a liar, publishes the first keeper's URL as
//! its own. `decloud keeper list` shows all four with their stakes; a non-https URL is refused.
//! A dataset's 3-of-4 keeper group draws all four; `dataset draw-keepers` fails saying what to
//! do while the profile names no beacon and its round is missing, then fetches the round from the
//! profile's beacon and submits it; `dataset reshare` without `--keepers` finds the drawn
//! keepers' URLs on chain and leaves the liar out (its URL answers as another attester); a TEE
//! task on the dataset, run by a worker given no key holder, finds the keepers on chain and
//! completes with the three honest keepers' attestations, none of them the liar's: a URL that
//! points at another keeper gains its publisher nothing.

mod common;

use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use common::Cli;
use decloud_chain::client::Client;
use decloud_chain::contracts::Beacon;
use decloud_chain::{ChainProfile, attesters, keeper_registry, keepers};
use decloud_tee::TeeKind;
use decloud_testkit::pool::{DealRequest, Pool, PoolOptions};
use decloud_testkit::{Devnet, anvil, fixtures};

/// The keeper epoch's length: long enough for a draw and a task inside one epoch.
const EPOCH: u64 = 120;
const TIMEOUT: Duration = Duration::from_secs(90);

/// A fresh staked attester that publishes `url` (someone else's) as its own.
async fn lying_keeper(devnet: &Devnet, url: &str) -> Address {
    let key = PrivateKeySigner::random();
    decloud_chain::devnet::fund(
        devnet.profile(),
        key.address(),
        U256::from(10u64).pow(U256::from(20)),
        U256::from(10_000_000_000_000u64),
    )
    .await
    .unwrap();
    let client = Client::connect(devnet.profile(), None, Some(key.clone()))
        .await
        .unwrap();
    let stake = attesters::min_stake(&client).await.unwrap();
    attesters::register(&client, stake).await.unwrap();
    keeper_registry::set_url(&client, url).await.unwrap();
    key.address()
}

/// Sets (or removes) the beacon URL of the devnet's profile the CLI reads.
fn set_beacon_url(devnet: &Devnet, url: Option<String>) {
    let mut profile = ChainProfile::load(devnet.home()).unwrap();
    profile.beacon_url = url;
    profile.save(devnet.home()).unwrap();
}

/// The attesters of the attestations a worker of `pool` kept for `task`.
fn attested_by(pool: &Pool, task: alloy::primitives::B256) -> Vec<Address> {
    let file = format!("{task}.json");
    let found = walk(pool.data_dir())
        .into_iter()
        .find(|p| p.ends_with(std::path::Path::new("attestations").join(&file)))
        .unwrap_or_else(|| panic!("no attestations/{file} under the pool"));
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(found).unwrap()).unwrap();
    let list = kept.as_array().cloned().unwrap_or_else(|| vec![kept]);
    list.iter()
        .map(|a| a["attester"].as_str().unwrap().parse().unwrap())
        .collect()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keepers_are_found_on_chain_and_a_lying_keeper_gains_nothing() {
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(
        &devnet,
        PoolOptions {
            tee: Some(TeeKind::Sim),
            keepers: 3,
            keepers_on_chain: true,
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
    cli.import("owner", decloud_testkit::pool::DATASET_OWNER);
    let urls = pool.keeper_urls();
    let honest: Vec<Address> = (0..3)
        .map(|i| pool.keeper_key(i).unwrap().address())
        .collect();
    let liar = lying_keeper(&devnet, &urls[0]).await;

    // The registry lists the four, the liar with keeper 0's URL; a plain-HTTP URL is refused.
    let listed = cli.json(&["keeper", "list"]);
    let listed = listed["keepers"].as_array().unwrap();
    assert_eq!(listed.len(), 4, "{listed:?}");
    for (i, k) in honest.iter().enumerate() {
        let entry = listed
            .iter()
            .find(|e| e["address"].as_str().unwrap().parse::<Address>().unwrap() == *k)
            .unwrap();
        assert_eq!(entry["url"], urls[i].as_str());
        assert_eq!(entry["active"], true);
    }
    let text = cli.ok(&["keeper", "list"]);
    assert!(
        text.contains(&liar.to_string()) && text.contains("active"),
        "{text}"
    );
    let refused = cli.fails(&[
        "keeper",
        "set-url",
        "http://k.example:7651",
        "--wallet",
        "admin",
    ]);
    assert!(refused.contains("not an https:// URL"), "{refused}");

    // The owner's encrypted dataset with a 3-of-4 group: the draw takes all four attesters.
    std::fs::write(cli.file("prices.csv"), "day,price\n1,10\n2,20\n").unwrap();
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
    let app = pool
        .deploy_tee_app("csv-stats", &fixtures::example_app("csv-stats").unwrap())
        .await
        .unwrap();
    cli.json(&[
        "attester",
        "keeper-epoch",
        "--set",
        &EPOCH.to_string(),
        "--wallet",
        "admin",
    ]);
    cli.json(&[
        "dataset",
        "keeper-group",
        &dataset,
        "--size",
        "4",
        "--threshold",
        "3",
        "--wallet",
        "owner",
    ]);
    let now = anvil::now(&devnet).await.unwrap();
    let mut e = now / EPOCH + 1;
    if e * EPOCH - EPOCH / 2 <= now + 5 {
        e += 1;
    }
    cli.json(&["attester", "snapshot", "--wallet", "admin"]);
    let (round, draw_time) = keepers::draw_round(&chain, e).await.unwrap();
    let beacon = Beacon::new(chain.profile().contracts.beacon, chain.provider().clone());
    let due: u64 = beacon
        .roundTime(round)
        .call()
        .await
        .unwrap()
        .saturating_to();
    anvil::advance_to(&devnet, due.max(draw_time))
        .await
        .unwrap();

    // The round is missing and no beacon is known: one line saying what to do, nothing drawn.
    set_beacon_url(&devnet, None);
    let epoch = e.to_string();
    let draw = [
        "dataset",
        "draw-keepers",
        &dataset,
        "--epoch",
        &epoch,
        "--wallet",
        "admin",
    ];
    let missing = cli.fails(&draw);
    assert!(
        missing.contains(&format!(
            "needs beacon round {round}, which is not on chain yet"
        )) && missing.contains("--beacon"),
        "{missing}"
    );
    assert!(
        keepers::drawn(&chain, dataset_address, e)
            .await
            .unwrap()
            .is_none()
    );
    // A beacon of the devnet's group, its clock far ahead of the chain's: the round is fetched,
    // submitted (the contract checks its signature) and the draw made.
    let node = decloud_beacon::node::start(decloud_beacon::node::BeaconConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        genesis: Some(1),
        period: 1,
        ..Default::default()
    })
    .await
    .unwrap();
    set_beacon_url(&devnet, Some(node.url()));
    let drawn = cli.ok(&draw);
    assert!(
        drawn.contains(&format!(
            "beacon round {round} fetched from the beacon and submitted"
        )),
        "{drawn}"
    );
    let mut all = keepers::drawn(&chain, dataset_address, e)
        .await
        .unwrap()
        .unwrap();
    all.sort();
    let mut expected = honest.clone();
    expected.push(liar);
    expected.sort();
    assert_eq!(all, expected, "a draw of four among four takes them all");

    // The re-split finds the URLs on chain and leaves the liar out: its URL answers as keeper 0.
    anvil::advance_to(&devnet, e * EPOCH).await.unwrap();
    let split = cli.ok(&["dataset", "reshare", &dataset, "--wallet", "owner"]);
    assert!(
        split.contains(&format!(
            "left out: keeper {liar}'s URL {} answers as attester {}, not as {liar}",
            urls[0], honest[0]
        )),
        "{split}"
    );
    assert!(split.contains("re-split 3-of-3"), "{split}");

    // A TEE task: its worker knows no key holder but finds the drawn keepers on chain.
    let deal = pool
        .deal(
            &DealRequest::new(app)
                .dataset(dataset_address)
                .attestations(3),
        )
        .await
        .unwrap();
    let task = deal.task_ids()[0];
    pool.wait_completed(&[task], TIMEOUT).await.unwrap();
    let mut signers = attested_by(&pool, task);
    signers.sort();
    let mut expected = honest.clone();
    expected.sort();
    assert_eq!(
        signers, expected,
        "the three honest keepers attested, never the liar"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_add_records_the_beacon_and_finds_the_keeper_registry() {
    let devnet = Devnet::start().await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let cli = Cli::new(home.path(), "");
    let rpc = devnet.profile().rpc_url.clone();
    let hub = devnet.profile().contracts.hub.to_string();
    let bad = cli.fails(&[
        "chain", "add", "dev", "--rpc", &rpc, "--hub", &hub, "--beacon", "beacon",
    ]);
    assert!(bad.contains("is not an http(s) URL"), "{bad}");
    let added = cli.json(&[
        "chain",
        "add",
        "dev",
        "--rpc",
        &rpc,
        "--hub",
        &hub,
        "--beacon",
        "https://beacon.example/abc",
        "--use",
    ]);
    assert_eq!(
        added["profile"]["beacon_url"], "https://beacon.example/abc",
        "{added}"
    );
    let registry: Address = added["profile"]["contracts"]["keeper_registry"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        registry,
        devnet.profile().contracts.keeper_registry,
        "found through the hub: {added}"
    );
    assert!(!devnet.profile().contracts.keeper_registry.is_zero());
    let shown = cli.ok(&["chain", "show"]);
    assert!(
        shown.contains("beacon:      https://beacon.example/abc"),
        "{shown}"
    );
}
