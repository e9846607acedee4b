// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Deal} from "./libs/Types.sol";
import {HubBase} from "./HubBase.sol";
import {Audit} from "./libs/Audit.sol";

/// @notice What the hub reads from the beacon contract (contracts/src/beacon/Beacon.sol).
interface IBeaconRounds {
    function randomness(uint64 round) external view returns (bytes32);
    function roundAt(uint256 t) external view returns (uint64);
    function roundTime(uint64 round) external view returns (uint256);
}

/// @title HubSpot
/// @notice What the spot-check facets (HubSelection: the auditors' draw and contributions; HubAudit: the
/// settlement) share: the audit's id, round, window, trust and whether a task is audited. See
/// docs/randomness.md#spot-checks.
abstract contract HubSpot is HubBase {
    /// Rounds between the one current at a task's consensus and its audit round (HubSelection's
    /// SELECTION_ROUND_DELAY: published after the contributions closed, whatever the clocks' skew).
    uint64 internal constant _AUDIT_ROUND_DELAY = 2;
    /// The audit window closes _AUDIT_RATIO refs after the task's consensus, so that the audit's own reveal
    /// window (REVEAL_DEADLINE_RATIO refs) still ends by the task's final deadline.
    uint256 internal constant _AUDIT_RATIO = 1;

    /// Outcomes of TaskAudited.
    uint8 internal constant _NOT_AUDITED = 0;
    uint8 internal constant _AGREED = 1;
    uint8 internal constant _CONTRADICTED = 2;
    uint8 internal constant _VOID = 3;

    /// The randomness beacon.
    function _beacon() internal view virtual returns (address);

    /// The trust an audit must reach, from the task's: today the task's own. The one place to change it (the
    /// auditors' draw and the audit's consensus both read it).
    function _auditTrust(uint256 trust) internal pure returns (uint256) {
        return trust;
    }

    /// The checked spot-checked deal's task `index`, which must have reached consensus (revealing).
    function _spotTask(Deal calldata deal, uint256 index)
        internal
        view
        returns (bytes32 dealid, bytes32 taskid, uint256 t)
    {
        dealid = _checkDeal(deal);
        if (!_spotChecked(deal.tag)) revert NotSpotChecked(dealid);
        if (index >= deal.volume) revert TaskIndexOutOfRange(index, deal.volume);
        taskid = keccak256(abi.encodePacked(dealid, index));
        t = _tasks[taskid];
        if (uint8(t) != STATUS_REVEALING) revert TaskNotRevealing(taskid, uint8(t));
    }

    /// keccak256(taskid ‖ "audit"): the audit's key wherever a task's id keys its records.
    function _auditId(bytes32 taskid) internal pure returns (bytes32) {
        return Audit.id(taskid);
    }

    /// The audit round of revealing task word `t` (the round due _AUDIT_ROUND_DELAY after the task's consensus,
    /// when no contribution can come any more), its randomness (0 when not on chain) and the audit window's end.
    function _auditRound(Deal calldata deal, uint256 t)
        internal
        view
        returns (uint64 round, bytes32 r, uint256 closesAt)
    {
        uint256 consensusAt = ((t >> 56) & _MASK40) - REVEAL_DEADLINE_RATIO * deal.workClockTimeRef;
        round = IBeaconRounds(_beacon()).roundAt(consensusAt) + _AUDIT_ROUND_DELAY;
        r = IBeaconRounds(_beacon()).randomness(round);
        closesAt = consensusAt + _AUDIT_RATIO * deal.workClockTimeRef;
    }

    /// The audit round's randomness, which must be on chain and audit the task; and the window's end.
    function _auditRandomness(Deal calldata deal, bytes32 dealid, uint256 index, bytes32 taskid, uint256 t)
        internal
        view
        returns (bytes32 r, uint256 closesAt)
    {
        uint64 round;
        (round, r, closesAt) = _auditRound(deal, t);
        if (r == 0) revert RoundNotAvailable(round);
        if (!_audited(r, dealid, index, deal.tag)) revert NotAudited(taskid);
    }

    /// Whether randomness `r` audits task `index`: the top byte of keccak256(r ‖ dealid ‖ index ‖ "audit") is
    /// below q's (probability q / 256).
    function _audited(bytes32 r, bytes32 dealid, uint256 index, bytes32 tag) internal pure returns (bool) {
        return Audit.audited(r, dealid, index, (uint256(tag) >> TAG_SPOT_SHIFT) & 0xff);
    }
}
