//! A local dataset through the real binary, on two machines' worth of `$DECLOUD_HOME`: the
//! pool's (`decloud node --storage --market --scheduler --workers 1`, its administrator using
//! `decloud pool`) and the dataset owner's. The owner registers the dataset with `decloud
//! dataset deploy --local` (its checksum only: the storage node holds no blob of it), offers it
//! to the pool only, and runs its own worker beside the data as its own wallet (`decloud node
//! --workers 1 --worker-wallet owner --data 0xDATASET=PATH`); the administrator declares that
//! worker private to the owner and confines the dataset to the owner. `decloud run --dataset`
//! then reaches the owner's worker although the pool's own sits idle, `decloud result get`
//! checks and opens the statistics, and the dataset's marker row is in no file of the pool's
//! home (its scheduler's database, every storage blob, the market's, its worker's directory),
//! nor in the result.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use alloy::primitives::B256;
use common::Cli;
use decloud_testkit::Devnet;
use decloud_testkit::confidential::files_containing;
use decloud_testkit::fixtures::{Service, example_app_path, succeeded};

const ADMIN_PASSWORD: &str = "pool administrator password";

/// The URL a `decloud node` line announces after `marker`.
fn url_after(line: &str, marker: &str) -> Option<String> {
    line.split(marker).nth(1).map(|rest| {
        rest.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    })
}

