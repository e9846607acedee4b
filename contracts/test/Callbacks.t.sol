// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {Hub} from "../src/Hub.sol";
import {IHubErrors, IHubEvents} from "../src/interfaces/IHub.sol";
import {HubExtension} from "../src/HubExtension.sol";
import {Deal, DatasetOrder, FastResult} from "../src/libs/Types.sol";
import {IResultReceiver} from "../src/interfaces/IResultReceiver.sol";

contract GoodConsumer is IResultReceiver {
    bytes32 public lastTask;
    bytes public lastResult;

    function receiveResult(bytes32 taskid, bytes calldata result) external {
        lastTask = taskid;
        lastResult = result;
    }
}

contract RevertingConsumer is IResultReceiver {
    function receiveResult(bytes32, bytes calldata) external pure {
        revert("no thanks");
    }
}

contract GasBurner is IResultReceiver {
    function receiveResult(bytes32, bytes calldata) external pure {
        while (true) {}
    }
}

contract ReturnBomb is IResultReceiver {
    function receiveResult(bytes32, bytes calldata) external pure {
        assembly {
            return(0, 1000000)
        }
    }
}

/// Refuses results until its owner fixes it: a consumer with a bug that gets repaired.
contract FixableConsumer is IResultReceiver {
    bool public fixed_;
    bytes32 public lastTask;

    function fix() external {
        fixed_ = true;
    }

    function receiveResult(bytes32 taskid, bytes calldata) external {
        require(fixed_, "not ready");
        lastTask = taskid;
    }
}

/// Tries to re-enter the hub from the callback: finalize again, withdraw, claim through the extension.
contract Reenterer is IResultReceiver {
    Hub internal immutable hub;
    Deal internal deal;
    bool public attempted;
    bytes4 public finalizeError;
    bytes4 public withdrawError;
    bytes4 public claimError;
    bytes4 public revealError;
    bytes4 public initializeError;

    constructor(Hub hub_) {
        hub = hub_;
    }

    function setDeal(Deal memory d) external {
        deal = d;
    }

    function receiveResult(bytes32, bytes calldata) external {
        attempted = true;
        try hub.finalize(deal, 0, "", "", new address[](0)) {}
        catch (bytes memory e) {
            finalizeError = bytes4(e);
        }
        try HubExtension(address(hub)).withdraw(0) {}
        catch (bytes memory e) {
            withdrawError = bytes4(e);
        }
        try HubExtension(address(hub)).claim(deal, 0, new address[](0)) {}
        catch (bytes memory e) {
            claimError = bytes4(e);
        }
        try hub.reveal(bytes32(0), bytes32(0)) {}
        catch (bytes memory e) {
            revealError = bytes4(e);
        }
        try hub.initialize(deal, 0) {}
        catch (bytes memory e) {
            initializeError = bytes4(e);
        }
    }
}

