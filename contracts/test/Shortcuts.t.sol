// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {IHubErrors} from "../src/interfaces/IHub.sol";
import {Deal, TaskView} from "../src/libs/Types.sol";
import {GoodConsumer} from "./Callbacks.t.sol";

/// contributeAndReveal (trust <= 1) and finalizeBatch.
contract ShortcutsTest is Fixture {
    bytes32 internal constant DIGEST = keccak256("result");

    function _cr(Deal memory d, uint256 index, uint256 w, bytes32 digest) internal {
        bytes32 taskid = _taskId(d, index);
        bytes memory auth = _auth(workers[w], taskid, address(0));
        vm.prank(workers[w]);
        hub.contributeAndReveal(d, index, digest, address(0), "", auth);
    }

    function test_contributeAndRevealThenFinalize() public {
        uint256 before = _total();
        Deal memory d = _simpleDeal(1, 1);
        bytes32 taskid = _initialize(d, 0);
        _cr(d, 0, 0, DIGEST);
        TaskView memory t = hubx.task(taskid);
        assertEq(t.status, 2, "revealing");
        assertTrue(t.revealed, "revealed");
        assertEq(t.worker, workers[0], "worker");
        assertEq(hubx.frozenOf(workers[0]), d.workerStake, "stake locked");
        // without a callback no consensus word is written: a late reveal finds no consensus result
        vm.prank(workers[0]);
        vm.expectRevert(
            abi.encodeWithSelector(
                IHubErrors.NotConsensusResult.selector, taskid, _resultHash(taskid, DIGEST)
            )
        );
        hub.reveal(taskid, DIGEST);
        _finalize(d, 0, _none());
        assertEq(hubx.balanceOf(workers[0]), FUNDS + POOL_PRICE * 90 / 100, "paid");
        assertEq(_total(), before, "conservation");
        assertEq(token.balanceOf(address(hub)), _total(), "hub holds every unit");
    }

    function test_contributeAndRevealErrors() public {
        Deal memory r = _simpleDeal(1, 3);
        bytes32 rt = _initialize(r, 0);
        bytes memory auth = _auth(workers[0], rt, address(0));
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotSingleContribution.selector, _dealId(r)));
        hub.contributeAndReveal(r, 0, DIGEST, address(0), "", auth);

        Deal memory d = _simpleDeal(1, 1);
        bytes32 taskid = _taskId(d, 0);
        auth = _auth(workers[0], taskid, address(0));
        vm.prank(workers[1]);
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.InvalidAuthorization.selector, taskid, workers[1], address(0))
        );
        hub.contributeAndReveal(d, 0, DIGEST, address(0), "", auth);
        _cr(d, 0, 0, DIGEST);
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TaskNotActive.selector, taskid, 2));
        hub.contributeAndReveal(d, 0, DIGEST, address(0), "", auth);
    }

    function test_teeContributeAndRevealNeedsEnclave() public {
        Deal memory d = _teeDeal(1);
        bytes32 taskid = _initialize(d, 0);
        bytes memory auth = _auth(workers[0], taskid, address(0));
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.EnclaveRequired.selector, taskid));
        hub.contributeAndReveal(d, 0, DIGEST, address(0), "", auth);
        bytes memory esign = _enclaveSign(taskid, workers[0], DIGEST, 1);
        bytes memory authE = _auth(workers[0], taskid, enclave);
        vm.prank(workers[0]);
        hub.contributeAndReveal(d, 0, DIGEST, enclave, esign, authE);
        assertTrue(hubx.task(taskid).revealed, "revealed");
    }

    function test_finalizeBatch() public {
        uint256 before = _total();
        Deal memory d = _datasetDeal(6, 1, address(0));
        vm.prank(scheduler);
        hub.initializeBatch(d, 0, 6);
        for (uint256 i; i < 6; ++i) {
            if (i % 2 == 0) {
                _cr(d, i, i % 3, keccak256(abi.encode(i)));
            } else {
                _contribute(d, i, i % 3, keccak256(abi.encode(i)));
                _reveal(d, i, i % 3, keccak256(abi.encode(i)));
            }
        }
        uint256[] memory idx = new uint256[](6);
        bytes[] memory locs = new bytes[](6);
        for (uint256 i; i < 6; ++i) {
            idx[i] = i;
            locs[i] = "loc";
        }
        vm.prank(scheduler);
        hubx.finalizeBatch(d, idx, locs, new bytes[](0));
        for (uint256 i; i < 6; ++i) {
            assertEq(hubx.task(_taskId(d, i)).status, 3, "completed");
        }
        uint256 wr = POOL_PRICE * 90 / 100;
        assertEq(hubx.balanceOf(workers[0]), FUNDS + 2 * wr, "worker 0 paid twice");
        assertEq(hubx.balanceOf(appOwner), 6 * APP_PRICE, "app owner");
        assertEq(hubx.balanceOf(datasetOwner), 6 * DATASET_PRICE, "dataset owner");
        assertEq(hubx.frozenOf(requester), 0, "requester settled");
        assertEq(hubx.frozenOf(scheduler), 0, "scheduler settled");
        assertEq(hubx.balanceOf(scheduler), FUNDS + 6 * (POOL_PRICE - wr), "scheduler paid");
        assertEq(_total(), before, "conservation");
        // a second pass pays nothing twice
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TaskNotRevealing.selector, _taskId(d, 0), 3));
        hubx.finalizeBatch(d, idx, locs, new bytes[](0));
    }

    function test_finalizeBatchWithKittyAndCallback() public {
        // feed the kitty with a claimed task
        Deal memory k = _simpleDeal(1, 1);
        _initialize(k, 0);
        vm.warp(block.timestamp + 10 * REF);
        hubx.claim(k, 0, _none());
        uint256 kitty = hub.kitty();
        assertEq(kitty, POOL_PRICE * 30 / 100, "kitty");

        GoodConsumer c = new GoodConsumer();
        Deal memory d = _datasetDeal(2, 1, address(c));
        vm.prank(scheduler);
        hub.initializeBatch(d, 0, 2);
        bytes[] memory cbs = new bytes[](2);
        cbs[0] = "r0";
        cbs[1] = "r1";
        _cr(d, 0, 0, keccak256(cbs[0]));
        _cr(d, 1, 1, keccak256(cbs[1]));
        uint256[] memory idx = new uint256[](2);
        idx[1] = 1;
        bytes[] memory locs = new bytes[](2);
        bytes[] memory bad = new bytes[](2);
        bad[0] = "r0";
        bad[1] = "forged";
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.CallbackDataMismatch.selector, _taskId(d, 1)));
        hubx.finalizeBatch(d, idx, locs, bad);
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.LengthMismatch.selector, 2, 0));
        hubx.finalizeBatch(d, idx, locs, new bytes[](0));
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.LengthMismatch.selector, 2, 1));
        hubx.finalizeBatch(d, idx, new bytes[](1), cbs);
        vm.prank(scheduler);
        hubx.finalizeBatch(d, idx, locs, cbs);
        assertEq(keccak256(c.lastResult()), keccak256("r1"), "callbacks ran");
        // two kitty parts of KITTY_MIN each
        assertEq(hub.kitty(), kitty - 2e9, "kitty paid per task");
        assertEq(token.balanceOf(address(hub)), _total(), "conservation");
    }

    function test_finalizeBatchErrors() public {
        Deal memory r = _simpleDeal(1, 3);
        uint256[] memory idx = new uint256[](1);
        bytes[] memory locs = new bytes[](1);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotScheduler.selector, address(this), scheduler));
        hubx.finalizeBatch(r, idx, locs, new bytes[](0));
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotSingleContribution.selector, _dealId(r)));
        hubx.finalizeBatch(r, idx, locs, new bytes[](0));
        Deal memory d = _simpleDeal(1, 1);
        bytes32 taskid = _initialize(d, 0);
        _contribute(d, 0, 0, DIGEST);
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NoReveal.selector, taskid));
        hubx.finalizeBatch(d, idx, locs, new bytes[](0));
        idx[0] = 1;
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TaskIndexOutOfRange.selector, 1, 1));
        hubx.finalizeBatch(d, idx, locs, new bytes[](0));
        idx[0] = 0;
        _reveal(d, 0, 0, DIGEST);
        vm.warp(block.timestamp + 10 * REF);
        vm.prank(scheduler);
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.FinalDeadlinePassed.selector, taskid, block.timestamp)
        );
        hubx.finalizeBatch(d, idx, locs, new bytes[](0));
    }
}
