//! The attester registry through the real binary: a key holder registers with a stake, shows
//! up in `decloud attester list --json`, adds stake, leaves (its stake stays locked for the
//! hub's leave delay) and is refused a withdrawal before the delay.

mod common;

use common::Cli;
use decloud_testkit::Devnet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attesters_register_list_leave_and_wait_for_their_stake() {
    let devnet = Devnet::start().await.unwrap();
    let env = Cli::new(devnet.home(), "");
    let sms = env.import("sms", 5).to_string();

    let low = env.fails(&["attester", "register", "--stake", "1DCT", "--wallet", "sms"]);
    assert!(low.contains("below the attesters' minimum 100"), "{low}");

    let registered = env.json(&[
        "attester", "register", "--stake", "100DCT", "--wallet", "sms",
    ]);
    assert_eq!(registered["active"], true);
    assert_eq!(registered["stake"], "100000000000");
    let again = env.fails(&[
        "attester", "register", "--stake", "100DCT", "--wallet", "sms",
    ]);
    assert!(again.contains("already a registered attester"), "{again}");

    let added = env.json(&[
        "attester", "register", "--stake", "5DCT", "--add", "--wallet", "sms",
    ]);
    assert_eq!(added["stake"], "105000000000");

    let list = env.json(&["attester", "list"]);
    assert_eq!(list["min_stake"], "100000000000");
    let listed = list["attesters"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{list}");
    assert_eq!(
        listed[0]["address"].as_str().unwrap().to_lowercase(),
        sms.to_lowercase()
    );

    let early = env.fails(&["attester", "withdraw", "--wallet", "sms"]);
    assert!(early.contains("has not announced leaving"), "{early}");
    let left = env.json(&["attester", "leave", "--wallet", "sms"]);
    assert_eq!(left["active"], false);
    assert!(left["leaving_at"].as_u64().unwrap() > 0);
    let locked = env.fails(&["attester", "withdraw", "--wallet", "sms"]);
    assert!(locked.contains("the stake unlocks at"), "{locked}");
    let shown = env.ok(&["attester", "show", &sms]);
    assert!(shown.contains("status:   leaving"), "{shown}");
}
