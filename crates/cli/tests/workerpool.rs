//! The workerpool through the real binary: `decloud node` runs storage, market, a scheduler and
//! a worker; a requester's `decloud run --watch` ends with the certified result, `task show`
//! shows every replicate's stage, and `result get` downloads the result and checks it against
//! the chain. And `decloud demo` runs the whole story on its own.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::Cli;
use decloud_testkit::Devnet;
use decloud_testkit::fixtures::{self, Service, example_app_path};

/// The URL a `decloud node` line announces after `marker`.
fn url_after(line: &str, marker: &str) -> Option<String> {
    line.split(marker).nth(1).map(|rest| {
        rest.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_computes_what_run_asks_and_result_get_checks_it() {
    let devnet = Devnet::start().await.unwrap();
    // The market and the scheduler are known once the node announces them.
    let mut env = Cli::new(devnet.home(), "");
    for (name, index) in [("appdev", 1), ("pool", 3), ("requester", 4)] {
        env.import(name, index);
    }
    let pool = env.json(&[
        "workerpool",
        "deploy",
        "--description",
        "cli pool",
        "--wallet",
        "pool",
    ]);
    let pool = pool["address"].as_str().unwrap().to_string();
    env.ok(&["account", "deposit", "100DCT", "--wallet", "pool"]);
    env.ok(&["account", "deposit", "100DCT", "--wallet", "requester"]);

    let mut child = env
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
            "--workers",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start decloud node");
    let stdout = child.stdout.take().unwrap();
    let _node = Service::from(child);
    let mut lines = BufReader::new(stdout).lines();
    let mut storage = None;
    while let Some(Ok(line)) = lines.next() {
        if line.starts_with("storage:") {
            storage = url_after(&line, " on ");
        } else if line.starts_with("market:") {
            env.market = url_after(&line, " on ").unwrap();
        } else if line.starts_with("scheduler:") {
            env.scheduler = url_after(&line, " at ");
        } else if line.starts_with("worker 1:") {
            break;
        }
    }
    // Keep reading what the node prints, so that it never writes into a closed pipe.
    std::thread::spawn(move || for _ in lines {});
    let storage = storage.expect("the node announces its storage");
    let scheduler = env.scheduler.as_deref().unwrap_or_default();
    // Every service speaks TLS and announces the key its clients pin.
    for url in [scheduler, storage.as_str(), env.market.as_str()] {
        assert!(url.starts_with("https://127.0.0.1:"), "{url}");
        assert!(url.contains("#sha256:"), "{url}");
    }

    // The app developer uploads the module to the node's storage and registers it there.
    let wasm = std::fs::read(example_app_path("greeting")).expect("run scripts/build-apps first");
    std::fs::write(env.file("greeting.wasm"), &wasm).unwrap();
    let app = env.json(&[
        "app",
        "deploy",
        "--name",
        "greeting",
        "--file",
        "greeting.wasm",
        "--upload",
        &storage,
        "--wallet",
        "appdev",
    ]);
    let shown = env.json(&["app", "show", app["address"].as_str().unwrap()]);
    let uri = shown["uri"].as_str().unwrap().to_string();
    // Registered on the node's storage, its key pinned at the end.
    let (store, pin) = storage.split_once('#').unwrap();
    assert!(uri.starts_with(store) && uri.ends_with(pin), "{shown}");
    let stored = fixtures::download(&uri, 1 << 20).await.unwrap();
    assert_eq!(
        &stored[..],
        &wasm[..],
        "the module is where the registry says"
    );
    let app = app["address"].as_str().unwrap().to_string();
    env.ok(&[
        "order",
        "init",
        "--app",
        &app,
        "--workerpool",
        &pool,
        "--force",
    ]);
    env.edit_template(
        "workerpool_price = \"0\"",
        "workerpool_price = \"1000000000\"",
    );
    env.ok(&["order", "sign", "--app", "--wallet", "appdev"]);
    env.ok(&["order", "sign", "--workerpool", "--wallet", "pool"]);
    env.ok(&["order", "publish", "--app", "--workerpool"]);

    let run = env.json(&[
        "run",
        &app,
        "--args",
        "CLI user",
        "--watch",
        "--wallet",
        "requester",
    ]);
    let task = run["tasks"][0]["task_id"]
        .as_str()
        .or_else(|| run["tasks"][0].as_str())
        .unwrap_or_else(|| panic!("run lists its tasks: {run}"))
        .to_string();

    let shown = env.json(&["task", "show", &task]);
    assert_eq!(shown["status"], "COMPLETED", "{shown}");
    let replicates = shown["offchain"]["replicates"].as_array().unwrap();
    assert_eq!(replicates.len(), 1, "{shown}");
    assert_eq!(replicates[0]["status"], "revealed");

    let got = env.json(&["result", "get", &task, "-o", "out"]);
    assert_eq!(got["verified"], true, "{got}");
    assert_eq!(
        std::fs::read_to_string(env.file("out/result.txt")).unwrap(),
        "Hello, CLI user!\n"
    );
    // Again into the same directory: refused, nothing overwritten.
    let err = env.fails(&["result", "get", &task, "-o", "out"]);
    assert!(err.contains("not empty"), "{err}");
    // A result altered in storage is refused.
    let location = shown["results_location"].as_str().unwrap();
    // The storage node speaks TLS: its pin ends the location (…/blobs/<sha256>#sha256:<key>).
    let (unpinned, pin) = location.split_once('#').expect("a pinned location");
    assert!(
        pin.starts_with("sha256:") && location.starts_with("https://"),
        "{location}"
    );
    let name = unpinned.rsplit('/').next().unwrap();
    let blob = devnet.home().join("blobs").join(name);
    assert!(blob.is_file(), "the node keeps blobs in its home");
    std::fs::write(&blob, b"not the result").unwrap();
    let err = env.fails(&["result", "get", &task, "-o", "out2"]);
    assert!(err.contains("corrupt"), "{err}");
}

#[test]
fn the_demo_runs_the_whole_flow_and_stops_what_it_started() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_decloud"))
        .args(["demo", "--block-time", "0", "--json", "--timeout", "240"])
        .env("DECLOUD_HOME", home.path())
        .env(
            "DECLOUD_APPS",
            example_app_path("greeting").parent().unwrap(),
        )
        .output()
        .unwrap();
    let report = fixtures::json_output(&out).unwrap_or_else(|e| panic!("demo failed: {e}"));
    let tasks = report["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3);
    assert_eq!(tasks[0]["replicas"], 1);
    assert_eq!(tasks[0]["result"], "Hello, decloud!");
    assert_eq!(tasks[1]["replicas"], 3);
    assert!(tasks[1]["result"].as_str().unwrap().contains("\"nonce\""));
    // The TEE task: one enclave, over the encrypted dataset it opened (four rows, the prices'
    // mean), its label saying so.
    assert_eq!(tasks[2]["replicas"], 1);
    assert!(
        tasks[2]["label"]
            .as_str()
            .unwrap()
            .contains("encrypted dataset"),
        "{}",
        tasks[2]
    );
    let tee_result: serde_json::Value =
        serde_json::from_str(tasks[2]["result"].as_str().unwrap()).unwrap();
    assert_eq!(tee_result["rows"], 4, "{tee_result}");
    assert_eq!(
        tee_result["columns"]["price"]["mean"].as_f64(),
        Some(101.6875),
        "{tee_result}"
    );
    // Stored encrypted to the requester (the demo opened it with its key); the others not.
    assert_eq!(tasks[2]["encrypted"], true, "{}", tasks[2]);
    assert_eq!(tasks[0]["encrypted"], false, "{}", tasks[0]);
    let functions: Vec<&str> = report["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"].as_str().unwrap())
        .collect();
    for f in [
        "matchOrders",
        "contributeAndReveal",
        "commitSnapshot",
        "contributeDrawn",
        "reveal",
        "finalize",
        "initialize",
        "contributeAndFinalize",
    ] {
        assert!(functions.contains(&f), "{f} missing from {functions:?}");
    }
    assert!(report["gas_total"].as_u64().unwrap() > 0);
    let requester = report["payments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["account"] == "requester")
        .unwrap();
    assert!(
        requester["change"].as_str().unwrap().starts_with('-'),
        "the requester paid"
    );
    // Nothing it started is left running in the demo's home.
    assert!(std::fs::read_dir(home.path()).unwrap().next().is_none());
}
