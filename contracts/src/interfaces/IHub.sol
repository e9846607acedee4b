// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {
    AppOrder,
    DatasetOrder,
    WorkerpoolOrder,
    RequestOrder,
    Deal,
    TaskView,
    FastResult,
    EnclaveAttestation,
    DrawProof,
    AuditedFinalize,
    BatchContribution,
    ReplicatedFinalize
} from "../libs/Types.sol";
import {Draw} from "../libs/Draw.sol";

/// @title IHubErrors
/// @notice Every error the hub reverts with, from Hub or HubExtension. Declared once: HubBase inherits them
/// (so both contracts revert with them) and IHub inherits them (so its ABI decodes them).
interface IHubErrors {
    error NotAdmin(address caller);
    error ZeroAddress();
    error Reentrancy();
    error AmountTooLarge(uint256 amount);
    error InsufficientBalance(address account, uint256 balance, uint256 needed);
    error UnknownCategory(uint256 category);
    error InvalidWorkClockTimeRef(uint256 workClockTimeRef);
    // orders
    error NotOrderSigner(bytes32 orderHash, address caller);
    error UnknownResource(address resource);
    error InvalidSignature(bytes32 orderHash, address signer);
    error OrderCancelled(bytes32 orderHash);
    error OrderExpired(bytes32 orderHash, uint256 expiry);
    error OrderFullyConsumed(bytes32 orderHash);
    error AppMismatch(address requested, address offered);
    error DatasetMismatch(address requested, address offered);
    error WorkerpoolMismatch(address requested, address offered);
    error CategoryMismatch(uint256 requested, uint256 offered);
    error TrustNotOffered(uint256 requested, uint256 offered);
    error TrustTooLarge(uint256 trust);
    error AppPriceTooHigh(uint256 price, uint256 max);
    error DatasetPriceTooHigh(uint256 price, uint256 max);
    error WorkerpoolPriceTooHigh(uint256 price, uint256 max);
    error PriceTooLarge(uint256 price);
    error TagNotOffered(bytes32 required, bytes32 offered);
    error TeeAppRequired(address app);
    error AppOrderRestricted(address restriction, address actual);
    error DatasetOrderRestricted(address restriction, address actual);
    error WorkerpoolOrderRestricted(address restriction, address actual);
    // deals and tasks
    error UnknownDeal(bytes32 dealid);
    error TaskIndexOutOfRange(uint256 index, uint256 volume);
    error TaskAlreadyInitialized(bytes32 taskid);
    error NotScheduler(address caller, address scheduler);
    error InitializationNotOpen(uint256 opensAt);
    error TaskNotActive(bytes32 taskid, uint8 status);
    error TaskNotRevealing(bytes32 taskid, uint8 status);
    error ContributionDeadlinePassed(bytes32 taskid, uint256 deadline);
    error RevealDeadlinePassed(bytes32 taskid, uint256 deadline);
    error RevealDeadlineNotReached(bytes32 taskid, uint256 deadline);
    error FinalDeadlinePassed(bytes32 taskid, uint256 deadline);
    error FinalDeadlineNotReached(bytes32 taskid, uint256 deadline);
    error InvalidAuthorization(bytes32 taskid, address worker, address enclave);
    error EnclaveRequired(bytes32 taskid);
    // attestations (TEE contributions) and the attester registry
    error MalformedAttestations(bytes32 taskid, uint256 length);
    error TooFewAttestations(bytes32 taskid, uint256 given, uint256 required);
    error AttestationExpired(bytes32 taskid, uint256 index, uint256 expiry);
    error TcbStatusNotAccepted(bytes32 taskid, uint8 tcbStatus);
    error InvalidAttestation(bytes32 taskid, uint256 index);
    error DuplicateAttester(bytes32 taskid, address attester);
    error AttestersNotSorted(bytes32 taskid, address attester);
    error UnknownAttester(bytes32 taskid, address signer);
    error AttesterBanned(address attester);
    error AttesterIsLeaving(address attester, uint256 leavingAt);
    error AttesterUnderstaked(address attester, uint256 stake, uint256 minimum);
    error AttesterRegistryClosed();
    error AttesterStakeBelowMinimum(uint256 stake, uint256 minimum);
    error AlreadyAttester(address attester);
    error NotAttester(address attester);
    error AttesterNotLeaving(address attester);
    error AttesterStakeLocked(address attester, uint256 until);
    error EvidenceTaskMismatch(bytes32 taskA, bytes32 taskB);
    error EvidenceSameEnclave(address enclave);
    error EvidenceSignerMismatch(address signerA, address signerB);
    error NothingToSlash(address attester);
    error EvidenceNotAttested(bytes32 evidenceHash, bytes32 given);
    error UnsupportedQuote(uint256 length);
    error AttestationConsistent(address attester, bytes32 taskid);
    error InvalidEnclaveSignature(bytes32 taskid, address enclave);
    error AlreadyContributed(bytes32 taskid, address worker);
    error TooManyContributions(bytes32 taskid);
    error WeightOverflow(bytes32 taskid);
    error NotConsensusResult(bytes32 taskid, bytes32 resultHash);
    error NotContributor(bytes32 taskid, address worker);
    error AlreadyRevealed(bytes32 taskid, address worker);
    error ContributionRejected(bytes32 taskid, address worker);
    error InvalidReveal(bytes32 taskid, address worker);
    error TaskAlreadyRevealed(bytes32 taskid);
    error NoReveal(bytes32 taskid);
    error RevealsPending(bytes32 taskid, uint256 reveals, uint256 expected);
    error InvalidContributorList(bytes32 taskid);
    error CallbackDataMismatch(bytes32 taskid);
    error NoFailedCallback(bytes32 taskid);
    error NotFastPathDeal(bytes32 dealid);
    error NotSingleContribution(bytes32 dealid);
    error LengthMismatch(uint256 expected, uint256 actual);
    error DealRefOutOfRange(uint256 deal, uint256 deals);
    error InsufficientGasForCallback(uint256 gasLeft);
    error TaskNotClaimable(bytes32 taskid, uint8 status);
    error NotWorkerpoolOwner(address workerpool, address caller);
    error PoolNotOpen(address workerpool);
    error StakeBelowMinimum(address workerpool, uint256 stake, uint256 minimum);
    error AlreadyMember(address workerpool, address worker);
    error NotMember(address workerpool, address worker);
    error MemberLeaving(address workerpool, address worker, uint256 leavingAt);
    error StakeLocked(address workerpool, address worker, uint256 until);
    error InvalidWorkerCap(uint256 cap);
    // random selection (HubSelection)
    error DrawnWorkersOnly(bytes32 taskid);
    error NotRandomDeal(bytes32 dealid);
    error SelectionAlreadySet(address selection);
    error SelectionNotSet();
    error NotStakedMember(address workerpool, address worker);
    error SnapshotNotSorted(address workerpool, address worker);
    error IncompleteSnapshot(address workerpool, uint256 listed, uint256 staked);
    error NoSnapshotBefore(address workerpool, uint256 time);
    error WrongSnapshot(bytes32 dealid, uint256 index);
    error SnapshotMismatch(bytes32 dealid, uint256 index);
    error WaveNotOpen(bytes32 taskid, uint256 wave, uint256 opensAt);
    error PositionExpired(bytes32 taskid, uint256 wave, uint256 deadline);
    error RoundNotAvailable(uint64 round);
    error PositionOutOfRange(bytes32 taskid, uint256 position, uint256 limit);
    error NotDrawn(bytes32 taskid, uint256 wave, uint256 position, address drawn);
    error PositionSkipped(bytes32 taskid, uint256 wave, uint256 position);
    error NotSlashable(bytes32 taskid, address worker);
    error AlreadySlashed(bytes32 taskid, address worker);
    // spot checks (HubSelection)
    error SpotChecked(bytes32 id);
    error NotSpotChecked(bytes32 dealid);
    error NotAudited(bytes32 taskid);
    error AuditClosed(bytes32 taskid, uint256 closedAt);
    error AuditPending(bytes32 taskid, uint256 closesAt);
    error NotAuditor(bytes32 taskid, uint256 position, address drawn);
    error AuditorExcluded(bytes32 taskid, uint256 position, address worker);
    error AuditPositionSkipped(bytes32 taskid, uint256 position);
    // keepers drawn per epoch (HubSelection)
    error AttesterIndexesExhausted();
    error InvalidEpochLength(uint256 length);
    error EpochLengthAlreadySet(uint256 length);
    error KeepersNotEnabled();
    error NotDatasetOwner(address dataset, address caller);
    error InvalidKeeperGroup(uint256 n, uint256 k);
    error IncompleteAttesterSnapshot(uint256 listed, uint256 attesters);
    error AttesterSnapshotNotSorted(address attester);
    error NoAttesterSnapshotBefore(uint256 time);
    error InvalidEpoch(uint256 epoch);
    error NoKeeperGroup(address dataset);
    error EpochOver(address dataset, uint256 epoch);
    error KeepersAlreadyDrawn(address dataset, uint256 epoch);
    error WrongAttesterSnapshot(uint256 index, uint256 drawTime);
    error AttesterSnapshotMismatch(uint256 index);
    error NotEnoughKeepers(address dataset, uint256 drawn, uint256 wanted);
    error KeepersNotDrawn(address dataset, uint256 epoch);
    error NotKeeperOfEpoch(address dataset, uint256 epoch, address signer);
    /// Draw.NoStake: the snapshot holds no stake (declared here too so that IHub decodes it).
    error NoStake();
}

