// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Consensus} from "../../src/libs/Consensus.sol";

/// @notice Exposes the `Consensus` library on a real chain, so that the Rust mirror of the rule can be
/// compared with it on random inputs (crates/chain/tests/consensus_on_chain.rs deploys it from
/// `contracts/out`). Batched: one call evaluates a whole case.
contract ConsensusHarness {
    /// @notice `Consensus.workerWeight(scores[i], trusts[i])` for every i.
    function workerWeights(uint256[] calldata scores, uint256[] calldata trusts)
        external
        pure
        returns (uint256[] memory weights)
    {
        weights = new uint256[](scores.length);
        for (uint256 i; i < scores.length; ++i) {
            weights[i] = Consensus.workerWeight(scores[i], trusts[i]);
        }
    }

    /// @notice `Consensus.reached(groups[i], members[i], sums[i], trusts[i])` for every i.
    function reachedAll(
        uint256[] calldata groups,
        uint256[] calldata members,
        uint256[] calldata sums,
        uint256[] calldata trusts
    ) external pure returns (bool[] memory out) {
        out = new bool[](groups.length);
        for (uint256 i; i < groups.length; ++i) {
            out[i] = Consensus.reached(groups[i], members[i], sums[i], trusts[i]);
        }
    }
}
