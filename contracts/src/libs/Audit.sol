// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Draw} from "./Draw.sol";

/// @title Spot checks: which task is audited and who may audit it
/// @notice Task `index` of deal `dealId` is audited when the top byte of keccak256(R ‖ dealId ‖ index ‖ "audit")
/// is below the deal's q byte (probability q / 256), R being the audit round's randomness. Its auditors are the
/// positions of Draw.draw(R, auditId, index, ..) over the deal's snapshot (auditId = keccak256(taskId ‖
/// "audit")) that Draw chose and whose worker is not excluded: a worker is excluded when it contributed to the
/// task or shares a non-zero cluster with a worker that did. The Rust mirror is `decloud_protocol::spot`; see
/// docs/randomness.md#spot-checks.
library Audit {
    /// @notice The position counts: an auditor.
    uint8 internal constant COUNTS = 0;
    /// @notice Draw's distancing skipped the position.
    uint8 internal constant SKIPPED = 1;
    /// @notice The position's worker contributed to the task, or shares a cluster with a contributor.
    uint8 internal constant EXCLUDED = 2;

    /// @notice keccak256(taskId ‖ "audit"): the audit's key wherever a task's id keys its records.
    function id(bytes32 taskId) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(taskId, "audit"));
    }

    /// @notice Whether randomness `r` audits task `index` of `dealId` at spot-check byte `q`.
    function audited(bytes32 r, bytes32 dealId, uint256 index, uint256 q) internal pure returns (bool) {
        return uint256(keccak256(abi.encodePacked(r, dealId, index, "audit"))) >> 248 < q;
    }

    /// @notice Whether snapshot worker `k` is excluded, `contributed[m]` telling whether snapshot worker m
    /// contributed to the task (only the entries of k and of its cluster's members are read).
    function excluded(Draw.Worker[] memory snap, bool[] memory contributed, uint256 k)
        internal
        pure
        returns (bool)
    {
        if (contributed[k]) return true;
        uint64 c = snap[k].cluster;
        if (c == 0) return false;
        for (uint256 m; m < snap.length; ++m) {
            if (snap[m].cluster == c && contributed[m]) return true;
        }
        return false;
    }

    /// @notice The verdict of each drawn position (`workers`, `chosen` from Draw.draw over `snap`).
    function verdicts(
        uint256[] memory workers,
        bool[] memory chosen,
        Draw.Worker[] memory snap,
        bool[] memory contributed
    ) internal pure returns (uint8[] memory v) {
        v = new uint8[](workers.length);
        for (uint256 j; j < workers.length; ++j) {
            if (!chosen[j]) v[j] = SKIPPED;
            else if (excluded(snap, contributed, workers[j])) v[j] = EXCLUDED;
        }
    }
}