/// @title IHubEvents
/// @notice Every event the hub emits, from Hub or HubExtension; inherited by HubBase and IHub alike.
interface IHubEvents {
    event AdminTransferred(address indexed previousAdmin, address indexed newAdmin);
    event MinAttesterStakeChanged(uint256 minStake);
    event AttesterRegistered(address indexed attester, uint256 stake);
    event AttesterStakeAdded(address indexed attester, uint256 amount, uint256 stake);
    event AttesterLeaving(address indexed attester, uint256 leavingAt);
    event AttesterLeft(address indexed attester, uint256 stake);
    event AttesterSlashed(
        address indexed attester,
        bytes32 indexed taskid,
        address indexed reporter,
        uint256 amount,
        uint256 reward
    );
    /// @notice A challenge showed that `attester`'s attestation of `taskid` contradicts the evidence it signed:
    /// `contradictions` has bit 0 (debug TD), 1 (measurement not the one signed), 2 (measurement not the app's
    /// mrenclave), 3 (report_data does not bind the task, the app, the enclave key and the signed H and nonce).
    event AttestationContradicted(address indexed attester, bytes32 indexed taskid, uint256 contradictions);
    event CategoryCreated(
        uint256 indexed category, string name, string description, uint256 workClockTimeRef
    );
    event Deposit(address indexed account, address indexed from, uint256 amount);
    event Withdraw(address indexed account, address indexed to, uint256 amount);
    event OrderPresigned(bytes32 indexed orderHash, address indexed signer);
    event OrderClosed(bytes32 indexed orderHash, address indexed signer);
    event DealCreated(
        bytes32 indexed dealid,
        address indexed workerpool,
        address indexed requester,
        Deal deal,
        bytes32 appOrderHash,
        bytes32 datasetOrderHash,
        bytes32 workerpoolOrderHash,
        string params
    );
    event TaskInitialize(bytes32 indexed taskid, bytes32 indexed dealid, uint256 index);
    event TaskContribute(bytes32 indexed taskid, address indexed worker, bytes32 resultHash);
    event TaskConsensus(bytes32 indexed taskid, bytes32 indexed resultHash);
    event TaskReveal(bytes32 indexed taskid, address indexed worker, bytes32 digest);
    event TaskReopen(bytes32 indexed taskid, bytes32 indexed resultHash);
    event TaskFinalize(bytes32 indexed taskid, bytes resultsLocation, bytes callbackData);
    event TaskClaimed(bytes32 indexed taskid);
    event CallbackResult(bytes32 indexed taskid, address indexed callback, bool success);
    /// A result callback reverted or ran out of gas; `reason` is its revert data (at most 256 bytes).
    event CallbackFailed(bytes32 indexed taskid, bytes reason);
    event WorkerpoolMinStake(address indexed workerpool, uint256 minStake);
    event WorkerJoined(address indexed workerpool, address indexed worker, uint256 stake);
    event WorkerAdmitted(address indexed workerpool, address indexed worker, uint256 cap);
    event WorkerLeaving(address indexed workerpool, address indexed worker, uint256 leavingAt);
    event WorkerRemoved(address indexed workerpool, address indexed worker, uint256 leavingAt);
    event WorkerLeft(address indexed workerpool, address indexed worker, uint256 stake);
    event SelectionSet(address selection);
    event WorkerClusterSet(address indexed workerpool, address indexed worker, uint32 cluster);
    event PoolSnapshot(
        address indexed workerpool, uint256 indexed index, bytes32 root, Draw.Worker[] workers
    );
    event KeeperEpochLengthSet(uint256 length);
    event KeeperGroupSet(address indexed dataset, uint256 n, uint256 k);
    event AttesterSnapshot(uint256 indexed index, bytes32 root, Draw.Worker[] attesters);
    event KeepersDrawn(address indexed dataset, uint256 indexed epoch, uint64 round, address[] keepers);
    event DrawnContribution(bytes32 indexed taskid, address indexed worker, uint256 wave, uint256 position);
    event DrawnWorkerSlashed(
        bytes32 indexed taskid, address indexed worker, uint256 wave, uint256 position, uint256 amount
    );
    event AuditContribution(bytes32 indexed taskid, address indexed worker, uint256 position);
    event TaskAudited(bytes32 indexed taskid, uint8 outcome);
    event AbsentAuditorSlashed(
        bytes32 indexed taskid, address indexed worker, uint256 position, uint256 amount
    );
}

