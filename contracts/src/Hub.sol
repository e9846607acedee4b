// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {SignatureCheckerLib} from "solady/utils/SignatureCheckerLib.sol";
import {ECDSA} from "solady/utils/ECDSA.sol";
import {SafeTransferLib} from "solady/utils/SafeTransferLib.sol";
import {FixedPointMathLib} from "solady/utils/FixedPointMathLib.sol";
import {EfficientHashLib} from "solady/utils/EfficientHashLib.sol";
import {AppOrder, DatasetOrder, WorkerpoolOrder, RequestOrder, Deal, FastResult} from "./libs/Types.sol";
import {Orders} from "./libs/Orders.sol";
import {Consensus} from "./libs/Consensus.sol";
import {HubBase} from "./HubBase.sol";
import {HubExtension} from "./HubExtension.sol";
import {IAppTee} from "./interfaces/IResourceRegistry.sol";

/// @title Hub
/// @notice The decloud protocol hub: escrow, order matching into deals, and the Proof-of-Contribution
/// task lifecycle (initialize / contribute / reveal / finalize, and the TEE fast path). Everything else
/// (administration, categories, order presigning and cancelling, views, reopen, claim) lives in
/// `HubExtension`, deployed by this constructor and reached through `fallback` by delegatecall, which keeps
/// both under the 24 KB code-size limit. See docs/protocol.md for every formula.
contract Hub is HubBase {
    using SafeTransferLib for address;

    /// @notice The delegate holding the cold functions.
    address public immutable extension;

    constructor(
        address token_,
        address appRegistry_,
        address datasetRegistry_,
        address workerpoolRegistry_,
        address admin_
    ) HubBase(token_, appRegistry_, datasetRegistry_, workerpoolRegistry_) {
        if (admin_ == address(0)) revert ZeroAddress();
        admin = admin_;
        emit AdminTransferred(address(0), admin_);
        extension = address(new HubExtension(token_, appRegistry_, datasetRegistry_, workerpoolRegistry_));
    }

    /// @notice Every function not defined here is served by HubExtension (same storage).
    fallback() external {
        address target = extension;
        assembly ("memory-safe") {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), target, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }

    /// @notice Moves `amount` tokens from the caller into the caller's escrow balance (needs an allowance).
    function deposit(uint256 amount) external nonReentrant {
        _deposit(msg.sender, amount);
    }

    /// @notice Matches four signed orders into a deal of `volume` tasks (dataset order all-zero when the
    /// request uses no dataset). Locks `(appprice + datasetprice + workerpoolprice) * volume` of the
    /// requester and `workerpoolprice * 30 % * volume` of the scheduler.
    function matchOrders(
        AppOrder calldata appOrder,
        DatasetOrder calldata datasetOrder,
        WorkerpoolOrder calldata workerpoolOrder,
        RequestOrder calldata requestOrder
    ) external notEntered returns (bytes32 dealid) {
        return _match(appOrder, datasetOrder, workerpoolOrder, requestOrder);
    }

    /// @notice Deposits `amount` from the caller into the requester's account, then matches.
    function depositAndMatchOrders(
        uint256 amount,
        AppOrder calldata appOrder,
        DatasetOrder calldata datasetOrder,
        WorkerpoolOrder calldata workerpoolOrder,
        RequestOrder calldata requestOrder
    ) external nonReentrant returns (bytes32 dealid) {
        _deposit(requestOrder.requester, amount);
        return _match(appOrder, datasetOrder, workerpoolOrder, requestOrder);
    }

    struct MatchCtx {
        bytes32 appHash;
        bytes32 datasetHash;
        bytes32 workerpoolHash;
        uint256 appState;
        uint256 datasetState;
        uint256 workerpoolState;
        uint256 requestState;
    }

    function _match(
        AppOrder calldata ao,
        DatasetOrder calldata dso,
        WorkerpoolOrder calldata wpo,
        RequestOrder calldata ro
    ) internal returns (bytes32 dealid) {
        Deal memory d;
        MatchCtx memory c;
        _checkCompatibility(ao, dso, wpo, ro);
        d.tag = _checkTag(ao, dso, wpo, ro);

        // resources, owners, policy
        uint256 extra;
        (d.appOwner, extra) = appRegistry.ownerInfo(ao.app);
        if (d.appOwner == address(0)) revert UnknownResource(ao.app);
        if (d.tag & TAG_TEE != 0 && extra & 1 == 0) revert TeeAppRequired(ao.app);
        (d.scheduler, extra) = workerpoolRegistry.ownerInfo(wpo.workerpool);
        if (d.scheduler == address(0)) revert UnknownResource(wpo.workerpool);
        d.workerStake = wpo.workerpoolprice * (extra & 0xff) / 100;
        d.schedulerRewardRatio = (extra >> 8) & 0xff;
        if (dso.dataset != address(0)) {
            (d.datasetOwner,) = datasetRegistry.ownerInfo(dso.dataset);
            if (d.datasetOwner == address(0)) revert UnknownResource(dso.dataset);
        }

        // signatures, expiry, volumes
        (c.appHash, c.appState) = _checkOrder(Orders.hash(ao), d.appOwner, ao.sign, ao.expiry);
        (c.workerpoolHash, c.workerpoolState) =
            _checkOrder(Orders.hash(wpo), d.scheduler, wpo.sign, wpo.expiry);
        bytes32 requestHash;
        (requestHash, c.requestState) = _checkOrder(Orders.hash(ro), ro.requester, ro.sign, ro.expiry);
        uint256 volume = _remaining(c.appHash, c.appState, ao.volume);
        volume = FixedPointMathLib.min(volume, _remaining(c.workerpoolHash, c.workerpoolState, wpo.volume));
        volume = FixedPointMathLib.min(volume, _remaining(requestHash, c.requestState, ro.volume));
        if (dso.dataset != address(0)) {
            (c.datasetHash, c.datasetState) =
                _checkOrder(Orders.hash(dso), d.datasetOwner, dso.sign, dso.expiry);
            volume = FixedPointMathLib.min(volume, _remaining(c.datasetHash, c.datasetState, dso.volume));
            _orders[c.datasetHash] = c.datasetState + volume;
        }
        volume = FixedPointMathLib.min(volume, MAX_DEAL_VOLUME);
        _orders[c.appHash] = c.appState + volume;
        _orders[c.workerpoolHash] = c.workerpoolState + volume;

        // the deal
        d.app = ao.app;
        d.appPrice = ao.appprice;
        d.dataset = dso.dataset;
        if (dso.dataset != address(0)) d.datasetPrice = dso.datasetprice;
        d.workerpool = wpo.workerpool;
        d.workerpoolPrice = wpo.workerpoolprice;
        d.requester = ro.requester;
        d.beneficiary = ro.beneficiary;
        d.callback = ro.callback;
        d.category = wpo.category;
        d.trust = ro.trust;
        d.workClockTimeRef = _categoryRefs[wpo.category];
        if (d.workClockTimeRef == 0) revert UnknownCategory(wpo.category);
        d.requestHash = requestHash;
        d.botFirst = c.requestState & _CONSUMED_MASK;
        d.volume = volume;

        dealid = keccak256(abi.encodePacked(requestHash, d.botFirst));
        // A request's consumed volume is recorded only while the order stays partially open: the deal that
        // completes it leaves the record at its botFirst, and that deal's record blocks any replay.
        if (_deals[dealid] != 0) revert OrderFullyConsumed(requestHash);
        if (d.botFirst + volume < ro.volume) _orders[requestHash] = c.requestState + volume;
        _deals[dealid] = (Orders.hashMemory(d) & _DEAL_HASH_MASK) | bytes32(block.timestamp);

        // funds
        _lock(d.requester, (d.appPrice + d.datasetPrice + d.workerpoolPrice) * volume);
        _lock(d.scheduler, d.workerpoolPrice * SCHEDULER_STAKE_RATIO / 100 * volume);

        emit DealCreated(
            dealid, d.workerpool, d.requester, d, c.appHash, c.datasetHash, c.workerpoolHash, ro.params
        );
    }

    function _checkCompatibility(
        AppOrder calldata ao,
        DatasetOrder calldata dso,
        WorkerpoolOrder calldata wpo,
        RequestOrder calldata ro
    ) internal pure {
        if (ro.app != ao.app) revert AppMismatch(ro.app, ao.app);
        if (ro.dataset != dso.dataset) revert DatasetMismatch(ro.dataset, dso.dataset);
        if (ro.workerpool != address(0) && ro.workerpool != wpo.workerpool) {
            revert WorkerpoolMismatch(ro.workerpool, wpo.workerpool);
        }
        if (ro.category != wpo.category) revert CategoryMismatch(ro.category, wpo.category);
        if (ro.trust > wpo.trust) revert TrustNotOffered(ro.trust, wpo.trust);
        if (ro.trust > type(uint32).max) revert TrustTooLarge(ro.trust);
        if (ao.appprice > ro.appmaxprice) revert AppPriceTooHigh(ao.appprice, ro.appmaxprice);
        if (dso.datasetprice > ro.datasetmaxprice) {
            revert DatasetPriceTooHigh(dso.datasetprice, ro.datasetmaxprice);
        }
        if (wpo.workerpoolprice > ro.workerpoolmaxprice) {
            revert WorkerpoolPriceTooHigh(wpo.workerpoolprice, ro.workerpoolmaxprice);
        }
        if (ao.appprice > type(uint96).max) revert PriceTooLarge(ao.appprice);
        if (dso.datasetprice > type(uint96).max) revert PriceTooLarge(dso.datasetprice);
        if (wpo.workerpoolprice > type(uint96).max) revert PriceTooLarge(wpo.workerpoolprice);
        // restrictions (address(0) = anyone)
        _restrict(ao.datasetrestrict, dso.dataset, 0);
        _restrict(ao.workerpoolrestrict, wpo.workerpool, 0);
        _restrict(ao.requesterrestrict, ro.requester, 0);
        if (dso.dataset != address(0)) {
            _restrict(dso.apprestrict, ao.app, 1);
            _restrict(dso.workerpoolrestrict, wpo.workerpool, 1);
            _restrict(dso.requesterrestrict, ro.requester, 1);
        }
        _restrict(wpo.apprestrict, ao.app, 2);
        _restrict(wpo.datasetrestrict, dso.dataset, 2);
        _restrict(wpo.requesterrestrict, ro.requester, 2);
    }

    function _restrict(address restriction, address actual, uint256 which) internal pure {
        if (restriction == address(0) || restriction == actual) return;
        if (which == 0) revert AppOrderRestricted(restriction, actual);
        if (which == 1) revert DatasetOrderRestricted(restriction, actual);
        revert WorkerpoolOrderRestricted(restriction, actual);
    }

    function _checkTag(
        AppOrder calldata ao,
        DatasetOrder calldata dso,
        WorkerpoolOrder calldata wpo,
        RequestOrder calldata ro
    ) internal pure returns (bytes32 tag) {
        tag = ao.tag | dso.tag | ro.tag;
        if (tag & ~wpo.tag != 0) revert TagNotOffered(tag, wpo.tag);
    }

    function _checkOrder(bytes32 structHash, address signer, bytes calldata sign, uint256 expiry)
        internal
        view
        returns (bytes32 h, uint256 state)
    {
        h = _hashTypedData(structHash);
        state = _orders[h];
        if (state & _CANCELLED != 0) revert OrderCancelled(h);
        if (expiry != 0 && block.timestamp > expiry) revert OrderExpired(h, expiry);
        if (state & _PRESIGNED == 0 && !_isValidSig(signer, h, sign)) {
            revert InvalidSignature(h, signer);
        }
    }

    function _remaining(bytes32 h, uint256 state, uint256 volume) internal pure returns (uint256 r) {
        uint256 consumed = state & _CONSUMED_MASK;
        if (consumed >= volume) revert OrderFullyConsumed(h);
        unchecked {
            r = volume - consumed;
        }
    }

    /// @notice Initializes task `index` of `deal`. The scheduler may initialize at any time; anyone else
    /// once the deal's start time + 10 * workClockTimeRef has passed (so a requester is never stuck with an
    /// idle scheduler). A task's deadlines run from its own initialization.
    function initialize(Deal calldata deal, uint256 index) external notEntered returns (bytes32 taskid) {
        bytes32 dealid = _checkDeal(deal);
        _checkInitializer(deal, dealid);
        taskid = _initialize(dealid, index, deal.volume, deal.trust > 1);
    }

    /// @notice Initializes tasks `first .. first + count - 1` of `deal` in one transaction.
    function initializeBatch(Deal calldata deal, uint256 first, uint256 count) external notEntered {
        bytes32 dealid = _checkDeal(deal);
        _checkInitializer(deal, dealid);
        bool replicated = deal.trust > 1;
        uint256 volume = deal.volume;
        for (uint256 i = first; i < first + count; ++i) {
            _initialize(dealid, i, volume, replicated);
        }
    }

    function _checkInitializer(Deal calldata deal, bytes32 dealid) internal view {
        if (msg.sender != deal.scheduler) {
            uint256 start = uint256(_deals[dealid]) & _MASK40;
            uint256 opensAt = start + FINAL_DEADLINE_RATIO * deal.workClockTimeRef;
            if (block.timestamp < opensAt) revert InitializationNotOpen(opensAt);
        }
    }

    function _initialize(bytes32 dealid, uint256 index, uint256 volume, bool replicated)
        internal
        returns (bytes32 taskid)
    {
        if (index >= volume) revert TaskIndexOutOfRange(index, volume);
        taskid = keccak256(abi.encodePacked(dealid, index));
        if (_tasks[taskid] != 0) revert TaskAlreadyInitialized(taskid);
        _tasks[taskid] = STATUS_ACTIVE | (replicated ? _FLAG_REPLICATED : 0) | (block.timestamp << 16);
        emit TaskInitialize(taskid, dealid, index);
    }

    /// @notice Commits a result. `authorizationSign` is the scheduler's EIP-191 signature over
    /// `keccak256(abi.encodePacked(worker, taskid, enclave))`; for TEE deals `enclave` is the enclave's key
    /// and `enclaveSign` its EIP-191 signature over `keccak256(abi.encodePacked(resultHash, resultSeal))`
    /// followed by the deal's k attestations of it (as in contributeAndFinalize). Locks the deal's worker stake.
    function contribute(
        Deal calldata deal,
        uint256 index,
        bytes32 resultHash,
        bytes32 resultSeal,
        address enclave,
        bytes calldata enclaveSign,
        bytes calldata authorizationSign
    ) external notEntered {
        (bytes32 taskid, uint256 t) = _contributeChecks(deal, index);
        _checkAuthorization(deal, taskid, enclave, authorizationSign);
        _checkEnclave(deal, taskid, enclave, resultHash, resultSeal, enclaveSign);
        _record(deal, taskid, t, resultHash, resultSeal);
    }

    function _contributeChecks(Deal calldata deal, uint256 index)
        internal
        returns (bytes32 taskid, uint256 t)
    {
        return _openTask(deal, _checkDeal(deal), index);
    }

    /// An enclave's contribution: `sign` is the enclave's 65-byte EIP-191 signature over
    /// keccak256(resultHash ‖ resultSeal), then the packed `EnclaveAttested` signatures (see FastResult).
    function _checkEnclave(
        Deal calldata deal,
        bytes32 taskid,
        address enclave,
        bytes32 resultHash,
        bytes32 resultSeal,
        bytes calldata sign
    ) internal view {
        if (enclave == address(0)) {
            if (deal.tag & TAG_TEE != 0) revert EnclaveRequired(taskid);
            return;
        }
        if (sign.length < 65) revert InvalidEnclaveSignature(taskid, enclave);
        bytes32 h = SignatureCheckerLib.toEthSignedMessageHash(EfficientHashLib.hash(resultHash, resultSeal));
        if (ECDSA.tryRecoverCalldata(h, sign[:65]) != enclave) {
            revert InvalidEnclaveSignature(taskid, enclave);
        }
        _checkAttestations(deal, taskid, enclave, sign[65:]);
    }

    /// keccak256(abi.encodePacked(msg.sender, taskid, digest)): the caller's seal of its result.
    function _resultSeal(bytes32 taskid, bytes32 digest) internal view returns (bytes32 seal) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, shl(96, caller()))
            mstore(add(m, 0x14), taskid)
            mstore(add(m, 0x34), digest)
            seal := keccak256(m, 0x54)
        }
    }

    uint256 internal constant _ATTESTATION_BYTES = 106;

    /// At least k attestations of `enclave` for `taskid` with the app's measurement, an accepted TCB
    /// status and an expiry not passed, each signed by a distinct registered attester (strictly increasing
    /// addresses) that is not leaving and holds at least the minimum stake. A signature over another task,
    /// enclave or measurement recovers another address, refused as UnknownAttester.
    function _checkAttestations(Deal calldata deal, bytes32 taskid, address enclave, bytes calldata att)
        internal
        view
    {
        if (att.length % _ATTESTATION_BYTES != 0) revert MalformedAttestations(taskid, att.length);
        uint256 n = att.length / _ATTESTATION_BYTES;
        uint256 draw;
        {
            uint256 k;
            (draw, k) = _keeperDraw(deal.dataset, _attestationsRequired(deal.tag));
            if (n < k) revert TooFewAttestations(taskid, n, k);
        }
        uint256 m;
        {
            bytes32 measurement = IAppTee(address(appRegistry)).mrenclaveOf(deal.app);
            if (measurement == 0) revert TeeAppRequired(deal.app);
            m = _attestedPreimage(taskid, enclave, measurement);
        }
        uint256 minStake = minAttesterStake;
        uint256 policy = type(uint256).max; // read from the registry only when a status needs it
        uint256 prev;
        for (uint256 i; i < n; ++i) {
            (uint256 head, uint256 signer, uint256 r) = _attestation(m, att, i);
            if ((head >> 184) & type(uint64).max < block.timestamp) {
                revert AttestationExpired(taskid, i, (head >> 184) & type(uint64).max);
            }
            if (signer == 0) revert InvalidAttestation(taskid, i);
            if (head >> 248 != 0) policy = _checkTcb(deal.app, taskid, head >> 248, policy);
            if (signer <= prev) {
                if (signer == prev) revert DuplicateAttester(taskid, address(uint160(signer)));
                revert AttestersNotSorted(taskid, address(uint160(signer)));
            }
            prev = signer;
            _checkAttester(taskid, address(uint160(signer)), r, minStake);
            if (draw != 0) _checkKeeper(deal.dataset, draw, address(uint160(signer)), r);
        }
    }

    /// The current epoch's keeper draw of `dataset` (0 when it has no keeper group) and the number of
    /// attestations needed: `k`, or the group's threshold when larger. A group whose epoch is not drawn
    /// counts nobody.
    function _keeperDraw(address dataset, uint256 k) internal view returns (uint256 draw, uint256) {
        if (dataset == address(0)) return (0, k);
        uint256 g = _keeperGroups[dataset];
        if (g == 0) return (0, k);
        uint256 epoch = block.timestamp / ((g >> 16) & 0xffffffff);
        draw = _keeperDraws[dataset][epoch];
        if (draw == 0) revert KeepersNotDrawn(dataset, epoch);
        uint256 gk = (g >> 8) & 0xff;
        return (draw, gk > k ? gk : k);
    }

    /// Refuses attester `signer` (record `r`) unless its registration index is in keeper draw `draw`.
    function _checkKeeper(address dataset, uint256 draw, address signer, uint256 r) internal view {
        uint256 idx = (r >> _ATTESTER_INDEX_SHIFT) & _MASK24;
        for (uint256 q; q < (draw & 0xff); ++q) {
            if ((draw >> (8 + 24 * q)) & _MASK24 == idx) return;
        }
        revert NotKeeperOfEpoch(
            dataset, block.timestamp / ((_keeperGroups[dataset] >> 16) & 0xffffffff), signer
        );
    }

    /// Refuses attester `signer` (record `r`) unless it is registered, not slashed, not leaving, with the
    /// minimum stake.
    function _checkAttester(bytes32 taskid, address signer, uint256 r, uint256 minStake) internal pure {
        if (r == 0) revert UnknownAttester(taskid, signer);
        if (r & _ATTESTER_SLASHED != 0) revert AttesterBanned(signer);
        if ((r >> 152) & _MASK40 != 0) revert AttesterIsLeaving(signer, (r >> 152) & _MASK40);
        if (r & _MASK112 < minStake) revert AttesterUnderstaked(signer, r & _MASK112, minStake);
    }

    /// Refuses TCB status `tcb` (not up to date) unless the app's policy (`policy`, or read from the app
    /// registry when it is still the max sentinel) accepts it; returns the policy read.
    function _checkTcb(address app, bytes32 taskid, uint256 tcb, uint256 policy)
        internal
        view
        returns (uint256)
    {
        if (policy == type(uint256).max) (, policy) = appRegistry.ownerInfo(app);
        if (tcb > 3 || (policy >> tcb) & 1 == 0) revert TcbStatusNotAccepted(taskid, uint8(tcb));
        return policy;
    }

    /// Lays out in fresh memory, once per task, what every attestation's signature covers: the
    /// `EnclaveAttested` struct (its per-attestation words left to `_attester`), then "\x19\x01" ‖ domain
    /// separator ‖ struct hash, then the ecrecover input; returns where it starts.
    function _attestedPreimage(bytes32 taskid, address enclave, bytes32 measurement)
        internal
        view
        returns (uint256 m)
    {
        bytes32 typehash = ENCLAVE_ATTESTED_TYPEHASH;
        bytes32 ds = _domainSeparator();
        assembly ("memory-safe") {
            m := mload(0x40)
            mstore(m, typehash)
            mstore(add(m, 0x20), taskid)
            mstore(add(m, 0x40), enclave)
            mstore(add(m, 0x60), measurement)
            mstore(add(m, 0xe0), 0x1901)
            mstore(add(m, 0x100), ds)
            mstore(0x40, add(m, 0x1c0))
        }
    }

    /// Packed attestation `i` of `att`: its first word (tcbStatus ‖ expiry ‖ ...), the address its signature
    /// over preimage `m` (`_attestedPreimage`) recovers (0 for none) and that address's attester record. In
    /// assembly, unchecked (the caller checks): this runs k times per TEE task.
    function _attestation(uint256 m, bytes calldata att, uint256 i)
        internal
        view
        returns (uint256 head, uint256 signer, uint256 r)
    {
        assembly ("memory-safe") {
            let off := add(att.offset, mul(i, 106))
            head := calldataload(off)
            mstore(add(m, 0x80), byte(0, head)) // tcbStatus
            mstore(add(m, 0xa0), and(shr(184, head), 0xffffffffffffffff)) // expiry
            mstore(add(m, 0xc0), calldataload(add(off, 9))) // evidenceHash
            mstore(add(m, 0x120), keccak256(m, 0xe0)) // the struct hash
            let e := add(m, 0x140)
            mstore(e, keccak256(add(m, 0xfe), 0x42)) // the EIP-712 digest
            mstore(add(e, 0x20), byte(0, calldataload(add(off, 105)))) // v
            calldatacopy(add(e, 0x40), add(off, 41), 0x40) // r, s
            mstore(0, 0) // stays 0 when the precompile recovers nothing
            pop(staticcall(gas(), 1, e, 0x80, 0, 0x20))
            signer := mload(0)
            mstore(0x20, _attesters.slot)
            r := sload(keccak256(0, 0x40))
        }
    }

    /// @notice Reveals the digest behind the caller's contribution, which must be in the consensus group.
    function reveal(bytes32 taskid, bytes32 digest) external notEntered {
        _reveal(taskid, digest, _REVEAL_MASK);
    }

    /// @notice The scheduler finalizes a revealed task and pays everyone. For replicated deals
    /// (trust > 1) `workers` lists every contributor of the task in strictly increasing address order;
    /// for trust <= 1 it is ignored (pass an empty list). When the deal has a callback, `callbackData`
    /// must hash to the consensus digest (digest = keccak256(callbackData)); the callback then receives it.
    function finalize(
        Deal calldata deal,
        uint256 index,
        bytes calldata resultsLocation,
        bytes calldata callbackData,
        address[] calldata workers
    ) external nonReentrant {
        (bytes32 taskid, uint256 t) = _finalizeChecks(deal, index, callbackData);
        _finalizePay(deal, taskid, t, workers);
        emit TaskFinalize(taskid, resultsLocation, callbackData);
        _callback(deal.callback, taskid, callbackData);
    }

    function _finalizeChecks(Deal calldata deal, uint256 index, bytes calldata callbackData)
        internal
        returns (bytes32 taskid, uint256 t)
    {
        if (msg.sender != deal.scheduler) revert NotScheduler(msg.sender, deal.scheduler);
        taskid = _taskOf(deal, index);
        t = _tasks[taskid];
        if (uint8(t) != STATUS_REVEALING) revert TaskNotRevealing(taskid, uint8(t));
        if (t & _FLAG_SPOT != 0) revert SpotChecked(taskid);
        _complete(deal, taskid, t, callbackData);
    }

    function _finalizePay(Deal calldata deal, bytes32 taskid, uint256 t, address[] calldata workers)
        internal
    {
        uint256 workersReward = deal.workerpoolPrice * (100 - deal.schedulerRewardRatio) / 100;
        uint256 schedulerReward = deal.workerpoolPrice - workersReward;
        if (t & _FLAG_REPLICATED == 0) {
            if (t & _FLAG_REVEALED == 0) revert NoReveal(taskid);
            _release(address(uint160(t >> 96)), deal.workerStake, workersReward);
        } else {
            schedulerReward += _payReplicated(taskid, t, workersReward, deal.workerStake, workers);
        }
        _payOwners(deal, schedulerReward);
    }

    /// @notice Contributes and finalizes a trust <= 1 TEE task in one transaction, sent by the worker.
    /// `enclave` signs
    /// `keccak256(abi.encodePacked(resultHash, resultSeal))` (EIP-191) with
    /// `resultHash = keccak256(abi.encodePacked(taskid, digest))` and
    /// `resultSeal = keccak256(abi.encodePacked(worker, taskid, digest))`; `authorizationSign` is the
    /// scheduler's authorization over (worker, taskid, enclave); after the enclave's signature,
    /// `r.enclaveSign` carries k `EnclaveAttested` signatures by registered attesters (see _checkAttestations
    /// and FastResult). With a callback, digest must equal keccak256(callbackData).
    function contributeAndFinalize(Deal calldata deal, uint256 index, FastResult calldata r)
        external
        nonReentrant
    {
        (bytes32 taskid, uint256 t) = _fastPathChecks(deal, index);
        if (r.enclave == address(0)) revert EnclaveRequired(taskid);
        _checkAuthorization(deal, taskid, r.enclave, r.authorizationSign);
        bytes32 resultHash = EfficientHashLib.hash(taskid, r.digest);
        _checkEnclave(deal, taskid, r.enclave, resultHash, _resultSeal(taskid, r.digest), r.enclaveSign);
        if (deal.callback != address(0) && keccak256(r.callbackData) != r.digest) {
            revert CallbackDataMismatch(taskid);
        }
        _tasks[taskid] = (t & ((1 << 56) - 1) & ~uint256(0xff)) | STATUS_COMPLETED | _FLAG_REVEALED
            | (uint256(uint160(msg.sender)) << 96);
        emit TaskContribute(taskid, msg.sender, resultHash);
        emit TaskConsensus(taskid, resultHash);
        emit TaskReveal(taskid, msg.sender, r.digest);
        _fastPay(deal, taskid, r.resultsLocation, r.callbackData);
    }

    function _fastPathChecks(Deal calldata deal, uint256 index) internal returns (bytes32 taskid, uint256 t) {
        bytes32 dealid = _checkDeal(deal);
        if (deal.trust > 1 || deal.tag & TAG_TEE == 0) revert NotFastPathDeal(dealid);
        return _openTask(deal, dealid, index);
    }

    function _fastPay(
        Deal calldata deal,
        bytes32 taskid,
        bytes calldata resultsLocation,
        bytes calldata callbackData
    ) internal {
        uint256 workersReward =
            deal.workerpoolPrice * (100 - deal.schedulerRewardRatio) / 100;
        _credit(msg.sender, workersReward);
        _payOwners(deal, deal.workerpoolPrice - workersReward);
        emit TaskFinalize(taskid, resultsLocation, callbackData);
        _callback(deal.callback, taskid, callbackData);
    }

    // ---------------------------------------------------------------------------------------------
    // trust <= 1 shortcuts: contribute-and-reveal, batch finalization
    // ---------------------------------------------------------------------------------------------

    /// @notice For trust <= 1 deals, where the single contribution is the consensus and commit-reveal
    /// protects nothing, the worker contributes and reveals in one transaction. Same authorization,
    /// enclave rules and stake as `contribute`; the task is then revealed and can be finalized.
    function contributeAndReveal(
        Deal calldata deal,
        uint256 index,
        bytes32 digest,
        address enclave,
        bytes calldata enclaveSign,
        bytes calldata authorizationSign
    ) external notEntered {
        (bytes32 taskid, uint256 t) = _contributeChecks(deal, index);
        if (t & _FLAG_REPLICATED != 0) revert NotSingleContribution(_checkDeal(deal));
        _checkAuthorization(deal, taskid, enclave, authorizationSign);
        bytes32 resultHash = EfficientHashLib.hash(taskid, digest);
        _checkEnclave(deal, taskid, enclave, resultHash, _resultSeal(taskid, digest), enclaveSign);
        _lock(msg.sender, deal.workerStake);
        // the consensus word is only needed to check callback data at finalize
        if (deal.callback != address(0)) {
            _groups[keccak256(abi.encodePacked(taskid, resultHash))] |= _GROUP_CONSENSUS;
        }
        _tasks[taskid] = (t & 0xff00) | _FLAG_REVEALED | STATUS_REVEALING | (t & (_MASK40 << 16))
            | ((block.timestamp + REVEAL_DEADLINE_RATIO * deal.workClockTimeRef) << 56)
            | (uint256(uint160(msg.sender)) << 96);
        emit TaskContribute(taskid, msg.sender, resultHash);
        emit TaskConsensus(taskid, resultHash);
        emit TaskReveal(taskid, msg.sender, digest);
    }
}
