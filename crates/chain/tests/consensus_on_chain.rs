//! The Rust consensus rule (`decloud_protocol::consensus`) against the contracts' `Consensus`
//! library on a real chain, on random scores, group weights and trust levels: a scheduler that
//! mirrors the rule must decide exactly as the hub does.
//!
//! The library is exposed by `contracts/test/utils/ConsensusHarness.sol`, which forge compiles into
//! `contracts/out` (CI runs `forge test` before these tests).

use alloy::primitives::U256;
use decloud_protocol::consensus::{MAX_WEIGHT, reached, worker_weight};
use decloud_testkit::Devnet;
use decloud_testkit::fixtures::deploy_test_contract;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

alloy::sol! {
    #[sol(rpc)]
    interface ConsensusHarness {
        function workerWeights(uint256[] scores) external pure returns (uint256[] memory weights);
        function reachedAll(uint256[] groups, uint256[] sums, uint256[] trusts)
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

/// `(group, sum of groups, trust)` within the hub's bounds: uniform, and near the decision
/// boundary `group × trust = (1 + sum) × (trust − 1)`, where an off-by-one would show.
fn reach_input() -> impl Strategy<Value = (u128, u128, u64)> {
    let uniform = (
        0..=MAX_WEIGHT,
        0..=MAX_WEIGHT,
        prop_oneof![0u64..16, 0..=u64::from(u32::MAX)],
    )
        .prop_map(|(a, b, t)| (a.min(b), a.max(b), t));
    let boundary = (0u128..1 << 40, 2u64..1000, -2i128..=2).prop_map(|(sum, trust, delta)| {
        let t = u128::from(trust);
        let edge = (1 + sum) * (t - 1) / t;
        let group = (edge as i128 + delta).clamp(0, sum as i128) as u128;
        (group, sum, trust)
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
    let case = (vec(score(), BATCH), vec(reach_input(), BATCH));
    runner
        .run(&case, |(scores, inputs)| {
            let (weights, verdicts) = rt.block_on(async {
                let weights = harness
                    .workerWeights(scores.iter().map(|s| U256::from(*s)).collect())
                    .call()
                    .await
                    .unwrap();
                let verdicts = harness
                    .reachedAll(
                        inputs.iter().map(|i| U256::from(i.0)).collect(),
                        inputs.iter().map(|i| U256::from(i.1)).collect(),
                        inputs.iter().map(|i| U256::from(i.2)).collect(),
                    )
                    .call()
                    .await
                    .unwrap();
                (weights, verdicts)
            });
            for (score, weight) in scores.iter().zip(&weights) {
                prop_assert_eq!(
                    U256::from(worker_weight(*score)),
                    *weight,
                    "score {}",
                    score
                );
            }
            for ((group, sum, trust), verdict) in inputs.iter().zip(&verdicts) {
                prop_assert_eq!(
                    reached(*group, *sum, *trust),
                    *verdict,
                    "reached({}, {}, {})",
                    group,
                    sum,
                    trust
                );
            }
            Ok(())
        })
        .unwrap();
}
