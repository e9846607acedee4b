// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {EIP712} from "solady/utils/EIP712.sol";
import {ECDSA} from "solady/utils/ECDSA.sol";
import {SignatureCheckerLib} from "solady/utils/SignatureCheckerLib.sol";
import {Deal} from "./libs/Types.sol";
import {FixedPointMathLib} from "solady/utils/FixedPointMathLib.sol";
import {SafeTransferLib} from "solady/utils/SafeTransferLib.sol";
import {IResultReceiver} from "./interfaces/IResultReceiver.sol";
import {Orders} from "./libs/Orders.sol";
import {Consensus} from "./libs/Consensus.sol";
import {IResourceRegistry} from "./interfaces/IResourceRegistry.sol";
import {IHubErrors, IHubEvents} from "./interfaces/IHub.sol";

/// @title HubBase
/// @notice Storage layout, constants and shared internals of the hub; its errors and events are those of
/// IHubErrors and IHubEvents (declared there once, for IHub's ABI too). `Hub` (the hot path) and
/// `HubExtension` (administration, order management, views, reopen, claim, finalizeBatch; reached through the
/// hub's fallback by delegatecall) both inherit it, so they share one storage layout. Bind both ABIs at
/// the hub's address.
///
/// Storage is designed for gas: a deal is not stored (only the hash of its struct, the deal being passed
/// back in calldata), a task is one packed slot, a replicated contribution one packed slot, a result group
/// one packed slot, and an escrow account (balance, frozen, score) one packed slot.
abstract contract HubBase is EIP712, IHubErrors, IHubEvents {
    using SafeTransferLib for address;

    // ---------------------------------------------------------------------------------------------
    // Constants
    // ---------------------------------------------------------------------------------------------

    /// @notice contribution deadline = task init time + 7 * workClockTimeRef
    uint256 public constant CONTRIBUTION_DEADLINE_RATIO = 7;
    /// @notice reveal deadline = consensus time + 2 * workClockTimeRef
    uint256 public constant REVEAL_DEADLINE_RATIO = 2;
    /// @notice final deadline = task init time + 10 * workClockTimeRef
    uint256 public constant FINAL_DEADLINE_RATIO = 10;
    /// @notice The scheduler locks 30 % of the workerpool price per task at match time.
    uint256 public constant SCHEDULER_STAKE_RATIO = 30;
    /// @notice At finalize the scheduler receives max(10 % of the kitty, KITTY_MIN), capped by the kitty.
    uint256 public constant KITTY_RATIO = 10;
    uint256 public constant KITTY_MIN = 1e9;
    /// @notice Gas given to a result callback.
    uint256 public constant CALLBACK_GAS = 100_000;
    /// @notice Tag bit 0: the deal requires a TEE.
    bytes32 public constant TAG_TEE = bytes32(uint256(1));
    /// @notice Tag bit 1: random selection. Nobody picks the deal's workers: a beacon round drawn after the
    /// match does, over the pool's registry snapshot frozen before it (HubSelection, docs/randomness.md);
    /// the scheduler's authorizations are refused for such a deal.
    bytes32 public constant TAG_RANDOM = bytes32(uint256(2));
    /// @notice Tag bits 8-15 raise the number of `EnclaveAttested` signatures a TEE contribution needs:
    /// k = 1 when none is set, else 2 + the index of the highest one set (bit 8 -> 2 ... bit 15 -> 9).
    /// Tags are OR-ed at match, so k is the largest any order asks; a workerpool offering up to k sets
    /// every bit up to k's (see docs/protocol.md).
    uint256 public constant TAG_ATTESTATIONS_SHIFT = 8;
    /// @notice Tag bits 16-23 of a random-selection deal: its spot-check probability q = value / 256 (0 = no
    /// audits). A task of such a deal may get a hidden audit replica and is finalized by
    /// HubSelection.finalizeAudited, never by `finalize`. Ignored when the deal is not a random one.
    uint256 public constant TAG_SPOT_SHIFT = 16;
    /// @notice The type hash of `EnclaveAttested`, the key holders' statement counted by the hub.
    bytes32 public constant ENCLAVE_ATTESTED_TYPEHASH = keccak256(
        "EnclaveAttested(bytes32 taskId,address enclave,bytes32 measurement,uint8 tcbStatus,uint64 expiry,bytes32 evidenceHash)"
    );
    /// @notice Largest volume of a single deal.
    uint256 public constant MAX_DEAL_VOLUME = type(uint32).max;

    /// @notice Task statuses.
    uint8 public constant STATUS_UNSET = 0;
    uint8 public constant STATUS_ACTIVE = 1;
    uint8 public constant STATUS_REVEALING = 2;
    uint8 public constant STATUS_COMPLETED = 3;
    uint8 public constant STATUS_FAILED = 4;

    /// @notice Contribution statuses (replicated tasks).
    uint8 public constant CONTRIBUTION_CONTRIBUTED = 1;
    uint8 public constant CONTRIBUTION_REVEALED = 2;

    bytes32 internal constant _DEAL_HASH_MASK = bytes32(~uint256(0) << 40);
    uint256 internal constant _MASK112 = (1 << 112) - 1;
    uint256 internal constant _MASK40 = (1 << 40) - 1;
    uint256 internal constant _MASK16 = (1 << 16) - 1;
    uint256 internal constant _PRESIGNED = 1 << 128;
    uint256 internal constant _CANCELLED = 1 << 129;
    uint256 internal constant _CONSUMED_MASK = (1 << 128) - 1;
    uint256 internal constant _FLAG_REPLICATED = 1 << 8;
    uint256 internal constant _FLAG_REVEALED = 1 << 9;
    /// A task of a spot-checked deal (set by HubSelection.contributeDrawn): only HubAudit.finalizeAudited
    /// finalizes it.
    uint256 internal constant _FLAG_SPOT = 1 << 10;
    /// What `_reveal` reads of the task word for `reveal`/`revealBatch`: the status and _FLAG_SPOT.
    uint256 internal constant _REVEAL_MASK = 0xff | _FLAG_SPOT;
    uint256 internal constant _GROUP_CONSENSUS = 1 << 8;
    uint256 internal constant _COMMIT_MASK = ~uint256(0) << 48;
    uint256 internal constant _ATTESTER_SLASHED = 1 << 192;
    /// An attester's registration index (24 bits) in its record: what a keeper draw stores.
    uint256 internal constant _ATTESTER_INDEX_SHIFT = 200;
    uint256 internal constant _MASK24 = (1 << 24) - 1;
    /// A member who joined with a stake (joinPool): it belongs in the pool's registry snapshots.
    uint256 internal constant _MEMBER_STAKED = 1 << 209;
    uint256 internal constant _LOCK_SLOT = uint256(keccak256("decloud.hub.lock"));

    // ---------------------------------------------------------------------------------------------
    // Immutable configuration and storage
    // ---------------------------------------------------------------------------------------------

    /// @notice The escrow token.
    address public immutable token;
    IResourceRegistry public immutable appRegistry;
    IResourceRegistry public immutable datasetRegistry;
    IResourceRegistry public immutable workerpoolRegistry;

    /// @notice Manages categories and the attesters' minimum stake.
    address public admin;
    /// @notice Stakes seized by claims and slashes, redistributed to schedulers at finalize.
    uint144 public kitty;
    /// @notice The smallest stake an attester (a key holder, the SMS) locks to register; 0 = registry
    /// closed. Attesters whose stake is below the current minimum are not counted. (Packed in the kitty's
    /// slot: the TEE fast path reads both, so the second read is warm.)
    uint112 public minAttesterStake;
    /// @notice Number of categories created (ids are 0 .. categoryCount - 1).
    uint256 public categoryCount;

    /// account => balance (bits 0-111) | frozen (112-223) | score (224-255)
    mapping(address => uint256) internal _accounts;
    /// category id => workClockTimeRef (seconds; 0 = no such category)
    mapping(uint256 => uint256) internal _categoryRefs;
    mapping(uint256 => string) internal _categoryNames;
    /// EIP-712 order digest => consumed volume (bits 0-127) | presigned (128) | cancelled (129)
    mapping(bytes32 => uint256) internal _orders;
    /// dealid => keccak256(abi.encode(deal))
    mapping(bytes32 => bytes32) internal _deals;
    /// taskid => status (0-7) | flags (8-15) | initTime (16-55) | revealDeadline (56-95) | then either
    /// worker (96-255) when trust <= 1, or contributions (96-111) | reveals (112-127) |
    /// expectedReveals (128-143) | sum of group weights (144-255) when replicated
    mapping(bytes32 => uint256) internal _tasks;
    /// keccak256(taskid, worker) => status (0-7) | epoch (8-15) | weight (16-47) | commit (48-255)
    mapping(bytes32 => uint256) internal _contributions;
    /// keccak256(taskid, resultHash) => epoch (0-7) | consensus (8) | members (16-31) | weight (32-255)
    mapping(bytes32 => uint256) internal _groups;
    /// attester => stake (0-111) | registeredAt (112-151) | leavingAt (152-191) | slashed (192) | registration
    /// index (200-223, see _attesterCounts). The stake
    /// has left the attester's escrow balance while it is here; a slashed attester keeps its record (stake
    /// 0, bit 192) so that it can never register again under the same key.
    mapping(address => uint256) internal _attesters;
    /// workerpool => minimum stake per worker (bits 0-111) | worker count (112-143) | staked worker count
    /// (144-175: members who joined with a stake, not leaving) | snapshot count (176-207): the worker
    /// registry's per-pool settings
    mapping(address => uint256) internal _pools;
    /// workerpool => worker => stake (0-111) | joinedAt (112-151) | leavingAt (152-191) | cap (192-207) |
    /// admitted (208) | staked (209: joined with a stake, so it is in the pool's snapshots) | cluster
    /// (224-255, set by the pool's owner, for worker distancing): one slot per membership. The stake has left the worker's escrow balance while it is here.
    mapping(address => mapping(address => uint256)) internal _members;
    /// The largest workClockTimeRef of any category: a leaving worker's stake stays locked
    /// FINAL_DEADLINE_RATIO times it (see HubExtension.workerLeaveDelay).
    uint256 internal _maxCategoryRef;
    /// The random-selection facet (HubSelection), set once by the admin; HubExtension's fallback delegates
    /// to it.
    address internal _selection;
    /// workerpool => snapshot index => top 216 bits of the snapshot's root | committedAt (low 40 bits): the
    /// history of the pool's registry snapshots (HubSelection.commitSnapshot). A random deal draws over the
    /// last snapshot committed strictly before its start.
    mapping(address => mapping(uint256 => uint256)) internal _snapshots;
    /// taskid => keccak256(callback ‖ keccak256(callbackData)) of a result callback that reverted or ran out of
    /// gas: anyone may call it again (HubExtension.retryCallback); zero once it has succeeded.
    mapping(bytes32 => bytes32) internal _failedCallbacks;
    /// Attester registrations ever made (bits 0-23: the last index given, so indexes start at 1) | attesters
    /// registered, not leaving, not slashed (32-63: the length of an attester snapshot) | attester snapshots
    /// committed (64-95) | keeper epoch length in seconds (96-127, set once by the admin; 0 = keepers off).
    uint256 internal _attesterCounts;
    /// attester snapshot index => top 216 bits of its root | committedAt (low 40 bits), as `_snapshots`.
    mapping(uint256 => uint256) internal _attesterSnapshots;
    /// dataset => keeper group: n (bits 0-7) | threshold k (8-15) | epoch length in seconds (16-47, copied
    /// from the hub's when the owner set the group). Zero: the dataset has no group (any attester counts).
    mapping(address => uint256) internal _keeperGroups;
    /// dataset => epoch => the epoch's draw: keeper count (bits 0-7) | up to 9 attester indexes of 24 bits
    /// (8-223) | 1 at bit 255 so that a draw is never zero. Zero: not drawn.
    mapping(address => mapping(uint256 => uint256)) internal _keeperDraws;

    // ---------------------------------------------------------------------------------------------
    // Construction, administration
    // ---------------------------------------------------------------------------------------------

    constructor(address token_, address appRegistry_, address datasetRegistry_, address workerpoolRegistry_) {
        if (
            token_ == address(0) || appRegistry_ == address(0) || datasetRegistry_ == address(0)
                || workerpoolRegistry_ == address(0)
        ) revert ZeroAddress();
        token = token_;
        appRegistry = IResourceRegistry(appRegistry_);
        datasetRegistry = IResourceRegistry(datasetRegistry_);
        workerpoolRegistry = IResourceRegistry(workerpoolRegistry_);
    }

    function _domainNameAndVersion() internal pure override returns (string memory, string memory) {
        return ("decloud", "1");
    }

    modifier nonReentrant() {
        _enter();
        _;
        _exit();
    }

    function _enter() private {
        uint256 s = _LOCK_SLOT;
        assembly ("memory-safe") {
            if tload(s) {
                mstore(0x00, 0xab143c06) // Reentrancy()
                revert(0x1c, 0x04)
            }
            tstore(s, 1)
        }
    }

    /// For functions that make no external call able to change state (only view/static calls): they
    /// need not take the lock, only refuse to run while a callback holds it.
    modifier notEntered() {
        _notEntered();
        _;
    }

    function _notEntered() private view {
        uint256 s = _LOCK_SLOT;
        assembly ("memory-safe") {
            if tload(s) {
                mstore(0x00, 0xab143c06) // Reentrancy()
                revert(0x1c, 0x04)
            }
        }
    }

    function _exit() private {
        uint256 s = _LOCK_SLOT;
        assembly ("memory-safe") {
            tstore(s, 0)
        }
    }

    modifier onlyAdmin() {
        _onlyAdmin();
        _;
    }

    function _onlyAdmin() private view {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
    }

    /// balance += amount
    function _credit(address account, uint256 amount) internal {
        if (amount == 0) return;
        uint256 a = _accounts[account];
        uint256 bal = (a & _MASK112) + amount;
        if (bal > _MASK112) revert AmountTooLarge(bal);
        unchecked {
            _accounts[account] = a + amount;
        }
    }

    /// balance -= amount; frozen += amount
    function _lock(address account, uint256 amount) internal {
        uint256 a = _accounts[account];
        uint256 bal = a & _MASK112;
        if (bal < amount) revert InsufficientBalance(account, bal, amount);
        if (((a >> 112) & _MASK112) + amount > _MASK112) revert AmountTooLarge(amount);
        unchecked {
            _accounts[account] = a - amount + (amount << 112);
        }
    }

    /// frozen -= unlock; balance += unlock + reward (frozen always holds `unlock`: the hub locked it)
    function _release(address account, uint256 unlock, uint256 reward) internal {
        uint256 a = _accounts[account];
        uint256 bal = (a & _MASK112) + unlock + reward;
        if (bal > _MASK112) revert AmountTooLarge(bal);
        unchecked {
            _accounts[account] = a - (unlock << 112) + unlock + reward;
        }
    }

    /// frozen -= amount (the amount leaves the account: paid out or seized)
    function _spendFrozen(address account, uint256 amount) internal {
        unchecked {
            _accounts[account] -= amount << 112;
        }
    }

    /// Credits `account` with `amount` tokens taken from the caller (Hub.deposit, HubExtension.depositFor).
    function _deposit(address account, uint256 amount) internal {
        if (amount > _MASK112) revert AmountTooLarge(amount);
        _credit(account, amount);
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit Deposit(account, msg.sender, amount);
    }

    function _resourceOwner(IResourceRegistry registry, address id) internal view returns (address owner) {
        (owner,) = registry.ownerInfo(id);
        if (owner == address(0)) revert UnknownResource(id);
    }

    function _checkDeal(Deal calldata deal) internal view returns (bytes32 dealid) {
        dealid = keccak256(abi.encodePacked(deal.requestHash, deal.botFirst));
        bytes32 stored = _deals[dealid];
        if (stored & _DEAL_HASH_MASK != Orders.hash(deal) & _DEAL_HASH_MASK || stored == 0) {
            revert UnknownDeal(dealid);
        }
    }

    function _taskOf(Deal calldata deal, uint256 index) internal view returns (bytes32 taskid) {
        bytes32 dealid = _checkDeal(deal);
        if (index >= deal.volume) revert TaskIndexOutOfRange(index, deal.volume);
        taskid = keccak256(abi.encodePacked(dealid, index));
    }

    /// The final deadline of task word `t` of `deal`: initialization time + FINAL_DEADLINE_RATIO refs.
    function _finalDeadline(Deal calldata deal, uint256 t) internal pure returns (uint256) {
        return ((t >> 16) & _MASK40) + FINAL_DEADLINE_RATIO * deal.workClockTimeRef;
    }

    /// How many `EnclaveAttested` signatures a TEE contribution to a deal of tag `tag` needs (see
    /// TAG_ATTESTATIONS_SHIFT).
    function _attestationsRequired(bytes32 tag) internal pure returns (uint256) {
        uint256 bits = (uint256(tag) >> TAG_ATTESTATIONS_SHIFT) & 0xff;
        return bits == 0 ? 1 : 2 + FixedPointMathLib.log2(bits);
    }

    /// Marks revealing task `taskid` (word `t`) completed, for `finalize` and `finalizeBatch` alike: only
    /// before its final deadline and, when the deal has a callback, only with the consensus result's
    /// data (its digest is keccak256(callbackData)). The callers check the status first.
    function _complete(Deal calldata deal, bytes32 taskid, uint256 t, bytes calldata callbackData) internal {
        uint256 finalDeadline = _finalDeadline(deal, t);
        if (block.timestamp >= finalDeadline) revert FinalDeadlinePassed(taskid, finalDeadline);
        if (deal.callback != address(0)) {
            bytes32 resultHash = keccak256(abi.encodePacked(taskid, keccak256(callbackData)));
            if (_groups[keccak256(abi.encodePacked(taskid, resultHash))] & _GROUP_CONSENSUS == 0) {
                revert CallbackDataMismatch(taskid);
            }
        }
        _tasks[taskid] = (t & ~uint256(0xff)) | STATUS_COMPLETED;
    }

    /// Whether tasks of a deal of tag `tag` are spot-checked: a random-selection deal with a non-zero q.
    function _spotChecked(bytes32 tag) internal pure returns (bool) {
        return tag & TAG_RANDOM != 0 && (uint256(tag) >> TAG_SPOT_SHIFT) & 0xff != 0;
    }

    /// ECDSA first (no EXTCODESIZE on the signer: saves a cold account access), then ERC-1271.
    function _isValidSig(address signer, bytes32 h, bytes calldata sign) internal view returns (bool) {
        if (signer == address(0)) return false;
        if (ECDSA.tryRecoverCalldata(h, sign) == signer) return true;
        return SignatureCheckerLib.isValidERC1271SignatureNowCalldata(signer, h, sign);
    }

    /// A random-selection deal takes no authorization: its workers are drawn (HubSelection.contributeDrawn).
    function _checkAuthorization(Deal calldata deal, bytes32 taskid, address enclave, bytes calldata sign)
        internal
        view
    {
        if (deal.tag & TAG_RANDOM != 0) revert DrawnWorkersOnly(taskid);
        bytes32 h = SignatureCheckerLib.toEthSignedMessageHash(
            keccak256(abi.encodePacked(msg.sender, taskid, enclave))
        );
        if (!_isValidSig(deal.scheduler, h, sign)) {
            revert InvalidAuthorization(taskid, msg.sender, enclave);
        }
    }

    function _penalize(address worker) internal {
        uint256 a = _accounts[worker];
        uint256 score = a >> 224;
        _accounts[worker] = (a & ((1 << 224) - 1)) | ((score * 2 / 3) << 224);
    }

    /// Releases the requester's payment to the app owner, the dataset owner and the scheduler (with its
    /// stake back and a share of the kitty).
    function _payOwners(Deal calldata deal, uint256 schedulerReward) internal {
        _spendFrozen(deal.requester, deal.appPrice + deal.datasetPrice + deal.workerpoolPrice);
        _credit(deal.appOwner, deal.appPrice);
        if (deal.dataset != address(0)) _credit(deal.datasetOwner, deal.datasetPrice);
        uint256 k = kitty;
        if (k != 0) {
            uint256 part = FixedPointMathLib.min(k, FixedPointMathLib.max(k * KITTY_RATIO / 100, KITTY_MIN));
            kitty = uint144(k - part);
            schedulerReward += part;
        }
        _release(deal.scheduler, deal.workerpoolPrice * SCHEDULER_STAKE_RATIO / 100, schedulerReward);
    }

    /// The same for `n` tasks of the deal at once (`schedulerReward` is the total for the n tasks);
    /// the kitty pays its part once per task.
    function _payOwners(Deal calldata deal, uint256 schedulerReward, uint256 n) internal {
        uint256 price = deal.appPrice + deal.datasetPrice + deal.workerpoolPrice;
        _spendFrozen(deal.requester, price * n);
        _credit(deal.appOwner, deal.appPrice * n);
        if (deal.dataset != address(0)) _credit(deal.datasetOwner, deal.datasetPrice * n);
        uint256 k = kitty;
        if (k != 0) {
            uint256 k0 = k;
            for (uint256 i; i < n && k != 0; ++i) {
                k -= FixedPointMathLib.min(k, FixedPointMathLib.max(k * KITTY_RATIO / 100, KITTY_MIN));
            }
            kitty = uint144(k);
            schedulerReward += k0 - k;
        }
        _release(deal.scheduler, deal.workerpoolPrice * SCHEDULER_STAKE_RATIO / 100 * n, schedulerReward);
    }

    // ---------------------------------------------------------------------------------------------
    // Task opening and replicated contributions, shared by Hub (scheduler-authorized contributions) and
    // HubSelection (drawn workers' contributions)
    // ---------------------------------------------------------------------------------------------

    /// Lazy initialization: the first contribution to an uninitialized task initializes it (its deadlines
    /// run from now). The scheduler's authorization, checked by every contribution path, is what allows
    /// it, so a scheduler may skip the `initialize` transaction. Returns the task word (not yet stored).
    function _lazyInitialize(Deal calldata deal, bytes32 dealid, bytes32 taskid, uint256 index)
        internal
        returns (uint256 t)
    {
        t = _tasks[taskid];
        if (t == 0) {
            t = STATUS_ACTIVE | (deal.trust > 1 ? _FLAG_REPLICATED : 0) | (block.timestamp << 16);
            emit TaskInitialize(taskid, dealid, index);
        }
    }

    /// Task `index` of the checked deal `dealid`, initialized by this call if it was not, and open to
    /// contributions (active, before its contribution deadline). Returns its id and word (not yet stored).
    function _openTask(Deal calldata deal, bytes32 dealid, uint256 index)
        internal
        returns (bytes32 taskid, uint256 t)
    {
        if (index >= deal.volume) revert TaskIndexOutOfRange(index, deal.volume);
        taskid = keccak256(abi.encodePacked(dealid, index));
        t = _lazyInitialize(deal, dealid, taskid, index);
        if (uint8(t) != STATUS_ACTIVE) revert TaskNotActive(taskid, uint8(t));
        uint256 deadline = ((t >> 16) & _MASK40) + CONTRIBUTION_DEADLINE_RATIO * deal.workClockTimeRef;
        if (block.timestamp >= deadline) revert ContributionDeadlinePassed(taskid, deadline);
    }

    function _contributeReplicated(
        Deal calldata deal,
        bytes32 taskid,
        uint256 t,
        bytes32 gkey,
        uint256 commit,
        uint256 w,
        uint256 trust
    ) internal returns (bool consensus) {
        bytes32 ckey = keccak256(abi.encodePacked(taskid, msg.sender));
        if (_contributions[ckey] != 0) revert AlreadyContributed(taskid, msg.sender);
        uint256 contribs = ((t >> 96) & _MASK16) + 1;
        if (contribs > _MASK16) revert TooManyContributions(taskid);

        uint256 g = _groups[gkey];
        _contributions[ckey] = commit | (w << 16) | ((g & 0xff) << 8) | CONTRIBUTION_CONTRIBUTED;
        uint256 sum;
        (g, sum) = _addToGroup(taskid, g, w, t >> 144);
        consensus = Consensus.reached(g >> 32, (g >> 16) & _MASK16, sum, trust);
        if (consensus) g |= _GROUP_CONSENSUS;
        _groups[gkey] = g;

        // keep status/flags/initTime (bits 0-55); rewrite the rest
        t = (t & ((1 << 56) - 1)) | (contribs << 96) | (sum << 144);
        if (consensus) {
            t = (t & ~uint256(0xff)) | STATUS_REVEALING
                | ((block.timestamp + REVEAL_DEADLINE_RATIO * deal.workClockTimeRef) << 56)
                | (((g >> 16) & _MASK16) << 128);
        }
        _tasks[taskid] = t;
    }

    /// Records the caller's contribution (Hub.contribute, HubSelection.contributeDrawn): locks the deal's worker
    /// stake and the commitment; a single contribution is the consensus at trust <= 1.
    function _record(Deal calldata deal, bytes32 taskid, uint256 t, bytes32 resultHash, bytes32 resultSeal)
        internal
    {
        uint256 score = _accounts[msg.sender] >> 224;
        _lock(msg.sender, deal.workerStake);
        emit TaskContribute(taskid, msg.sender, resultHash);

        bytes32 gkey = keccak256(abi.encodePacked(taskid, resultHash));
        if (t & _FLAG_REPLICATED == 0) {
            // trust <= 1: the single contribution is the consensus
            _groups[gkey] |= _GROUP_CONSENSUS;
            _tasks[taskid] = (t & 0xff00) | STATUS_REVEALING | (t & (_MASK40 << 16))
                | ((block.timestamp + REVEAL_DEADLINE_RATIO * deal.workClockTimeRef) << 56)
                | (uint256(uint160(msg.sender)) << 96);
            emit TaskConsensus(taskid, resultHash);
        } else {
            uint256 commit = uint256(keccak256(abi.encodePacked(resultHash, resultSeal))) & _COMMIT_MASK;
            if (_contributeReplicated(
                    deal, taskid, t, gkey, commit, Consensus.workerWeight(score, deal.trust), deal.trust
                )) {
                emit TaskConsensus(taskid, resultHash);
            }
        }
    }

    /// Reveals the digest behind the caller's contribution, which must be in the consensus group (Hub.reveal,
    /// HubSelection.revealBatch and revealSpotChecked). The task word's bits under `statusMask` must read
    /// STATUS_REVEALING: with _REVEAL_MASK (the status and _FLAG_SPOT) a task of a spot-checked deal is refused
    /// (SpotChecked) at no gas to the others, since the status check masks the word anyway; its contributors
    /// reveal through revealSpotChecked (mask 0xff), once no auditor can copy their digest.
    function _reveal(bytes32 taskid, bytes32 digest, uint256 statusMask) internal {
        uint256 t = _tasks[taskid];
        if (t & statusMask != STATUS_REVEALING) {
            if (uint8(t) != STATUS_REVEALING) revert TaskNotRevealing(taskid, uint8(t));
            revert SpotChecked(taskid);
        }
        uint256 deadline = (t >> 56) & _MASK40;
        if (block.timestamp >= deadline) revert RevealDeadlinePassed(taskid, deadline);
        bytes32 resultHash = keccak256(abi.encodePacked(taskid, digest));
        uint256 g = _groups[keccak256(abi.encodePacked(taskid, resultHash))];
        if (g & _GROUP_CONSENSUS == 0) revert NotConsensusResult(taskid, resultHash);
        if (t & _FLAG_REPLICATED == 0) {
            if (address(uint160(t >> 96)) != msg.sender) revert NotContributor(taskid, msg.sender);
            if (t & _FLAG_REVEALED != 0) revert AlreadyRevealed(taskid, msg.sender);
            _tasks[taskid] = t | _FLAG_REVEALED;
        } else {
            bytes32 ckey = keccak256(abi.encodePacked(taskid, msg.sender));
            uint256 c = _contributions[ckey];
            if (c == 0) revert NotContributor(taskid, msg.sender);
            if (uint8(c) != CONTRIBUTION_CONTRIBUTED) revert AlreadyRevealed(taskid, msg.sender);
            if (uint8(c >> 8) != uint8(g)) revert ContributionRejected(taskid, msg.sender);
            bytes32 seal = keccak256(abi.encodePacked(msg.sender, taskid, digest));
            if (uint256(keccak256(abi.encodePacked(resultHash, seal))) & _COMMIT_MASK != c & _COMMIT_MASK) {
                revert InvalidReveal(taskid, msg.sender);
            }
            // the reveal count is not kept: finalize counts the revealed contributions of its list
            _contributions[ckey] = (c & ~uint256(0xff)) | CONTRIBUTION_REVEALED;
        }
        emit TaskReveal(taskid, msg.sender, digest);
    }

    /// Adds a worker of weight `w` to group `g`; returns the new group word and the new sum of groups.
    function _addToGroup(bytes32 taskid, uint256 g, uint256 w, uint256 sum)
        internal
        pure
        returns (uint256, uint256)
    {
        uint256 members = ((g >> 16) & _MASK16) + 1;
        uint256 oldWeight = g >> 32;
        uint256 newWeight = oldWeight == 0 ? w : oldWeight * w;
        sum = sum - oldWeight + newWeight;
        if (newWeight > _MASK112 || sum > _MASK112 || members > _MASK16) revert WeightOverflow(taskid);
        return ((g & 0xff) | (members << 16) | (newWeight << 32), sum);
    }

    /// Pays winners in proportion to log2(weight) from the workers' reward plus the losers' stakes;
    /// returns the rounding remainder (for the scheduler).
    function _payReplicated(
        bytes32 taskid,
        uint256 t,
        uint256 pool,
        uint256 stake,
        address[] calldata workers
    ) internal returns (uint256 remainder) {
        if (workers.length != ((t >> 96) & _MASK16)) {
            revert InvalidContributorList(taskid);
        }
        (uint256 logSum, uint256 seized, uint256 reveals) = _settleLosers(taskid, stake, workers);
        if (reveals == 0) revert NoReveal(taskid);
        uint256 expected = (t >> 128) & _MASK16;
        if (reveals < expected && block.timestamp < ((t >> 56) & _MASK40)) {
            revert RevealsPending(taskid, reveals, expected);
        }
        pool += seized;
        remainder = pool - _payWinners(taskid, pool, logSum, stake, workers);
    }

    /// Checks the contributor list (strictly increasing, all contributors), seizes the stakes of the
    /// contributors who did not reveal a consensus result and lowers their score; returns the sum of the
    /// winners' log2(weight), the seized amount and the number of winners. Losers' records are cleared
    /// (the task is completed: nothing reads them again, and clearing refunds gas).
    function _settleLosers(bytes32 taskid, uint256 stake, address[] calldata workers)
        internal
        returns (uint256 logSum, uint256 seized, uint256 reveals)
    {
        address prev;
        for (uint256 i; i < workers.length; ++i) {
            address w = workers[i];
            if (w <= prev) revert InvalidContributorList(taskid);
            prev = w;
            bytes32 ckey = keccak256(abi.encodePacked(taskid, w));
            uint256 c = _contributions[ckey];
            if (c == 0) revert InvalidContributorList(taskid);
            if (uint8(c) == CONTRIBUTION_REVEALED) {
                logSum += FixedPointMathLib.log2(uint32(c >> 16));
                ++reveals;
            } else {
                seized += stake;
                _contributions[ckey] = 0;
                _spendFrozen(w, stake);
                _penalize(w);
            }
        }
    }

    function _payWinners(
        bytes32 taskid,
        uint256 pool,
        uint256 logSum,
        uint256 stake,
        address[] calldata workers
    ) internal returns (uint256 paid) {
        for (uint256 i; i < workers.length; ++i) {
            address w = workers[i];
            bytes32 ckey = keccak256(abi.encodePacked(taskid, w));
            uint256 c = _contributions[ckey];
            if (uint8(c) == CONTRIBUTION_REVEALED) {
                _contributions[ckey] = 0;
                uint256 share = pool * FixedPointMathLib.log2(uint32(c >> 16)) / logSum;
                paid += share;
                _release(w, stake, share);
                uint256 a = _accounts[w];
                if (a >> 224 < type(uint32).max) _accounts[w] = a + (1 << 224);
            }
        }
    }

    /// EIP-1154 callback with a gas cap; its outcome never affects the task. A failure is recorded (so anyone can
    /// retry it) with at most 256 bytes of its revert data as the reason: a huge return cannot grief.
    function _callback(address callback, bytes32 taskid, bytes calldata data) internal {
        if (callback == address(0)) return;
        // Make sure the callee really gets CALLBACK_GAS (the 63/64 rule), so a finalizer cannot starve it.
        if (gasleft() < CALLBACK_GAS * 64 / 63 + 10_000) revert InsufficientGasForCallback(gasleft());
        bytes memory payload = abi.encodeCall(IResultReceiver.receiveResult, (taskid, data));
        bool ok;
        uint256 g = CALLBACK_GAS;
        assembly ("memory-safe") {
            ok := call(g, callback, 0, add(payload, 0x20), mload(payload), 0, 0)
        }
        emit CallbackResult(taskid, callback, ok);
        if (!ok) {
            _failedCallbacks[taskid] = keccak256(abi.encodePacked(callback, keccak256(data)));
            bytes memory reason;
            assembly ("memory-safe") {
                let n := returndatasize()
                if gt(n, 256) { n := 256 }
                reason := mload(0x40)
                mstore(reason, n)
                returndatacopy(add(reason, 0x20), 0, n)
                mstore(0x40, add(add(reason, 0x20), and(add(n, 31), not(31))))
            }
            emit CallbackFailed(taskid, reason);
        }
    }
}
