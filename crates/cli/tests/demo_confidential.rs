//! `decloud demo --confidential` through the real binary, read by its text: five keepers, two
//! stopped, a local dataset and an encrypted app; the TEE task completes with three
//! attestations by the keepers still up, and only the requester's key opens the result.

use std::process::Command;

use decloud_testkit::fixtures::{self, example_app_path};

#[test]
fn the_confidential_demo_runs_with_two_keepers_down_and_only_the_requester_reads_the_result() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_decloud"))
        .args(["demo", "--confidential", "--timeout", "240"])
        .env("DECLOUD_HOME", home.path())
        .env(
            "DECLOUD_APPS",
            example_app_path("csv-stats").parent().unwrap(),
        )
        .output()
        .unwrap();
    let text = fixtures::succeeded(&out).unwrap_or_else(|e| panic!("demo failed: {e}"));
    for expected in [
        "keeper 5: ",
        "registered the local dataset",
        "uploaded only the ciphertext",
        "split the app's key 3-of-5",
        "keepers 4 and 5 stopped",
        "carried 3 attestations (keeper 1, keeper 2, keeper 3)",
        "the result is stored encrypted (age); without its key it does not open (refused)",
        "{\"rows\":4,",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    // Nothing it started is left in the demo's home.
    assert!(std::fs::read_dir(home.path()).unwrap().next().is_none());
}
