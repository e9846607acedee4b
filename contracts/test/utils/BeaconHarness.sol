// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Bn254Bls} from "../../src/beacon/Bn254Bls.sol";
import {Draw} from "../../src/libs/Draw.sol";
import {Audit} from "../../src/libs/Audit.sol";

/// Exposes the beacon's hash-to-curve and verification and the draw to the Rust tests
/// (crates/testkit/tests/beacon_on_chain.rs), which compare them with decloud-beacon and decloud_protocol::draw.
contract BeaconHarness {
    function hashToField(bytes32 message) external pure returns (uint256 u0, uint256 u1) {
        return Bn254Bls.hashToField(message);
    }

    function hashToPoint(bytes32 message) external view returns (uint256 x, uint256 y) {
        return Bn254Bls.hashToPoint(message);
    }

    function hashToPointHinted(bytes32 message, uint256[7] calldata h)
        external
        view
        returns (uint256 x, uint256 y)
    {
        return Bn254Bls.hashToPointHinted(message, h);
    }

    function hints(bytes32 message) external view returns (uint256[7] memory) {
        return Bn254Bls.hints(message);
    }

    function roundPoints(uint64[] calldata rounds) external view returns (uint256[2][] memory out) {
        out = new uint256[2][](rounds.length);
        for (uint256 k; k < rounds.length; ++k) {
            (out[k][0], out[k][1]) = Bn254Bls.roundPoint(rounds[k]);
        }
    }

    function verifyRound(uint64 round, uint256[2] calldata sig, uint256[4] calldata pubkey)
        external
        view
        returns (bool)
    {
        return Bn254Bls.verifyRound(round, sig[0], sig[1], pubkey);
    }

    function draw(
        bytes32 randomness,
        bytes32 deal,
        uint256 task,
        uint256 positions,
        Draw.Worker[] calldata snapshot
    ) external pure returns (uint256[] memory workers, bool[] memory chosen) {
        return Draw.draw(randomness, deal, task, positions, snapshot);
    }

    /// Whether `r` audits task `index` of `dealId` at spot-check byte `q` (Audit.audited).
    function audited(bytes32 r, bytes32 dealId, uint256 index, uint256 q) external pure returns (bool) {
        return Audit.audited(r, dealId, index, q);
    }

    /// The audit's first `positions` positions of task `taskId` (index `index`): the drawn snapshot index and
    /// the verdict of each (Audit.verdicts), `contributed` flagging the task's contributors in the snapshot.
    function auditDraw(
        bytes32 r,
        bytes32 taskId,
        uint256 index,
        uint256 positions,
        Draw.Worker[] calldata snapshot,
        bool[] calldata contributed
    ) external pure returns (uint256[] memory workers, uint8[] memory verdicts) {
        bool[] memory chosen;
        (workers, chosen) = Draw.draw(r, Audit.id(taskId), index, positions, snapshot);
        verdicts = Audit.verdicts(workers, chosen, snapshot, contributed);
    }
}
