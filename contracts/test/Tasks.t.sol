// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {IHubErrors} from "../src/interfaces/IHub.sol";
import {Deal, FastResult, TaskView} from "../src/libs/Types.sol";

/// Every revert of the task lifecycle, reopen, and the paths not covered by FlowTest.
contract TasksTest is Fixture {
    bytes32 internal constant DIGEST = keccak256("result");
    bytes32 internal constant BAD = keccak256("wrong");

    function test_initializeErrors() public {
        Deal memory d = _simpleDeal(2, 1);
        Deal memory forged = d;
        forged.appPrice = 0;
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.UnknownDeal.selector, _dealId(d)));
        hub.initialize(forged, 0);
        d.appPrice = APP_PRICE;
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TaskIndexOutOfRange.selector, 2, 2));
        hub.initialize(d, 2);
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.InitializationNotOpen.selector, block.timestamp + 10 * REF)
        );
        hub.initialize(d, 0);
        bytes32 taskid = _initialize(d, 0);
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TaskAlreadyInitialized.selector, taskid));
        hub.initialize(d, 0);
        // anyone may initialize once the scheduler had 10 refs
        vm.warp(block.timestamp + 10 * REF);
        hub.initialize(d, 1);
        assertEq(hubx.task(_taskId(d, 1)).status, 1, "initialized by anyone");
    }

    function test_contributeErrors() public {
        Deal memory d = _simpleDeal(1, 1);
        bytes32 taskid = _taskId(d, 0);
        address w = workers[0];
        bytes32 rh = _resultHash(taskid, DIGEST);
        bytes32 rs = _resultSeal(w, taskid, DIGEST);
        bytes memory auth = _auth(w, taskid, address(0));
        bytes memory badAuth = _auth(workers[1], taskid, address(0));
        // an uninitialized task is initialized by an authorized contribution only
        vm.prank(w);
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.InvalidAuthorization.selector, taskid, w, address(0))
        );
        hub.contribute(d, 0, rh, rs, address(0), "", badAuth);
        assertEq(hubx.task(taskid).status, 0, "still uninitialized");
        _initialize(d, 0);
        vm.prank(w);
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.InvalidAuthorization.selector, taskid, w, address(0))
        );
        hub.contribute(d, 0, rh, rs, address(0), "", badAuth);
        // an enclave on a non-TEE deal must still be authorized, sign and be attested
        bytes memory authE = _auth(w, taskid, address(0xE));
        vm.prank(w);
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.InvalidEnclaveSignature.selector, taskid, address(0xE))
        );
        hub.contribute(d, 0, rh, rs, address(0xE), "", authE);
        bytes memory authE2 = _auth(w, taskid, enclave);
        vm.prank(w);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.InvalidEnclaveSignature.selector, taskid, enclave));
        hub.contribute(d, 0, rh, rs, enclave, hex"00", authE2);
        // deadline
        vm.warp(block.timestamp + 7 * REF);
        vm.prank(w);
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.ContributionDeadlinePassed.selector, taskid, block.timestamp)
        );
        hub.contribute(d, 0, rh, rs, address(0), "", auth);
    }

    function test_contributeNeedsStake() public {
        Deal memory d = _simpleDeal(1, 1);
        bytes32 taskid = _initialize(d, 0);
        address poor = vm.addr(0xD00D);
        _contributeAs(
            poor,
            d,
            0,
            DIGEST,
            abi.encodeWithSelector(IHubErrors.InsufficientBalance.selector, poor, 0, d.workerStake)
        );
    }

    function test_teeDealNeedsEnclave() public {
        Deal memory d = _teeDeal(1);
        bytes32 taskid = _initialize(d, 0);
        address w = workers[0];
        _contributeAs(w, d, 0, DIGEST, abi.encodeWithSelector(IHubErrors.EnclaveRequired.selector, taskid));
        // regular contribute with an attested enclave works on a TEE deal
        bytes32 rh = _resultHash(taskid, DIGEST);
        bytes32 rs = _resultSeal(w, taskid, DIGEST);
        bytes memory esign = _enclaveSig(taskid, w, DIGEST);
        bytes memory authE = _auth(w, taskid, enclave);
        vm.prank(w);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TooFewAttestations.selector, taskid, 0, 1));
        hub.contribute(d, 0, rh, rs, enclave, esign, authE);
        esign = bytes.concat(esign, _attestations(taskid, enclave, 1));
        vm.prank(w);
        hub.contribute(d, 0, rh, rs, enclave, esign, authE);
        assertEq(hubx.task(taskid).status, 2, "revealing");
    }

    function test_revealErrors() public {
        Deal memory d = _simpleDeal(1, 1);
        bytes32 taskid = _initialize(d, 0);
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TaskNotRevealing.selector, taskid, 1));
        hub.reveal(taskid, DIGEST);
        _contribute(d, 0, 0, DIGEST);
        vm.prank(workers[0]);
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.NotConsensusResult.selector, taskid, _resultHash(taskid, BAD))
        );
        hub.reveal(taskid, BAD);
        _revealOnce(d, taskid, workers[1]);
    }

    /// Only a contributor reveals, and only once: `outsider` is refused, worker 0 reveals, then is refused.
    function _revealOnce(Deal memory d, bytes32 taskid, address outsider) internal {
        vm.prank(outsider);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotContributor.selector, taskid, outsider));
        hub.reveal(taskid, DIGEST);
        _reveal(d, 0, 0, DIGEST);
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.AlreadyRevealed.selector, taskid, workers[0]));
        hub.reveal(taskid, DIGEST);
    }

    function test_revealDeadline() public {
        Deal memory d = _simpleDeal(1, 1);
        bytes32 taskid = _initialize(d, 0);
        _contribute(d, 0, 0, DIGEST);
        vm.warp(block.timestamp + 2 * REF);
        vm.prank(workers[0]);
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.RevealDeadlinePassed.selector, taskid, block.timestamp)
        );
        hub.reveal(taskid, DIGEST);
    }

    function test_replicatedContributeErrors() public {
        Deal memory d = _simpleDeal(1, 5);
        bytes32 taskid = _initialize(d, 0);
        _contribute(d, 0, 0, DIGEST);
        address w = workers[0];
        _contributeAs(
            w, d, 0, DIGEST, abi.encodeWithSelector(IHubErrors.AlreadyContributed.selector, taskid, w)
        );
        bytes32 rh = _resultHash(taskid, DIGEST);
        (uint8 status, uint8 epoch, uint256 weight,) = hubx.contribution(taskid, w);
        assertEq(status, 1, "contributed");
        assertEq(epoch, 0, "epoch");
        assertEq(weight, 2, "weight of a fresh worker");
        (, bool consensus, uint256 members, uint256 gweight) = hubx.group(taskid, rh);
        assertFalse(consensus, "no consensus");
        assertEq(members, 1, "one member");
        assertEq(gweight, 2, "group weight");
    }

    function test_replicatedRevealErrors() public {
        Deal memory d = _simpleDeal(1, 3);
        bytes32 taskid = _initialize(d, 0);
        _contribute(d, 0, 0, DIGEST);
        // worker 1 claims the same hash with a seal it did not compute for DIGEST
        address w1 = workers[1];
        bytes32 rh = _resultHash(taskid, DIGEST);
        bytes memory auth = _auth(w1, taskid, address(0));
        vm.prank(w1);
        hub.contribute(d, 0, rh, keccak256("copied"), address(0), "", auth);
        assertEq(hubx.task(taskid).status, 2, "consensus");
        vm.prank(w1);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.InvalidReveal.selector, taskid, w1));
        hub.reveal(taskid, DIGEST);
        _revealOnce(d, taskid, workers[3]);
        // after the reveal deadline, finalize with the one reveal; the copier loses its stake
        vm.warp(block.timestamp + 2 * REF);
        _finalize(d, 0, _sorted(workers[0], w1));
        assertEq(hubx.balanceOf(w1), FUNDS - d.workerStake, "copier slashed");
        assertEq(token.balanceOf(address(hub)), _total(), "conservation");
    }

    function test_reopenTrustOne() public {
        Deal memory d = _simpleDeal(1, 1);
        bytes32 taskid = _initialize(d, 0);
        _contribute(d, 0, 0, DIGEST);
        bytes32 rh = _resultHash(taskid, DIGEST);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotScheduler.selector, address(this), scheduler));
        hubx.reopen(d, 0, rh, _none());
        vm.prank(scheduler);
        vm.expectRevert(
            abi.encodeWithSelector(
                IHubErrors.RevealDeadlineNotReached.selector, taskid, block.timestamp + 2 * REF
            )
        );
        hubx.reopen(d, 0, rh, _none());
        vm.warp(block.timestamp + 2 * REF);
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotConsensusResult.selector, taskid, bytes32(0)));
        hubx.reopen(d, 0, bytes32(0), _none());
        vm.prank(scheduler);
        hubx.reopen(d, 0, rh, _none());
        assertEq(hubx.task(taskid).status, 1, "active again");
        assertEq(hub.kitty(), d.workerStake, "stake to kitty");
        assertEq(hubx.frozenOf(workers[0]), 0, "stake gone");
        // another worker contributes the same result and finishes
        _contribute(d, 0, 1, DIGEST);
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotContributor.selector, taskid, workers[0]));
        hub.reveal(taskid, DIGEST);
        _reveal(d, 0, 1, DIGEST);
        vm.warp(block.timestamp + 2 * REF);
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TaskAlreadyRevealed.selector, taskid));
        hubx.reopen(d, 0, rh, _none());
        _finalize(d, 0, _none());
        assertEq(token.balanceOf(address(hub)), _total(), "conservation");
    }

    /// A trust-3 deal whose task 0 reached consensus on DIGEST with workers 0 and 1.
    function _replicatedConsensus() internal returns (Deal memory d, bytes32 taskid) {
        d = _simpleDeal(1, 3);
        taskid = _initialize(d, 0);
        _contribute(d, 0, 0, DIGEST);
        _contribute(d, 0, 1, DIGEST);
    }

    function test_reopenReplicated() public {
        (Deal memory d, bytes32 taskid) = _replicatedConsensus();
        vm.warp(block.timestamp + 2 * REF);
        bytes32 rh = _resultHash(taskid, DIGEST);
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.InvalidContributorList.selector, taskid));
        hubx.reopen(d, 0, rh, _none());
        vm.prank(scheduler);
        hubx.reopen(d, 0, rh, _sorted(workers[0], workers[1]));
        TaskView memory t = hubx.task(taskid);
        assertEq(t.status, 1, "active");
        assertEq(t.totalWeight, 1, "group dropped");
        (uint8 epoch, bool consensus,,) = hubx.group(taskid, rh);
        assertEq(epoch, 1, "epoch bumped");
        assertFalse(consensus, "no consensus");
        // two new workers reach consensus on the same result; the rejected ones cannot reveal
        _contribute(d, 0, 2, DIGEST);
        _contribute(d, 0, 3, DIGEST);
        assertEq(hubx.task(taskid).status, 2, "consensus again");
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.ContributionRejected.selector, taskid, workers[0]));
        hub.reveal(taskid, DIGEST);
        _reveal(d, 0, 2, DIGEST);
        _reveal(d, 0, 3, DIGEST);
        address[] memory ws = new address[](4);
        for (uint256 i; i < 4; ++i) {
            ws[i] = workers[i];
        }
        _sortInPlace(ws);
        _finalize(d, 0, ws);
        assertEq(hubx.balanceOf(workers[0]), FUNDS - d.workerStake, "rejected slashed");
        assertEq(
            hubx.balanceOf(workers[2]), FUNDS + (POOL_PRICE * 90 / 100 + 2 * d.workerStake) / 2, "winner"
        );
        assertEq(token.balanceOf(address(hub)), _total(), "conservation");
    }

    function test_reopenReplicatedAfterRevealRefused() public {
        (Deal memory d, bytes32 taskid) = _replicatedConsensus();
        _reveal(d, 0, 0, DIGEST);
        vm.warp(block.timestamp + 2 * REF);
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TaskAlreadyRevealed.selector, taskid));
        hubx.reopen(d, 0, _resultHash(taskid, DIGEST), _sorted(workers[0], workers[1]));
    }

    function _sortInPlace(address[] memory a) internal pure {
        for (uint256 i; i < a.length; ++i) {
            for (uint256 j = i + 1; j < a.length; ++j) {
                if (a[j] < a[i]) (a[i], a[j]) = (a[j], a[i]);
            }
        }
    }

    function test_finalizeErrors() public {
        Deal memory d = _simpleDeal(1, 3);
        bytes32 taskid = _initialize(d, 0);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotScheduler.selector, address(this), scheduler));
        hub.finalize(d, 0, "", "", _none());
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TaskNotRevealing.selector, taskid, 1));
        hub.finalize(d, 0, "", "", _none());
        _contribute(d, 0, 0, DIGEST);
        _contribute(d, 0, 1, DIGEST);
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NoReveal.selector, taskid));
        hub.finalize(d, 0, "", "", _sorted(workers[0], workers[1]));
        _reveal(d, 0, 0, DIGEST);
        address[] memory one = new address[](1);
        one[0] = workers[0];
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.InvalidContributorList.selector, taskid));
        hub.finalize(d, 0, "", "", one);
        address[] memory dup = new address[](2);
        dup[0] = workers[0];
        dup[1] = workers[0];
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.InvalidContributorList.selector, taskid));
        hub.finalize(d, 0, "", "", dup);
        address[] memory stranger = _sorted(workers[0], workers[4]);
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.InvalidContributorList.selector, taskid));
        hub.finalize(d, 0, "", "", stranger);
        vm.warp(block.timestamp + 10 * REF);
        vm.prank(scheduler);
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.FinalDeadlinePassed.selector, taskid, block.timestamp)
        );
        hub.finalize(d, 0, "", "", _sorted(workers[0], workers[1]));
    }

    function test_finalizeTrustOneNeedsReveal() public {
        Deal memory d = _simpleDeal(1, 1);
        bytes32 taskid = _initialize(d, 0);
        _contribute(d, 0, 0, DIGEST);
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NoReveal.selector, taskid));
        hub.finalize(d, 0, "", "", _none());
    }

    function test_claimReplicatedReturnsStakes() public {
        Deal memory d = _simpleDeal(1, 3);
        bytes32 taskid = _initialize(d, 0);
        _contribute(d, 0, 0, DIGEST);
        _contribute(d, 0, 1, BAD);
        vm.warp(block.timestamp + 10 * REF);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.InvalidContributorList.selector, taskid));
        hubx.claim(d, 0, _none());
        address[] memory rev = _sorted(workers[0], workers[1]);
        (rev[0], rev[1]) = (rev[1], rev[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.InvalidContributorList.selector, taskid));
        hubx.claim(d, 0, rev);
        hubx.claim(d, 0, _sorted(workers[0], workers[1]));
        assertEq(hubx.balanceOf(workers[0]), FUNDS, "stake back");
        assertEq(hubx.balanceOf(workers[1]), FUNDS, "stake back");
        assertEq(hubx.balanceOf(requester), FUNDS, "refunded");
        assertEq(hubx.frozenOf(requester), 0, "nothing frozen");
        assertEq(token.balanceOf(address(hub)), _total(), "conservation");
    }

    function test_claimUninitializedTaskRefused() public {
        Deal memory d = _simpleDeal(1, 1);
        vm.warp(block.timestamp + 100 * REF);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TaskNotClaimable.selector, _taskId(d, 0), 0));
        hubx.claim(d, 0, _none());
    }

    function test_fastPathErrors() public {
        Deal memory plain = _simpleDeal(1, 1);
        _initialize(plain, 0);
        FastResult memory r = _fast(plain, 0, 0, DIGEST);
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotFastPathDeal.selector, _dealId(plain)));
        hub.contributeAndFinalize(plain, 0, r);

        Deal memory d = _teeDeal(2);
        bytes32 taskid = _initialize(d, 0);
        r = _fast(d, 0, 0, DIGEST);
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TaskIndexOutOfRange.selector, 5, 2));
        hub.contributeAndFinalize(d, 5, r);
        // an uninitialized task is initialized by the (authorized) fast path itself
        FastResult memory r1 = _fast(d, 1, 0, DIGEST);
        vm.prank(workers[0]);
        hub.contributeAndFinalize(d, 1, r1);
        assertEq(hubx.task(_taskId(d, 1)).status, 3, "lazily initialized and completed");
        r.enclave = address(0);
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.EnclaveRequired.selector, taskid));
        hub.contributeAndFinalize(d, 0, r);
        r = _fast(d, 0, 0, DIGEST);
        vm.prank(workers[1]); // not the authorized worker
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.InvalidAuthorization.selector, taskid, workers[1], enclave)
        );
        hub.contributeAndFinalize(d, 0, r);
        r.digest = BAD; // enclave signed another digest
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.InvalidEnclaveSignature.selector, taskid, enclave));
        hub.contributeAndFinalize(d, 0, r);
        r = _fast(d, 0, 0, DIGEST);
        vm.warp(block.timestamp + 7 * REF);
        vm.prank(workers[0]);
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.ContributionDeadlinePassed.selector, taskid, block.timestamp)
        );
        hub.contributeAndFinalize(d, 0, r);
    }

    function test_taskViewTrustOne() public {
        Deal memory d = _simpleDeal(1, 1);
        bytes32 taskid = _initialize(d, 0);
        _contribute(d, 0, 0, DIGEST);
        _reveal(d, 0, 0, DIGEST);
        TaskView memory t = hubx.task(taskid);
        assertTrue(t.revealed, "revealed");
        assertFalse(t.replicated, "not replicated");
        assertEq(t.contributions, 1, "one contribution");
        assertEq(t.reveals, 1, "one reveal");
        assertEq(t.initTime, block.timestamp, "init time");
        assertEq(t.revealDeadline, block.timestamp + 2 * REF, "reveal deadline");
    }

    function _setScore(address worker, uint256 score) internal {
        bytes32 slot = keccak256(abi.encode(worker, uint256(3))); // _accounts
        uint256 a = uint256(vm.load(address(hub), slot));
        vm.store(address(hub), slot, bytes32((a & ((uint256(1) << 224) - 1)) | (score << 224)));
    }

    function test_weightOverflowReverts() public {
        // two groups of top-score workers leapfrog each other without consensus at a huge trust; the
        // reputation cap holds each weight at 65535 (just under 2^16), so the sum passes 2^112 at the 14th
        uint256 trust = type(uint32).max;
        Deal memory d = _simpleDeal(1, trust);
        bytes32 taskid = _initialize(d, 0);
        for (uint256 i = workers.length; i < 14; ++i) {
            uint256 pk = WORKER_PK_BASE + i;
            workerPks.push(pk);
            workers.push(vm.addr(pk));
            _fund(vm.addr(pk), FUNDS);
        }
        for (uint256 i; i < 14; ++i) {
            _setScore(workers[i], type(uint32).max);
        }
        for (uint256 i; i < 13; ++i) {
            _contribute(d, 0, i, i % 2 == 0 ? DIGEST : BAD);
        }
        assertEq(hubx.task(taskid).status, 1, "no consensus yet");
        _contributeAs(
            workers[13], d, 0, BAD, abi.encodeWithSelector(IHubErrors.WeightOverflow.selector, taskid)
        );
    }

    function test_tooManyContributionsReverts() public {
        Deal memory d = _simpleDeal(1, 3);
        bytes32 taskid = _initialize(d, 0);
        bytes32 slot = keccak256(abi.encode(taskid, uint256(8))); // _tasks
        uint256 t = uint256(vm.load(address(hub), slot));
        vm.store(address(hub), slot, bytes32(t | (uint256(0xffff) << 96)));
        _contributeAs(
            workers[0], d, 0, DIGEST, abi.encodeWithSelector(IHubErrors.TooManyContributions.selector, taskid)
        );
    }

    function test_lazyInitializationByContribution() public {
        Deal memory d = _simpleDeal(2, 3);
        bytes32 taskid = _taskId(d, 1);
        vm.warp(block.timestamp + 100);
        _contribute(d, 1, 0, DIGEST);
        TaskView memory t = hubx.task(taskid);
        assertEq(t.status, 1, "active");
        assertTrue(t.replicated, "replicated flag");
        assertEq(t.initTime, block.timestamp, "deadlines run from the first contribution");
        assertEq(t.contributions, 1, "one contribution");
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TaskAlreadyInitialized.selector, taskid));
        hub.initialize(d, 1);
        _contribute(d, 1, 1, DIGEST);
        _reveal(d, 1, 0, DIGEST);
        _reveal(d, 1, 1, DIGEST);
        _finalize(d, 1, _sorted(workers[0], workers[1]));
        assertEq(hubx.task(taskid).status, 3, "completed");
        // trust 1 as well
        Deal memory one = _simpleDeal(1, 1);
        _contribute(one, 0, 2, DIGEST);
        _reveal(one, 0, 2, DIGEST);
        _finalize(one, 0, _none());
        assertEq(token.balanceOf(address(hub)), _total(), "conservation");
    }
}
