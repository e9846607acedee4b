//! The beacon's Rust side against its Solidity side on a real chain: hash-to-curve of random
//! rounds, group signatures of random test groups (and the hinted hash-to-curve) verified by
//! `Bn254Bls`, the random draw of `decloud_protocol::draw` against `Draw.sol` and the spot
//! checks of `decloud_protocol::spot` against `Audit.sol`, on random
//! inputs. The libraries are exposed by `contracts/test/utils/BeaconHarness.sol`, which forge
//! compiles into `contracts/out` (CI runs `forge test` before these tests).

use alloy::primitives::{Address, B256, U256};
use decloud_beacon::{ThresholdGroup, h2c};
use decloud_protocol::draw::{SnapshotWorker, draw};
use decloud_protocol::spot::{Verdict, audit_draw, audited};
use decloud_testkit::Devnet;
use decloud_testkit::fixtures::deploy_test_contract;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::future::IntoFuture;

alloy::sol! {
    #[sol(rpc)]
    interface BeaconHarness {
        struct Worker { address worker; uint256 stake; uint64 cluster; }
        function roundPoints(uint64[] rounds) external view returns (uint256[2][] memory out);
        function hashToPointHinted(bytes32 message, uint256[7] h) external view returns (uint256 x, uint256 y);
        function verifyRound(uint64 round, uint256[2] sig, uint256[4] pubkey) external view returns (bool);
        function draw(bytes32 randomness, bytes32 deal, uint256 task, uint256 positions, Worker[] snapshot)
            external pure returns (uint256[] memory workers, bool[] memory chosen);
        function audited(bytes32 r, bytes32 dealId, uint256 index, uint256 q) external pure returns (bool);
        function auditDraw(bytes32 r, bytes32 taskId, uint256 index, uint256 positions, Worker[] snapshot,
            bool[] contributed) external pure returns (uint256[] memory workers, uint8[] memory verdicts);
    }
}

