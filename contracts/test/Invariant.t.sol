// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {Test} from "./utils/Test.sol";
import {Deal, DatasetOrder, TaskView} from "../src/libs/Types.sol";

/// Drives random sequences of deposit, match, initialize, contribute, reveal, reopen, finalize, claim,
/// withdraw and time jumps. Every action reverts as a whole when the hub refuses it, so the ghost
/// accounting below only records what really happened.
contract Handler is Fixture {
    Deal[] internal deals;
    mapping(bytes32 => uint256) public settlements; // taskid => successful finalize/claim count
    mapping(bytes32 => address[]) internal contributors;
    mapping(bytes32 => mapping(address => bytes32)) internal digests;
    mapping(uint256 => uint256) public settledOf; // deal index => settled tasks
    bool public doubleSettled;
    uint256 public calls;
    // Ghost counts of the actions the hub accepted, so the campaign can prove it reached settlements
    // (with fail_on_revert off, a campaign whose every call reverts would pass every invariant).
    uint256 public matched;
    uint256 public finalized;
    uint256 public claimed;

    /// Ghost total of the stakes locked in the worker registry (joins minus withdrawals).
    uint256 public registryLocked;

    constructor() {
        setUp();
        vm.prank(scheduler);
        hubx.setMinWorkerStake(pool, 1e9);
    }

    /// The stakes the registry holds for the handler's workers, read from the hub.
    function registryStakes() external view returns (uint256 sum) {
        for (uint256 i; i < workers.length; ++i) {
            (uint256 stake,,,,) = hubx.poolMember(pool, workers[i]);
            sum += stake;
        }
    }

    /// What the attesters hold at the hub: their escrow balances and their locked attester stakes.
    function attesterHoldings() external view returns (uint256 sum) {
        for (uint256 i; i < attesters.length; ++i) {
            (uint256 stake,,,,) = keep.attester(attesters[i]);
            sum += hubx.balanceOf(attesters[i]) + stake;
        }
    }

    function hubKitty() external view returns (uint256) {
        return hub.kitty();
    }

    function escrowOf(address a) external view returns (uint256) {
        return hubx.balanceOf(a) + hubx.frozenOf(a);
    }

    function hubTokenBalance() external view returns (uint256) {
        return token.balanceOf(address(hub));
    }

    function frozenRequesterScheduler() external view returns (uint256, uint256) {
        return (hubx.frozenOf(requester), hubx.frozenOf(scheduler));
    }

    /// The stake `w` should have frozen: one deal stake per open task (ACTIVE or REVEALING) it
    /// contributed to and still holds a stake in.
    function expectedWorkerFrozen(address w) external view returns (uint256 sum) {
        for (uint256 i; i < deals.length; ++i) {
            Deal memory d = deals[i];
            for (uint256 k; k < d.volume; ++k) {
                bytes32 taskid = _taskId(d, k);
                uint8 status = hubx.task(taskid).status;
                if (status != 1 && status != 2) continue;
                address[] storage cs = contributors[taskid];
                for (uint256 c; c < cs.length; ++c) {
                    if (cs[c] == w) sum += d.workerStake;
                }
            }
        }
    }

    function workerCount() external view returns (uint256) {
        return workers.length;
    }

    function workerAt(uint256 i) external view returns (address) {
        return workers[i];
    }

    function frozenOfAccount(address a) external view returns (uint256) {
        return hubx.frozenOf(a);
    }

    function owners() external view returns (address, address) {
        return (appOwner, datasetOwner);
    }

    function dealCount() external view returns (uint256) {
        return deals.length;
    }

    function dealAt(uint256 i) external view returns (Deal memory) {
        return deals[i];
    }

    function actors() external view returns (address[] memory list) {
        list = new address[](5 + workers.length);
        list[0] = appOwner;
        list[1] = datasetOwner;
        list[2] = scheduler;
        list[3] = requester;
        list[4] = admin;
        for (uint256 i; i < workers.length; ++i) {
            list[5 + i] = workers[i];
        }
    }

    function _deal(uint256 seed) internal view returns (Deal memory d, uint256 i) {
        require(deals.length > 0);
        i = seed % deals.length;
        d = deals[i];
    }

    // ---- actions -----------------------------------------------------------------------------------

    function deposit(uint256 who, uint256 amount) external {
        calls++;
        amount = bound(amount, 1, 50e9);
        _fund(workers[who % workers.length], amount);
    }

    function withdraw(uint256 who, uint256 amount) external {
        calls++;
        address a = who % 2 == 0 ? workers[who % workers.length] : requester;
        amount = bound(amount, 1, hubx.balanceOf(a) + 1);
        vm.prank(a);
        hubx.withdraw(amount);
    }

    function joinPool(uint256 who, uint256 amount) external {
        calls++;
        address w = workers[who % workers.length];
        amount = bound(amount, 1e9, 40e9);
        vm.prank(w);
        hubx.joinPool(pool, amount);
        registryLocked += amount;
    }

    function leavePool(uint256 who, bool removed) external {
        calls++;
        address w = workers[who % workers.length];
        vm.prank(removed ? scheduler : w);
        if (removed) hubx.removeWorker(pool, w);
        else hubx.leavePool(pool);
    }

    function withdrawPoolStake(uint256 who) external {
        calls++;
        address w = workers[who % workers.length];
        (uint256 stake,, uint256 leavingAt,,) = hubx.poolMember(pool, w);
        // Jumps to the end of the leave delay, as claimLate does to a final deadline.
        if (block.timestamp < leavingAt) vm.warp(leavingAt);
        vm.prank(w);
        hubx.withdrawPoolStake(pool);
        registryLocked -= stake;
    }

    function matchDeal(uint256 volume, bool replicated, bool withDataset) external {
        calls++;
        volume = bound(volume, 1, 3);
        uint256 trust = replicated ? 3 : 1;
        deals.push(withDataset ? _datasetDeal(volume, trust, address(0)) : _simpleDeal(volume, trust));
        matched++;
    }

    function initialize(uint256 dealSeed, uint256 index) external {
        calls++;
        (Deal memory d,) = _deal(dealSeed);
        _initialize(d, index % d.volume);
    }

    function contribute(uint256 dealSeed, uint256 index, uint256 workerSeed, bool good) external {
        (Deal memory d,, uint256 i, bytes32 taskid) = _pick(dealSeed, index);
        uint256 w = workerSeed % workers.length;
        bytes32 digest = good ? keccak256("good") : keccak256(abi.encode("bad", w));
        _contribute(d, i, w, digest);
        contributors[taskid].push(workers[w]);
        digests[taskid][workers[w]] = digest;
    }

    function reveal(uint256 dealSeed, uint256 index, uint256 workerSeed) external {
        (,,, bytes32 taskid) = _pick(dealSeed, index);
        address[] storage cs = contributors[taskid];
        require(cs.length > 0);
        address w = cs[workerSeed % cs.length];
        vm.prank(w);
        hub.reveal(taskid, digests[taskid][w]);
        revealed[taskid][w] = true;
    }

    function _list(bytes32 taskid, bool replicated) internal view returns (address[] memory l) {
        if (!replicated) return new address[](0);
        l = contributors[taskid];
        for (uint256 i; i < l.length; ++i) {
            for (uint256 j = i + 1; j < l.length; ++j) {
                if (l[j] < l[i]) (l[i], l[j]) = (l[j], l[i]);
            }
        }
    }

    /// Counts the call and picks a deal and one of its tasks from the fuzzer's seeds.
    function _pick(uint256 dealSeed, uint256 index)
        internal
        returns (Deal memory d, uint256 di, uint256 i, bytes32 taskid)
    {
        calls++;
        (d, di) = _deal(dealSeed);
        i = index % d.volume;
        taskid = _taskId(d, i);
    }

    function _finalizeTask(Deal memory d, uint256 di, uint256 i, bytes32 taskid) internal {
        vm.prank(scheduler);
        hub.finalize(d, i, "loc", "", _list(taskid, d.trust > 1));
        _settled(taskid, di);
        finalized++;
    }

    function _claimTask(Deal memory d, uint256 di, uint256 i, bytes32 taskid) internal {
        hubx.claim(d, i, _list(taskid, d.trust > 1));
        _settled(taskid, di);
        claimed++;
    }

    function _settled(bytes32 taskid, uint256 dealIndex) internal {
        if (++settlements[taskid] > 1) doubleSettled = true;
        settledOf[dealIndex]++;
        settledTotal++;
    }

    function finalize(uint256 dealSeed, uint256 index) external {
        (Deal memory d, uint256 di, uint256 i, bytes32 taskid) = _pick(dealSeed, index);
        _finalizeTask(d, di, i, taskid);
    }

    function claim(uint256 dealSeed, uint256 index) external {
        (Deal memory d, uint256 di, uint256 i, bytes32 taskid) = _pick(dealSeed, index);
        _claimTask(d, di, i, taskid);
    }

    /// Jumps to the task's final deadline and claims it.
    function claimLate(uint256 dealSeed, uint256 index) external {
        (Deal memory d, uint256 di, uint256 i, bytes32 taskid) = _pick(dealSeed, index);
        uint256 deadline = hubx.task(taskid).initTime + 10 * d.workClockTimeRef;
        if (block.timestamp < deadline) vm.warp(deadline);
        _claimTask(d, di, i, taskid);
    }

    uint256 public settledTotal;

    function reopen(uint256 dealSeed, uint256 index) external {
        (Deal memory d,, uint256 i, bytes32 taskid) = _pick(dealSeed, index);
        vm.prank(scheduler);
        hubx.reopen(d, i, _resultHash(taskid, keccak256("good")), _list(taskid, d.trust > 1));
        if (d.trust <= 1) delete contributors[taskid]; // the rejected worker's stake is gone
    }

    mapping(bytes32 => mapping(address => bool)) internal revealed;

    function _contributed(bytes32 taskid, address w) internal view returns (bool) {
        address[] storage cs = contributors[taskid];
        for (uint256 i; i < cs.length; ++i) {
            if (cs[i] == w) return true;
        }
        return false;
    }

    /// Moves a task one valid step forward (initialize, contribute, reveal or finalize), so that
    /// random sequences reach settlement often.
    function drive(uint256 dealSeed, uint256 index, uint256 seed) external {
        (Deal memory d, uint256 di, uint256 i, bytes32 taskid) = _pick(dealSeed, index);
        uint8 status = hubx.task(taskid).status;
        if (status == 0) {
            _initialize(d, i);
        } else if (status == 1) {
            for (uint256 k; k < workers.length; ++k) {
                uint256 w = (seed + k) % workers.length;
                if (_contributed(taskid, workers[w])) continue;
                bytes32 digest = seed % 4 == 0 ? keccak256(abi.encode("bad", w)) : keccak256("good");
                if (d.trust <= 1 && seed % 2 == 1) {
                    bytes memory auth = _auth(workers[w], taskid, address(0));
                    vm.prank(workers[w]);
                    hub.contributeAndReveal(d, i, digest, address(0), "", auth);
                    revealed[taskid][workers[w]] = true;
                } else {
                    _contribute(d, i, w, digest);
                }
                contributors[taskid].push(workers[w]);
                digests[taskid][workers[w]] = digest;
                return;
            }
            revert("no worker left");
        } else if (status == 2) {
            address[] storage cs = contributors[taskid];
            if (seed % 3 != 0) {
                for (uint256 k; k < cs.length; ++k) {
                    address w = cs[(seed + k) % cs.length];
                    if (revealed[taskid][w]) continue;
                    bytes32 digest = digests[taskid][w];
                    (, bool consensus,,) = hubx.group(taskid, _resultHash(taskid, digest));
                    if (!consensus) continue;
                    vm.prank(w);
                    hub.reveal(taskid, digest);
                    revealed[taskid][w] = true;
                    return;
                }
            }
            _finalizeTask(d, di, i, taskid);
        } else {
            revert("settled");
        }
    }

    /// One worker contributes and reveals every open task of a trust-1 deal in one
    /// contributeAndRevealBatch (tasks another worker already took are left out).
    function contributeAll(uint256 dealSeed, uint256 workerSeed) external {
        calls++;
        (Deal memory d,) = _deal(dealSeed);
        if (d.trust > 1) return;
        address w = workers[workerSeed % workers.length];
        uint256[] memory idx = new uint256[](d.volume);
        bytes32[] memory ds = new bytes32[](d.volume);
        bytes[] memory auths = new bytes[](d.volume);
        uint256 n;
        for (uint256 i; i < d.volume; ++i) {
            bytes32 taskid = _taskId(d, i);
            if (hubx.task(taskid).status > 1) continue;
            idx[n] = i;
            ds[n] = keccak256(abi.encode("good", i));
            auths[n++] = _auth(w, taskid, address(0));
        }
        assembly {
            mstore(idx, n)
            mstore(ds, n)
            mstore(auths, n)
        }
        vm.prank(w);
        hubx.contributeAndRevealBatch(d, idx, ds, auths);
        for (uint256 i; i < n; ++i) {
            bytes32 taskid = _taskId(d, idx[i]);
            contributors[taskid].push(w);
            digests[taskid][w] = ds[i];
            revealed[taskid][w] = true;
        }
    }

    /// Finalizes every revealed task of a trust-1 deal in one finalizeBatch.
    function finalizeAll(uint256 dealSeed) external {
        calls++;
        (Deal memory d, uint256 di) = _deal(dealSeed);
        uint256[] memory idx = new uint256[](d.volume);
        uint256 n;
        for (uint256 i; i < d.volume; ++i) {
            TaskView memory t = hubx.task(_taskId(d, i));
            if (t.status == 2 && t.revealed) idx[n++] = i;
        }
        assembly {
            mstore(idx, n)
        }
        vm.prank(scheduler);
        hubx.finalizeBatch(d, idx, new bytes[](n), new bytes[](0));
        for (uint256 i; i < n; ++i) {
            _settled(_taskId(d, idx[i]), di);
        }
        finalized += n;
    }

    function warp(uint256 secs) external {
        calls++;
        vm.warp(block.timestamp + bound(secs, 1, 4 * REF));
    }
}

