// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Deal, DrawProof, AuditedFinalize, BatchContribution} from "./libs/Types.sol";
import {Draw} from "./libs/Draw.sol";
import {Consensus} from "./libs/Consensus.sol";
import {FixedPointMathLib} from "solady/utils/FixedPointMathLib.sol";
import {HubBase} from "./HubBase.sol";
import {HubSpot, IBeaconRounds} from "./HubSpot.sol";
import {HubAudit} from "./HubAudit.sol";
import {Audit} from "./libs/Audit.sol";

/// @title HubSelection
/// @notice Random worker selection: for a deal whose tag has TAG_RANDOM, nobody picks the workers.
/// - The pool's registry snapshot: anyone commits the complete list of the pool's staked members
///   (address, stake, cluster), read from the registry; the hub keeps its root and time, and emits it in full.
///   A deal draws over the last snapshot committed strictly before its start.
/// - Waves: wave w of a deal opens at start + w * WAVE_RATIO * ref and lasts WAVE_RATIO * ref; its randomness
///   is beacon round roundAt(opensAt) + SELECTION_ROUND_DELAY + w, published after the wave opens, so the
///   snapshot is frozen before anyone can know it.
/// - Position j of task i in wave w is worker Draw.draw(R_w, dealid, i, ..)[j]; a worker contributes with
///   the proof of its position (contributeDrawn), which the hub recomputes; no scheduler signature.
/// - A worker drawn among the first positionsPerWave(trust) chosen positions of a wave that passed without
///   consensus, and that did not contribute, loses the deal's worker stake from its pool stake (slashAbsent);
///   the next wave draws its replacement.
/// - Spot checks: a task of a deal whose tag carries q (TAG_SPOT_SHIFT) is audited with probability q / 256,
///   decided by the beacon round due SELECTION_ROUND_DELAY after the task's consensus (hidden until the
///   contributions are in); the auditors are drawn from that round, skipping the task's contributors and
///   their clusters; finalizeAudited settles the task against the audit (a contradiction fails the task).
/// Deployed on its own (the hub's initcode has no room for it) and reached by delegatecall from HubExtension's
/// fallback once the admin has set it; it shares HubBase's storage. See docs/randomness.md.
contract HubSelection is HubSpot {
    /// @notice Rounds between the one current at a wave's opening and the wave's round: the round is
    /// published at least one period after the wave opens, whatever the skew between the two clocks.
    uint64 public constant SELECTION_ROUND_DELAY = 2;
    /// @notice A wave lasts WAVE_RATIO * workClockTimeRef.
    uint256 public constant WAVE_RATIO = 2;
    /// @notice A proof scans at most this many positions of a wave (bounds the draw's gas).
    uint256 public constant MAX_DRAW_POSITIONS = 32;

    /// @notice The randomness beacon.
    address public immutable beacon;
    /// @notice The facet serving the attester registry and the keepers (HubKeepers), reached through this
    /// facet's fallback: it has its own room.
    address public immutable keepers;
    /// @notice The facet settling spot-checked tasks (HubAudit: finalizeAudited, releaseAudit), reached through
    /// this facet's fallback for those two selectors.
    address public immutable audits;

    /// @dev The two facets are deployed beforehand and given here, not created by this constructor: an initcode
    /// holding theirs would pass EIP-3860's 49,152-byte limit. They run on the hub's storage, so whoever deploys
    /// this facet must pass facets built from this same source (the admin's `setSelection` trusts all three).
    constructor(
        address token_,
        address appRegistry_,
        address datasetRegistry_,
        address workerpoolRegistry_,
        address beacon_,
        address keepers_,
        address audits_
    ) HubBase(token_, appRegistry_, datasetRegistry_, workerpoolRegistry_) {
        if (beacon_ == address(0) || keepers_.code.length == 0 || audits_.code.length == 0) {
            revert ZeroAddress();
        }
        beacon = beacon_;
        keepers = keepers_;
        audits = audits_;
    }

    function _beacon() internal view override returns (address) {
        return beacon;
    }

    /// @notice finalizeAudited, releaseAudit and finalizeReplicatedBatch are served by the audits' facet
    /// (HubAudit), every other function not defined here by the keepers' facet (HubKeepers); both share this
    /// storage.
    fallback() external {
        address target = msg.sig == HubAudit.finalizeAudited.selector
            || msg.sig == HubAudit.releaseAudit.selector
            || msg.sig == HubAudit.finalizeReplicatedBatch.selector
            ? audits
            : keepers;
        assembly ("memory-safe") {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), target, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }

    uint256 internal constant _MASK32 = (1 << 32) - 1;

    // ---------------------------------------------------------------------------------------------
    // The registry: clusters and snapshots
    // ---------------------------------------------------------------------------------------------

    /// @notice The pool's owner puts `worker` (a member, not leaving) in `cluster` (0 = none): two workers of
    /// one non-zero cluster are never drawn for one task. Takes effect at the next committed snapshot.
    function setWorkerCluster(address workerpool, address worker, uint32 cluster) external notEntered {
        address owner = _resourceOwner(workerpoolRegistry, workerpool);
        if (msg.sender != owner) revert NotWorkerpoolOwner(workerpool, msg.sender);
        uint256 m = _members[workerpool][worker];
        if (m == 0) revert NotMember(workerpool, worker);
        uint256 leavingAt = (m >> 152) & _MASK40;
        if (leavingAt != 0) revert MemberLeaving(workerpool, worker, leavingAt);
        _members[workerpool][worker] = (m & ((1 << 224) - 1)) | (uint256(cluster) << 224);
        emit WorkerClusterSet(workerpool, worker, cluster);
    }

    /// @notice Anyone commits the pool's current snapshot: `workers` must list every staked member that is not
    /// leaving, in strictly increasing address order (so nobody can leave one out or list one twice); their
    /// stakes and clusters are read from the registry. Returns the snapshot's index.
    function commitSnapshot(address workerpool, address[] calldata workers)
        external
        notEntered
        returns (uint256 index)
    {
        uint256 p = _pools[workerpool];
        uint256 staked = (p >> 144) & _MASK32;
        if (workers.length != staked) revert IncompleteSnapshot(workerpool, workers.length, staked);
        Draw.Worker[] memory snap = new Draw.Worker[](workers.length);
        address prev;
        for (uint256 k; k < workers.length; ++k) {
            address w = workers[k];
            if (w <= prev) revert SnapshotNotSorted(workerpool, w);
            prev = w;
            uint256 m = _members[workerpool][w];
            if (m & _MEMBER_STAKED == 0) revert NotStakedMember(workerpool, w);
            snap[k] = Draw.Worker(w, m & _MASK112, uint64(m >> 224));
        }
        bytes32 root = keccak256(abi.encode(snap));
        index = (p >> 176) & _MASK32;
        _snapshots[workerpool][index] = (uint256(root) & ~_MASK40) | block.timestamp;
        _pools[workerpool] = p + (1 << 176);
        emit PoolSnapshot(workerpool, index, root, snap);
    }

    /// @notice How many snapshots of `workerpool` were committed.
    function snapshotCount(address workerpool) external view returns (uint256) {
        return (_pools[workerpool] >> 176) & _MASK32;
    }

    /// @notice Snapshot `index` of `workerpool`: the top 216 bits of its root (the rest zero) and when it was
    /// committed.
    function snapshotRecord(address workerpool, uint256 index)
        external
        view
        returns (bytes32 root, uint256 committedAt)
    {
        uint256 s = _snapshots[workerpool][index];
        root = bytes32(s & ~_MASK40);
        committedAt = s & _MASK40;
    }

    /// @notice The index of the last snapshot of `workerpool` committed strictly before `time` (a deal
    /// started at `time` draws over it).
    function snapshotBefore(address workerpool, uint256 time) public view returns (uint256) {
        uint256 lo;
        uint256 hi = (_pools[workerpool] >> 176) & _MASK32;
        // the number of snapshots committed before `time` (their times never decrease)
        while (lo < hi) {
            uint256 mid = (lo + hi) >> 1;
            if (_snapshots[workerpool][mid] & _MASK40 < time) lo = mid + 1;
            else hi = mid;
        }
        if (lo == 0) revert NoSnapshotBefore(workerpool, time);
        return lo - 1;
    }

    /// @notice The number of the pool's members who joined with a stake and are not leaving (a snapshot's
    /// length).
    function stakedWorkers(address workerpool) external view returns (uint256) {
        return (_pools[workerpool] >> 144) & _MASK32;
    }

    /// @notice `worker`'s cluster in `workerpool` (0 = none).
    function workerCluster(address workerpool, address worker) external view returns (uint32) {
        return uint32(_members[workerpool][worker] >> 224);
    }

    // ---------------------------------------------------------------------------------------------
    // The draw
    // ---------------------------------------------------------------------------------------------

    /// @notice How many chosen positions a wave holds at trust `trust`: the fewest new workers (weight 2)
    /// that agree and reach consensus, 1 + floor(log2(trust - 1)), and 1 at trust <= 2.
    function positionsPerWave(uint256 trust) public pure returns (uint256) {
        if (trust <= 2) return 1;
        return 1 + FixedPointMathLib.log2(trust - 1);
    }

    /// @notice Wave `w` of `deal`: its beacon round and its window [opensAt, closesAt).
    function wave(Deal calldata deal, uint256 w)
        external
        view
        returns (uint64 round, uint256 opensAt, uint256 closesAt)
    {
        bytes32 dealid = _checkDeal(deal);
        return _wave(deal, dealid, w);
    }

    function _wave(Deal calldata deal, bytes32 dealid, uint256 w)
        internal
        view
        returns (uint64 round, uint256 opensAt, uint256 closesAt)
    {
        uint256 length = WAVE_RATIO * deal.workClockTimeRef;
        if (w > type(uint32).max) revert WaveNotOpen(bytes32(0), w, type(uint256).max);
        opensAt = (uint256(_deals[dealid]) & _MASK40) + w * length;
        closesAt = opensAt + length;
        round = IBeaconRounds(beacon).roundAt(opensAt) + SELECTION_ROUND_DELAY + uint64(w);
    }

    /// @notice A drawn worker contributes to task `index` of random-selection `deal` with the proof of its
    /// position: same commitment, stake and consensus as `contribute`, no authorization. Refused (each with a
    /// named error) unless the deal is a random one, the wave is open and its round is on chain, the snapshot
    /// is the deal's and matches its root, and the caller holds the position, not skipped by distancing,
    /// among the wave's first positionsPerWave(trust) chosen ones.
    function contributeDrawn(
        Deal calldata deal,
        uint256 index,
        bytes32 resultHash,
        bytes32 resultSeal,
        DrawProof calldata proof
    ) external notEntered {
        bytes32 dealid = _checkDeal(deal);
        if (deal.tag & TAG_RANDOM == 0) revert NotRandomDeal(dealid);
        (bytes32 taskid, uint256 t) = _openTask(deal, dealid, index);
        // The drawn path carries no enclave evidence: random selection is for replicated, non-TEE deals.
        if (deal.tag & TAG_TEE != 0) revert EnclaveRequired(taskid);
        (, uint256 opensAt, uint256 closesAt) = _checkPosition(deal, dealid, index, proof, msg.sender);
        if (block.timestamp < opensAt) revert WaveNotOpen(taskid, proof.wave, opensAt);
        if (block.timestamp >= closesAt) revert PositionExpired(taskid, proof.wave, closesAt);
        emit DrawnContribution(taskid, msg.sender, proof.wave, proof.position);
        if (_spotChecked(deal.tag)) t |= _FLAG_SPOT;
        _record(deal, taskid, t, resultHash, resultSeal);
    }

    // ---------------------------------------------------------------------------------------------
    // Batched contributions and reveals of scheduler-authorized tasks (here and not in HubExtension: the hub's
    // initcode, which holds HubExtension's, has no room, and this facet already holds `_record`)
    // ---------------------------------------------------------------------------------------------

    /// @notice `contribute` (without an enclave) for several tasks, of one or several deals, in one transaction
    /// sent by their worker. Item i contributes task `items[i].index` of `deals[items[i].deal]`; each is checked
    /// as `contribute` checks it, locks the deal's worker stake and emits the same events. As in
    /// contributeAndRevealBatch, one refused item reverts the whole batch with that item's error (a worker whose
    /// batch reverts sends its tasks one by one), so nothing is half-applied.
    function contributeBatch(Deal[] calldata deals, BatchContribution[] calldata items) external notEntered {
        bytes32[] memory dealids = new bytes32[](deals.length);
        for (uint256 d; d < deals.length; ++d) {
            dealids[d] = _checkDeal(deals[d]);
        }
        for (uint256 i; i < items.length; ++i) {
            BatchContribution calldata c = items[i];
            if (c.deal >= deals.length) revert DealRefOutOfRange(c.deal, deals.length);
            Deal calldata deal = deals[c.deal];
            (bytes32 taskid, uint256 t) = _openTask(deal, dealids[c.deal], c.index);
            _checkAuthorization(deal, taskid, address(0), c.authorizationSign);
            if (deal.tag & TAG_TEE != 0) revert EnclaveRequired(taskid);
            _record(deal, taskid, t, c.resultHash, c.resultSeal);
        }
    }

    /// @notice `reveal` of several tasks in one transaction: task `taskids[i]` with digest `digests[i]`, each
    /// checked as `reveal` checks it. One refused reveal reverts the whole batch with its error.
    function revealBatch(bytes32[] calldata taskids, bytes32[] calldata digests) external notEntered {
        if (digests.length != taskids.length) revert LengthMismatch(taskids.length, digests.length);
        for (uint256 i; i < taskids.length; ++i) {
            _reveal(taskids[i], digests[i], _REVEAL_MASK);
        }
    }

    /// @notice A contributor of task `index` of a spot-checked deal reveals its digest (as `reveal`, which refuses
    /// such a task) once the digest can no longer be copied into the task's audit: the audit round is on chain
    /// and does not audit the task, or the audit reached consensus (no auditor commits after it), or the audit
    /// window closed. Refused before with RoundNotAvailable(round) (the round is not on chain) or
    /// AuditPending(taskid, closesAt) (the audit still takes commitments).
    function revealSpotChecked(Deal calldata deal, uint256 index, bytes32 digest) external notEntered {
        (bytes32 dealid, bytes32 taskid, uint256 t) = _spotTask(deal, index);
        (uint64 round, bytes32 r, uint256 closesAt) = _auditRound(deal, t);
        if (block.timestamp < closesAt) {
            if (r == 0) revert RoundNotAvailable(round);
            if (_audited(r, dealid, index, deal.tag) && uint8(_tasks[_auditId(taskid)]) < STATUS_REVEALING) {
                revert AuditPending(taskid, closesAt);
            }
        }
        _reveal(taskid, digest, 0xff);
    }

    /// @notice After wave `proof.wave` of task `index` closed without consensus, anyone slashes the worker
    /// drawn at `proof.position` (among the wave's first positionsPerWave chosen) that did not contribute: the
    /// deal's worker stake leaves its pool stake for the kitty and its score drops as a loser's. Only for a
    /// task initialized at least one reference duration before the wave closed, not yet finalized.
    function slashAbsent(Deal calldata deal, uint256 index, DrawProof calldata proof) external nonReentrant {
        bytes32 dealid = _checkDeal(deal);
        if (deal.tag & TAG_RANDOM == 0) revert NotRandomDeal(dealid);
        if (index >= deal.volume) revert TaskIndexOutOfRange(index, deal.volume);
        bytes32 taskid = keccak256(abi.encodePacked(dealid, index));
        (address drawn,, uint256 closesAt) = _checkPosition(deal, dealid, index, proof, address(0));
        if (block.timestamp < closesAt || !_missed(deal, taskid, drawn, closesAt)) {
            revert NotSlashable(taskid, drawn);
        }
        uint256 amount = _slash(deal, taskid, drawn);
        emit DrawnWorkerSlashed(taskid, drawn, proof.wave, proof.position, amount);
    }

    /// Whether `drawn` missed a wave closing at `closesAt` of task `taskid`: the task was initialized at least
    /// one reference duration before the wave closed and its contribution deadline did not fall before, it did
    /// not reach consensus before the wave closed, it is not finalized, and `drawn` did not contribute.
    function _missed(Deal calldata deal, bytes32 taskid, address drawn, uint256 closesAt)
        internal
        view
        returns (bool)
    {
        uint256 t = _tasks[taskid];
        uint8 status = uint8(t);
        uint256 initTime = (t >> 16) & _MASK40;
        uint256 ref = deal.workClockTimeRef;
        // it had at least one reference duration of the wave, and the task's own deadline did not cut it
        if (t == 0 || initTime + ref > closesAt || initTime + CONTRIBUTION_DEADLINE_RATIO * ref < closesAt) {
            return false;
        }
        if (_contributions[keccak256(abi.encodePacked(taskid, drawn))] != 0) return false;
        if (status == STATUS_ACTIVE || status == STATUS_FAILED) return true;
        // consensus time = reveal deadline - REVEAL_DEADLINE_RATIO refs
        return status == STATUS_REVEALING
            && ((t >> 56) & _MASK40) - REVEAL_DEADLINE_RATIO * deal.workClockTimeRef >= closesAt;
    }

    /// Takes the deal's worker stake (or what is left) from `drawn`'s pool stake for the kitty, once per task.
    function _slash(Deal calldata deal, bytes32 taskid, address drawn) internal returns (uint256 amount) {
        bytes32 mark = keccak256(abi.encodePacked(taskid, drawn, uint8(0xff)));
        if (_contributions[mark] != 0) revert AlreadySlashed(taskid, drawn);
        _contributions[mark] = 1;
        uint256 m = _members[deal.workerpool][drawn];
        amount = FixedPointMathLib.min(m & _MASK112, deal.workerStake);
        _members[deal.workerpool][drawn] = m - amount;
        kitty += uint144(amount);
        _penalize(drawn);
    }

    /// Checks `proof` for task `index` of `deal`: the deal's snapshot (the last committed before its start,
    /// matching the stored root), the wave's round on chain, the position in range and chosen among the
    /// wave's first positionsPerWave, held by `worker` (any worker when zero). Returns the drawn worker and
    /// the wave's window.
    function _checkPosition(
        Deal calldata deal,
        bytes32 dealid,
        uint256 index,
        DrawProof calldata proof,
        address worker
    ) internal view returns (address drawn, uint256 opensAt, uint256 closesAt) {
        _checkSnapshot(deal.workerpool, dealid, proof);
        {
            bytes32 randomness;
            (randomness, opensAt, closesAt) = _waveRandomness(deal, dealid, proof.wave);
            drawn = _drawn(randomness, dealid, index, proof, positionsPerWave(deal.trust));
        }
        if (worker != address(0) && drawn != worker) {
            revert NotDrawn(keccak256(abi.encodePacked(dealid, index)), proof.wave, proof.position, drawn);
        }
    }

    /// Wave `w`'s randomness (its round must be on chain) and window.
    function _waveRandomness(Deal calldata deal, bytes32 dealid, uint256 w)
        internal
        view
        returns (bytes32 randomness, uint256 opensAt, uint256 closesAt)
    {
        uint64 round;
        (round, opensAt, closesAt) = _wave(deal, dealid, w);
        randomness = IBeaconRounds(beacon).randomness(round);
        if (randomness == 0) revert RoundNotAvailable(round);
    }

    /// The worker at `proof.position`, which must be chosen (not skipped by distancing) and among the first
    /// `limit` chosen positions.
    function _drawn(
        bytes32 randomness,
        bytes32 dealid,
        uint256 index,
        DrawProof calldata proof,
        uint256 limit
    ) internal pure returns (address) {
        bytes32 taskid = keccak256(abi.encodePacked(dealid, index));
        uint256 j = proof.position;
        if (j >= MAX_DRAW_POSITIONS) revert PositionOutOfRange(taskid, j, MAX_DRAW_POSITIONS);
        Draw.Worker[] memory snap = proof.snapshot;
        (uint256[] memory workers, bool[] memory chosen) = Draw.draw(randomness, dealid, index, j + 1, snap);
        if (!chosen[j]) revert PositionSkipped(taskid, proof.wave, j);
        uint256 before;
        for (uint256 k; k < j; ++k) {
            if (chosen[k]) ++before;
        }
        if (before >= limit) revert PositionOutOfRange(taskid, j, limit);
        return snap[workers[j]].worker;
    }

    /// The snapshot in `proof` is the deal's: the last committed strictly before the deal's start, with the
    /// stored root.
    function _checkSnapshot(address workerpool, bytes32 dealid, DrawProof calldata proof) internal view {
        uint256 start = uint256(_deals[dealid]) & _MASK40;
        uint256 k = proof.snapshotIndex;
        uint256 s = _snapshots[workerpool][k];
        uint256 next = _snapshots[workerpool][k + 1];
        if (s == 0 || s & _MASK40 >= start || (next != 0 && next & _MASK40 < start)) {
            revert WrongSnapshot(dealid, k);
        }
        if (uint256(Draw.hashOf(proof.snapshot)) & ~_MASK40 != s & ~_MASK40) {
            revert SnapshotMismatch(dealid, k);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Spot checks (the settlement is HubAudit's: finalizeAudited, releaseAudit)
    // ---------------------------------------------------------------------------------------------

    /// @notice The audit window closes AUDIT_RATIO refs after the task's consensus.
    function AUDIT_RATIO() external pure returns (uint256) {
        return _AUDIT_RATIO;
    }

    /// @notice The trust an audit must reach from the task's (see HubSpot._auditTrust).
    function auditTrust(uint256 trust) external pure returns (uint256) {
        return _auditTrust(trust);
    }

    /// @notice The audit of task `index` of `deal`: its id (the key of its contributions, groups and reveals:
    /// `hub.reveal(auditid, digest)`), its beacon round, `state` (0: unknown yet, the task has no consensus or
    /// the round is not on chain, or the deal is not spot-checked; 1: not audited; 2: audited) and when its
    /// window closes.
    function audit(Deal calldata deal, uint256 index)
        external
        view
        returns (bytes32 auditid, uint64 round, uint8 state, uint256 closesAt)
    {
        bytes32 dealid = _checkDeal(deal);
        if (index >= deal.volume) revert TaskIndexOutOfRange(index, deal.volume);
        bytes32 taskid = keccak256(abi.encodePacked(dealid, index));
        auditid = _auditId(taskid);
        uint256 t = _tasks[taskid];
        if (!_spotChecked(deal.tag) || uint8(t) != STATUS_REVEALING) return (auditid, 0, 0, 0);
        bytes32 r;
        (round, r, closesAt) = _auditRound(deal, t);
        if (r != 0) state = _audited(r, dealid, index, deal.tag) ? 2 : 1;
    }

    /// @notice An auditor drawn for task `index` contributes to its audit, with the proof of its audit position
    /// (`proof.wave` is ignored): resultHash = keccak256(auditid, digest), resultSeal = keccak256(worker,
    /// auditid, digest), then `reveal(auditid, digest)` once the audit reached consensus. Refused unless the task
    /// reached consensus, the audit round is on chain and audits the task, the window is open and the caller
    /// holds a position among the first positionsPerWave(auditTrust) not skipped and not excluded (a task
    /// contributor, or in a contributor's cluster).
    function contributeAudit(
        Deal calldata deal,
        uint256 index,
        bytes32 resultHash,
        bytes32 resultSeal,
        DrawProof calldata proof
    ) external notEntered {
        (bytes32 dealid, bytes32 taskid, uint256 t) = _spotTask(deal, index);
        (bytes32 r, uint256 closesAt) = _auditRandomness(deal, dealid, index, taskid, t);
        if (block.timestamp >= closesAt) revert AuditClosed(taskid, closesAt);
        address drawn = _auditor(deal, dealid, index, taskid, t, r, proof);
        if (drawn != msg.sender) revert NotAuditor(taskid, proof.position, drawn);
        emit AuditContribution(taskid, msg.sender, proof.position);
        _recordAudit(deal, _auditId(taskid), resultHash, resultSeal);
    }

    /// @notice After the audit window of task `index` closed without the audit's consensus (and before the task
    /// is finalized), anyone slashes an auditor drawn among the first positionsPerWave(auditTrust) positions that
    /// did not contribute, as slashAbsent does a drawn worker.
    function slashAbsentAuditor(Deal calldata deal, uint256 index, DrawProof calldata proof)
        external
        nonReentrant
    {
        (bytes32 dealid, bytes32 taskid, uint256 t) = _spotTask(deal, index);
        (bytes32 r, uint256 closesAt) = _auditRandomness(deal, dealid, index, taskid, t);
        address drawn = _auditor(deal, dealid, index, taskid, t, r, proof);
        bytes32 auditid = _auditId(taskid);
        if (
            block.timestamp < closesAt || uint8(_tasks[auditid]) == STATUS_REVEALING
                || _contributions[keccak256(abi.encodePacked(auditid, drawn))] != 0
        ) revert NotSlashable(taskid, drawn);
        emit AbsentAuditorSlashed(taskid, drawn, proof.position, _slash(deal, auditid, drawn));
    }

    /// The auditor at `proof.position`: Draw.draw(r, auditid, index, ..) over the deal's snapshot, a position
    /// counting when Audit.verdicts says so, among the first positionsPerWave(auditTrust).
    function _auditor(
        Deal calldata deal,
        bytes32 dealid,
        uint256 index,
        bytes32 taskid,
        uint256 t,
        bytes32 r,
        DrawProof calldata proof
    ) internal view returns (address) {
        _checkSnapshot(deal.workerpool, dealid, proof);
        uint256 j = proof.position;
        if (j >= MAX_DRAW_POSITIONS) revert PositionOutOfRange(taskid, j, MAX_DRAW_POSITIONS);
        Draw.Worker[] memory snap = proof.snapshot;
        (uint256 w, uint256 before) = _auditVerdict(taskid, t, r, index, j, snap);
        uint256 limit = positionsPerWave(_auditTrust(deal.trust));
        if (before >= limit) revert PositionOutOfRange(taskid, j, limit);
        return snap[w].worker;
    }

    /// Audit position `j` of task `index`: its worker's snapshot index, which must count (AuditPositionSkipped,
    /// AuditorExcluded otherwise), and how many positions before it count.
    function _auditVerdict(
        bytes32 taskid,
        uint256 t,
        bytes32 r,
        uint256 index,
        uint256 j,
        Draw.Worker[] memory snap
    ) internal view returns (uint256 w, uint256 before) {
        (uint256[] memory idx, bool[] memory chosen) = Draw.draw(r, Audit.id(taskid), index, j + 1, snap);
        uint8[] memory v = Audit.verdicts(idx, chosen, snap, _contributedFlags(taskid, t, snap, idx, chosen));
        w = idx[j];
        if (v[j] == Audit.SKIPPED) revert AuditPositionSkipped(taskid, j);
        if (v[j] == Audit.EXCLUDED) revert AuditorExcluded(taskid, j, snap[w].worker);
        for (uint256 k; k < j; ++k) {
            if (v[k] == Audit.COUNTS) ++before;
        }
    }

    /// Which snapshot workers contributed to task `taskid` (word `t`), read from storage only for those
    /// Audit.verdicts reads: the chosen positions' workers and, when in a cluster, their cluster's members.
    function _contributedFlags(
        bytes32 taskid,
        uint256 t,
        Draw.Worker[] memory snap,
        uint256[] memory idx,
        bool[] memory chosen
    ) internal view returns (bool[] memory contributed) {
        contributed = new bool[](snap.length);
        for (uint256 k; k < idx.length; ++k) {
            if (!chosen[k]) continue;
            uint256 w = idx[k];
            contributed[w] = _contributed(taskid, t, snap[w].worker);
            uint64 c = snap[w].cluster;
            if (c == 0) continue;
            for (uint256 m; m < snap.length; ++m) {
                if (m != w && snap[m].cluster == c) contributed[m] = _contributed(taskid, t, snap[m].worker);
            }
        }
    }

    function _contributed(bytes32 taskid, uint256 t, address w) internal view returns (bool) {
        if (t & _FLAG_REPLICATED == 0) return address(uint160(t >> 96)) == w;
        return _contributions[keccak256(abi.encodePacked(taskid, w))] != 0;
    }

    /// Records the caller's audit contribution as a replicated one (even at trust <= 1) under `auditid`, with the
    /// audit's trust.
    function _recordAudit(Deal calldata deal, bytes32 auditid, bytes32 resultHash, bytes32 resultSeal)
        internal
    {
        uint256 a = _tasks[auditid];
        if (a == 0) a = STATUS_ACTIVE | _FLAG_REPLICATED | (block.timestamp << 16);
        else if (uint8(a) != STATUS_ACTIVE) revert TaskNotActive(auditid, uint8(a));
        uint256 trust = _auditTrust(deal.trust);
        // Auditors vote flat, each with a fresh worker's weight: reputation bought by colluders early in a pool's
        // life must not carry the audit that is there to catch them (docs/simulator.md, the spot-check rule).
        uint256 w = Consensus.workerWeight(0, trust);
        _lock(msg.sender, deal.workerStake);
        emit TaskContribute(auditid, msg.sender, resultHash);
        uint256 commit = uint256(keccak256(abi.encodePacked(resultHash, resultSeal))) & _COMMIT_MASK;
        if (_contributeReplicated(
                deal, auditid, a, keccak256(abi.encodePacked(auditid, resultHash)), commit, w, trust
            )) {
            emit TaskConsensus(auditid, resultHash);
        }
    }
}
