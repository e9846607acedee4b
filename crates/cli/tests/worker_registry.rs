//! The worker registry through the real binary: a pool's owner sets the minimum stake, admits
//! and removes workers; a worker joins with a stake, shows its membership and leaves (its stake
//! stays locked for the hub's leave delay).

mod common;

use common::Cli;
use decloud_testkit::Devnet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_admit_and_remove_workers_join_show_and_leave() {
    let devnet = Devnet::start().await.unwrap();
    let env = Cli::new(devnet.home(), "");
    env.import("pool", 3);
    let worker = env.import("worker", 5);
    let admitted = env.import("admitted", 6);
    let pool = env.json(&[
        "workerpool",
        "deploy",
        "--description",
        "p",
        "--wallet",
        "pool",
    ]);
    let pool = pool["address"].as_str().unwrap().to_string();

    // No minimum yet: only admitted workers, and joining says so.
    let refused = env.fails(&[
        "worker",
        "join",
        "--workerpool",
        &pool,
        "--stake",
        "2DCT",
        "--wallet",
        "worker",
    ]);
    assert!(refused.contains("PoolNotOpen"), "{refused}");

    let set = env.json(&[
        "workerpool",
        "set-min-stake",
        "1DCT",
        "--workerpool",
        &pool,
        "--wallet",
        "pool",
    ]);
    assert_eq!(set["min_stake"], "1000000000");

    let joined = env.json(&[
        "worker",
        "join",
        "--workerpool",
        &pool,
        "--stake",
        "2DCT",
        "--wallet",
        "worker",
    ]);
    assert_eq!(joined["member"], true);
    assert_eq!(joined["capacity"], 2);
    assert_eq!(joined["stake"], "2000000000");
    let shown = env.ok(&[
        "worker",
        "show",
        "--workerpool",
        &pool,
        "--wallet",
        "worker",
    ]);
    assert!(
        shown.contains("status:     member, up to 2 replicate(s) at once"),
        "{shown}"
    );
    assert!(shown.contains(&format!("worker:     {worker}")), "{shown}");
    let again = env.fails(&[
        "worker",
        "join",
        "--workerpool",
        &pool,
        "--stake",
        "2DCT",
        "--wallet",
        "worker",
    ]);
    assert!(again.contains("AlreadyMember"), "{again}");

    // The owner's allow-list; nobody else may touch it.
    let stranger = env.fails(&[
        "workerpool",
        "admit",
        &admitted.to_string(),
        "--workerpool",
        &pool,
        "--cap",
        "3",
        "--wallet",
        "worker",
    ]);
    assert!(stranger.contains("NotWorkerpoolOwner"), "{stranger}");
    let admit = env.json(&[
        "workerpool",
        "admit",
        &admitted.to_string(),
        "--workerpool",
        &pool,
        "--cap",
        "3",
        "--wallet",
        "pool",
    ]);
    assert_eq!(admit["admitted"], true);
    assert_eq!(admit["capacity"], 3);
    let shown = env.json(&[
        "worker",
        "show",
        &admitted.to_string(),
        "--workerpool",
        &pool,
    ]);
    assert_eq!(shown["member"], true);
    let removed = env.json(&[
        "workerpool",
        "remove",
        &admitted.to_string(),
        "--workerpool",
        &pool,
        "--wallet",
        "pool",
    ]);
    assert_eq!(removed["member"], false);
    assert_eq!(
        removed["joined_at"], 0,
        "an unstaked worker's record is gone"
    );

    // Leaving ends the membership at once; the stake waits for the leave delay.
    let left = env.json(&[
        "worker",
        "leave",
        "--workerpool",
        &pool,
        "--wallet",
        "worker",
    ]);
    assert_eq!(left["member"], false);
    assert!(left["leaving_at"].as_u64().unwrap() > 0);
    let early = env.fails(&[
        "worker",
        "leave",
        "--workerpool",
        &pool,
        "--wallet",
        "worker",
    ]);
    assert!(early.contains("unlocks at"), "{early}");
    let shown = env.ok(&[
        "worker",
        "show",
        "--workerpool",
        &pool,
        "--wallet",
        "worker",
    ]);
    assert!(
        shown.contains("status:     left; the stake unlocks at"),
        "{shown}"
    );
}
