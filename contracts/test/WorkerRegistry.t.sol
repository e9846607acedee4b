// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {IHubErrors, IHubEvents} from "../src/interfaces/IHub.sol";
import {Vm} from "./utils/Vm.sol";

/// The worker registry: joining with a stake (at least the pool's minimum), the owner's allow-list,
/// leaving with the stake locked for the leave delay, and the escrow accounting of locked stakes.
contract WorkerRegistryTest is Fixture {
    uint256 internal constant MIN = 50e9;

    function _open() internal {
        vm.prank(scheduler);
        hubx.setMinWorkerStake(pool, MIN);
    }

    function _member(address w)
        internal
        view
        returns (uint256 stake, uint256 joinedAt, uint256 leavingAt, uint256 cap, bool admitted)
    {
        return hubx.poolMember(pool, w);
    }

    function _count() internal view returns (uint256 n) {
        (, n) = hubx.poolConfig(pool);
    }

    /// The stake stays locked until `leavingAt` (not a second less), then goes back to the balance.
    function _withdrawAt(address w, uint256 leavingAt) internal {
        vm.warp(leavingAt - 1);
        vm.prank(w);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.StakeLocked.selector, pool, w, leavingAt));
        hubx.withdrawPoolStake(pool);
        vm.warp(leavingAt);
        vm.prank(w);
        hubx.withdrawPoolStake(pool);
        assertEq(hubx.balanceOf(w), FUNDS, "stake back");
    }

    function test_joinLocksTheStakeFromTheEscrowBalance() public {
        _open();
        address w = workers[0];
        vm.recordLogs();
        vm.prank(w);
        hubx.joinPool(pool, 80e9);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 1, "one event");
        assertEq(logs[0].topics[0], IHubEvents.WorkerJoined.selector, "WorkerJoined");
        (uint256 stake, uint256 joinedAt, uint256 leavingAt, uint256 cap, bool admitted) = _member(w);
        assertEq(stake, 80e9, "stake");
        assertEq(joinedAt, block.timestamp, "joined");
        assertEq(leavingAt, 0, "not leaving");
        assertEq(cap, 0, "no cap");
        assertFalse(admitted, "not admitted");
        assertEq(hubx.balanceOf(w), FUNDS - 80e9, "balance");
        assertEq(hubx.frozenOf(w), 0, "nothing frozen: task stakes stay separate");
        assertEq(_count(), 1, "count");
        (uint256 minStake,) = hubx.poolConfig(pool);
        assertEq(minStake, MIN, "minimum");
    }

    function test_joinNeedsAnOpenPoolTheMinimumAndTheBalance() public {
        address w = workers[0];
        vm.prank(w);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.PoolNotOpen.selector, pool));
        hubx.joinPool(pool, 80e9);
        _open();
        vm.prank(w);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.StakeBelowMinimum.selector, pool, MIN - 1, MIN));
        hubx.joinPool(pool, MIN - 1);
        vm.prank(w);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.InsufficientBalance.selector, w, FUNDS, FUNDS + 1));
        hubx.joinPool(pool, FUNDS + 1);
        assertEq(_count(), 0, "nobody joined");
        assertEq(hubx.balanceOf(w), FUNDS, "balance untouched");
    }

    function test_noDoubleJoin() public {
        _open();
        vm.prank(workers[0]);
        hubx.joinPool(pool, MIN);
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.AlreadyMember.selector, pool, workers[0]));
        hubx.joinPool(pool, MIN);
        assertEq(_count(), 1, "count");
        assertEq(hubx.balanceOf(workers[0]), FUNDS - MIN, "locked once");
    }

    function test_onlyThePoolOwnerAdministers() public {
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotWorkerpoolOwner.selector, pool, workers[0]));
        hubx.setMinWorkerStake(pool, 1);
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotWorkerpoolOwner.selector, pool, workers[0]));
        hubx.admitWorker(pool, workers[0], 4);
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotWorkerpoolOwner.selector, pool, workers[0]));
        hubx.removeWorker(pool, workers[1]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.UnknownResource.selector, address(0x1234)));
        hubx.setMinWorkerStake(address(0x1234), 1);
    }

    function test_admitManyAtOnce() public {
        address[] memory fleet = new address[](3);
        fleet[0] = workers[1];
        fleet[1] = workers[2];
        fleet[2] = workers[1]; // twice in the list: counted once
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotWorkerpoolOwner.selector, pool, workers[0]));
        hubx.admitWorkers(pool, fleet, 2);
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.InvalidWorkerCap.selector, 0));
        hubx.admitWorkers(pool, fleet, 0);
        vm.prank(scheduler);
        hubx.admitWorkers(pool, fleet, 2);
        assertEq(_count(), 2, "count");
        (,,, uint256 cap, bool admitted) = _member(workers[2]);
        assertEq(cap, 2, "cap");
        assertTrue(admitted, "admitted");
        fleet[2] = address(0);
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.ZeroAddress.selector));
        hubx.admitWorkers(pool, fleet, 2);
        assertEq(_count(), 2, "a refused batch changes nothing");
    }

    function test_admitWithoutStakeThenRemove() public {
        address w = workers[1];
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.InvalidWorkerCap.selector, 0));
        hubx.admitWorker(pool, w, 0);
        vm.prank(scheduler);
        hubx.admitWorker(pool, w, 3);
        (uint256 stake,,, uint256 cap, bool admitted) = _member(w);
        assertEq(stake, 0, "no stake");
        assertEq(cap, 3, "cap");
        assertTrue(admitted, "admitted");
        assertEq(_count(), 1, "count");
        vm.prank(scheduler);
        hubx.admitWorker(pool, w, 7); // changing the cap counts nobody twice
        assertEq(_count(), 1, "count after a new cap");
        vm.prank(scheduler);
        hubx.removeWorker(pool, w);
        (stake,,, cap, admitted) = _member(w);
        assertEq(stake + cap, 0, "record gone");
        assertFalse(admitted, "no longer admitted");
        assertEq(_count(), 0, "count");
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotMember.selector, pool, w));
        hubx.removeWorker(pool, w);
    }

    function test_leaveLocksTheStakeForTheDelay() public {
        _open();
        address w = workers[2];
        vm.prank(w);
        hubx.joinPool(pool, MIN);
        uint256 delay = hubx.workerLeaveDelay();
        assertEq(delay, 10 * 1200, "ten times the longest category");
        vm.prank(w);
        hubx.leavePool(pool);
        (uint256 stake,, uint256 leavingAt,,) = _member(w);
        assertEq(stake, MIN, "stake kept");
        assertEq(leavingAt, block.timestamp + delay, "unlock time");
        assertEq(_count(), 0, "no longer counted");
        vm.prank(w);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.MemberLeaving.selector, pool, w, leavingAt));
        hubx.leavePool(pool);
        vm.prank(w);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.AlreadyMember.selector, pool, w));
        hubx.joinPool(pool, MIN);
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.MemberLeaving.selector, pool, w, leavingAt));
        hubx.admitWorker(pool, w, 1);
        _withdrawAt(w, leavingAt);
        (stake,, leavingAt,,) = _member(w);
        assertEq(stake + leavingAt, 0, "record gone");
        vm.prank(w);
        hubx.joinPool(pool, MIN); // and may join again
        assertEq(_count(), 1, "rejoined");
    }

    function test_removedStakerGetsItsStakeBackAfterTheDelay() public {
        _open();
        address w = workers[3];
        vm.prank(w);
        hubx.joinPool(pool, MIN);
        vm.prank(scheduler);
        hubx.removeWorker(pool, w);
        (,, uint256 leavingAt,,) = _member(w);
        assertEq(leavingAt, block.timestamp + hubx.workerLeaveDelay(), "unlock time");
        _withdrawAt(w, leavingAt);
    }

    function test_withdrawNeedsALeave() public {
        _open();
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotMember.selector, pool, workers[0]));
        hubx.withdrawPoolStake(pool);
        vm.prank(workers[0]);
        hubx.joinPool(pool, MIN);
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotMember.selector, pool, workers[0]));
        hubx.withdrawPoolStake(pool);
    }

    /// Locked stakes stay in the hub: its token balance is every escrow account plus the stakes.
    function test_accountingIsExact() public {
        _open();
        uint256 before = token.balanceOf(address(hub));
        vm.prank(workers[0]);
        hubx.joinPool(pool, MIN);
        vm.prank(workers[0]);
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.InsufficientBalance.selector, workers[0], FUNDS - MIN, FUNDS)
        );
        hubx.withdraw(FUNDS);
        vm.prank(workers[0]);
        hubx.withdraw(FUNDS - MIN);
        assertEq(token.balanceOf(address(hub)), before - (FUNDS - MIN), "only the free balance left");
        (uint256 stake,,,,) = _member(workers[0]);
        assertEq(stake, MIN, "stake still locked in the hub");
    }
}