/// One campaign per invariant (forge runs each invariant function as its own campaign); the base
/// deploys the handler and checks, across the runs of the campaign, that it reached settlements.
abstract contract InvariantBase is Test {
    Handler internal handler;

    /// Runs after which a campaign that never matched, finalized and claimed fails: the odds that
    /// this many random runs settle nothing while the hub works are negligible.
    uint256 internal constant RUNS_BEFORE_PROGRESS_CHECK = 16;

    /// Where the campaign's progress totals survive between runs (each run starts from the setUp
    /// state, so storage cannot carry them); one file per invariant contract, as campaigns run in
    /// parallel.
    function _progressFile() internal view virtual returns (string memory);

    function setUp() public {
        _writeProgress(0, 0, 0, 0);
        handler = new Handler();
        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](20);
        selectors[0] = Handler.deposit.selector;
        selectors[1] = Handler.withdraw.selector;
        selectors[2] = Handler.matchDeal.selector;
        selectors[3] = Handler.initialize.selector;
        selectors[4] = Handler.contribute.selector;
        selectors[5] = Handler.reveal.selector;
        selectors[6] = Handler.finalize.selector;
        selectors[7] = Handler.claim.selector;
        selectors[8] = Handler.reopen.selector;
        selectors[9] = Handler.warp.selector;
        selectors[10] = Handler.drive.selector; // driving tasks forward is the most likely action
        selectors[11] = Handler.drive.selector;
        selectors[12] = Handler.drive.selector;
        selectors[13] = Handler.drive.selector;
        selectors[14] = Handler.claimLate.selector;
        selectors[15] = Handler.finalizeAll.selector;
        selectors[16] = Handler.joinPool.selector;
        selectors[17] = Handler.leavePool.selector;
        selectors[18] = Handler.withdrawPoolStake.selector;
        selectors[19] = Handler.contributeAll.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    function _writeProgress(uint256 runs, uint256 matched, uint256 finalized, uint256 claimed) internal {
        vm.writeFile(_progressFile(), vm.toString(abi.encode(runs, matched, finalized, claimed)));
    }

    /// Adds this run's accepted matches, finalizes and claims to the campaign's totals, and fails once
    /// enough runs passed without each of them: invariants that held only because every call reverted
    /// prove nothing.
    function afterInvariant() public {
        (uint256 runs, uint256 matched, uint256 finalized, uint256 claimed) =
            abi.decode(vm.parseBytes(vm.readFile(_progressFile())), (uint256, uint256, uint256, uint256));
        runs++;
        matched += handler.matched();
        finalized += handler.finalized();
        claimed += handler.claimed();
        _writeProgress(runs, matched, finalized, claimed);
        if (runs < RUNS_BEFORE_PROGRESS_CHECK) return;
        assertGe(matched, 1, "the campaign matched no deal");
        assertGe(finalized, 1, "the campaign finalized no task");
        assertGe(claimed, 1, "the campaign claimed no task");
    }
}

