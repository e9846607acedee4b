//! Keepers drawn per epoch through the real binary on a real devnet: no group before the admin
//! sets the epoch length, only the dataset's owner sets its group, the attester snapshot is
//! committed, a draw before its beacon round is on chain is refused with a reason, and a reshare
//! of an epoch nobody drew says what to run first.

mod common;

use common::Cli;
use decloud_testkit::Devnet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dataset_keeper_group_is_set_snapshotted_and_waits_for_its_draw() {
    let devnet = Devnet::start().await.unwrap();
    let env = Cli::new(devnet.home(), "");
    env.import("admin", 0);
    env.import("owner", 1);
    env.import("other", 2);
    for (i, name) in ["k1", "k2", "k3"].iter().enumerate() {
        env.import(name, 5 + i);
        env.ok(&[
            "attester", "register", "--stake", "100DCT", "--wallet", name,
        ]);
    }
    let dataset = env.json(&[
        "dataset",
        "deploy",
        "--name",
        "prices",
        "--uri",
        "http://127.0.0.1:9/prices.age",
        "--checksum",
        "0x1111111111111111111111111111111111111111111111111111111111111111",
        "--wallet",
        "owner",
    ])["address"]
        .as_str()
        .unwrap()
        .to_string();

    let none = env.json(&["attester", "keeper-epoch"]);
    assert_eq!(none["length"], 0, "{none}");
    let early = env.fails(&[
        "dataset",
        "keeper-group",
        &dataset,
        "--size",
        "2",
        "--threshold",
        "2",
        "--wallet",
        "owner",
    ]);
    assert!(early.contains("no keeper epochs yet"), "{early}");

    let set = env.json(&[
        "attester",
        "keeper-epoch",
        "--set",
        "3600",
        "--wallet",
        "admin",
    ]);
    assert_eq!(set["length"], 3600, "{set}");
    let epoch = set["epoch"].as_u64().unwrap();
    let again = env.fails(&[
        "attester",
        "keeper-epoch",
        "--set",
        "60",
        "--wallet",
        "admin",
    ]);
    assert!(!again.is_empty());

    let not_owner = env.fails(&[
        "dataset",
        "keeper-group",
        &dataset,
        "--size",
        "2",
        "--threshold",
        "2",
        "--wallet",
        "other",
    ]);
    assert!(not_owner.contains("does not own dataset"), "{not_owner}");
    let bad = env.fails(&[
        "dataset",
        "keeper-group",
        &dataset,
        "--size",
        "2",
        "--threshold",
        "3",
        "--wallet",
        "owner",
    ]);
    assert!(bad.contains("is not one"), "{bad}");
    env.json(&[
        "dataset",
        "keeper-group",
        &dataset,
        "--size",
        "2",
        "--threshold",
        "2",
        "--wallet",
        "owner",
    ]);
    let shown = env.json(&["dataset", "keepers", &dataset]);
    assert_eq!(shown["size"], 2, "{shown}");
    assert_eq!(shown["threshold"], 2, "{shown}");
    assert_eq!(shown["current_epoch"], epoch, "{shown}");
    assert!(shown["keepers"].is_null(), "nobody drew it: {shown}");

    let snap = env.json(&["attester", "snapshot", "--wallet", "k1"]);
    assert_eq!(snap["snapshot"], 0, "{snap}");
    // The next epoch draws at its draw time with a beacon round nobody submitted on this devnet
    // (or, past the middle of this epoch, over a snapshot committed after its draw time): refused.
    let draw = env.fails(&["dataset", "draw-keepers", &dataset, "--wallet", "k1"]);
    assert!(
        draw.contains("is not on chain yet")
            || draw.contains("no attester snapshot was committed before"),
        "{draw}"
    );
    let reshare = env.fails(&[
        "dataset",
        "reshare",
        &dataset,
        "--keepers",
        "http://127.0.0.1:9",
        "--wallet",
        "owner",
    ]);
    assert!(reshare.contains("are not drawn"), "{reshare}");
    assert!(reshare.contains("draw-keepers"), "{reshare}");
}
