// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title Consensus
/// @notice The voting rule of docs/design.md#consensus (Sarmenta's, as iExec does it), as pure functions that
/// the hub, the tests and the Rust mirror share.
library Consensus {
    /// @notice A worker's weight: `max(score / 3, 3) - 1` (integer division), so at least 2.
    function workerWeight(uint256 score) internal pure returns (uint256) {
        uint256 w = score / 3;
        return (w < 3 ? 3 : w) - 1;
    }

    /// @notice Whether the result group of weight `group` wins when the task's groups weigh `sumGroups`
    /// in total (the rule's `total` is `1 + sumGroups`): with `trust <= 1` any non-empty group wins,
    /// otherwise the group wins when `group * trust > (1 + sumGroups) * (trust - 1)`.
    function reached(uint256 group, uint256 sumGroups, uint256 trust) internal pure returns (bool) {
        if (group == 0) return false;
        if (trust <= 1) return true;
        return group * trust > (1 + sumGroups) * (trust - 1);
    }
}
