// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {IHubErrors} from "../src/interfaces/IHub.sol";
import {Deal, TaskView, FastResult, DatasetOrder} from "../src/libs/Types.sol";

contract FlowTest is Fixture {
    bytes32 internal constant DIGEST = keccak256("result");
    bytes32 internal constant BAD = keccak256("wrong");

    function test_trustOneFlowPaysEveryone() public {
        uint256 before = _total();
        Deal memory d = _datasetDeal(1, 1, address(0));
        assertEq(d.volume, 1, "volume");
        assertEq(d.appOwner, appOwner, "app owner");
        assertEq(d.datasetOwner, datasetOwner, "dataset owner");
        assertEq(d.scheduler, scheduler, "scheduler");
        assertEq(d.workerStake, POOL_PRICE * STAKE_RATIO / 100, "worker stake");
        uint256 price = APP_PRICE + DATASET_PRICE + POOL_PRICE;
        uint256 sstake = POOL_PRICE * 30 / 100;
        assertEq(hubx.frozenOf(requester), price, "requester frozen");
        assertEq(hubx.balanceOf(requester), FUNDS - price, "requester balance");
        assertEq(hubx.frozenOf(scheduler), sstake, "scheduler frozen");

        bytes32 taskid = _initialize(d, 0);
        assertEq(taskid, _taskId(d, 0), "taskid");
        _contribute(d, 0, 0, DIGEST);
        assertEq(hubx.frozenOf(workers[0]), d.workerStake, "worker stake frozen");
        TaskView memory t = hubx.task(taskid);
        assertEq(t.status, 2, "revealing");
        assertEq(t.worker, workers[0], "worker recorded");
        _reveal(d, 0, 0, DIGEST);
        _finalize(d, 0, _none());

        t = hubx.task(taskid);
        assertEq(t.status, 3, "completed");
        uint256 workersReward = POOL_PRICE * (100 - REWARD_RATIO) / 100;
        assertEq(hubx.balanceOf(appOwner), APP_PRICE, "app owner paid");
        assertEq(hubx.balanceOf(datasetOwner), DATASET_PRICE, "dataset owner paid");
        assertEq(hubx.balanceOf(workers[0]), FUNDS + workersReward, "worker paid");
        assertEq(hubx.frozenOf(workers[0]), 0, "worker unfrozen");
        assertEq(hubx.balanceOf(scheduler), FUNDS + POOL_PRICE - workersReward, "scheduler paid");
        assertEq(hubx.frozenOf(scheduler), 0, "scheduler unfrozen");
        assertEq(hubx.frozenOf(requester), 0, "requester unfrozen");
        assertEq(hubx.balanceOf(requester), FUNDS - price, "requester charged");
        assertEq(_total(), before, "conservation");
        assertEq(token.balanceOf(address(hub)), _total(), "hub holds every unit");
    }

    function test_replicatedFlowTwoWorkersAgree() public {
        Deal memory d = _simpleDeal(1, 3);
        bytes32 taskid = _initialize(d, 0);
        _contribute(d, 0, 0, DIGEST);
        TaskView memory t = hubx.task(taskid);
        assertEq(t.status, 1, "still active after one");
        _contribute(d, 0, 1, DIGEST);
        t = hubx.task(taskid);
        assertEq(t.status, 2, "consensus after two");
        assertEq(t.expectedReveals, 2, "two expected");
        assertEq(t.totalWeight, 5, "1 + 2*2");
        _reveal(d, 0, 0, DIGEST);
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.RevealsPending.selector, taskid, 1, 2));
        hub.finalize(d, 0, "loc", "", _sorted(workers[0], workers[1]));
        _reveal(d, 0, 1, DIGEST);
        _finalize(d, 0, _sorted(workers[0], workers[1]));
        uint256 workersReward = POOL_PRICE * (100 - REWARD_RATIO) / 100;
        assertEq(hubx.balanceOf(workers[0]), FUNDS + workersReward / 2, "w0 half");
        assertEq(hubx.balanceOf(workers[1]), FUNDS + workersReward / 2, "w1 half");
        assertEq(hubx.scoreOf(workers[0]), 1, "score +1");
        assertEq(token.balanceOf(address(hub)), _total(), "conservation");
    }

    function test_replicatedLoserLosesStakeAndScore() public {
        Deal memory d = _simpleDeal(1, 3);
        bytes32 taskid = _initialize(d, 0);
        _contribute(d, 0, 2, BAD); // loser
        _contribute(d, 0, 0, DIGEST);
        _contribute(d, 0, 1, DIGEST);
        // weights: bad 2, good 4; sum 6, total 7: 4*3=12 > 7*2=14? no. Needs one more.
        assertEq(hubx.task(taskid).status, 1, "not yet");
        _contribute(d, 0, 3, DIGEST); // good 8, sum 10, total 11: 24 > 22 yes
        assertEq(hubx.task(taskid).status, 2, "consensus");
        _reveal(d, 0, 0, DIGEST);
        _reveal(d, 0, 1, DIGEST);
        _reveal(d, 0, 3, DIGEST);
        vm.prank(workers[2]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.InvalidReveal.selector, taskid, workers[2]));
        hub.reveal(taskid, DIGEST);
        address[] memory ws = new address[](4);
        ws[0] = workers[0];
        ws[1] = workers[1];
        ws[2] = workers[2];
        ws[3] = workers[3];
        _sortInPlace(ws);
        _finalize(d, 0, ws);
        uint256 stake = d.workerStake;
        uint256 pool_ = POOL_PRICE * (100 - REWARD_RATIO) / 100 + stake;
        assertEq(hubx.balanceOf(workers[2]), FUNDS - stake, "loser lost stake");
        assertEq(hubx.frozenOf(workers[2]), 0, "loser unfrozen");
        assertEq(hubx.balanceOf(workers[0]), FUNDS + pool_ / 3, "winner share");
        assertEq(token.balanceOf(address(hub)), _total(), "conservation");
    }

    function _sortInPlace(address[] memory a) internal pure {
        for (uint256 i; i < a.length; ++i) {
            for (uint256 j = i + 1; j < a.length; ++j) {
                if (a[j] < a[i]) (a[i], a[j]) = (a[j], a[i]);
            }
        }
    }

    function test_teeFastPath() public {
        Deal memory d = _teeDeal(1);
        bytes32 taskid = _initialize(d, 0);
        address worker = workers[0];
        FastResult memory r = _fast(d, 0, 0, DIGEST);
        r.resultsLocation = "ipfs://x";
        vm.prank(worker);
        hub.contributeAndFinalize(d, 0, r);
        assertEq(hubx.task(taskid).status, 3, "completed");
        assertEq(hubx.balanceOf(worker), FUNDS + POOL_PRICE * 90 / 100, "worker paid");
        assertEq(token.balanceOf(address(hub)), _total(), "conservation");
    }

    function test_claimRefundsAndFeedsKitty() public {
        Deal memory d = _simpleDeal(2, 1);
        bytes32 taskid = _initialize(d, 0);
        _contribute(d, 0, 0, DIGEST);
        vm.expectRevert(
            abi.encodeWithSelector(
                IHubErrors.FinalDeadlineNotReached.selector, taskid, block.timestamp + 10 * REF
            )
        );
        hubx.claim(d, 0, _none());
        vm.warp(block.timestamp + 10 * REF);
        hubx.claim(d, 0, _none());
        uint256 sstake = POOL_PRICE * 30 / 100;
        assertEq(hub.kitty(), sstake, "kitty");
        assertEq(hubx.frozenOf(workers[0]), 0, "worker stake back");
        assertEq(hubx.balanceOf(workers[0]), FUNDS, "worker whole");
        assertEq(hubx.frozenOf(requester), APP_PRICE + POOL_PRICE, "one task still frozen");
        assertEq(hubx.task(taskid).status, 4, "failed");
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TaskNotClaimable.selector, taskid, 4));
        hubx.claim(d, 0, _none());
        // the kitty feeds the next finalize
        _initialize(d, 1);
        _contribute(d, 1, 1, DIGEST);
        _reveal(d, 1, 1, DIGEST);
        _finalize(d, 1, _none());
        assertEq(hub.kitty(), sstake - 1e9, "KITTY_MIN paid out");
        assertEq(
            hubx.balanceOf(scheduler), FUNDS - sstake + POOL_PRICE / 10 + 1e9, "scheduler got the kitty part"
        );
        assertEq(token.balanceOf(address(hub)), _total(), "conservation");
    }

    function test_batchInitialize() public {
        Deal memory d = _simpleDeal(10, 1);
        vm.prank(scheduler);
        hub.initializeBatch(d, 0, 10);
        for (uint256 i; i < 10; ++i) {
            assertEq(hubx.task(_taskId(d, i)).status, 1, "active");
        }
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TaskIndexOutOfRange.selector, 10, 10));
        hub.initializeBatch(d, 10, 1);
    }
}
