// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {IHubErrors, IHubEvents} from "../src/interfaces/IHub.sol";
import {Deal, TaskView, BatchContribution, ReplicatedFinalize} from "../src/libs/Types.sol";
import {GoodConsumer} from "./Callbacks.t.sol";
import {HubAudit} from "../src/HubAudit.sol";

/// contributeBatch and revealBatch: a worker's replicated contributions (and later reveals) for several tasks,
/// of one or several deals, in one transaction, each checked as contribute / reveal checks it; and
/// finalizeReplicatedBatch, the scheduler's finalization of several replicated tasks of a deal. One bad item
/// reverts the whole batch (the precedent of contributeAndRevealBatch and finalizeBatch).
contract ReplicatedBatchTest is Fixture {
    bytes32 internal constant DIGEST = keccak256("the result");

    /// Worker `w`'s contribution of DIGEST to task `index` of deal number `deal` of the batch `deals`.
    function _item(Deal[] memory deals, uint256 deal, uint256 index, address w, bytes32 digest)
        internal
        pure
        returns (BatchContribution memory c)
    {
        bytes32 taskid = _taskId(deals[deal], index);
        c.deal = deal;
        c.index = index;
        c.resultHash = _resultHash(taskid, digest);
        c.resultSeal = _resultSeal(w, taskid, digest);
        c.authorizationSign = _auth(w, taskid, address(0));
    }

    function _pair(Deal memory a, Deal memory b) internal pure returns (Deal[] memory deals) {
        deals = new Deal[](2);
        (deals[0], deals[1]) = (a, b);
    }

    /// Tasks 0 and 1 of deals[0] and task 0 of deals[1], contributed by `w`.
    function _three(Deal[] memory deals, address w) internal pure returns (BatchContribution[] memory items) {
        items = new BatchContribution[](3);
        items[0] = _item(deals, 0, 0, w, DIGEST);
        items[1] = _item(deals, 0, 1, w, DIGEST);
        items[2] = _item(deals, 1, 0, w, DIGEST);
    }

    function _ids(Deal[] memory deals)
        internal
        pure
        returns (bytes32[] memory ids, bytes32[] memory digests)
    {
        ids = new bytes32[](3);
        (ids[0], ids[1], ids[2]) = (_taskId(deals[0], 0), _taskId(deals[0], 1), _taskId(deals[1], 0));
        digests = new bytes32[](3);
        (digests[0], digests[1], digests[2]) = (DIGEST, DIGEST, DIGEST);
    }

    function _contributeBatch(Deal[] memory deals, address w, BatchContribution[] memory items) internal {
        vm.prank(w);
        sel.contributeBatch(deals, items);
    }

    function _revealBatch(address w, bytes32[] memory ids, bytes32[] memory digests) internal {
        vm.prank(w);
        sel.revealBatch(ids, digests);
    }

    /// The same three tasks (two deals, trust 3, two agreeing workers) through single contribute / reveal
    /// calls and through one contributeBatch and one revealBatch per worker end in the same task and
    /// contribution words, lock the same stakes and, once finalized, pay the same; every token stays
    /// accounted for.
    function test_batchesEqualSingleCalls() public {
        uint256 before = _total();
        Deal[] memory single = _pair(_simpleDeal(2, 3), _simpleDeal(1, 3));
        Deal[] memory batched = _pair(_simpleDeal(2, 3), _simpleDeal(1, 3));
        (bytes32[] memory sIds,) = _ids(single);
        (bytes32[] memory bIds, bytes32[] memory digests) = _ids(batched);
        uint256[3] memory dealOf = [uint256(0), 0, 1];
        uint256[3] memory indexOf = [uint256(0), 1, 0];
        // single calls by workers 0 and 1, batches by workers 2 and 3 (all fresh: the same weights)
        for (uint256 w; w < 2; ++w) {
            for (uint256 i; i < 3; ++i) {
                _contribute(single[dealOf[i]], indexOf[i], w, DIGEST);
            }
            _contributeBatch(batched, workers[2 + w], _three(batched, workers[2 + w]));
        }
        assertEq(hubx.frozenOf(workers[2]), 3 * batched[0].workerStake, "a batch locks one stake per task");
        assertEq(hubx.frozenOf(workers[2]), hubx.frozenOf(workers[0]), "as single calls do");
        for (uint256 i; i < 3; ++i) {
            TaskView memory s = hubx.task(sIds[i]);
            TaskView memory b = hubx.task(bIds[i]);
            assertEq(b.status, 2, "consensus reached: revealing");
            assertEq(b.status, s.status, "status as single");
            assertEq(b.revealDeadline, s.revealDeadline, "reveal deadline as single");
            assertEq(b.expectedReveals, s.expectedReveals, "expected reveals as single");
            assertEq(b.totalWeight, s.totalWeight, "weights as single");
            assertEq(b.contributions, s.contributions, "contributions as single");
            assertTrue(b.replicated, "replicated");
            (uint8 st,, uint256 weight, uint256 commit) = hubx.contribution(bIds[i], workers[2]);
            (uint8 st0,, uint256 weight0,) = hubx.contribution(sIds[i], workers[0]);
            assertEq(st, st0, "contribution status as single");
            assertEq(weight, weight0, "weight as single");
            assertTrue(commit != 0, "commitment stored");
        }
        for (uint256 w; w < 2; ++w) {
            for (uint256 i; i < 3; ++i) {
                _reveal(single[dealOf[i]], indexOf[i], w, DIGEST);
            }
            _revealBatch(workers[2 + w], bIds, digests);
        }
        for (uint256 i; i < 3; ++i) {
            (uint8 st,,,) = hubx.contribution(bIds[i], workers[2]);
            assertEq(st, 2, "revealed");
        }
        uint256[4] memory was;
        for (uint256 w; w < 4; ++w) {
            was[w] = hubx.balanceOf(workers[w]);
        }
        for (uint256 i; i < 3; ++i) {
            _finalize(single[dealOf[i]], indexOf[i], _sorted(workers[0], workers[1]));
            _finalize(batched[dealOf[i]], indexOf[i], _sorted(workers[2], workers[3]));
        }
        for (uint256 w; w < 2; ++w) {
            assertEq(
                hubx.balanceOf(workers[2 + w]) - was[2 + w], hubx.balanceOf(workers[w]) - was[w], "same pay"
            );
            assertEq(hubx.frozenOf(workers[2 + w]), 0, "every stake released");
        }
        assertEq(_total(), before, "conservation");
        assertEq(token.balanceOf(address(hub)), _total(), "hub holds every unit");
    }

    /// Every event of the single calls, per item.
    function test_batchesEmitEachTasksEvents() public {
        Deal[] memory deals = _pair(_simpleDeal(2, 3), _simpleDeal(1, 3));
        (bytes32[] memory ids, bytes32[] memory digests) = _ids(deals);
        uint256[3] memory indexOf = [uint256(0), 1, 0];
        BatchContribution[] memory items = _three(deals, workers[0]);
        for (uint256 i; i < 3; ++i) {
            vm.expectEmit(address(hub));
            emit IHubEvents.TaskInitialize(ids[i], _dealId(deals[i == 2 ? 1 : 0]), indexOf[i]);
            vm.expectEmit(address(hub));
            emit IHubEvents.TaskContribute(ids[i], workers[0], items[i].resultHash);
        }
        _contributeBatch(deals, workers[0], items);
        items = _three(deals, workers[1]);
        for (uint256 i; i < 3; ++i) {
            vm.expectEmit(address(hub));
            emit IHubEvents.TaskContribute(ids[i], workers[1], items[i].resultHash);
            vm.expectEmit(address(hub));
            emit IHubEvents.TaskConsensus(ids[i], items[i].resultHash);
        }
        _contributeBatch(deals, workers[1], items);
        for (uint256 i; i < 3; ++i) {
            vm.expectEmit(address(hub));
            emit IHubEvents.TaskReveal(ids[i], workers[0], DIGEST);
        }
        _revealBatch(workers[0], ids, digests);
    }

    /// contributeBatch refuses, with the single call's error, every item `contribute` refuses, and then
    /// applies nothing of the batch: no task word, no stake.
    function test_contributeBatchRefusals() public {
        Deal[] memory deals = _pair(_simpleDeal(2, 3), _simpleDeal(1, 3));
        address w = workers[0];
        uint256 frozen = hubx.frozenOf(w);
        uint256 total = _total();
        BatchContribution[] memory items = _three(deals, w);

        // an item naming a deal the batch does not carry
        items[2].deal = 2;
        vm.prank(w);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.DealRefOutOfRange.selector, 2, 2));
        sel.contributeBatch(deals, items);

        // a lying item: the authorization was signed for another worker
        items = _three(deals, w);
        items[1].authorizationSign = _auth(workers[1], _taskId(deals[0], 1), address(0));
        vm.prank(w);
        vm.expectRevert(
            abi.encodeWithSelector(
                IHubErrors.InvalidAuthorization.selector, _taskId(deals[0], 1), w, address(0)
            )
        );
        sel.contributeBatch(deals, items);

        // a duplicate item: the same task twice
        items = _three(deals, w);
        items[2] = items[0];
        vm.prank(w);
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.AlreadyContributed.selector, _taskId(deals[0], 0), w)
        );
        sel.contributeBatch(deals, items);

        // an index out of its deal
        items = _three(deals, w);
        items[2].index = 1;
        vm.prank(w);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TaskIndexOutOfRange.selector, 1, 1));
        sel.contributeBatch(deals, items);

        // a deal that was not matched
        items = _three(deals, w);
        deals[1].workerStake += 1;
        vm.prank(w);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.UnknownDeal.selector, _dealId(deals[1])));
        sel.contributeBatch(deals, items);
        deals[1].workerStake -= 1;

        // a TEE deal needs an enclave per contribution
        Deal[] memory tee = new Deal[](1);
        tee[0] = _teeDeal(1);
        BatchContribution[] memory one = new BatchContribution[](1);
        one[0] = _item(tee, 0, 0, w, DIGEST);
        vm.prank(w);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.EnclaveRequired.selector, _taskId(tee[0], 0)));
        sel.contributeBatch(tee, one);

        // a worker with nothing in the escrow
        address poor = vm.addr(0xB0B);
        vm.prank(poor);
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.InsufficientBalance.selector, poor, 0, deals[0].workerStake)
        );
        sel.contributeBatch(deals, _three(deals, poor));

        // nothing was applied
        (bytes32[] memory ids,) = _ids(deals);
        for (uint256 i; i < 3; ++i) {
            assertEq(hubx.task(ids[i]).status, 0, "untouched");
        }
        assertEq(hubx.frozenOf(w), frozen, "no stake locked");
        assertEq(_total(), total, "conservation");

        // a task past its consensus (two workers agreed) refuses a third contribution
        _contributeBatch(deals, workers[1], _three(deals, workers[1]));
        _contributeBatch(deals, workers[2], _three(deals, workers[2]));
        vm.prank(w);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TaskNotActive.selector, ids[0], 2));
        sel.contributeBatch(deals, _three(deals, w));

        // a passed contribution deadline
        Deal[] memory late = new Deal[](1);
        late[0] = _simpleDeal(1, 3);
        _initialize(late[0], 0);
        vm.warp(block.timestamp + 7 * REF);
        one[0] = _item(late, 0, 0, w, DIGEST);
        vm.prank(w);
        vm.expectRevert(
            abi.encodeWithSelector(
                IHubErrors.ContributionDeadlinePassed.selector, _taskId(late[0], 0), block.timestamp
            )
        );
        sel.contributeBatch(late, one);
    }

    /// revealBatch refuses, with the single call's error, every reveal `reveal` refuses, and then applies
    /// none of the batch.
    function test_revealBatchRefusals() public {
        Deal[] memory deals = _pair(_simpleDeal(2, 3), _simpleDeal(1, 3));
        (bytes32[] memory ids, bytes32[] memory digests) = _ids(deals);
        address w = workers[0];

        // nothing contributed yet: the tasks are not revealing
        vm.prank(w);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TaskNotRevealing.selector, ids[0], 0));
        sel.revealBatch(ids, digests);

        _contributeBatch(deals, w, _three(deals, w));
        _contributeBatch(deals, workers[1], _three(deals, workers[1]));
        // a lying contribution: worker 2 copies the consensus hash with a seal it did not compute
        Deal[] memory first = new Deal[](1);
        first[0] = _simpleDeal(1, 3);
        BatchContribution[] memory one = new BatchContribution[](1);
        one[0] = _item(first, 0, 0, workers[2], DIGEST);
        one[0].resultSeal = keccak256("copied");
        _contributeBatch(first, workers[2], one);
        one[0] = _item(first, 0, 0, workers[3], DIGEST);
        _contributeBatch(first, workers[3], one);
        bytes32[] memory lone = new bytes32[](1);
        lone[0] = _taskId(first[0], 0);
        bytes32[] memory loneDigest = new bytes32[](1);
        loneDigest[0] = DIGEST;
        vm.prank(workers[2]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.InvalidReveal.selector, lone[0], workers[2]));
        sel.revealBatch(lone, loneDigest);

        // lengths that disagree
        vm.prank(w);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.LengthMismatch.selector, 3, 1));
        sel.revealBatch(ids, loneDigest);

        // a digest that is not the consensus
        bytes32[] memory wrong = new bytes32[](3);
        (wrong[0], wrong[1], wrong[2]) = (DIGEST, keccak256("other"), DIGEST);
        vm.prank(w);
        vm.expectRevert(
            abi.encodeWithSelector(
                IHubErrors.NotConsensusResult.selector, ids[1], _resultHash(ids[1], keccak256("other"))
            )
        );
        sel.revealBatch(ids, wrong);

        // a worker that did not contribute
        vm.prank(workers[3]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotContributor.selector, ids[0], workers[3]));
        sel.revealBatch(ids, digests);

        // a duplicate: the same task twice
        bytes32[] memory dup = new bytes32[](3);
        (dup[0], dup[1], dup[2]) = (ids[0], ids[1], ids[0]);
        vm.prank(w);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.AlreadyRevealed.selector, ids[0], w));
        sel.revealBatch(dup, digests);

        // none of it was applied
        for (uint256 i; i < 3; ++i) {
            (uint8 st,,,) = hubx.contribution(ids[i], w);
            assertEq(st, 1, "still only contributed");
        }

        // past the reveal deadline
        vm.warp(block.timestamp + 2 * REF);
        vm.prank(w);
        vm.expectRevert(
            abi.encodeWithSelector(
                IHubErrors.RevealDeadlinePassed.selector, ids[0], hubx.task(ids[0]).revealDeadline
            )
        );
        sel.revealBatch(ids, digests);
    }

    bytes32 internal constant BAD = keccak256("a wrong result");

    /// Three tasks of a fresh trust-3 deal: on tasks 0 and 1 workers 0 and 1 agree; on task 2 worker 2 contributes
    /// a wrong result first and workers 0, 1 and 3 agree (two fresh workers do not outweigh the loser at trust
    /// 3); everyone in a consensus group reveals.
    function _revealedDeal() internal returns (Deal memory d) {
        d = _simpleDeal(3, 3);
        for (uint256 i; i < 2; ++i) {
            _contribute(d, i, 0, DIGEST);
            _contribute(d, i, 1, DIGEST);
            _reveal(d, i, 0, DIGEST);
            _reveal(d, i, 1, DIGEST);
        }
        _contribute(d, 2, 2, BAD);
        _contribute(d, 2, 0, DIGEST);
        _contribute(d, 2, 1, DIGEST);
        _contribute(d, 2, 3, DIGEST);
        for (uint256 w; w < 4; ++w) {
            if (w != 2) _reveal(d, 2, w, DIGEST);
        }
    }

    function _lists() internal view returns (address[][] memory ws) {
        ws = new address[][](3);
        ws[0] = _sorted(workers[0], workers[1]);
        ws[1] = ws[0];
        address[4] memory four = [workers[0], workers[1], workers[2], workers[3]];
        for (uint256 i; i < 4; ++i) {
            for (uint256 j = i + 1; j < 4; ++j) {
                if (four[j] < four[i]) (four[i], four[j]) = (four[j], four[i]);
            }
        }
        ws[2] = new address[](4);
        for (uint256 i; i < 4; ++i) {
            ws[2][i] = four[i];
        }
    }

    /// Tasks 0 .. n - 1 with their contributor lists `ws` and, unless empty, callback data `cbs`.
    function _finals(address[][] memory ws, bytes[] memory cbs)
        internal
        pure
        returns (ReplicatedFinalize[] memory f)
    {
        f = new ReplicatedFinalize[](ws.length);
        for (uint256 i; i < ws.length; ++i) {
            f[i].index = i;
            f[i].resultsLocation = "ipfs://result";
            f[i].workers = ws[i];
            if (cbs.length != 0) f[i].callbackData = cbs[i];
        }
    }

    /// Every account the finalization pays, and the kitty.
    function _balances() internal view returns (uint256[7] memory b) {
        for (uint256 w; w < 4; ++w) {
            b[w] = hubx.balanceOf(workers[w]) + hubx.frozenOf(workers[w]);
        }
        b[4] = hubx.balanceOf(scheduler);
        b[5] = hubx.balanceOf(appOwner);
        b[6] = hubx.kitty();
    }

    /// The same three tasks finalized by three `finalize` calls and by one finalizeReplicatedBatch pay every
    /// account the same (winners, the seized loser, the scheduler, the app owner) and complete every task; every
    /// token stays accounted for.
    function test_finalizeReplicatedBatchEqualsSingleCalls() public {
        uint256 before = _total();
        Deal memory single = _revealedDeal();
        Deal memory batched = _revealedDeal();
        address[][] memory ws = _lists();
        uint256[7] memory b0 = _balances();
        for (uint256 i; i < 3; ++i) {
            _finalize(single, i, ws[i]);
        }
        uint256[7] memory b1 = _balances();
        vm.prank(scheduler);
        HubAudit(address(hub)).finalizeReplicatedBatch(batched, _finals(ws, new bytes[](0)));
        uint256[7] memory b2 = _balances();
        for (uint256 k; k < 7; ++k) {
            assertTrue(int256(b2[k]) - int256(b1[k]) == int256(b1[k]) - int256(b0[k]), "same as single calls");
        }
        assertTrue(b1[2] < b0[2], "the loser lost its stake");
        for (uint256 i; i < 3; ++i) {
            assertEq(hubx.task(_taskId(batched, i)).status, 3, "completed");
        }
        assertEq(hubx.frozenOf(workers[2]), 0, "nothing left frozen");
        assertEq(_total(), before, "conservation");
        assertEq(token.balanceOf(address(hub)), _total(), "hub holds every unit");
    }

    /// With a callback, each task's data must hash to its consensus digest, and every callback runs.
    function test_finalizeReplicatedBatchChecksAndDeliversCallbacks() public {
        GoodConsumer c = new GoodConsumer();
        Deal memory d = _datasetDeal(2, 3, address(c));
        bytes[] memory cbs = new bytes[](2);
        (cbs[0], cbs[1]) = (bytes("r0"), bytes("r1"));
        for (uint256 i; i < 2; ++i) {
            for (uint256 w; w < 2; ++w) {
                _contribute(d, i, w, keccak256(cbs[i]));
            }
            for (uint256 w; w < 2; ++w) {
                _reveal(d, i, w, keccak256(cbs[i]));
            }
        }
        address[][] memory ws = new address[][](2);
        (ws[0], ws[1]) = (_sorted(workers[0], workers[1]), _sorted(workers[0], workers[1]));
        bytes[] memory forged = new bytes[](2);
        (forged[0], forged[1]) = (cbs[0], bytes("forged"));
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.CallbackDataMismatch.selector, _taskId(d, 1)));
        HubAudit(address(hub)).finalizeReplicatedBatch(d, _finals(ws, forged));
        vm.prank(scheduler);
        HubAudit(address(hub)).finalizeReplicatedBatch(d, _finals(ws, cbs));
        assertEq(keccak256(c.lastResult()), keccak256("r1"), "callbacks ran");
    }

    /// finalizeReplicatedBatch refuses what `finalize` refuses, with its error, and applies nothing then.
    function test_finalizeReplicatedBatchRefusals() public {
        Deal memory d = _revealedDeal();
        ReplicatedFinalize[] memory f = _finals(_lists(), new bytes[](0));
        uint256 total = _total();

        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotScheduler.selector, address(this), scheduler));
        HubAudit(address(hub)).finalizeReplicatedBatch(d, f);

        vm.startPrank(scheduler);
        // a lying list: the loser left out of task 2's contributors
        f[2].workers = _sorted(workers[0], workers[1]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.InvalidContributorList.selector, _taskId(d, 2)));
        HubAudit(address(hub)).finalizeReplicatedBatch(d, f);

        // a duplicate: the same task twice (the second finds it completed)
        f = _finals(_lists(), new bytes[](0));
        f[2] = f[0];
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TaskNotRevealing.selector, _taskId(d, 0), 3));
        HubAudit(address(hub)).finalizeReplicatedBatch(d, f);

        // an index out of the deal
        f = _finals(_lists(), new bytes[](0));
        f[2].index = 3;
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TaskIndexOutOfRange.selector, 3, 3));
        HubAudit(address(hub)).finalizeReplicatedBatch(d, f);

        // a deal that was not matched
        f = _finals(_lists(), new bytes[](0));
        d.workerStake += 1;
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.UnknownDeal.selector, _dealId(d)));
        HubAudit(address(hub)).finalizeReplicatedBatch(d, f);
        d.workerStake -= 1;
        vm.stopPrank();

        // a task whose reveals are still expected (worker 1 has not revealed yet)
        Deal memory pending = _simpleDeal(1, 3);
        _contribute(pending, 0, 0, DIGEST);
        _contribute(pending, 0, 1, DIGEST);
        _reveal(pending, 0, 0, DIGEST);
        address[][] memory one = new address[][](1);
        one[0] = _sorted(workers[0], workers[1]);
        vm.prank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.RevealsPending.selector, _taskId(pending, 0), 1, 2));
        HubAudit(address(hub)).finalizeReplicatedBatch(pending, _finals(one, new bytes[](0)));

        // nothing was applied
        for (uint256 i; i < 3; ++i) {
            assertEq(hubx.task(_taskId(d, i)).status, 2, "still revealing");
        }
        assertEq(_total(), total, "conservation");
    }

    /// Gas per task of one worker's contributions and reveals, batched by 1, 10 and 50 (execution only:
    /// scripts/gas-report gives whole transactions). The per-task cost must fall with the batch size.
    function test_gasPerTaskOfReplicatedBatches() public {
        _fund(requester, 100 * FUNDS);
        uint256 prevC = type(uint256).max;
        uint256 prevR = type(uint256).max;
        uint256[3] memory sizes = [uint256(1), 10, 50];
        for (uint256 s; s < 3; ++s) {
            uint256 n = sizes[s];
            Deal[] memory deals = new Deal[](1);
            deals[0] = _simpleDeal(n, 3);
            BatchContribution[][2] memory items;
            for (uint256 w; w < 2; ++w) {
                items[w] = new BatchContribution[](n);
                for (uint256 i; i < n; ++i) {
                    items[w][i] = _item(deals, 0, i, workers[w], DIGEST);
                }
            }
            _contributeBatch(deals, workers[0], items[0]);
            vm.prank(workers[1]);
            uint256 g = gasleft();
            sel.contributeBatch(deals, items[1]);
            uint256 perC = (g - gasleft()) / n;
            bytes32[] memory ids = new bytes32[](n);
            bytes32[] memory digests = new bytes32[](n);
            for (uint256 i; i < n; ++i) {
                (ids[i], digests[i]) = (_taskId(deals[0], i), DIGEST);
            }
            vm.prank(workers[1]);
            g = gasleft();
            sel.revealBatch(ids, digests);
            uint256 perR = (g - gasleft()) / n;
            emit log_named_uint(string.concat("contributeBatch gas per task, batch ", vm.toString(n)), perC);
            emit log_named_uint(string.concat("revealBatch gas per task, batch ", vm.toString(n)), perR);
            assertLe(perC + 1, prevC, "contributions cheaper per task as the batch grows");
            assertLe(perR + 1, prevR, "reveals cheaper per task as the batch grows");
            (prevC, prevR) = (perC, perR);
        }
    }

    event log_named_uint(string key, uint256 val);
}