/// Reads `child`'s lines until one starts with `last`, handing each to `seen`; keeps draining
/// the rest so the node never writes into a closed pipe.
fn read_until(child: &mut Child, last: &str, mut seen: impl FnMut(&str)) {
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while let Some(Ok(line)) = lines.next() {
        seen(&line);
        if line.starts_with(last) {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_local_dataset_is_registered_by_checksum_and_computed_on_its_owners_worker() {
    let devnet = Devnet::start().await.unwrap();
    let mut pool_side = Cli::new(devnet.home(), "");
    for (name, index) in [("appdev", 1), ("pool", 3), ("requester", 4)] {
        pool_side.import(name, index);
    }
    let pool = pool_side.json(&[
        "workerpool",
        "deploy",
        "--description",
        "pool",
        "--wallet",
        "pool",
    ]);
    let pool = pool["address"].as_str().unwrap().to_string();
    pool_side.ok(&["account", "deposit", "100DCT", "--wallet", "pool"]);
    pool_side.ok(&["account", "deposit", "100DCT", "--wallet", "requester"]);
    let password_file = pool_side.file("admin-password");
    std::fs::write(&password_file, ADMIN_PASSWORD).unwrap();
    let mut child = pool_side
        .command(&[
            "node",
            "--storage",
            "--storage-listen",
            "127.0.0.1:0",
            "--market",
            "--market-listen",
            "127.0.0.1:0",
            "--market-follow-secs",
            "1",
            "--scheduler",
            "--workerpool",
            &pool,
            "--wallet",
            "pool",
            "--scheduler-listen",
            "127.0.0.1:0",
            "--scheduler-follow-ms",
            "100",
            "--pool-admin-password-file",
            password_file.to_str().unwrap(),
            "--workers",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the pool's decloud node");
    let (mut storage, mut pools_worker) = (String::new(), String::new());
    read_until(&mut child, "worker 1:", |line| {
        if line.starts_with("storage:") {
            storage = url_after(line, " on ").unwrap();
        } else if line.starts_with("market:") {
            pool_side.market = url_after(line, " on ").unwrap();
        } else if line.starts_with("scheduler:") {
            pool_side.scheduler = url_after(line, " at ");
        } else if line.starts_with("worker 1:") {
            pools_worker = line.split_whitespace().nth(2).unwrap().to_owned();
        }
    });
    let _pool_node = Service::from(child);
    let scheduler = pool_side.scheduler.clone().unwrap();

    // The owner's machine: its own home (the same chain), its wallet, its data with a marker
    // that appears nowhere by chance.
    let owners_machine = tempfile::tempdir().unwrap();
    let owners_home = owners_machine.path().join("home");
    devnet.profile().save(&owners_home).unwrap();
    let owner_side = Cli::new(&owners_home, &pool_side.market);
    let owner = owner_side.import("owner", 7);
    let marker = format!("private-row-{}", alloy::hex::encode(&B256::random()[..8]));
    let csv = format!("day,price,note\n1,10,{marker}\n2,20,x\n3,30,y\n4,40,z\n");
    let data = owners_machine.path().join("prices.csv");
    std::fs::write(&data, &csv).unwrap();
    let data_arg = data.to_str().unwrap();

    // Registered by its checksum, never uploaded.
    let dataset = owner_side.json(&[
        "dataset", "deploy", "--name", "prices", "--local", data_arg, "--wallet", "owner",
    ]);
    let checksum = decloud_storage::ContentHash::of(csv.as_bytes()).to_string();
    assert_eq!(
        dataset["uri"],
        decloud_worker::LOCAL_DATASET_URI,
        "{dataset}"
    );
    assert_eq!(dataset["checksum"], format!("0x{checksum}"), "{dataset}");
    let dataset = dataset["address"].as_str().unwrap().to_string();
    assert!(
        !devnet.home().join("blobs").join(&checksum).exists(),
        "the storage node holds a blob of the local dataset"
    );
    // Offered to this pool only.
    owner_side.ok(&["order", "init", "--dataset", &dataset, "--force"]);
    owner_side.edit_template(
        "[order.dataset]\n",
        &format!("[order.dataset]\nworkerpool_restrict = \"{pool}\"\n"),
    );
    owner_side.ok(&["order", "sign", "--dataset", "--wallet", "owner"]);
    owner_side.ok(&["order", "publish", "--dataset"]);

    // The app developer's csv-stats, uploaded to the pool's storage; the pool's offer.
    let wasm = example_app_path("csv-stats");
    let app = pool_side.json(&[
        "app",
        "deploy",
        "--name",
        "csv-stats",
        "--file",
        wasm.to_str().expect("run scripts/build-apps first"),
        "--upload",
        &storage,
        "--wallet",
        "appdev",
    ]);
    let app = app["address"].as_str().unwrap().to_string();
    let module = decloud_storage::ContentHash::of(&std::fs::read(&wasm).unwrap()).to_string();
    assert!(
        devnet.home().join("blobs").join(&module).is_file(),
        "an uploaded module is a blob of the storage node"
    );
    pool_side.ok(&[
        "order",
        "init",
        "--app",
        &app,
        "--workerpool",
        &pool,
        "--force",
    ]);
    pool_side.edit_template(
        "workerpool_price = \"0\"",
        "workerpool_price = \"1000000000\"",
    );
    pool_side.ok(&["order", "sign", "--app", "--wallet", "appdev"]);
    pool_side.ok(&["order", "sign", "--workerpool", "--wallet", "pool"]);
    pool_side.ok(&["order", "publish", "--app", "--workerpool"]);

    // The owner's worker, beside the data, as the owner.
    let mut child = owner_side
        .command(&[
            "node",
            "--workers",
            "1",
            "--worker-wallet",
            "owner",
            "--data",
            &format!("{dataset}={data_arg}"),
            "--scheduler-url",
            &scheduler,
            "--results-store",
            &storage,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the owner's decloud node");
    let mut announced = String::new();
    read_until(&mut child, "worker 1:", |line| announced = line.to_owned());
    let _owners_node = Service::from(child);
    let owners_worker = announced.split_whitespace().nth(2).unwrap_or_default();
    assert_eq!(
        owners_worker.parse::<alloy::primitives::Address>().ok(),
        Some(owner),
        "the owner's worker works as the owner: {announced}"
    );

    // The pool's administrator: the owner's worker is private to the owner, the dataset too.
    let admin = {
        let out = pool_side
            .command(&["pool", "login", "--user", "admin"])
            .env("DECLOUD_POOL_PASSWORD", ADMIN_PASSWORD)
            .output()
            .unwrap();
        succeeded(&out).unwrap()
    };
    let as_admin = |args: &[&str]| {
        let out = pool_side
            .command(args)
            .env("DECLOUD_POOL_TOKEN", admin.trim())
            .env("DECLOUD_POOL_PASSWORD", "ann's password")
            .output()
            .unwrap();
        succeeded(&out).unwrap()
    };
    as_admin(&["pool", "user", "add", "owner"]);
    let owner_hex = owner.to_string();
    as_admin(&[
        "pool",
        "worker",
        "add",
        &owner_hex,
        "--owner",
        "owner",
        "--confinement",
        "private",
    ]);
    as_admin(&[
        "pool",
        "onchain",
        "confine",
        &dataset,
        "--kind",
        "dataset",
        "--owner",
        "owner",
        "--confinement",
        "private",
    ]);

    // The requester runs csv-stats on the dataset: the owner's worker computes it, the pool's
    // own worker (idle) does not.
    let run = pool_side.json(&[
        "run",
        &app,
        "--dataset",
        &dataset,
        "--watch",
        "--wallet",
        "requester",
    ]);
    let task = run["tasks"][0]["task_id"]
        .as_str()
        .or_else(|| run["tasks"][0].as_str())
        .unwrap_or_else(|| panic!("run lists its tasks: {run}"))
        .to_string();
    let shown = pool_side.json(&["task", "show", &task]);
    assert_eq!(shown["status"], "COMPLETED", "{shown}");
    let replicates = shown["offchain"]["replicates"].as_array().unwrap();
    let workers: Vec<String> = replicates
        .iter()
        .map(|r| r["worker"].as_str().unwrap_or_default().to_lowercase())
        .collect();
    assert_eq!(workers, vec![owner_hex.to_lowercase()], "{shown}");
    assert_ne!(pools_worker.to_lowercase(), owner_hex.to_lowercase());
    let got = pool_side.json(&["result", "get", &task, "-o", "out"]);
    assert_eq!(got["verified"], true, "{got}");
    let stats: serde_json::Value =
        serde_json::from_slice(&std::fs::read(pool_side.file("out/stats.json")).unwrap()).unwrap();
    assert_eq!(stats["rows"], 4, "{stats}");
    assert_eq!(
        stats["columns"]["price"]["mean"].as_f64(),
        Some(25.0),
        "{stats}"
    );

    // The bytes stayed on the owner's machine: in no file of the pool's home (the scheduler's
    // and the market's databases, every storage blob, the pool's worker), not in the result.
    let leaked = files_containing(devnet.home(), marker.as_bytes());
    assert!(
        leaked.is_empty(),
        "the pool's files hold the marker: {leaked:?}"
    );
    let result = files_containing(&pool_side.file("out"), marker.as_bytes());
    assert!(result.is_empty(), "the result holds the marker: {result:?}");
    // (The scan finds the marker where it is: the owner's data.)
    let owners = files_containing(owners_machine.path(), marker.as_bytes());
    assert!(owners.contains(&data), "{owners:?}");
}