contract ConservationInvariantTest is InvariantBase {
    function _progressFile() internal pure override returns (string memory) {
        return "cache/invariant-conservation.progress";
    }

    /// No token is created or lost: the hub holds exactly the escrow balances, frozen amounts, kitty
    /// the attesters' balances and stakes, and the worker registry's locked stakes (which are exactly what joins locked and withdrawals
    /// did not give back).
    function invariant_conservation() public view {
        address[] memory a = handler.actors();
        uint256 locked = handler.registryStakes();
        assertEq(locked, handler.registryLocked(), "registry stakes == joins - withdrawals");
        uint256 sum = handler.hubKitty() + locked + handler.attesterHoldings();
        for (uint256 i; i < a.length; ++i) {
            sum += handler.escrowOf(a[i]);
        }
        assertEq(handler.hubTokenBalance(), sum, "hub token balance == sum of accounts + kitty");
    }
}

contract WorkerStakesInvariantTest is InvariantBase {
    function _progressFile() internal pure override returns (string memory) {
        return "cache/invariant-worker-stakes.progress";
    }

    /// Every worker's frozen amount is exactly the stakes of the open tasks it contributed to; resource
    /// owners never have anything frozen.
    function invariant_workerStakesMatchOpenContributions() public view {
        for (uint256 i; i < handler.workerCount(); ++i) {
            address w = handler.workerAt(i);
            assertEq(handler.frozenOfAccount(w), handler.expectedWorkerFrozen(w), "worker frozen");
        }
        (address ao, address dso) = handler.owners();
        assertEq(handler.frozenOfAccount(ao), 0, "app owner frozen");
        assertEq(handler.frozenOfAccount(dso), 0, "dataset owner frozen");
    }
}

