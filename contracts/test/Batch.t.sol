// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {IHubErrors, IHubEvents} from "../src/interfaces/IHub.sol";
import {Deal, TaskView} from "../src/libs/Types.sol";
import {GoodConsumer} from "./Callbacks.t.sol";

/// contributeAndRevealBatch: a worker's trust-1 results for several tasks in one transaction, each
/// checked as contributeAndReveal checks it; one bad element reverts the whole batch.
contract BatchTest is Fixture {
    struct Batch {
        uint256[] idx;
        bytes32[] digests;
        bytes[] auths;
    }

    function _batch(Deal memory d, address w, uint256 first, uint256 n)
        internal
        pure
        returns (Batch memory b)
    {
        b.idx = new uint256[](n);
        b.digests = new bytes32[](n);
        b.auths = new bytes[](n);
        for (uint256 i; i < n; ++i) {
            b.idx[i] = first + i;
            b.digests[i] = keccak256(abi.encode("result", first + i));
            b.auths[i] = _auth(w, _taskId(d, first + i), address(0));
        }
    }

    function _send(Deal memory d, address w, Batch memory b) internal {
        vm.prank(w);
        hubx.contributeAndRevealBatch(d, b.idx, b.digests, b.auths);
    }

    function _finalizeAll(Deal memory d, uint256 n) internal {
        uint256[] memory idx = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            idx[i] = i;
        }
        vm.prank(scheduler);
        hubx.finalizeBatch(d, idx, new bytes[](n), new bytes[](0));
    }

    /// The same tasks through N single contributeAndReveal calls and through one batch end in the same
    /// task words, the same stakes locked and, once finalized, the same payments.
    function test_batchEqualsSingleCalls() public {
        uint256 before = _total();
        Deal memory single = _simpleDeal(4, 1);
        Deal memory batched = _simpleDeal(4, 1);
        address w0 = workers[0];
        address w1 = workers[1];
        // tasks 0 and 2 initialized beforehand, 1 and 3 lazily by their contribution
        _initialize(single, 0);
        _initialize(single, 2);
        _initialize(batched, 0);
        _initialize(batched, 2);
        vm.warp(block.timestamp + 7);
        Batch memory b = _batch(single, w0, 0, 4);
        for (uint256 i; i < 4; ++i) {
            vm.prank(w0);
            hub.contributeAndReveal(single, i, b.digests[i], address(0), "", b.auths[i]);
        }
        uint256 frozenSingle = hubx.frozenOf(w0);
        _send(batched, w1, _batch(batched, w1, 0, 4));
        assertEq(frozenSingle, 4 * single.workerStake, "single calls lock 4 stakes");
        assertEq(hubx.frozenOf(w1), frozenSingle, "the batch locks the same");
        for (uint256 i; i < 4; ++i) {
            TaskView memory s = hubx.task(_taskId(single, i));
            TaskView memory t = hubx.task(_taskId(batched, i));
            assertEq(t.status, 2, "revealing");
            assertTrue(t.revealed, "revealed");
            assertEq(t.worker, w1, "contributor");
            assertEq(t.status, s.status, "status as single");
            assertEq(t.initTime, s.initTime, "init time as single");
            assertEq(t.revealDeadline, s.revealDeadline, "reveal deadline as single");
            assertTrue(t.replicated == s.replicated && !t.replicated, "flags as single");
        }
        uint256 b0 = hubx.balanceOf(w0);
        uint256 b1 = hubx.balanceOf(w1);
        _finalizeAll(single, 4);
        _finalizeAll(batched, 4);
        assertEq(hubx.balanceOf(w0) - b0, hubx.balanceOf(w1) - b1, "same pay");
        assertEq(
            hubx.balanceOf(w1) - b1, 4 * (single.workerStake + POOL_PRICE * 90 / 100), "stake back + reward"
        );
        assertEq(hubx.frozenOf(w1), 0, "nothing left frozen");
        assertEq(_total(), before, "conservation");
        assertEq(token.balanceOf(address(hub)), _total(), "hub holds every unit");
    }

    /// Every event of a single call, per task of the batch.
    function test_batchEmitsEachTasksEvents() public {
        Deal memory d = _simpleDeal(2, 1);
        Batch memory b = _batch(d, workers[0], 0, 2);
        for (uint256 i; i < 2; ++i) {
            bytes32 taskid = _taskId(d, i);
            vm.expectEmit(address(hub));
            emit IHubEvents.TaskInitialize(taskid, _dealId(d), i);
            vm.expectEmit(address(hub));
            emit IHubEvents.TaskContribute(taskid, workers[0], _resultHash(taskid, b.digests[i]));
            vm.expectEmit(address(hub));
            emit IHubEvents.TaskConsensus(taskid, _resultHash(taskid, b.digests[i]));
            vm.expectEmit(address(hub));
            emit IHubEvents.TaskReveal(taskid, workers[0], b.digests[i]);
        }
        _send(d, workers[0], b);
    }

    /// With a callback the consensus word is written, so finalizeBatch checks the callback data.
    function test_batchWithCallbackChecksTheDataAtFinalize() public {
        GoodConsumer c = new GoodConsumer();
        Deal memory d = _datasetDeal(2, 1, address(c));
        Batch memory b = _batch(d, workers[0], 0, 2);
        bytes[] memory cbs = new bytes[](2);
        cbs[0] = "r0";
        cbs[1] = "r1";
        b.digests[0] = keccak256(cbs[0]);
        b.digests[1] = keccak256(cbs[1]);
        _send(d, workers[0], b);
        uint256[] memory idx = new uint256[](2);
        idx[1] = 1;
        bytes[] memory forged = new bytes[](2);
        forged[0] = "r0";
        forged[1] = "forged";
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.CallbackDataMismatch.selector, _taskId(d, 1)));
        hubx.finalizeBatch(d, idx, new bytes[](2), forged);
        vm.prank(scheduler);
        hubx.finalizeBatch(d, idx, new bytes[](2), cbs);
        assertEq(keccak256(c.lastResult()), keccak256("r1"), "callbacks ran");
    }

    /// One bad element reverts the whole batch with that task's error: nothing of the good elements
    /// is applied, and the same good elements go through alone afterwards.
    function test_oneBadElementRevertsTheWholeBatch() public {
        Deal memory d = _simpleDeal(4, 1);
        address w = workers[0];
        uint256 frozen = hubx.frozenOf(w);

        // a forged authorization (for another worker) in the middle
        Batch memory b = _batch(d, w, 0, 3);
        b.auths[1] = _auth(workers[1], _taskId(d, 1), address(0));
        vm.prank(w);
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.InvalidAuthorization.selector, _taskId(d, 1), w, address(0))
        );
        hubx.contributeAndRevealBatch(d, b.idx, b.digests, b.auths);

        // the same task twice: the second finds it revealing
        b = _batch(d, w, 0, 2);
        b.idx[1] = 0;
        b.auths[1] = b.auths[0];
        vm.prank(w);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TaskNotActive.selector, _taskId(d, 0), 2));
        hubx.contributeAndRevealBatch(d, b.idx, b.digests, b.auths);

        // an index out of the deal
        b = _batch(d, w, 3, 2);
        vm.prank(w);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TaskIndexOutOfRange.selector, 4, 4));
        hubx.contributeAndRevealBatch(d, b.idx, b.digests, b.auths);

        // lengths that disagree
        b = _batch(d, w, 0, 2);
        vm.prank(w);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.LengthMismatch.selector, 2, 1));
        hubx.contributeAndRevealBatch(d, b.idx, new bytes32[](1), b.auths);
        vm.prank(w);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.LengthMismatch.selector, 2, 3));
        hubx.contributeAndRevealBatch(d, b.idx, b.digests, new bytes[](3));

        // nothing was applied
        for (uint256 i; i < 4; ++i) {
            assertEq(hubx.task(_taskId(d, i)).status, 0, "untouched");
        }
        assertEq(hubx.frozenOf(w), frozen, "no stake locked");

        // another worker took task 1 meanwhile: a batch holding it reverts, the others go alone
        vm.prank(workers[1]);
        hub.contributeAndReveal(
            d, 1, keccak256("other"), address(0), "", _auth(workers[1], _taskId(d, 1), address(0))
        );
        b = _batch(d, w, 0, 3);
        vm.prank(w);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TaskNotActive.selector, _taskId(d, 1), 2));
        hubx.contributeAndRevealBatch(d, b.idx, b.digests, b.auths);
        _send(d, w, _batch(d, w, 2, 2));
        assertEq(hubx.task(_taskId(d, 2)).worker, w, "task 2 is w's");
        assertEq(hubx.task(_taskId(d, 0)).status, 0, "task 0 still open");
        assertEq(hubx.frozenOf(w), frozen + 2 * d.workerStake, "two stakes locked");
    }

    /// The deal-wide refusals: a replicated deal, a TEE deal (an enclave per task is needed), an
    /// unknown deal, a stake the worker cannot cover, a passed contribution deadline.
    function test_batchRefusals() public {
        Deal memory r = _simpleDeal(2, 3);
        Batch memory b = _batch(r, workers[0], 0, 2);
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotSingleContribution.selector, _dealId(r)));
        hubx.contributeAndRevealBatch(r, b.idx, b.digests, b.auths);

        Deal memory t = _teeDeal(2);
        b = _batch(t, workers[0], 0, 2);
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.EnclaveRequired.selector, _taskId(t, 0)));
        hubx.contributeAndRevealBatch(t, b.idx, b.digests, b.auths);

        Deal memory d = _simpleDeal(2, 1);
        uint256 stake = d.workerStake;
        d.workerStake = 0; // a deal that was not matched
        b = _batch(d, workers[0], 0, 2);
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.UnknownDeal.selector, _dealId(d)));
        hubx.contributeAndRevealBatch(d, b.idx, b.digests, b.auths);
        d.workerStake = stake;

        // a worker with nothing in the escrow
        address poor = vm.addr(0xB0B);
        b = _batch(d, poor, 0, 2);
        vm.prank(poor);
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.InsufficientBalance.selector, poor, 0, 2 * d.workerStake)
        );
        hubx.contributeAndRevealBatch(d, b.idx, b.digests, b.auths);

        _initialize(d, 0);
        vm.warp(block.timestamp + 7 * REF);
        b = _batch(d, workers[0], 0, 1);
        vm.prank(workers[0]);
        vm.expectRevert(
            abi.encodeWithSelector(
                IHubErrors.ContributionDeadlinePassed.selector, _taskId(d, 0), block.timestamp
            )
        );
        hubx.contributeAndRevealBatch(d, b.idx, b.digests, b.auths);
    }

    /// Gas per task of a batch of 1, 10 and 100 (contribution only, tasks initialized by it), as
    /// measured inside the test (no intrinsic or calldata gas: scripts/gas-report gives whole
    /// transactions). The per-task cost must fall with the batch size.
    function test_gasPerTaskOfBatches() public {
        _fund(requester, 100 * FUNDS);
        uint256 prev = type(uint256).max;
        uint256[3] memory sizes = [uint256(1), 10, 100];
        for (uint256 s; s < 3; ++s) {
            uint256 n = sizes[s];
            Deal memory d = _simpleDeal(n, 1);
            Batch memory b = _batch(d, workers[s], 0, n);
            vm.prank(workers[s]);
            uint256 g = gasleft();
            hubx.contributeAndRevealBatch(d, b.idx, b.digests, b.auths);
            uint256 perTask = (g - gasleft()) / n;
            emit log_named_uint(
                string.concat("contributeAndRevealBatch gas per task, batch ", vm.toString(n)), perTask
            );
            assertLe(perTask + 1, prev, "cheaper per task as the batch grows");
            prev = perTask;
        }
    }

    event log_named_uint(string key, uint256 val);
}
