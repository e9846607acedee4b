// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {Consensus} from "../src/libs/Consensus.sol";
import {Deal, TaskView} from "../src/libs/Types.sol";

/// The consensus rule against a straightforward reference, as pure functions and end to end through
/// the hub with random scores, results and trust levels.
contract ConsensusTest is Fixture {
    // ---- reference -----------------------------------------------------------------------------------

    function refWeight(uint256 score, uint256 trust) internal pure returns (uint256 w) {
        // max(score / 3, 3) - 1, spelled out
        w = score < 9 ? 2 : score / 3 - 1;
        if (trust <= 1) return w;
        // the cap: the largest c with c * c <= trust - 1, at least 2, by bisection
        uint256 lo = 0;
        uint256 hi = 1 << 17;
        while (hi - lo > 1) {
            uint256 mid = (lo + hi) / 2;
            if (mid * mid <= trust - 1) lo = mid;
            else hi = mid;
        }
        uint256 cap = lo < 2 ? 2 : lo;
        if (w > cap) w = cap;
    }

    /// credibility g / (1 + sum) > 1 - 1/trust, cross-multiplied the other way round, for a group of two or more
    function refReached(uint256 g, uint256 members, uint256 sum, uint256 trust) internal pure returns (bool) {
        if (g == 0) return false;
        if (trust <= 1) return true;
        uint256 total = 1 + sum;
        return members > 1 && g * trust + total > total * trust;
    }

    function testFuzz_weightMatchesReference(uint256 score, uint256 trust) public pure {
        score = bound(score, 0, type(uint32).max);
        trust = bound(trust, 0, type(uint32).max);
        assertEq(Consensus.workerWeight(score, trust), refWeight(score, trust), "weight");
    }

    function testFuzz_reachedMatchesReference(uint256 g, uint256 members, uint256 sum, uint256 trust)
        public
        pure
    {
        g = bound(g, 0, type(uint112).max);
        members = bound(members, 1, type(uint16).max);
        sum = bound(sum, g, type(uint112).max);
        trust = bound(trust, 0, type(uint32).max);
        assertTrue(Consensus.reached(g, members, sum, trust) == refReached(g, members, sum, trust), "reached");
    }

    /// The cap's promise: at trust > 1 no single contribution wins, whatever its score; from trust 10 on, no two.
    function testFuzz_reputationNeverCertifiesAlone(uint256 a, uint256 b, uint256 trust) public pure {
        trust = bound(trust, 2, type(uint32).max);
        uint256 wa = Consensus.workerWeight(bound(a, 0, type(uint32).max), trust);
        uint256 wb = Consensus.workerWeight(bound(b, 0, type(uint32).max), trust);
        assertFalse(Consensus.reached(wa, 1, wa, trust), "one alone");
        if (trust >= 10) assertFalse(Consensus.reached(wa * wb, 2, wa * wb, trust), "two alone");
    }

    function test_knownValues() public pure {
        assertEq(Consensus.workerWeight(0, 1), 2, "score 0");
        assertEq(Consensus.workerWeight(11, 1), 2, "score 11");
        assertEq(Consensus.workerWeight(12, 1), 3, "score 12");
        assertEq(Consensus.workerWeight(300, 1), 99, "score 300, trust 1: no cap");
        assertEq(Consensus.workerWeight(300, 100), 9, "score 300, trust 100: capped at 9");
        assertEq(Consensus.workerWeight(300, 5), 2, "trust 5: capped at 2");
        assertEq(Consensus.workerWeight(30, 1000), 9, "below the cap (31) the score counts");
        assertEq(Consensus.weightCap(10), 3, "cap at trust 10");
        assertEq(Consensus.weightCap(type(uint32).max), 65535, "largest trust");
        // trust 3, two fresh agreeing workers: g = 4, sum = 4: 12 > 10
        assertTrue(Consensus.reached(4, 2, 4, 3), "two agree");
        assertFalse(Consensus.reached(2, 1, 2, 3), "one alone");
        assertFalse(Consensus.reached(2, 1, 2, 2), "trust 2: one worker no longer suffices");
        assertTrue(Consensus.reached(4, 2, 4, 2), "trust 2: two do");
        assertTrue(Consensus.reached(2, 1, 2, 1), "trust 1");
        assertTrue(Consensus.reached(2, 1, 2, 0), "trust 0");
        assertFalse(Consensus.reached(0, 0, 0, 1), "empty group");
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
        uint256[5] memory g; // group weights (0, 1), members (2, 3), sum of weights (4)
        for (uint256 i; i < workers.length; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            uint256 score = r % 64;
            uint256 result = (r >> 8) % 3 == 0 ? 1 : 0; // a third vote for the other result
            _setScore(workers[i], score);
            _contribute(d, 0, i, keccak256(abi.encode("result", result)));
            uint256 old = g[result];
            g[result] = old == 0 ? refWeight(score, trust) : old * refWeight(score, trust);
            g[2 + result] += 1;
            g[4] = g[4] - old + g[result];
            bool expected = refReached(g[result], g[2 + result], g[4], trust);
            TaskView memory t = hubx.task(taskid);
            assertEq(t.totalWeight, 1 + g[4], "total weight");
            assertEq(t.status, expected ? 2 : 1, "consensus decision");
            if (expected) break;
        }
    }
}