contract SettlementInvariantTest is InvariantBase {
    function _progressFile() internal pure override returns (string memory) {
        return "cache/invariant-settlement.progress";
    }

    /// A task is settled (finalized or claimed) at most once.
    function invariant_noDoubleSettlement() public view {
        assertFalse(handler.doubleSettled(), "a task paid twice");
    }
}

contract FrozenInvariantTest is InvariantBase {
    function _progressFile() internal pure override returns (string memory) {
        return "cache/invariant-frozen.progress";
    }

    /// The requester's and the scheduler's frozen amounts are exactly what the unsettled tasks need.
    function invariant_frozenMatchesOpenTasks() public view {
        uint256 requesterNeed;
        uint256 schedulerNeed;
        for (uint256 i; i < handler.dealCount(); ++i) {
            Deal memory d = handler.dealAt(i);
            uint256 open = d.volume - handler.settledOf(i);
            requesterNeed += open * (d.appPrice + d.datasetPrice + d.workerpoolPrice);
            schedulerNeed += open * (d.workerpoolPrice * 30 / 100);
        }
        (uint256 rf, uint256 sf) = handler.frozenRequesterScheduler();
        assertEq(rf, requesterNeed, "requester frozen");
        assertEq(sf, schedulerNeed, "scheduler frozen");
    }
}
