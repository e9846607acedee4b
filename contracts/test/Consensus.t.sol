// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {Consensus} from "../src/libs/Consensus.sol";
import {Deal, TaskView} from "../src/libs/Types.sol";

/// The consensus rule against a straightforward reference, as pure functions and end to end through
/// the hub with random scores, results and trust levels.
contract ConsensusTest is Fixture {
    // ---- reference -----------------------------------------------------------------------------------

    function refWeight(uint256 score) internal pure returns (uint256) {
        // max(score / 3, 3) - 1, spelled out
        if (score < 9) return 2;
        return score / 3 - 1;
    }

    /// credibility g / (1 + sum) > 1 - 1/trust, cross-multiplied the other way round
    function refReached(uint256 g, uint256 sum, uint256 trust) internal pure returns (bool) {
        if (g == 0) return false;
        if (trust <= 1) return true;
        uint256 total = 1 + sum;
        return g * trust + total > total * trust;
    }

    function testFuzz_weightMatchesReference(uint256 score) public pure {
        score = bound(score, 0, type(uint32).max);
        assertEq(Consensus.workerWeight(score), refWeight(score), "weight");
    }

    function testFuzz_reachedMatchesReference(uint256 g, uint256 sum, uint256 trust) public pure {
        g = bound(g, 0, type(uint112).max);
        sum = bound(sum, g, type(uint112).max);
        trust = bound(trust, 0, type(uint32).max);
        assertTrue(Consensus.reached(g, sum, trust) == refReached(g, sum, trust), "reached");
    }

    function test_knownValues() public pure {
        assertEq(Consensus.workerWeight(0), 2, "score 0");
        assertEq(Consensus.workerWeight(11), 2, "score 11");
        assertEq(Consensus.workerWeight(12), 3, "score 12");
        assertEq(Consensus.workerWeight(300), 99, "score 300");
        // trust 3, two fresh agreeing workers: g = 4, sum = 4: 12 > 10
        assertTrue(Consensus.reached(4, 4, 3), "two agree");
        assertFalse(Consensus.reached(2, 2, 3), "one alone");
        assertTrue(Consensus.reached(2, 2, 2), "trust 2 one worker");
        assertTrue(Consensus.reached(2, 2, 1), "trust 1");
        assertTrue(Consensus.reached(2, 2, 0), "trust 0");
        assertFalse(Consensus.reached(0, 0, 1), "empty group");
    }

    // ---- end to end ------------------------------------------------------------------------------------

    function _setScore(address worker, uint256 score) internal {
        bytes32 slot = keccak256(abi.encode(worker, uint256(3))); // _accounts
        uint256 a = uint256(vm.load(address(hub), slot));
        vm.store(address(hub), slot, bytes32((a & ((uint256(1) << 224) - 1)) | (score << 224)));
    }

    function testFuzz_hubConsensusMatchesReference(uint256 seed, uint256 trust) public {
        trust = bound(trust, 2, 12);
        Deal memory d = _simpleDeal(1, trust);
        bytes32 taskid = _initialize(d, 0);
        uint256[2] memory groupWeight;
        uint256 sum;
        for (uint256 i; i < workers.length; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            uint256 score = r % 64;
            uint256 result = (r >> 8) % 3 == 0 ? 1 : 0; // a third vote for the other result
            _setScore(workers[i], score);
            _contribute(d, 0, i, keccak256(abi.encode("result", result)));
            uint256 w = refWeight(score);
            uint256 old = groupWeight[result];
            groupWeight[result] = old == 0 ? w : old * w;
            sum = sum - old + groupWeight[result];
            bool expected = refReached(groupWeight[result], sum, trust);
            TaskView memory t = hubx.task(taskid);
            assertEq(t.totalWeight, 1 + sum, "total weight");
            assertEq(t.status, expected ? 2 : 1, "consensus decision");
            if (expected) break;
        }
    }
}
