// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Vm} from "./Vm.sol";
import {IHubEvents} from "../../src/interfaces/IHub.sol";
import {AppOrder, DatasetOrder, WorkerpoolOrder, RequestOrder, Deal} from "../../src/libs/Types.sol";

/// @notice The four orders of one match.
struct OrderSet {
    AppOrder app;
    DatasetOrder dataset;
    WorkerpoolOrder pool;
    RequestOrder request;
}

/// @notice What the tests and the gas flows both compute the way the hub and the off-chain actors
/// do: signatures, ids, result hashes and seals, the scheduler's authorization, and the deal of a match
/// read back from its DealCreated event. One copy, so both sides sign alike.
library HubKit {
    Vm internal constant VM = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// @notice `digest` signed by `pk`, packed as the hub reads signatures (r, s, v).
    function sign(uint256 pk, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = VM.sign(pk, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @notice A 65-byte signature (r, s, v) in the 64-byte compact form of EIP-2098 (r, yParity·2^255 + s),
    /// which the hub's ECDSA checks also accept: what the TEE worker sends as the scheduler's authorization.
    function compact(bytes memory sig) internal pure returns (bytes memory) {
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := mload(add(sig, 0x20))
            s := mload(add(sig, 0x40))
            v := byte(0, mload(add(sig, 0x60)))
        }
        return abi.encodePacked(r, bytes32(uint256(s) | (uint256(v - 27) << 255)));
    }

    /// @notice `h` signed by `pk` as an `eth_sign` personal message.
    function personalSign(uint256 pk, bytes32 h) internal pure returns (bytes memory) {
        return sign(pk, keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", h)));
    }

    function dealId(Deal memory d) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(d.requestHash, d.botFirst));
    }

    function taskId(Deal memory d, uint256 index) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(dealId(d), index));
    }

    function resultHash(bytes32 taskid, bytes32 digest) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(taskid, digest));
    }

    function resultSeal(address worker, bytes32 taskid, bytes32 digest) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(worker, taskid, digest));
    }

    /// @notice The scheduler's authorization of `worker` (and `enclave`, or none) on `taskid`.
    function authorization(uint256 schedulerPk, address worker, bytes32 taskid, address enclave)
        internal
        pure
        returns (bytes memory)
    {
        return personalSign(schedulerPk, keccak256(abi.encodePacked(worker, taskid, enclave)));
    }

    /// @notice The evidence hash the tests' attestations carry unless they name one (the hub reads it only in
    /// challenges).
    bytes32 internal constant EVIDENCE_HASH = keccak256("evidence");

    /// @notice The EIP-712 digest of `EnclaveAttested(taskid, enclave, measurement, tcbStatus, expiry,
    /// EVIDENCE_HASH)` in the hub's domain (`domainSeparator`).
    function enclaveAttestedDigest(
        bytes32 domainSeparator,
        bytes32 taskid,
        address enclave,
        bytes32 measurement,
        uint8 tcbStatus,
        uint64 expiry
    ) internal pure returns (bytes32) {
        return enclaveAttestedDigest(
            domainSeparator, taskid, enclave, measurement, tcbStatus, expiry, EVIDENCE_HASH
        );
    }

    /// @notice The EIP-712 digest of `EnclaveAttested(taskid, enclave, measurement, tcbStatus, expiry,
    /// evidenceHash)` in the hub's domain (`domainSeparator`).
    function enclaveAttestedDigest(
        bytes32 domainSeparator,
        bytes32 taskid,
        address enclave,
        bytes32 measurement,
        uint8 tcbStatus,
        uint64 expiry,
        bytes32 evidenceHash
    ) internal pure returns (bytes32) {
        bytes32 typehash = keccak256(
            "EnclaveAttested(bytes32 taskId,address enclave,bytes32 measurement,uint8 tcbStatus,uint64 expiry,bytes32 evidenceHash)"
        );
        bytes32 structHash =
            keccak256(abi.encode(typehash, taskid, enclave, measurement, tcbStatus, expiry, evidenceHash));
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator, structHash));
    }

    /// @notice One attestation packed as contributions carry it: tcbStatus (1 byte), expiry (8 bytes),
    /// evidenceHash (32 bytes, here EVIDENCE_HASH), then the attester's signature r ‖ s ‖ v (65 bytes).
    function attestation(
        uint256 attesterPk,
        bytes32 domainSeparator,
        bytes32 taskid,
        address enclave,
        bytes32 measurement,
        uint8 tcbStatus,
        uint64 expiry
    ) internal pure returns (bytes memory) {
        bytes32 h = enclaveAttestedDigest(domainSeparator, taskid, enclave, measurement, tcbStatus, expiry);
        return abi.encodePacked(tcbStatus, expiry, EVIDENCE_HASH, sign(attesterPk, h));
    }

    /// @notice How many attestations a deal of tag `tag` needs (the hub's rule: tag bits 8-15).
    function attestationsRequired(bytes32 tag) internal pure returns (uint256 k) {
        uint256 bits = (uint256(tag) >> 8) & 0xff;
        if (bits == 0) return 1;
        k = 2;
        while (bits > 1) {
            bits >>= 1;
            ++k;
        }
    }

    /// @notice The deal of the first DealCreated among `logs`, with its id (zero when there is none).
    function dealCreated(Vm.Log[] memory logs) internal pure returns (bytes32 dealid, Deal memory deal) {
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == IHubEvents.DealCreated.selector) {
                (deal,,,,) = abi.decode(logs[i].data, (Deal, bytes32, bytes32, bytes32, string));
                return (logs[i].topics[1], deal);
            }
        }
    }
}