fn words<const N: usize>(bytes: &[u8]) -> [U256; N] {
    std::array::from_fn(|i| U256::from_be_slice(&bytes[32 * i..32 * (i + 1)]))
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn rust_and_solidity_agree_on_hash_to_curve_and_verification() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let devnet = rt.block_on(Devnet::start()).unwrap();
    let provider = devnet.provider(0);
    let address = rt
        .block_on(deploy_test_contract(&provider, "BeaconHarness"))
        .unwrap();
    let harness = BeaconHarness::new(address, provider);

    // hash-to-curve: batches of random rounds, plus the edges
    runner(16)
        .run(&proptest::collection::vec(any::<u64>(), 8), |mut rounds| {
            rounds.extend([0, 1, u64::MAX]);
            let points = rt
                .block_on(async { harness.roundPoints(rounds.clone()).call().await })
                .unwrap();
            for (round, p) in rounds.iter().zip(points) {
                let want: [U256; 2] = words(&h2c::g1_bytes(&h2c::round_point(*round)));
                prop_assert_eq!(p, want, "round {}", round);
                let hinted = rt
                    .block_on(
                        harness
                            .hashToPointHinted(
                                B256::from(h2c::round_message(*round)),
                                h2c::round_hints(*round).map(U256::from_be_bytes),
                            )
                            .call()
                            .into_future(),
                    )
                    .unwrap();
                prop_assert_eq!([hinted.x, hinted.y], want, "hinted, round {}", round);
            }
            Ok(())
        })
        .unwrap();

    // signatures of random t-of-n groups verify on chain, and not for another round
    runner(12)
        .run(
            &(any::<[u8; 8]>(), 1u32..5, any::<u64>()),
            |(seed, t, round)| {
                let group = ThresholdGroup::from_seed(&seed, t, t + 2).unwrap();
                let sig: [U256; 2] = words(&group.sign_round(round).to_bytes());
                let pk: [U256; 4] = words(&group.public_key().to_bytes());
                let ok = rt
                    .block_on(async { harness.verifyRound(round, sig, pk).call().await })
                    .unwrap();
                prop_assert!(ok, "round {} of a {}-of-{} group", round, t, t + 2);
                let other = round.wrapping_add(1);
                let wrong = rt
                    .block_on(async { harness.verifyRound(other, sig, pk).call().await })
                    .unwrap();
                prop_assert!(!wrong);
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn rust_and_solidity_draw_the_same_workers() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let devnet = rt.block_on(Devnet::start()).unwrap();
    let provider = devnet.provider(0);
    let address = rt
        .block_on(deploy_test_contract(&provider, "BeaconHarness"))
        .unwrap();
    let harness = BeaconHarness::new(address, provider);
    let snapshot = proptest::collection::vec((0u64..1000, 0u64..4), 1..16);
    runner(48)
        .run(
            &(
                snapshot,
                any::<[u8; 32]>(),
                any::<[u8; 32]>(),
                any::<u64>(),
                0u64..12,
            ),
            |(workers, r, deal, task, positions)| {
                prop_assume!(workers.iter().any(|(stake, _)| *stake > 0));
                let snapshot: Vec<SnapshotWorker> = workers
                    .iter()
                    .enumerate()
                    .map(|(k, (stake, cluster))| SnapshotWorker {
                        worker: Address::with_last_byte(k as u8 + 1),
                        stake: U256::from(*stake),
                        cluster: *cluster,
                    })
                    .collect();
                let want =
                    draw(B256::from(r), B256::from(deal), task, positions, &snapshot).unwrap();
                let got = rt
                    .block_on(
                        harness
                            .draw(
                                B256::from(r),
                                B256::from(deal),
                                U256::from(task),
                                U256::from(positions),
                                snapshot
                                    .iter()
                                    .map(|w| BeaconHarness::Worker {
                                        worker: w.worker,
                                        stake: w.stake,
                                        cluster: w.cluster,
                                    })
                                    .collect(),
                            )
                            .call()
                            .into_future(),
                    )
                    .unwrap();
                prop_assert_eq!(got.workers.len(), want.len());
                for (p, (w, c)) in want.iter().zip(got.workers.iter().zip(&got.chosen)) {
                    prop_assert_eq!(U256::from(p.worker), *w, "position {}", p.index);
                    prop_assert_eq!(p.chosen, *c, "position {}", p.index);
                }
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn rust_and_solidity_agree_on_audits_and_auditors() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let devnet = rt.block_on(Devnet::start()).unwrap();
    let provider = devnet.provider(0);
    let address = rt
        .block_on(deploy_test_contract(&provider, "BeaconHarness"))
        .unwrap();
    let harness = BeaconHarness::new(address, provider);
    // (stake, cluster, contributed) per worker
    let snapshot = proptest::collection::vec((0u64..1000, 0u64..4, any::<bool>()), 1..16);
    runner(48)
        .run(
            &(
                snapshot,
                any::<[u8; 32]>(),
                any::<[u8; 32]>(),
                any::<u64>(),
                0u64..12,
                any::<u8>(),
            ),
            |(workers, r, task, index, positions, q)| {
                prop_assume!(workers.iter().any(|(stake, _, _)| *stake > 0));
                let (r, task) = (B256::from(r), B256::from(task));
                let snapshot: Vec<SnapshotWorker> = workers
                    .iter()
                    .enumerate()
                    .map(|(k, (stake, cluster, _))| SnapshotWorker {
                        worker: Address::with_last_byte(k as u8 + 1),
                        stake: U256::from(*stake),
                        cluster: *cluster,
                    })
                    .collect();
                let contributed: Vec<bool> = workers.iter().map(|w| w.2).collect();
                let contributors: Vec<Address> = snapshot
                    .iter()
                    .zip(&contributed)
                    .filter(|(_, c)| **c)
                    .map(|(w, _)| w.worker)
                    .collect();
                // the task id doubles as a deal id for the audited test: any 32 bytes do
                let got_audited = rt
                    .block_on(
                        harness
                            .audited(r, task, U256::from(index), U256::from(q))
                            .call()
                            .into_future(),
                    )
                    .unwrap();
                prop_assert_eq!(got_audited, audited(r, task, index, q));
                let want = audit_draw(r, task, index, positions, &snapshot, &contributors).unwrap();
                let got = rt
                    .block_on(
                        harness
                            .auditDraw(
                                r,
                                task,
                                U256::from(index),
                                U256::from(positions),
                                snapshot
                                    .iter()
                                    .map(|w| BeaconHarness::Worker {
                                        worker: w.worker,
                                        stake: w.stake,
                                        cluster: w.cluster,
                                    })
                                    .collect(),
                                contributed.clone(),
                            )
                            .call()
                            .into_future(),
                    )
                    .unwrap();
                prop_assert_eq!(got.workers.len(), want.len());
                for (p, (w, v)) in want.iter().zip(got.workers.iter().zip(&got.verdicts)) {
                    prop_assert_eq!(U256::from(p.worker), *w, "position {}", p.index);
                    let verdict = match v {
                        0 => Verdict::Counts,
                        1 => Verdict::Skipped,
                        _ => Verdict::Excluded,
                    };
                    prop_assert_eq!(p.verdict, verdict, "position {}", p.index);
                }
                Ok(())
            },
        )
        .unwrap();
}
