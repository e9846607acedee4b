// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Test} from "./utils/Test.sol";
import {Draw} from "../src/libs/Draw.sol";
import {BeaconHarness} from "./utils/BeaconHarness.sol";

/// The draw library: refusals, distancing, and its gas per position (the Rust mirror is compared on random inputs by
/// crates/testkit/tests/beacon_on_chain.rs).
contract DrawTest is Test {
    BeaconHarness internal harness;

    function setUp() public {
        harness = new BeaconHarness();
    }

    function _snapshot(uint256 n, uint64 clusters) internal pure returns (Draw.Worker[] memory s) {
        s = new Draw.Worker[](n);
        for (uint256 k; k < n; ++k) {
            s[k] = Draw.Worker(
                address(uint160(k + 1)), 1e9 * (k + 1), clusters == 0 ? 0 : uint64(k % clusters) + 1
            );
        }
    }

    function test_an_unstaked_snapshot_is_refused() public {
        Draw.Worker[] memory s = new Draw.Worker[](2);
        vm.expectRevert(Draw.NoStake.selector);
        harness.draw(bytes32(uint256(1)), bytes32(uint256(2)), 0, 3, s);
        vm.expectRevert(Draw.NoStake.selector);
        harness.draw(bytes32(uint256(1)), bytes32(uint256(2)), 0, 3, new Draw.Worker[](0));
    }

    /// Chosen positions never share a worker or a non-zero cluster.
    function testFuzz_distancing(bytes32 r, uint256 task) public view {
        Draw.Worker[] memory s = _snapshot(12, 4);
        (uint256[] memory w, bool[] memory chosen) = harness.draw(r, keccak256("deal"), task, 10, s);
        for (uint256 a; a < 10; ++a) {
            for (uint256 b = a + 1; b < 10; ++b) {
                if (chosen[a] && chosen[b]) {
                    assertTrue(s[w[a]].cluster != s[w[b]].cluster, "two of one cluster");
                }
            }
        }
        // with 4 clusters at most 4 positions are chosen
        uint256 count;
        for (uint256 a; a < 10; ++a) {
            if (chosen[a]) ++count;
        }
        assertTrue(count >= 1 && count <= 4, "1 to 4 chosen");
    }

    /// Gas of the pure draw per position (snapshot in memory, 32 workers, 8 positions), for docs/randomness.md.
    function test_gas_per_position() public {
        Draw.Worker[] memory s = _snapshot(32, 0);
        uint256 g = gasleft();
        harness.draw(keccak256("r"), keccak256("deal"), 3, 1, s);
        uint256 one = g - gasleft();
        g = gasleft();
        harness.draw(keccak256("r"), keccak256("deal"), 3, 9, s);
        uint256 nine = g - gasleft();
        emit log_named_uint("draw, 32 workers: gas of 1 position (call included)", one);
        emit log_named_uint("draw, 32 workers: gas per extra position", (nine - one) / 8);
    }

    event log_named_uint(string key, uint256 val);
}
