//! The Rust consensus rule (`decloud_protocol::consensus`) against the contracts' `Consensus`
//! library on a real chain, on random scores, group weights and trust levels: a scheduler that
//! mirrors the rule must decide exactly as the hub does.
//!
//! The library is exposed by `contracts/test/utils/ConsensusHarness.sol`, which forge compiles into
//! `contracts/out` (CI runs `forge test` before these tests).

use alloy::primitives::U256;
use decloud_protocol::consensus::{MAX_WEIGHT, reached, vote_weight};
use decloud_testkit::Devnet;
use decloud_testkit::fixtures::deploy_test_contract;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

alloy::sol! {
    #[sol(rpc)]
    interface ConsensusHarness {
        function workerWeights(uint256[] scores, uint256[] trusts)
            external pure returns (uint256[] memory weights);
        function reachedAll(uint256[] groups, uint256[] members, uint256[] sums, uint256[] trusts)
            external pure returns (bool[] memory out);
    }
}

/// Random cases compared per run; each is one batched call per function, so the run stays short.
const CASES: u32 = 64;
/// Inputs per batched call.
const BATCH: usize = 16;

/// Scores as the hub stores them, with the small ones (where the weight's floor applies)
/// as likely as the rest.
fn score() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..64, any::<u32>().prop_map(u64::from)]
}

/// Trust levels: small ones (where the cap changes fastest, trust 2 among them), near squares
/// (where the cap steps) and any the hub accepts.
fn trust() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..16,
        (2u64..65_536, -1i64..=1).prop_map(|(r, d)| (r * r).saturating_add_signed(d)),
        0..=u64::from(u32::MAX)
    ]
}

/// `(group, members, sum of groups, trust)` within the hub's bounds: uniform, and near the
/// decision boundary `group × trust = (1 + sum) × (trust − 1)`, where an off-by-one would show;
/// one or two members, where the cap's member rule applies, or more.
fn reach_input() -> impl Strategy<Value = (u128, u32, u128, u64)> {
    let members = prop_oneof![1u32..=2, 0u32..=65_535];
    let uniform = (0..=MAX_WEIGHT, 0..=MAX_WEIGHT, members.clone(), trust())
        .prop_map(|(a, b, m, t)| (a.min(b), m, a.max(b), t));
    let boundary =
        (0u128..1 << 40, 2u64..1000, -2i128..=2, members).prop_map(|(sum, trust, delta, m)| {
            let t = u128::from(trust);
            let edge = (1 + sum) * (t - 1) / t;
            let group = (edge as i128 + delta).clamp(0, sum as i128) as u128;
            (group, m, sum, trust)
        });
    prop_oneof![uniform, boundary]
}

#[test]
fn the_rust_consensus_rule_decides_as_the_contract_library() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let devnet = rt.block_on(Devnet::start()).unwrap();
    let provider = devnet.provider(0);
    let address = rt
        .block_on(deploy_test_contract(&provider, "ConsensusHarness"))
        .unwrap();
    let harness = ConsensusHarness::new(address, provider);
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let case = (vec((score(), trust()), BATCH), vec(reach_input(), BATCH));
    runner
        .run(&case, |(scores, inputs)| {
            let (weights, verdicts) = rt.block_on(async {
                let weights = harness
                    .workerWeights(
                        scores.iter().map(|s| U256::from(s.0)).collect(),
                        scores.iter().map(|s| U256::from(s.1)).collect(),
                    )
                    .call()
                    .await
                    .unwrap();
                let verdicts = harness
                    .reachedAll(
                        inputs.iter().map(|i| U256::from(i.0)).collect(),
                        inputs.iter().map(|i| U256::from(i.1)).collect(),
                        inputs.iter().map(|i| U256::from(i.2)).collect(),
                        inputs.iter().map(|i| U256::from(i.3)).collect(),
                    )
                    .call()
                    .await
                    .unwrap();
                (weights, verdicts)
            });
            for ((score, trust), weight) in scores.iter().zip(&weights) {
                prop_assert_eq!(
                    U256::from(vote_weight(*score, *trust)),
                    *weight,
                    "score {} trust {}",
                    score,
                    trust
                );
            }
            for ((group, members, sum, trust), verdict) in inputs.iter().zip(&verdicts) {
                prop_assert_eq!(
                    reached(*group, *members, *sum, *trust),
                    *verdict,
                    "reached({}, {}, {}, {})",
                    group,
                    members,
                    sum,
                    trust
                );
            }
            Ok(())
        })
        .unwrap();
}