/// @title IHub
/// @notice Everything the hub serves at its one address: the functions of Hub (escrow, matching, the
/// task hot path) and of HubExtension (administration, categories, order management and hashes, views,
/// reopen, claim, batch finalization), which Hub reaches through its fallback, with every event and error
/// either emits (inherited from IHubErrors and IHubEvents, which HubBase inherits too). Bind this, not Hub or HubExtension, to call the hub; test/IHub.t.sol checks that it and
/// the two contracts serve the same selectors.
interface IHub is IHubErrors, IHubEvents {
    function CALLBACK_GAS() external view returns (uint256);
    function CONTRIBUTION_CONTRIBUTED() external view returns (uint8);
    function CONTRIBUTION_DEADLINE_RATIO() external view returns (uint256);
    function CONTRIBUTION_REVEALED() external view returns (uint8);
    function FINAL_DEADLINE_RATIO() external view returns (uint256);
    function KITTY_MIN() external view returns (uint256);
    function KITTY_RATIO() external view returns (uint256);
    function MAX_DEAL_VOLUME() external view returns (uint256);
    function REVEAL_DEADLINE_RATIO() external view returns (uint256);
    function SCHEDULER_STAKE_RATIO() external view returns (uint256);
    function STATUS_ACTIVE() external view returns (uint8);
    function STATUS_COMPLETED() external view returns (uint8);
    function STATUS_FAILED() external view returns (uint8);
    function STATUS_REVEALING() external view returns (uint8);
    function STATUS_UNSET() external view returns (uint8);
    function TAG_TEE() external view returns (bytes32);
    function admin() external view returns (address);
    function appRegistry() external view returns (address);
    function ATTESTER_LEAVE_DELAY() external view returns (uint256);
    function ATTESTER_SLASH_REWARD_RATIO() external view returns (uint256);
    function ENCLAVE_ATTESTED_TYPEHASH() external view returns (bytes32);
    function TAG_ATTESTATIONS_SHIFT() external view returns (uint256);
    function addAttesterStake(uint256 amount) external;
    function attestationsRequired(bytes32 tag) external pure returns (uint256);
    function attester(address who)
        external
        view
        returns (uint256 stake, uint256 registeredAt, uint256 leavingAt, bool slashed, bool active);
    function hashEnclaveAttested(EnclaveAttestation calldata a) external view returns (bytes32);
    function leaveAttesters() external;
    function minAttesterStake() external view returns (uint256);
    function registerAttester(uint256 stake) external;
    function setMinAttesterStake(uint256 minStake) external;
    function slashAttester(EnclaveAttestation calldata a, EnclaveAttestation calldata b) external;
    function challengeAttestation(
        Deal calldata deal,
        uint256 index,
        EnclaveAttestation calldata a,
        bytes calldata quote,
        bytes32 hpkeKey,
        bytes32 nonce
    ) external;
    function tdxQuoteClaims(bytes calldata quote)
        external
        view
        returns (bool debug, bytes32 measurement, bytes32 reportDataHi, bytes32 reportDataLo);
    function reportDataOf(
        bytes32 taskid,
        bytes32 appChecksum,
        address enclave,
        bytes32 hpkeKey,
        bytes32 nonce
    ) external view returns (bytes32 hi, bytes32 lo);
    function withdrawAttesterStake() external;
    function balanceOf(address account) external view returns (uint256);
    function category(uint256 id) external view returns (string memory name, uint256 workClockTimeRef);
    function categoryCount() external view returns (uint256);
    function claim(Deal calldata deal, uint256 index, address[] calldata workers) external;
    function contribute(
        Deal calldata deal,
        uint256 index,
        bytes32 resultHash,
        bytes32 resultSeal,
        address enclave,
        bytes calldata enclaveSign,
        bytes calldata authorizationSign
    ) external;
    function contributeAndFinalize(Deal calldata deal, uint256 index, FastResult calldata r) external;
    function contributeAndReveal(
        Deal calldata deal,
        uint256 index,
        bytes32 digest,
        address enclave,
        bytes calldata enclaveSign,
        bytes calldata authorizationSign
    ) external;
    function contributeAndRevealBatch(
        Deal calldata deal,
        uint256[] calldata indexes,
        bytes32[] calldata digests,
        bytes[] calldata authorizationSigns
    ) external;
    function contribution(bytes32 taskid, address worker)
        external
        view
        returns (uint8 status, uint8 epoch, uint256 weight, uint256 commit);
    function createCategory(string calldata name, string calldata description, uint256 workClockTimeRef)
        external
        returns (uint256 id);
    function datasetRegistry() external view returns (address);
    function dealId(Deal calldata deal) external pure returns (bytes32);
    function retryCallback(bytes32 taskid, address callback, bytes calldata data) external;
    function callbackFailed(bytes32 taskid) external view returns (bool);
    function dealRecord(bytes32 dealid) external view returns (bytes32 commitment, uint256 startTime);
    function deposit(uint256 amount) external;
    function depositAndMatchOrders(
        uint256 amount,
        AppOrder calldata appOrder,
        DatasetOrder calldata datasetOrder,
        WorkerpoolOrder calldata workerpoolOrder,
        RequestOrder calldata requestOrder
    ) external returns (bytes32 dealid);
    function depositFor(address account, uint256 amount) external;
    function domainSeparator() external view returns (bytes32);
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        );
    function extension() external view returns (address);
    function finalize(
        Deal calldata deal,
        uint256 index,
        bytes calldata resultsLocation,
        bytes calldata callbackData,
        address[] calldata workers
    ) external;
    function finalizeBatch(
        Deal calldata deal,
        uint256[] calldata indexes,
        bytes[] calldata resultsLocations,
        bytes[] calldata callbackData
    ) external;
    function frozenOf(address account) external view returns (uint256);
    function group(bytes32 taskid, bytes32 resultHash)
        external
        view
        returns (uint8 epoch, bool consensus, uint256 members, uint256 weight);
    function hashAppOrder(AppOrder calldata o) external view returns (bytes32);
    function hashDatasetOrder(DatasetOrder calldata o) external view returns (bytes32);
    function hashRequestOrder(RequestOrder calldata o) external view returns (bytes32);
    function hashWorkerpoolOrder(WorkerpoolOrder calldata o) external view returns (bytes32);
    function initialize(Deal calldata deal, uint256 index) external returns (bytes32 taskid);
    function initializeBatch(Deal calldata deal, uint256 first, uint256 count) external;
    function kitty() external view returns (uint256);
    function manageAppOrder(AppOrder calldata o, bool cancel) external;
    function manageDatasetOrder(DatasetOrder calldata o, bool cancel) external;
    function manageRequestOrder(RequestOrder calldata o, bool cancel) external;
    function manageWorkerpoolOrder(WorkerpoolOrder calldata o, bool cancel) external;
    function matchOrders(
        AppOrder calldata appOrder,
        DatasetOrder calldata datasetOrder,
        WorkerpoolOrder calldata workerpoolOrder,
        RequestOrder calldata requestOrder
    ) external returns (bytes32 dealid);
    function orderStatus(bytes32 orderHash)
        external
        view
        returns (uint256 consumed, bool presigned, bool cancelled);
    function reopen(Deal calldata deal, uint256 index, bytes32 resultHash, address[] calldata workers)
        external;
    function requestOrderConsumed(bytes32 orderHash, uint256 volume) external view returns (uint256);
    function reveal(bytes32 taskid, bytes32 digest) external;
    function scoreOf(address worker) external view returns (uint256);
    function task(bytes32 taskid) external view returns (TaskView memory v);
    function taskId(bytes32 dealid, uint256 index) external pure returns (bytes32);
    function token() external view returns (address);
    function transferAdmin(address newAdmin) external;
    function withdraw(uint256 amount) external;
    function withdrawTo(address to, uint256 amount) external;
    function workerpoolRegistry() external view returns (address);
    function admitWorker(address workerpool, address worker, uint256 cap) external;
    function admitWorkers(address workerpool, address[] calldata workers, uint256 cap) external;
    function joinPool(address workerpool, uint256 stake) external;
    function leavePool(address workerpool) external;
    function poolConfig(address workerpool) external view returns (uint256 minStake, uint256 workers);
    function poolMember(address workerpool, address worker)
        external
        view
        returns (uint256 stake, uint256 joinedAt, uint256 leavingAt, uint256 cap, bool admitted);
    function removeWorker(address workerpool, address worker) external;
    function setMinWorkerStake(address workerpool, uint256 minStake) external;
    function withdrawPoolStake(address workerpool) external;
    function workerLeaveDelay() external view returns (uint256);
    // random selection: HubExtension's setSelection, then HubSelection's functions (through
    // HubExtension's fallback)
    function TAG_RANDOM() external view returns (bytes32);
    function setSelection(address selection_) external;
    function selection() external view returns (address);
    function SELECTION_ROUND_DELAY() external view returns (uint64);
    function WAVE_RATIO() external view returns (uint256);
    function MAX_DRAW_POSITIONS() external view returns (uint256);
    function beacon() external view returns (address);
    function setWorkerCluster(address workerpool, address worker, uint32 cluster) external;
    function MAX_KEEPERS() external view returns (uint256);
    function KEEPER_ROUND_DELAY() external view returns (uint64);
    function keepers() external view returns (address);
    function keeperRegistry() external view returns (address);
    function audits() external view returns (address);
    function MAX_KEEPER_POSITIONS() external view returns (uint256);
    function setKeeperEpochLength(uint256 length) external;
    function keeperEpochLength() external view returns (uint256);
    function keeperEpoch() external view returns (uint256);
    function setKeeperGroup(address dataset, uint256 n, uint256 k) external;
    function keeperGroup(address dataset) external view returns (uint256 n, uint256 k);
    function commitAttesterSnapshot(address[] calldata attesters) external returns (uint256 index);
    function attesterSnapshotCount() external view returns (uint256 count, uint256 attesters);
    function attesterSnapshotRecord(uint256 index) external view returns (bytes32 root, uint256 committedAt);
    function attesterSnapshotBefore(uint256 time) external view returns (uint256);
    function keeperDrawRound(uint256 epoch) external view returns (uint64 round, uint256 drawTime);
    function drawKeepers(
        address dataset,
        uint256 epoch,
        uint256 snapshotIndex,
        Draw.Worker[] calldata snapshot
    ) external returns (address[] memory keepers);
    function isKeeper(address dataset, uint256 epoch, address who) external view returns (bool);
    function commitSnapshot(address workerpool, address[] calldata workers) external returns (uint256 index);
    function snapshotCount(address workerpool) external view returns (uint256);
    function snapshotRecord(address workerpool, uint256 index)
        external
        view
        returns (bytes32 root, uint256 committedAt);
    function snapshotBefore(address workerpool, uint256 time) external view returns (uint256 index);
    function stakedWorkers(address workerpool) external view returns (uint256);
    function workerCluster(address workerpool, address worker) external view returns (uint32);
    function positionsPerWave(uint256 trust) external pure returns (uint256);
    function wave(Deal calldata deal, uint256 w)
        external
        view
        returns (uint64 round, uint256 opensAt, uint256 closesAt);
    function contributeDrawn(
        Deal calldata deal,
        uint256 index,
        bytes32 resultHash,
        bytes32 resultSeal,
        DrawProof calldata proof
    ) external;
    function slashAbsent(Deal calldata deal, uint256 index, DrawProof calldata proof) external;
    // batched replicated contributions and reveals (HubSelection)
    function contributeBatch(Deal[] calldata deals, BatchContribution[] calldata items) external;
    function revealBatch(bytes32[] calldata taskids, bytes32[] calldata digests) external;
    // spot checks (HubSelection)
    function TAG_SPOT_SHIFT() external view returns (uint256);
    function AUDIT_RATIO() external view returns (uint256);
    function auditTrust(uint256 trust) external pure returns (uint256);
    function audit(Deal calldata deal, uint256 index)
        external
        view
        returns (bytes32 auditid, uint64 round, uint8 state, uint256 closesAt);
    function contributeAudit(
        Deal calldata deal,
        uint256 index,
        bytes32 resultHash,
        bytes32 resultSeal,
        DrawProof calldata proof
    ) external;
    function slashAbsentAuditor(Deal calldata deal, uint256 index, DrawProof calldata proof) external;
    function revealSpotChecked(Deal calldata deal, uint256 index, bytes32 digest) external;
    function finalizeAudited(Deal calldata deal, uint256 index, AuditedFinalize calldata f) external;
    function releaseAudit(Deal calldata deal, uint256 index, address[] calldata auditors) external;
    function finalizeReplicatedBatch(Deal calldata deal, ReplicatedFinalize[] calldata tasks) external;
}
