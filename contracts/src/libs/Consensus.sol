// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title Consensus
/// @notice The voting rule of docs/design.md#consensus (Sarmenta's, as iExec does it, with a reputation cap), as
/// pure functions that the hub, the tests and the Rust mirror share.
library Consensus {
    /// @notice A worker's weight in a deal of trust `trust`: `max(score / 3, 3) - 1` (integer division), so at
    /// least 2, capped at `weightCap(trust)` so that reputation never certifies on its own.
    function workerWeight(uint256 score, uint256 trust) internal pure returns (uint256) {
        uint256 w = score / 3;
        w = (w < 3 ? 3 : w) - 1;
        uint256 cap = weightCap(trust);
        return w < cap ? w : cap;
    }

    /// @notice The most a worker weighs at trust `trust`: `max(2, isqrt(trust - 1))` when `trust > 1` (two capped
    /// workers then weigh at most `trust - 1`: from trust 10 on a group needs three members), unlimited otherwise.
    function weightCap(uint256 trust) internal pure returns (uint256) {
        if (trust <= 1) return type(uint256).max;
        // Newton's iteration from above; trust < 2^32 (matchOrders), so a few dozen steps at most
        uint256 x = trust - 1;
        uint256 r = x;
        uint256 y = (x + 1) >> 1;
        while (y < r) {
            r = y;
            y = (x / y + y) >> 1;
        }
        return r < 2 ? 2 : r;
    }

    /// @notice Whether the result group of weight `group` and `members` members wins when the task's groups weigh
    /// `sumGroups` in total (the rule's `total` is `1 + sumGroups`): with `trust <= 1` any non-empty group wins,
    /// otherwise a group of at least two members wins when `group * trust > (1 + sumGroups) * (trust - 1)`.
    function reached(uint256 group, uint256 members, uint256 sumGroups, uint256 trust)
        internal
        pure
        returns (bool)
    {
        if (group == 0) return false;
        if (trust <= 1) return true;
        if (members < 2) return false;
        return group * trust > (1 + sumGroups) * (trust - 1);
    }
}