contract CallbacksTest is Fixture {
    bytes internal constant RESULT = bytes('{"answer":42}');

    function _runTo(address callback) internal returns (Deal memory d, bytes32 taskid) {
        d = _datasetDeal(1, 1, callback);
        taskid = _initialize(d, 0);
        _contribute(d, 0, 0, keccak256(RESULT));
        _reveal(d, 0, 0, keccak256(RESULT));
    }

    function _finalizeWith(Deal memory d, bytes memory data) internal {
        vm.prank(scheduler);
        hub.finalize(d, 0, "loc", data, _none());
    }

    function _assertPaid(Deal memory d, bytes32 taskid) internal view {
        assertEq(hubx.task(taskid).status, 3, "completed");
        assertEq(hubx.balanceOf(workers[0]), FUNDS + POOL_PRICE * 90 / 100, "worker paid");
        assertEq(hubx.frozenOf(d.requester), 0, "requester settled");
        assertEq(token.balanceOf(address(hub)), _total(), "conservation");
    }

    function test_goodConsumerReceivesResult() public {
        GoodConsumer c = new GoodConsumer();
        (Deal memory d, bytes32 taskid) = _runTo(address(c));
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.CallbackDataMismatch.selector, taskid));
        hub.finalize(d, 0, "loc", "forged", _none());
        _finalizeWith(d, RESULT);
        assertEq(c.lastTask(), taskid, "task");
        assertEq(keccak256(c.lastResult()), keccak256(RESULT), "result");
        _assertPaid(d, taskid);
    }

    /// A task whose callback is `consumer` finalizes and pays everyone whatever the callback does, and the
    /// failure is recorded for a retry.
    function _assertDoesNotBlock(address consumer) internal {
        (Deal memory d, bytes32 taskid) = _runTo(consumer);
        _finalizeWith(d, RESULT);
        _assertPaid(d, taskid);
        assertTrue(hubx.callbackFailed(taskid), "failure recorded");
    }

    function test_failedCallbackIsRecordedAndRetriedByAnyone() public {
        FixableConsumer c = new FixableConsumer();
        (Deal memory d, bytes32 taskid) = _runTo(address(c));
        vm.expectEmit(address(hub));
        emit IHubEvents.CallbackFailed(taskid, abi.encodeWithSignature("Error(string)", "not ready"));
        _finalizeWith(d, RESULT);
        _assertPaid(d, taskid);
        assertTrue(hubx.callbackFailed(taskid), "failure recorded");

        address stranger = address(0xBEEF);
        // another task's data, or another callback, is not this failure
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NoFailedCallback.selector, taskid));
        hubx.retryCallback(taskid, address(c), "forged");
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NoFailedCallback.selector, taskid));
        hubx.retryCallback(taskid, stranger, RESULT);

        // still broken: the retry fails again and stays recorded
        vm.prank(stranger);
        hubx.retryCallback(taskid, address(c), RESULT);
        assertTrue(hubx.callbackFailed(taskid), "still recorded");

        c.fix();
        vm.prank(stranger);
        hubx.retryCallback(taskid, address(c), RESULT);
        assertEq(c.lastTask(), taskid, "delivered on retry");
        assertFalse(hubx.callbackFailed(taskid), "record cleared");
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NoFailedCallback.selector, taskid));
        hubx.retryCallback(taskid, address(c), RESULT);
        assertEq(token.balanceOf(address(hub)), _total(), "conservation");
    }

    function test_successfulCallbackCannotBeReplayed() public {
        GoodConsumer c = new GoodConsumer();
        (Deal memory d, bytes32 taskid) = _runTo(address(c));
        _finalizeWith(d, RESULT);
        assertFalse(hubx.callbackFailed(taskid), "nothing recorded");
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NoFailedCallback.selector, taskid));
        hubx.retryCallback(taskid, address(c), RESULT);
    }

    function test_revertingConsumerDoesNotBlock() public {
        _assertDoesNotBlock(address(new RevertingConsumer()));
    }

    function test_gasBurnerDoesNotBlock() public {
        _assertDoesNotBlock(address(new GasBurner()));
    }

    function test_returnBombDoesNotBlock() public {
        _assertDoesNotBlock(address(new ReturnBomb()));
    }

    function test_reentrancyIsBlocked() public {
        Reenterer c = new Reenterer(hub);
        (Deal memory d, bytes32 taskid) = _runTo(address(c));
        c.setDeal(d);
        _finalizeWith(d, RESULT);
        assertTrue(c.attempted(), "callback ran");
        assertEq(c.finalizeError(), IHubErrors.Reentrancy.selector, "finalize re-entry blocked");
        assertEq(c.withdrawError(), IHubErrors.Reentrancy.selector, "withdraw re-entry blocked");
        assertEq(c.claimError(), IHubErrors.Reentrancy.selector, "claim re-entry blocked");
        assertEq(c.revealError(), IHubErrors.Reentrancy.selector, "reveal re-entry blocked");
        assertEq(c.initializeError(), IHubErrors.Reentrancy.selector, "initialize re-entry blocked");
        _assertPaid(d, taskid);
    }

    function test_finalizerCannotStarveTheCallback() public {
        GoodConsumer c = new GoodConsumer();
        (Deal memory d,) = _runTo(address(c));
        bytes memory call_ = abi.encodeCall(Hub.finalize, (d, 0, "loc", RESULT, _none()));
        vm.prank(scheduler);
        (bool ok, bytes memory err) = address(hub).call{gas: 160_000}(call_);
        assertFalse(ok, "starved finalize reverts");
        assertEq(bytes4(err), IHubErrors.InsufficientGasForCallback.selector, "readable error");
    }

    function test_fastPathCallback() public {
        GoodConsumer c = new GoodConsumer();
        bytes32 tee = bytes32(uint256(1));
        DatasetOrder memory none;
        Deal memory d = _match(
            _appOrder(teeApp, 1),
            none,
            _poolOrder(1, 1, tee),
            _requestOrder(teeApp, address(0), 1, 1, tee, address(c))
        );
        bytes32 taskid = _initialize(d, 0);
        address worker = workers[0];
        FastResult memory r;
        r.digest = keccak256(RESULT);
        r.enclave = enclave;
        r.enclaveSign = _enclaveSign(taskid, worker, r.digest, 1);
        r.authorizationSign = _auth(worker, taskid, enclave);
        r.resultsLocation = "loc";
        r.callbackData = "forged";
        vm.prank(worker);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.CallbackDataMismatch.selector, taskid));
        hub.contributeAndFinalize(d, 0, r);
        r.callbackData = RESULT;
        vm.prank(worker);
        hub.contributeAndFinalize(d, 0, r);
        assertEq(keccak256(c.lastResult()), keccak256(RESULT), "result delivered");
        assertEq(token.balanceOf(address(hub)), _total(), "conservation");
    }
}
