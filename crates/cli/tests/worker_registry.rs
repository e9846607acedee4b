//! The worker registry through the real binary: a pool's owner sets the minimum stake, admits
//! and removes workers; a worker joins with a stake, shows its membership and leaves (its stake
//! stays locked for the hub's leave delay).

mod common;

use common::Cli;
use decloud_testkit::Devnet;

/// `decloud <noun> <verb> [subject] --workerpool <pool> [extra...] --wallet <wallet>`.
fn args(
    noun_verb: &str,
    subject: Option<&str>,
    pool: &str,
    extra: &[&str],
    wallet: &str,
) -> Vec<String> {
    let mut a: Vec<String> = noun_verb.split(' ').map(str::to_owned).collect();
    a.extend(subject.map(str::to_owned));
    a.extend(["--workerpool".to_owned(), pool.to_owned()]);
    a.extend(extra.iter().map(|s| (*s).to_owned()));
    a.extend(["--wallet".to_owned(), wallet.to_owned()]);
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_admit_and_remove_workers_join_show_and_leave() {
    let devnet = Devnet::start().await.unwrap();
    let env = Cli::new(devnet.home(), "");
    env.import("pool", 3);
    let worker = env.import("worker", 5);
    let admitted = env.import("admitted", 6).to_string();
    let pool = env.json(&[
        "workerpool",
        "deploy",
        "--description",
        "p",
        "--wallet",
        "pool",
    ]);
    let pool = pool["address"].as_str().unwrap().to_string();
    let join = args("worker join", None, &pool, &["--stake", "2DCT"], "worker");
    let show = args("worker show", None, &pool, &[], "worker");
    let leave = args("worker leave", None, &pool, &[], "worker");
    let admit = |wallet| {
        args(
            "workerpool admit",
            Some(&admitted),
            &pool,
            &["--cap", "3"],
            wallet,
        )
    };

    // No minimum yet: only admitted workers, and joining says so.
    let refused = env.fails(&join);
    assert!(refused.contains("PoolNotOpen"), "{refused}");
    let set = env.json(&args(
        "workerpool set-min-stake",
        Some("1DCT"),
        &pool,
        &[],
        "pool",
    ));
    assert_eq!(set["min_stake"], "1000000000");

    let joined = env.json(&join);
    assert_eq!(joined["member"], true);
    assert_eq!(joined["capacity"], 2);
    assert_eq!(joined["stake"], "2000000000");
    let shown = env.ok(&show);
    assert!(
        shown.contains("status:     member, up to 2 replicate(s) at once"),
        "{shown}"
    );
    assert!(shown.contains(&format!("worker:     {worker}")), "{shown}");
    let again = env.fails(&join);
    assert!(again.contains("AlreadyMember"), "{again}");

    // The owner's allow-list; nobody else may touch it.
    let stranger = env.fails(&admit("worker"));
    assert!(stranger.contains("NotWorkerpoolOwner"), "{stranger}");
    let admit = env.json(&admit("pool"));
    assert_eq!(admit["admitted"], true);
    assert_eq!(admit["capacity"], 3);
    let shown = env.json(&["worker", "show", &admitted, "--workerpool", &pool]);
    assert_eq!(shown["member"], true);
    let removed = env.json(&args(
        "workerpool remove",
        Some(&admitted),
        &pool,
        &[],
        "pool",
    ));
    assert_eq!(removed["member"], false);
    assert_eq!(
        removed["joined_at"], 0,
        "an unstaked worker's record is gone"
    );

    // Leaving ends the membership at once; the stake waits for the leave delay.
    let left = env.json(&leave);
    assert_eq!(left["member"], false);
    assert!(left["leaving_at"].as_u64().unwrap() > 0);
    let early = env.fails(&leave);
    assert!(early.contains("unlocks at"), "{early}");
    let shown = env.ok(&show);
    assert!(
        shown.contains("status:     left; the stake unlocks at"),
        "{shown}"
    );
}
