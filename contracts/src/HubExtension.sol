// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {
    AppOrder,
    DatasetOrder,
    WorkerpoolOrder,
    RequestOrder,
    Deal,
    TaskView,
    EnclaveAttestation
} from "./libs/Types.sol";
import {ECDSA} from "solady/utils/ECDSA.sol";
import {Orders} from "./libs/Orders.sol";
import {IResourceRegistry} from "./interfaces/IResourceRegistry.sol";
import {HubBase} from "./HubBase.sol";
import {SignatureCheckerLib} from "solady/utils/SignatureCheckerLib.sol";
import {SafeTransferLib} from "solady/utils/SafeTransferLib.sol";

/// @title HubExtension
/// @notice The hub's cold functions: administration, categories, the attester registry, order
/// presigning/cancelling and hashes, views, reopen, claim, finalizeBatch and contributeAndRevealBatch. Deployed by the Hub and only meaningful
/// through the hub's fallback (delegatecall): called directly it sees its own, empty storage.
contract HubExtension is HubBase {
    using SafeTransferLib for address;

    constructor(address token_, address appRegistry_, address datasetRegistry_, address workerpoolRegistry_)
        HubBase(token_, appRegistry_, datasetRegistry_, workerpoolRegistry_)
    {}

    /// @notice Every function not defined here is served by the random-selection facet (HubSelection, same
    /// storage), once the admin has set it.
    fallback() external {
        address target = _selection;
        if (target == address(0)) revert SelectionNotSet();
        assembly ("memory-safe") {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), target, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Escrow (cold part: moved here from Hub to make room in it; same ABI at the hub's address). Deposits
    // stay in Hub (depositAndMatchOrders uses them).
    // ---------------------------------------------------------------------------------------------

    /// @notice Moves `amount` tokens from the caller into `account`'s escrow balance.
    function depositFor(address account, uint256 amount) external nonReentrant {
        if (account == address(0)) revert ZeroAddress();
        _deposit(account, amount);
    }

    /// @notice Withdraws `amount` of the caller's free balance to the caller.
    function withdraw(uint256 amount) external nonReentrant {
        _withdraw(msg.sender, amount);
    }

    /// @notice Withdraws `amount` of the caller's free balance to `to`.
    function withdrawTo(address to, uint256 amount) external nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        _withdraw(to, amount);
    }

    function balanceOf(address account) external view returns (uint256) {
        return _accounts[account] & _MASK112;
    }

    function frozenOf(address account) external view returns (uint256) {
        return (_accounts[account] >> 112) & _MASK112;
    }

    function scoreOf(address worker) external view returns (uint256) {
        return _accounts[worker] >> 224;
    }

    function _withdraw(address to, uint256 amount) internal {
        uint256 a = _accounts[msg.sender];
        uint256 bal = a & _MASK112;
        if (bal < amount) revert InsufficientBalance(msg.sender, bal, amount);
        unchecked {
            _accounts[msg.sender] = a - amount;
        }
        token.safeTransfer(to, amount);
        emit Withdraw(msg.sender, to, amount);
    }

    /// @notice The admin sets the random-selection facet, once: it can't be swapped afterwards, so no one can
    /// change the rules of the deals already drawn.
    function setSelection(address selection_) external onlyAdmin {
        if (selection_ == address(0)) revert ZeroAddress();
        if (_selection != address(0)) revert SelectionAlreadySet(_selection);
        _selection = selection_;
        emit SelectionSet(selection_);
    }

    /// @notice The random-selection facet (zero until the admin sets it).
    function selection() external view returns (address) {
        return _selection;
    }

    function transferAdmin(address newAdmin) external onlyAdmin {
        if (newAdmin == address(0)) revert ZeroAddress();
        emit AdminTransferred(admin, newAdmin);
        admin = newAdmin;
    }

    /// @notice The admin sets the smallest stake an attester locks (0 closes registration; attesters
    /// below a raised minimum stop counting until they add stake).
    function setMinAttesterStake(uint256 minStake) external onlyAdmin {
        if (minStake > _MASK112) revert AmountTooLarge(minStake);
        minAttesterStake = uint112(minStake);
        emit MinAttesterStakeChanged(minStake);
    }

    /// @notice Creates category `categoryCount` with the given reference duration (seconds).
    function createCategory(string calldata name, string calldata description, uint256 workClockTimeRef)
        external
        onlyAdmin
        returns (uint256 id)
    {
        if (workClockTimeRef == 0 || workClockTimeRef > type(uint32).max) {
            revert InvalidWorkClockTimeRef(workClockTimeRef);
        }
        id = categoryCount++;
        _categoryRefs[id] = workClockTimeRef;
        if (workClockTimeRef > _maxCategoryRef) _maxCategoryRef = workClockTimeRef;
        _categoryNames[id] = name;
        emit CategoryCreated(id, name, description, workClockTimeRef);
    }

    function category(uint256 id) external view returns (string memory name, uint256 workClockTimeRef) {
        workClockTimeRef = _categoryRefs[id];
        if (workClockTimeRef == 0) revert UnknownCategory(id);
        name = _categoryNames[id];
    }

    // ---------------------------------------------------------------------------------------------
    // Worker registry: who may work for a workerpool. A worker joins by locking a stake from its
    // escrow balance (at least the pool's minimum), or the pool's owner admits it (an allow-list, with
    // a cap on its replicates in flight). The scheduler serves only members. A leaving worker's stake
    // stays locked for workerLeaveDelay(), so it cannot be pulled from under the tasks it was given.
    // ---------------------------------------------------------------------------------------------

    uint256 internal constant _MEMBER_ADMITTED = 1 << 208;

    function _onlyPoolOwner(address workerpool) internal view {
        address owner = _resourceOwner(workerpoolRegistry, workerpool);
        if (msg.sender != owner) revert NotWorkerpoolOwner(workerpool, msg.sender);
    }

    /// @notice How long a leaving worker's stake stays locked: FINAL_DEADLINE_RATIO times the longest
    /// category's reference, i.e. until every task it may have been given before leaving has passed its
    /// final deadline (finalized or claimable).
    function workerLeaveDelay() public view returns (uint256) {
        return FINAL_DEADLINE_RATIO * _maxCategoryRef;
    }

    /// @notice The pool's owner sets the smallest stake a worker locks to join (0 closes the pool to
    /// staked joins: only admitted workers then).
    function setMinWorkerStake(address workerpool, uint256 minStake) external notEntered {
        _onlyPoolOwner(workerpool);
        if (minStake > _MASK112) revert AmountTooLarge(minStake);
        _pools[workerpool] = (_pools[workerpool] & ~_MASK112) | minStake;
        emit WorkerpoolMinStake(workerpool, minStake);
    }

    /// @notice The caller joins `workerpool`, locking `stake` from its escrow balance.
    function joinPool(address workerpool, uint256 stake) external notEntered {
        uint256 minStake = _pools[workerpool] & _MASK112;
        if (minStake == 0) revert PoolNotOpen(workerpool);
        if (stake < minStake) revert StakeBelowMinimum(workerpool, stake, minStake);
        if (_members[workerpool][msg.sender] != 0) revert AlreadyMember(workerpool, msg.sender);
        uint256 a = _accounts[msg.sender];
        uint256 bal = a & _MASK112;
        if (bal < stake) revert InsufficientBalance(msg.sender, bal, stake);
        unchecked {
            _accounts[msg.sender] = a - stake;
        }
        _members[workerpool][msg.sender] = stake | (block.timestamp << 112) | _MEMBER_STAKED;
        _pools[workerpool] += (1 << 112) | (1 << 144);
        emit WorkerJoined(workerpool, msg.sender, stake);
    }

    /// @notice The pool's owner admits `worker` without a stake (or lifts a member's limit), with at most
    /// `cap` replicates in flight.
    function admitWorker(address workerpool, address worker, uint256 cap) external notEntered {
        _onlyPoolOwner(workerpool);
        if (cap == 0 || cap > _MASK16) revert InvalidWorkerCap(cap);
        _admit(workerpool, worker, cap);
    }

    /// @notice admitWorker for many workers with one cap, in one transaction (a pool that brings
    /// a fleet of machines).
    function admitWorkers(address workerpool, address[] calldata workers, uint256 cap) external notEntered {
        _onlyPoolOwner(workerpool);
        if (cap == 0 || cap > _MASK16) revert InvalidWorkerCap(cap);
        for (uint256 i = 0; i < workers.length; ++i) {
            _admit(workerpool, workers[i], cap);
        }
    }

    function _admit(address workerpool, address worker, uint256 cap) internal {
        if (worker == address(0)) revert ZeroAddress();
        uint256 m = _members[workerpool][worker];
        _checkNotLeaving(workerpool, worker, m);
        if (m == 0) {
            m = block.timestamp << 112;
            _pools[workerpool] += 1 << 112;
        }
        _members[workerpool][worker] = (m & ~(_MASK16 << 192)) | (cap << 192) | _MEMBER_ADMITTED;
        emit WorkerAdmitted(workerpool, worker, cap);
    }

    /// @notice The pool's owner removes `worker`: it is no longer a member, and gets its stake back
    /// with withdrawPoolStake after the leave delay.
    function removeWorker(address workerpool, address worker) external notEntered {
        _onlyPoolOwner(workerpool);
        emit WorkerRemoved(workerpool, worker, _leave(workerpool, worker));
    }

    /// @notice The caller leaves `workerpool` at once; its stake comes back with withdrawPoolStake
    /// after workerLeaveDelay().
    function leavePool(address workerpool) external notEntered {
        emit WorkerLeaving(workerpool, msg.sender, _leave(workerpool, msg.sender));
    }

    /// Ends a membership: the record is deleted when there is no stake to keep, otherwise it is
    /// marked leaving until the stake may be withdrawn.
    function _leave(address workerpool, address worker) internal returns (uint256 leavingAt) {
        uint256 m = _members[workerpool][worker];
        if (m == 0) revert NotMember(workerpool, worker);
        _checkNotLeaving(workerpool, worker, m);
        _pools[workerpool] -= (1 << 112) | (m & _MEMBER_STAKED == 0 ? 0 : 1 << 144);
        if (m & _MASK112 == 0 && m & _MEMBER_STAKED == 0) {
            delete _members[workerpool][worker];
            return block.timestamp;
        }
        leavingAt = block.timestamp + workerLeaveDelay();
        if (leavingAt > _MASK40) revert AmountTooLarge(leavingAt);
        // No longer admitted, no cap: only the stake and the time it unlocks remain.
        _members[workerpool][worker] = (m & ((1 << 152) - 1)) | (leavingAt << 152);
    }

    function _checkNotLeaving(address workerpool, address worker, uint256 m) internal pure {
        uint256 leavingAt = (m >> 152) & _MASK40;
        if (leavingAt != 0) revert MemberLeaving(workerpool, worker, leavingAt);
    }

    /// @notice After the leave delay, the caller's stake in `workerpool` goes back to its escrow balance.
    function withdrawPoolStake(address workerpool) external notEntered {
        uint256 m = _members[workerpool][msg.sender];
        uint256 leavingAt = (m >> 152) & _MASK40;
        if (leavingAt == 0) revert NotMember(workerpool, msg.sender);
        if (block.timestamp < leavingAt) revert StakeLocked(workerpool, msg.sender, leavingAt);
        delete _members[workerpool][msg.sender];
        uint256 stake = m & _MASK112;
        _credit(msg.sender, stake);
        emit WorkerLeft(workerpool, msg.sender, stake);
    }

    /// @notice `worker`'s membership of `workerpool`: its locked stake, when it joined, when its stake
    /// unlocks (0 while it is a member), its cap on replicates in flight and whether the owner admitted
    /// it. All zero when it never joined (or left and withdrew).
    function poolMember(address workerpool, address worker)
        external
        view
        returns (uint256 stake, uint256 joinedAt, uint256 leavingAt, uint256 cap, bool admitted)
    {
        uint256 m = _members[workerpool][worker];
        stake = m & _MASK112;
        joinedAt = (m >> 112) & _MASK40;
        leavingAt = (m >> 152) & _MASK40;
        cap = (m >> 192) & _MASK16;
        admitted = m & _MEMBER_ADMITTED != 0;
    }

    /// @notice The pool's minimum stake per worker and its number of members (leaving ones excluded).
    function poolConfig(address workerpool) external view returns (uint256 minStake, uint256 workers) {
        uint256 p = _pools[workerpool];
        minStake = p & _MASK112;
        workers = (p >> 112) & ((1 << 32) - 1);
    }

    /// @notice EIP-712 digests (the order hashes the hub keys volumes by).
    function hashAppOrder(AppOrder calldata o) public view returns (bytes32) {
        return _hashTypedData(Orders.hash(o));
    }

    function hashDatasetOrder(DatasetOrder calldata o) public view returns (bytes32) {
        return _hashTypedData(Orders.hash(o));
    }

    function hashWorkerpoolOrder(WorkerpoolOrder calldata o) public view returns (bytes32) {
        return _hashTypedData(Orders.hash(o));
    }

    function hashRequestOrder(RequestOrder calldata o) public view returns (bytes32) {
        return _hashTypedData(Orders.hash(o));
    }

    function domainSeparator() external view returns (bytes32) {
        return _domainSeparator();
    }

    /// @notice Consumed volume, presigned and cancelled flags of an order. For a request order, the deal
    /// that completes it is not added to `consumed` (its deal record blocks a replay): use
    /// `requestOrderConsumed` for request orders.
    function orderStatus(bytes32 orderHash)
        external
        view
        returns (uint256 consumed, bool presigned, bool cancelled)
    {
        uint256 s = _orders[orderHash];
        consumed = s & _CONSUMED_MASK;
        presigned = s & _PRESIGNED != 0;
        cancelled = s & _CANCELLED != 0;
    }

    /// @notice Consumed volume of request order `orderHash` of volume `volume`: `volume` once a deal
    /// completed it, i.e. when a deal exists at `keccak256(abi.encodePacked(orderHash, consumed))`.
    function requestOrderConsumed(bytes32 orderHash, uint256 volume) external view returns (uint256) {
        uint256 consumed = _orders[orderHash] & _CONSUMED_MASK;
        if (_deals[keccak256(abi.encodePacked(orderHash, consumed))] != 0) return volume;
        return consumed;
    }

    /// @notice Presigns (`cancel == false`) or cancels an order; the caller must be its signer.
    function manageAppOrder(AppOrder calldata o, bool cancel) external {
        _manage(hashAppOrder(o), _resourceOwner(appRegistry, o.app), cancel);
    }

    function manageDatasetOrder(DatasetOrder calldata o, bool cancel) external {
        _manage(hashDatasetOrder(o), _resourceOwner(datasetRegistry, o.dataset), cancel);
    }

    function manageWorkerpoolOrder(WorkerpoolOrder calldata o, bool cancel) external {
        _manage(hashWorkerpoolOrder(o), _resourceOwner(workerpoolRegistry, o.workerpool), cancel);
    }

    function manageRequestOrder(RequestOrder calldata o, bool cancel) external {
        _manage(hashRequestOrder(o), o.requester, cancel);
    }

    function _manage(bytes32 h, address signer, bool cancel) internal {
        if (msg.sender != signer) revert NotOrderSigner(h, msg.sender);
        if (cancel) {
            _orders[h] |= _CANCELLED;
            emit OrderClosed(h, signer);
        } else {
            _orders[h] |= _PRESIGNED;
            emit OrderPresigned(h, signer);
        }
    }

    /// @notice Calls a task's result callback again after it reverted or ran out of gas at finalize (anyone may:
    /// the consumer, once fixed, or a keeper). `callback` and `data` must be the deal's callback and the task's
    /// callbackData (TaskFinalize). Success clears the record; another failure records it again.
    function retryCallback(bytes32 taskid, address callback, bytes calldata data) external nonReentrant {
        bytes32 h = _failedCallbacks[taskid];
        if (h == 0 || h != keccak256(abi.encodePacked(callback, keccak256(data)))) {
            revert NoFailedCallback(taskid);
        }
        delete _failedCallbacks[taskid];
        _callback(callback, taskid, data);
    }

    /// @notice Whether the task's result callback failed and waits for a retry (see retryCallback).
    function callbackFailed(bytes32 taskid) external view returns (bool) {
        return _failedCallbacks[taskid] != 0;
    }

    /// @notice The deal record: the top 216 bits of keccak256(abi.encode(deal)) (low 40 bits zeroed) and
    /// the deal's start time; both zero when `dealid` is unknown.
    function dealRecord(bytes32 dealid) external view returns (bytes32 commitment, uint256 startTime) {
        bytes32 stored = _deals[dealid];
        commitment = stored & _DEAL_HASH_MASK;
        startTime = uint256(stored) & _MASK40;
    }

    /// @notice dealid = keccak256(abi.encodePacked(deal.requestHash, deal.botFirst)).
    function dealId(Deal calldata deal) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(deal.requestHash, deal.botFirst));
    }

    /// @notice taskid = keccak256(abi.encodePacked(dealid, index)).
    function taskId(bytes32 dealid, uint256 index) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(dealid, index));
    }

    function task(bytes32 taskid) external view returns (TaskView memory v) {
        uint256 t = _tasks[taskid];
        v.status = uint8(t);
        v.replicated = t & _FLAG_REPLICATED != 0;
        v.revealed = t & _FLAG_REVEALED != 0;
        v.initTime = uint40(t >> 16);
        v.revealDeadline = uint40(t >> 56);
        if (v.replicated) {
            v.contributions = uint16(t >> 96);
            v.expectedReveals = uint16(t >> 128);
            v.totalWeight = 1 + (t >> 144);
        } else {
            v.worker = address(uint160(t >> 96));
            v.contributions = v.worker == address(0) ? 0 : 1;
            v.reveals = v.revealed ? 1 : 0;
        }
    }

    /// @notice A replicated task's contribution by `worker`: status, epoch, weight and the 208-bit commit.
    function contribution(bytes32 taskid, address worker)
        external
        view
        returns (uint8 status, uint8 epoch, uint256 weight, uint256 commit)
    {
        uint256 c = _contributions[keccak256(abi.encodePacked(taskid, worker))];
        status = uint8(c);
        epoch = uint8(c >> 8);
        weight = uint32(c >> 16);
        commit = c >> 48;
    }

    /// @notice A result group: epoch, consensus flag, member count and weight (product of members' weights).
    function group(bytes32 taskid, bytes32 resultHash)
        external
        view
        returns (uint8 epoch, bool consensus, uint256 members, uint256 weight)
    {
        uint256 g = _groups[keccak256(abi.encodePacked(taskid, resultHash))];
        epoch = uint8(g);
        consensus = g & _GROUP_CONSENSUS != 0;
        members = uint16(g >> 16);
        weight = g >> 32;
    }

    /// @notice After the reveal deadline, when nobody revealed, the scheduler reopens the task: the
    /// consensus group is rejected (its members can no longer reveal and lose their stake at finalize;
    /// with trust <= 1 the single contributor's stake goes to the kitty at once) and contributions resume.
    function reopen(Deal calldata deal, uint256 index, bytes32 resultHash, address[] calldata workers)
        external
        nonReentrant
    {
        if (msg.sender != deal.scheduler) revert NotScheduler(msg.sender, deal.scheduler);
        bytes32 taskid = _taskOf(deal, index);
        uint256 t = _tasks[taskid];
        if (uint8(t) != STATUS_REVEALING) revert TaskNotRevealing(taskid, uint8(t));
        uint256 deadline = (t >> 56) & _MASK40;
        if (block.timestamp < deadline) revert RevealDeadlineNotReached(taskid, deadline);
        bytes32 gkey = keccak256(abi.encodePacked(taskid, resultHash));
        uint256 g = _groups[gkey];
        if (g & _GROUP_CONSENSUS == 0) revert NotConsensusResult(taskid, resultHash);
        // status ACTIVE, clear reveal deadline
        uint256 base = (t & (((1 << 56) - 1) & ~uint256(0xff))) | STATUS_ACTIVE;
        if (t & _FLAG_REPLICATED == 0) {
            if (t & _FLAG_REVEALED != 0) revert TaskAlreadyRevealed(taskid);
            address worker = address(uint160(t >> 96));
            _spendFrozen(worker, deal.workerStake);
            _penalize(worker);
            kitty += uint144(deal.workerStake);
            _tasks[taskid] = base;
        } else {
            _checkNoReveal(taskid, t, workers);
            // drop the group from the sum, keep contributions count, clear reveals/expected
            uint256 sum = (t >> 144) - (g >> 32);
            _tasks[taskid] = base | (t & (_MASK16 << 96)) | (sum << 144);
        }
        _groups[gkey] = uint8(uint8(g) + 1);
        emit TaskReopen(taskid, resultHash);
    }

    /// Replicated reopen: `workers` must list every contributor (strictly increasing) and none revealed.
    function _checkNoReveal(bytes32 taskid, uint256 t, address[] calldata workers) internal view {
        if (workers.length != ((t >> 96) & _MASK16)) revert InvalidContributorList(taskid);
        address prev;
        for (uint256 i; i < workers.length; ++i) {
            address w = workers[i];
            uint256 c = _contributions[keccak256(abi.encodePacked(taskid, w))];
            if (w <= prev || c == 0) revert InvalidContributorList(taskid);
            prev = w;
            if (uint8(c) == CONTRIBUTION_REVEALED) revert TaskAlreadyRevealed(taskid);
        }
    }

    /// @notice After a task's final deadline, anyone can claim it: the requester is refunded, the
    /// contributors get their stakes back and the scheduler's stake for the task goes to the kitty.
    /// `workers` lists the contributors of a replicated task in strictly increasing order (ignored when
    /// trust <= 1).
    function claim(Deal calldata deal, uint256 index, address[] calldata workers) external nonReentrant {
        bytes32 taskid = _taskOf(deal, index);
        uint256 t = _tasks[taskid];
        uint8 status = uint8(t);
        if (status != STATUS_ACTIVE && status != STATUS_REVEALING) revert TaskNotClaimable(taskid, status);
        {
            uint256 finalDeadline = _finalDeadline(deal, t);
            if (block.timestamp < finalDeadline) revert FinalDeadlineNotReached(taskid, finalDeadline);
        }
        _tasks[taskid] = (t & ~uint256(0xff)) | STATUS_FAILED;
        uint256 stake = deal.workerStake;
        if (t & _FLAG_REPLICATED == 0) {
            address worker = address(uint160(t >> 96));
            if (worker != address(0)) _release(worker, stake, 0);
        } else {
            uint256 n = workers.length;
            if (n != ((t >> 96) & _MASK16)) revert InvalidContributorList(taskid);
            address prev;
            for (uint256 i; i < n; ++i) {
                address w = workers[i];
                if (w <= prev || _contributions[keccak256(abi.encodePacked(taskid, w))] == 0) {
                    revert InvalidContributorList(taskid);
                }
                prev = w;
                _release(w, stake, 0);
            }
        }
        uint256 price = deal.appPrice + deal.datasetPrice + deal.workerpoolPrice;
        _release(deal.requester, price, 0);
        uint256 schedulerStake = deal.workerpoolPrice * SCHEDULER_STAKE_RATIO / 100;
        _spendFrozen(deal.scheduler, schedulerStake);
        kitty += uint144(schedulerStake);
        emit TaskClaimed(taskid);
    }

    /// @notice `contributeAndReveal` for several tasks of one trust <= 1 deal in one transaction, sent by their
    /// worker, without an enclave (a TEE deal needs one per task: it reverts with EnclaveRequired). Element i is
    /// task `indexes[i]` with result digest `digests[i]` and the scheduler's authorization
    /// `authorizationSigns[i]` over (worker, taskid, address(0)); each is checked as contributeAndReveal checks
    /// it and emits the same events, and the worker stake of all of them is locked at once. One bad element
    /// reverts the whole batch with that task's error, so nothing is half-applied: a worker whose batch
    /// reverts sends its tasks one by one.
    function contributeAndRevealBatch(
        Deal calldata deal,
        uint256[] calldata indexes,
        bytes32[] calldata digests,
        bytes[] calldata authorizationSigns
    ) external notEntered {
        bytes32 dealid = _checkDeal(deal);
        if (deal.trust > 1) revert NotSingleContribution(dealid);
        uint256 n = indexes.length;
        if (digests.length != n) revert LengthMismatch(n, digests.length);
        if (authorizationSigns.length != n) revert LengthMismatch(n, authorizationSigns.length);
        // the same for every task of the batch: the reveal deadline and the contributor
        uint256 word = ((block.timestamp + REVEAL_DEADLINE_RATIO * deal.workClockTimeRef) << 56)
            | (uint256(uint160(msg.sender)) << 96) | _FLAG_REVEALED | STATUS_REVEALING;
        for (uint256 i; i < n; ++i) {
            (bytes32 taskid, uint256 t) = _openTask(deal, dealid, indexes[i]);
            _checkAuthorization(deal, taskid, address(0), authorizationSigns[i]);
            if (deal.tag & TAG_TEE != 0) revert EnclaveRequired(taskid);
            bytes32 resultHash = keccak256(abi.encodePacked(taskid, digests[i]));
            // the consensus word is only needed to check callback data at finalize
            if (deal.callback != address(0)) {
                _groups[keccak256(abi.encodePacked(taskid, resultHash))] |= _GROUP_CONSENSUS;
            }
            _tasks[taskid] = (t & 0xff00) | (t & (_MASK40 << 16)) | word;
            emit TaskContribute(taskid, msg.sender, resultHash);
            emit TaskConsensus(taskid, resultHash);
            emit TaskReveal(taskid, msg.sender, digests[i]);
        }
        _lock(msg.sender, deal.workerStake * n);
    }

    /// @notice The scheduler finalizes several revealed tasks of a trust <= 1 deal in one transaction.
    /// `callbackData` holds one entry per task when the deal has a callback, and is empty otherwise.
    function finalizeBatch(
        Deal calldata deal,
        uint256[] calldata indexes,
        bytes[] calldata resultsLocations,
        bytes[] calldata callbackData
    ) external nonReentrant {
        if (msg.sender != deal.scheduler) {
            revert NotScheduler(msg.sender, deal.scheduler);
        }
        bytes32 dealid = _checkDeal(deal);
        if (deal.trust > 1) revert NotSingleContribution(dealid);
        if (_spotChecked(deal.tag)) revert SpotChecked(dealid);
        uint256 n = indexes.length;
        if (resultsLocations.length != n) revert LengthMismatch(n, resultsLocations.length);
        if (callbackData.length != (deal.callback == address(0) ? 0 : n)) {
            revert LengthMismatch(n, callbackData.length);
        }
        uint256 workersReward = deal.workerpoolPrice * (100 - deal.schedulerRewardRatio) / 100;
        bytes32[] memory taskids = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            bytes calldata cb =
                deal.callback == address(0) ? SignatureCheckerLib.emptySignature() : callbackData[i];
            taskids[i] = _finalizeOne(deal, dealid, indexes[i], workersReward, cb);
            emit TaskFinalize(taskids[i], resultsLocations[i], cb);
        }
        _payOwners(deal, (deal.workerpoolPrice - workersReward) * n, n);
        if (deal.callback != address(0)) {
            for (uint256 i; i < n; ++i) {
                _callback(deal.callback, taskids[i], callbackData[i]);
            }
        }
    }

    function _finalizeOne(
        Deal calldata deal,
        bytes32 dealid,
        uint256 index,
        uint256 workersReward,
        bytes calldata cb
    ) internal returns (bytes32 taskid) {
        if (index >= deal.volume) revert TaskIndexOutOfRange(index, deal.volume);
        taskid = keccak256(abi.encodePacked(dealid, index));
        uint256 t = _tasks[taskid];
        if (uint8(t) != STATUS_REVEALING) revert TaskNotRevealing(taskid, uint8(t));
        if (t & _FLAG_REVEALED == 0) revert NoReveal(taskid);
        _complete(deal, taskid, t, cb);
        _release(address(uint160(t >> 96)), deal.workerStake, workersReward);
    }
}
