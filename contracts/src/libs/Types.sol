// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Draw} from "./Draw.sol";

// The order structs follow the EIP-712 types of docs/protocol.md field for field; each carries its
// signature in a trailing `sign` field that is NOT part of the EIP-712 type (empty when presigned).

struct AppOrder {
    address app;
    uint256 appprice;
    uint256 volume;
    bytes32 tag;
    address datasetrestrict;
    address workerpoolrestrict;
    address requesterrestrict;
    uint256 expiry;
    bytes32 salt;
    bytes sign;
}

struct DatasetOrder {
    address dataset;
    uint256 datasetprice;
    uint256 volume;
    bytes32 tag;
    address apprestrict;
    address workerpoolrestrict;
    address requesterrestrict;
    uint256 expiry;
    bytes32 salt;
    bytes sign;
}

struct WorkerpoolOrder {
    address workerpool;
    uint256 workerpoolprice;
    uint256 volume;
    bytes32 tag;
    uint256 category;
    uint256 trust;
    address apprestrict;
    address datasetrestrict;
    address requesterrestrict;
    uint256 expiry;
    bytes32 salt;
    bytes sign;
}

struct RequestOrder {
    address app;
    uint256 appmaxprice;
    address dataset;
    uint256 datasetmaxprice;
    address workerpool;
    uint256 workerpoolmaxprice;
    address requester;
    uint256 volume;
    bytes32 tag;
    uint256 category;
    uint256 trust;
    address beneficiary;
    address callback;
    string params;
    uint256 expiry;
    bytes32 salt;
    bytes sign;
}

/// @notice A deal as created by matchOrders. It is not stored: under
/// `dealid = keccak256(abi.encodePacked(requestHash, botFirst))` the hub keeps one word, the top 216 bits of
/// `keccak256(abi.encode(deal))` and the deal's start time (unix seconds) in the low 40 bits; every later
/// call passes the deal back (it is emitted in full in DealCreated). Nothing in it depends on the block.
struct Deal {
    address app;
    address appOwner;
    uint256 appPrice;
    address dataset;
    address datasetOwner;
    uint256 datasetPrice;
    address workerpool;
    address scheduler;
    uint256 workerpoolPrice;
    address requester;
    address beneficiary;
    address callback;
    uint256 category;
    uint256 trust;
    bytes32 tag;
    uint256 workClockTimeRef;
    uint256 workerStake;
    uint256 schedulerRewardRatio;
    bytes32 requestHash;
    uint256 botFirst;
    uint256 volume;
}

/// @notice Decoded view of a task. `worker`, `revealed` and `reveals` are kept for trust <= 1 tasks only
/// (replicated reveals are counted at finalize: read the contributions); `contributions`,
/// `expectedReveals` (the consensus group's size) and `totalWeight` (1 + sum of group weights) for
/// replicated tasks.
struct TaskView {
    uint8 status;
    bool replicated;
    bool revealed;
    uint40 initTime;
    uint40 revealDeadline;
    address worker;
    uint16 contributions;
    uint16 reveals;
    uint16 expectedReveals;
    uint256 totalWeight;
}

/// @notice One key holder's `EnclaveAttested` statement with its EIP-712 signature (in the hub's domain), as
/// `slashAttester` and `challengeAttestation` take it for evidence. `evidenceHash` is
/// keccak256(quote ‖ H ‖ nonce): the evidence the key holder appraised and the two inputs of its report_data
/// only the enclave and the key holder know. (Contributions carry attestations packed, see docs/protocol.md.)
struct EnclaveAttestation {
    bytes32 taskId;
    address enclave;
    bytes32 measurement;
    uint8 tcbStatus;
    uint64 expiry;
    bytes32 evidenceHash;
    bytes sign;
}

/// @notice The worker's evidence for the TEE fast path (contributeAndFinalize). `enclaveSign` is the
/// enclave key's 65-byte signature followed by the packed attestations (106 bytes each: tcbStatus,
/// expiry (8 bytes, big-endian), evidenceHash (32 bytes), then the attester's 65-byte signature r ‖ s ‖ v),
/// attesters in strictly increasing address order.
struct FastResult {
    bytes32 digest;
    address enclave;
    bytes enclaveSign;
    bytes authorizationSign;
    bytes resultsLocation;
    bytes callbackData;
}

/// @notice One contribution of HubSelection.contributeBatch: task `index` of the batch's deal number `deal`,
/// with the commitment and the scheduler's authorization `contribute` takes (no enclave).
struct BatchContribution {
    uint256 deal;
    uint256 index;
    bytes32 resultHash;
    bytes32 resultSeal;
    bytes authorizationSign;
}

/// @notice One task of HubAudit.finalizeReplicatedBatch: what `finalize` takes for task `index` of the batch's
/// deal (its results location, its callback data and its complete contributor list in increasing address order).
struct ReplicatedFinalize {
    uint256 index;
    bytes resultsLocation;
    bytes callbackData;
    address[] workers;
}

/// @notice A drawn worker's proof of its position in a random-selection task: the pool's registry snapshot
/// the deal draws over (index `snapshotIndex` of the pool's history: the last one committed before the deal
/// started, its entries in full, checked against the stored root), the wave and the position in it.
struct DrawProof {
    uint256 snapshotIndex;
    uint256 wave;
    uint256 position;
    Draw.Worker[] snapshot;
}

/// @notice What HubSelection.finalizeAudited takes to settle a spot-checked task: `resultsLocation` and
/// `callbackData` as for `finalize`; `workers`, the task's contributors, and `auditors`, its audit's, each
/// complete and in strictly increasing address order (empty when not replicated / not audited); `digest`,
/// the task's consensus digest (checked against the consensus group), compared with the audit's consensus.
struct AuditedFinalize {
    bytes resultsLocation;
    bytes callbackData;
    address[] workers;
    address[] auditors;
    bytes32 digest;
}
