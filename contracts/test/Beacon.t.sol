// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Test} from "./utils/Test.sol";
import {Beacon} from "../src/beacon/Beacon.sol";
import {Bn254Bls} from "../src/beacon/Bn254Bls.sol";
import {BeaconHarness} from "./utils/BeaconHarness.sol";

/// The beacon contract against real rounds of the League of Entropy's evmnet chain (signatures published by drand,
/// copied from public material), and its refusals. Random rounds of a test group, signed in Rust, are checked on a
/// real anvil by crates/testkit/tests/beacon_on_chain.rs.
contract BeaconTest is Test {
    /// evmnet's key in drand's encoding, read as four words (x.im, x.re, y.im, y.re).
    uint256[4] internal EVMNET_PK = [
        0x07e1d1d335df83fa98462005690372c643340060d205306a9aa8106b6bd0b382,
        0x0557ec32c2ad488e4d4f6008f89a346f18492092ccc0d594610de2732c8b808f,
        0x0095685ae3a85ba243747b1b2f426049010f6b73a0cf1d389351d5aaaa1047f6,
        0x297d3a4f9749b33eb2d904c9d9ebf17224150ddd7abd7567a9bec6c74480ee0b
    ];
    uint64 internal constant GENESIS = 1727521075;
    uint64 internal constant PERIOD = 3;

    Beacon internal beacon;
    BeaconHarness internal harness;

    function setUp() public {
        beacon = new Beacon(EVMNET_PK, GENESIS, PERIOD);
        harness = new BeaconHarness();
        vm.warp(1_900_000_000);
    }

    function _round1000() internal pure returns (uint256[2] memory) {
        return [
            uint256(0x06fd5996329504d3a56b482d9222bf7205857d0a9559ddd216ca31a286f6a8cc),
            uint256(0x0a120f021aac2f13553fb164f62bc3a5ca32c76dea88a777b39bcf3cac5fdbd6)
        ];
    }

    function _round18710192() internal pure returns (uint256[2] memory) {
        return [
            uint256(0x174c481ee5453aa002b6a5e4e4b3bad70c62933a286285b5c22e1d6b9304b4d4),
            uint256(0x0720072ba15a5c6dfe9f271bd48fd36b9d488334da388da85e45451f95ad1427)
        ];
    }

    function _round10M() internal pure returns (uint256[2] memory) {
        return [
            uint256(0x2c7b65b5acfe55256910ca71cf0a0fa71ac34c2a1167f86a22930a03e70ebec0),
            uint256(0x0f7a530796e7ee38600b06da0390634a9b154e3eebc3b323dde2111e1c8ebdf3)
        ];
    }

    function test_real_evmnet_rounds_verify_and_store_drands_randomness() public {
        assertEq(
            beacon.submit(1000, _round1000()),
            0x0e6745667465a6f9dce5d5f994656955080be14c469ff17fc4fc588c925a8504,
            "beacon.submit(1000, _round1000()), 0x0e6"
        );
        assertEq(
            beacon.randomness(1000),
            0x0e6745667465a6f9dce5d5f994656955080be14c469ff17fc4fc588c925a8504,
            "beacon.randomness(1000), 0x0e6745667465a"
        );
        assertEq(
            beacon.submit(18710192, _round18710192()),
            0x7e4275a00825f58a689a547e8a728ca497c85cb2b08af3f8b6e75776bd64f385,
            "beacon.submit(18710192, _round18710192()"
        );
        uint256[2] memory s = _round10M();
        assertEq(
            beacon.submit(10_000_000, s),
            sha256(abi.encodePacked(s[0], s[1])),
            "beacon.submit(10_000_000, s), sha256(abi"
        );
    }

    /// A memory array assigned to another is aliased, not copied.
    function _copy(uint256[7] memory h) internal pure returns (uint256[7] memory c) {
        for (uint256 k; k < 7; ++k) {
            c[k] = h[k];
        }
    }

    function test_the_hinted_path_stores_the_same_randomness_and_refuses_bad_hints() public {
        uint256[7] memory h = beacon.hints(1000);
        uint256[7] memory bad = _copy(h);
        bad[0] ^= 1;
        vm.expectRevert(Bn254Bls.BadHint.selector);
        beacon.submitHinted(1000, _round1000(), bad);
        // a root of the wrong candidate: neither a root of g(x) nor of -g(x)
        bad = _copy(h);
        bad[1] = bad[1] + 1;
        vm.expectRevert(Bn254Bls.BadHint.selector);
        beacon.submitHinted(1000, _round1000(), bad);
        // the other root (-r) of a square candidate is accepted: the sign is fixed by the map, not the hint
        bad = _copy(h);
        for (uint256 k = 1; k < 7; ++k) {
            if (bad[k] != 0) bad[k] = Bn254Bls.P - bad[k];
        }
        assertEq(
            beacon.submitHinted(1000, _round1000(), bad),
            0x0e6745667465a6f9dce5d5f994656955080be14c469ff17fc4fc588c925a8504,
            "hinted"
        );
        vm.expectRevert(abi.encodeWithSelector(Beacon.RoundAlreadyVerified.selector, uint64(1000)));
        beacon.submitHinted(1000, _round1000(), h);
        h = beacon.hints(18710192);
        vm.expectRevert(abi.encodeWithSelector(Beacon.BadBeaconSignature.selector, uint64(18710192)));
        beacon.submitHinted(18710192, _round1000(), h);
    }

    /// Hints for any round give the same point as the computed path.
    function testFuzz_hinted_and_computed_hash_agree(uint64 round) public view {
        bytes32 m = keccak256(abi.encodePacked(round));
        (uint256 x, uint256 y) = harness.hashToPoint(m);
        (uint256 hx, uint256 hy) = harness.hashToPointHinted(m, harness.hints(m));
        assertEq(x, hx, "x");
        assertEq(y, hy, "y");
    }

    function test_a_replayed_round_is_refused() public {
        beacon.submit(1000, _round1000());
        vm.expectRevert(abi.encodeWithSelector(Beacon.RoundAlreadyVerified.selector, uint64(1000)));
        beacon.submit(1000, _round1000());
    }

    function test_another_rounds_signature_is_refused() public {
        vm.expectRevert(abi.encodeWithSelector(Beacon.BadBeaconSignature.selector, uint64(1001)));
        beacon.submit(1001, _round1000());
        assertEq(beacon.randomness(1001), bytes32(0), "beacon.randomness(1001), bytes32(0)");
    }

    function test_a_point_off_the_curve_and_infinity_are_refused() public {
        uint256[2] memory s = _round1000();
        s[1] ^= 1;
        vm.expectRevert(abi.encodeWithSelector(Beacon.BadBeaconSignature.selector, uint64(1000)));
        beacon.submit(1000, s);
        vm.expectRevert(abi.encodeWithSelector(Beacon.BadBeaconSignature.selector, uint64(1000)));
        beacon.submit(1000, [uint256(0), uint256(0)]);
        // the negated signature is on the curve but signs nothing
        s = _round1000();
        s[1] = 0x30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47 - s[1];
        vm.expectRevert(abi.encodeWithSelector(Beacon.BadBeaconSignature.selector, uint64(1000)));
        beacon.submit(1000, s);
    }

    function test_a_round_ahead_of_the_chains_clock_is_refused() public {
        uint64 round = beacon.roundAt(block.timestamp) + 2;
        uint256 due = beacon.roundTime(round);
        vm.expectRevert(abi.encodeWithSelector(Beacon.RoundTooFarAhead.selector, round, due, block.timestamp));
        beacon.submit(round, _round1000());
        // the round just due plus one period of skew is not refused for its time (only for its signature)
        vm.expectRevert(abi.encodeWithSelector(Beacon.BadBeaconSignature.selector, round - 1));
        beacon.submit(round - 1, _round1000());
        vm.expectRevert(Beacon.RoundZero.selector);
        beacon.submit(0, _round1000());
    }

    function test_round_times_follow_genesis_and_period() public view {
        assertEq(beacon.roundTime(1), GENESIS, "beacon.roundTime(1), GENESIS");
        assertEq(beacon.roundTime(1000), GENESIS + 999 * 3, "beacon.roundTime(1000), GENESIS + 999 * ");
        assertEq(beacon.roundAt(GENESIS - 1), 0, "beacon.roundAt(GENESIS - 1), 0");
        assertEq(beacon.roundAt(GENESIS), 1, "beacon.roundAt(GENESIS), 1");
        assertEq(beacon.roundAt(GENESIS + 2), 1, "beacon.roundAt(GENESIS + 2), 1");
        assertEq(beacon.roundAt(GENESIS + 3), 2, "beacon.roundAt(GENESIS + 3), 2");
    }

    function test_a_bad_key_is_refused_at_deployment() public {
        uint256[4] memory k = EVMNET_PK;
        k[3] ^= 1;
        vm.expectRevert(Beacon.BadBeaconConfig.selector);
        new Beacon(k, GENESIS, PERIOD);
        vm.expectRevert(Beacon.BadBeaconConfig.selector);
        new Beacon([uint256(0), 0, 0, 0], GENESIS, PERIOD);
        vm.expectRevert(Beacon.BadBeaconConfig.selector);
        new Beacon(EVMNET_PK, GENESIS, 0);
    }

    /// Any other round under a real signature, and any tampered signature, is refused and stores nothing.
    function testFuzz_wrong_round_or_signature_never_verifies(uint64 round, uint256 dx, uint256 dy)
        public
        view
    {
        vm.assume(round != 1000);
        uint256[2] memory s = _round1000();
        assertTrue(!beacon.verify(round, s), "another round");
        vm.assume(dx != 0 || dy != 0);
        s[0] = s[0] ^ dx;
        s[1] = s[1] ^ dy;
        assertTrue(!beacon.verify(1000, s), "a tampered signature");
    }

    /// Gas of one round's verification and storage, the figure docs/randomness.md reports (the transaction figure,
    /// intrinsic gas included, is in contracts/gas-report.md).
    function test_gas_of_a_round() public {
        uint256 g = gasleft();
        beacon.submit(1000, _round1000());
        g -= gasleft();
        emit log_named_uint("gas of submit (round 1000, execution only)", g);
        uint256[7] memory h = beacon.hints(18710192);
        g = gasleft();
        beacon.submitHinted(18710192, _round18710192(), h);
        g -= gasleft();
        emit log_named_uint("gas of submitHinted (round 18710192, execution only)", g);
    }

    event log_named_uint(string key, uint256 val);
}
