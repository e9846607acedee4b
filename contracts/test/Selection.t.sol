// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {IHubErrors} from "../src/interfaces/IHub.sol";
import {HubSelection} from "../src/HubSelection.sol";
import {Beacon} from "../src/beacon/Beacon.sol";
import {Draw} from "../src/libs/Draw.sol";
import {Deal, DrawProof, DatasetOrder} from "../src/libs/Types.sol";

/// Random worker selection (HubSelection): snapshots, the draw checked at contribute, waves and slashing of
/// absent drawn workers, and every refusal by its named error.
contract SelectionTest is Fixture {
    uint64 internal constant REAL_ROUND = 10_000_000;
    bytes32 internal constant TAG_RANDOM = bytes32(uint256(2));
    uint256 internal constant MIN = 50e9;

    /// drand's signature of evmnet round 10,000,000.
    function _realSig() internal pure returns (uint256[2] memory) {
        return [
            uint256(0x2c7b65b5acfe55256910ca71cf0a0fa71ac34c2a1167f86a22930a03e70ebec0),
            uint256(0x0f7a530796e7ee38600b06da0390634a9b154e3eebc3b323dde2111e1c8ebdf3)
        ];
    }

    /// drand's signature of evmnet round 1000 (another round's: a wrong signature for REAL_ROUND).
    function _otherSig() internal pure returns (uint256[2] memory) {
        return [
            uint256(0x06fd5996329504d3a56b482d9222bf7205857d0a9559ddd216ca31a286f6a8cc),
            uint256(0x0a120f021aac2f13553fb164f62bc3a5ca32c76dea88a777b39bcf3cac5fdbd6)
        ];
    }

    function setUp() public override {
        super.setUp();
        vm.prank(scheduler);
        hubx.setMinWorkerStake(pool, MIN);
        // six staked members, stakes 50..100e9
        for (uint256 i; i < 6; ++i) {
            vm.prank(workers[i]);
            hubx.joinPool(pool, MIN + i * 10e9);
        }
    }

    /// The staked members in address order.
    function _members() internal view returns (address[] memory l) {
        l = new address[](6);
        for (uint256 i; i < 6; ++i) {
            l[i] = workers[i];
        }
        for (uint256 i = 1; i < 6; ++i) {
            for (uint256 j = i; j > 0 && l[j] < l[j - 1]; --j) {
                (l[j], l[j - 1]) = (l[j - 1], l[j]);
            }
        }
    }

    /// The snapshot as commitSnapshot builds it.
    function _snapshot() internal view returns (Draw.Worker[] memory s) {
        address[] memory l = _members();
        s = new Draw.Worker[](l.length);
        for (uint256 i; i < l.length; ++i) {
            (uint256 stake,,,,) = hubx.poolMember(pool, l[i]);
            s[i] = Draw.Worker(l[i], stake, sel.workerCluster(pool, l[i]));
        }
    }

    /// Commits the snapshot, then moves the clock so that a deal matched now has REAL_ROUND as wave 0's
    /// round, and matches a random deal at `trust`.
    function _randomDeal(uint256 trust) internal returns (Deal memory d, Draw.Worker[] memory snap) {
        sel.commitSnapshot(pool, _members());
        snap = _snapshot();
        vm.warp(beacon.roundTime(REAL_ROUND - 2));
        DatasetOrder memory none;
        d = _match(
            _appOrder(app, 1),
            none,
            _poolOrder(1, trust, TAG_RANDOM),
            _requestOrder(app, address(0), 1, trust, TAG_RANDOM, address(0))
        );
    }

    function _proof(uint256 w, uint256 position, Draw.Worker[] memory snap)
        internal
        pure
        returns (DrawProof memory p)
    {
        p.snapshotIndex = 0;
        p.wave = w;
        p.position = position;
        p.snapshot = snap;
    }

    /// The worker at each position of wave `w` (and whether chosen), as the hub computes them.
    function _draw(Deal memory d, uint256 w, Draw.Worker[] memory snap, uint256 n)
        internal
        view
        returns (address[] memory at, bool[] memory chosen)
    {
        (uint64 round,,) = sel.wave(d, w);
        uint256[] memory idx;
        (idx, chosen) = Draw.draw(beacon.randomness(round), _dealId(d), 0, n, snap);
        at = new address[](n);
        for (uint256 j; j < n; ++j) {
            at[j] = snap[idx[j]].worker;
        }
    }

    function _contributeDrawn(Deal memory d, uint256 w, uint256 position, address worker, bytes32 digest)
        internal
    {
        bytes32 taskid = _taskId(d, 0);
        vm.prank(worker);
        sel.contributeDrawn(
            d,
            0,
            _resultHash(taskid, digest),
            _resultSeal(worker, taskid, digest),
            _proof(w, position, _snapshotOfDeal())
        );
    }

    Draw.Worker[] internal _dealSnap;

    function _snapshotOfDeal() internal view returns (Draw.Worker[] memory) {
        return _dealSnap;
    }

    function _keep(Draw.Worker[] memory snap) internal {
        delete _dealSnap;
        for (uint256 i; i < snap.length; ++i) {
            _dealSnap.push(snap[i]);
        }
    }

    function _indexOf(address w) internal view returns (uint256) {
        for (uint256 i; i < workers.length; ++i) {
            if (workers[i] == w) return i;
        }
        revert("not a worker");
    }

    // ---- the beacon round of a deal --------------------------------------------------------------

    function test_a_wrong_beacon_signature_is_refused() public {
        (Deal memory d,) = _randomDeal(5);
        (uint64 round,,) = sel.wave(d, 0);
        assertEq(round, REAL_ROUND, "wave 0 draws from REAL_ROUND");
        vm.warp(beacon.roundTime(round));
        vm.expectRevert(abi.encodeWithSelector(Beacon.BadBeaconSignature.selector, round));
        beacon.submit(round, _otherSig());
        assertEq(beacon.randomness(round), 0, "nothing stored");
    }

    function test_a_round_too_far_ahead_is_refused() public {
        (Deal memory d,) = _randomDeal(5);
        (uint64 round,,) = sel.wave(d, 0);
        uint256 due = beacon.roundTime(round);
        // the deal's round is two periods after its start: not submittable at the start
        vm.expectRevert(abi.encodeWithSelector(Beacon.RoundTooFarAhead.selector, round, due, block.timestamp));
        beacon.submit(round, _realSig());
    }

    function test_a_replayed_round_is_refused() public {
        (Deal memory d,) = _randomDeal(5);
        (uint64 round,,) = sel.wave(d, 0);
        vm.warp(beacon.roundTime(round));
        beacon.submit(round, _realSig());
        vm.expectRevert(abi.encodeWithSelector(Beacon.RoundAlreadyVerified.selector, round));
        beacon.submit(round, _realSig());
    }

    /// The rounds already published when the deal started are on chain, but the deal draws from a later one:
    /// nobody contributes until that round is there, and the past round's draw counts for nothing.
    function test_a_round_from_the_past_is_not_the_deals() public {
        (Deal memory d, Draw.Worker[] memory snap) = _randomDeal(5);
        _keep(snap);
        uint64 past = beacon.roundAt(block.timestamp);
        beacon.put(past, keccak256("published before the match"));
        (uint64 round,,) = sel.wave(d, 0);
        assertGe(round, past + 1, "the deal's round is after the start");
        // the worker at position 0 under the past round's randomness
        uint256[] memory idx;
        (idx,) = Draw.draw(beacon.randomness(past), _dealId(d), 0, 1, snap);
        vm.warp(beacon.roundTime(round));
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.RoundNotAvailable.selector, round));
        _contributeDrawn(d, 0, 0, snap[idx[0]].worker, keccak256("r"));
    }

    // ---- positions -----------------------------------------------------------------------------

    function _realRoundIn(Deal memory d) internal returns (uint64 round) {
        (round,,) = sel.wave(d, 0);
        vm.warp(beacon.roundTime(round));
        beacon.submit(round, _realSig());
    }

    function test_drawn_workers_reach_consensus_without_the_scheduler() public {
        (Deal memory d, Draw.Worker[] memory snap) = _randomDeal(5);
        _keep(snap);
        _realRoundIn(d);
        (address[] memory at, bool[] memory chosen) = _draw(d, 0, snap, 8);
        bytes32 digest = keccak256("result");
        uint256 done;
        address[] memory contributors = new address[](3);
        for (uint256 j; j < 8 && done < 3; ++j) {
            if (!chosen[j]) continue;
            _contributeDrawn(d, 0, j, at[j], digest);
            contributors[done++] = at[j];
        }
        assertEq(done, 3, "positionsPerWave(5) = 3 chosen positions");
        assertEq(sel.positionsPerWave(5), 3, "positionsPerWave");
        bytes32 taskid = _taskId(d, 0);
        assertEq(hubx.task(taskid).status, 2, "consensus: revealing");
        for (uint256 k; k < 3; ++k) {
            vm.prank(contributors[k]);
            hub.reveal(taskid, digest);
        }
        // sorted contributor list for finalize
        for (uint256 i = 1; i < 3; ++i) {
            for (uint256 j = i; j > 0 && contributors[j] < contributors[j - 1]; --j) {
                (contributors[j], contributors[j - 1]) = (contributors[j - 1], contributors[j]);
            }
        }
        _finalize(d, 0, contributors);
        assertEq(hubx.task(taskid).status, 3, "completed");
    }

    function test_a_worker_contributing_for_a_position_it_doesnt_hold_is_refused() public {
        (Deal memory d, Draw.Worker[] memory snap) = _randomDeal(5);
        _keep(snap);
        _realRoundIn(d);
        (address[] memory at,) = _draw(d, 0, snap, 1);
        address other = at[0] == workers[0] ? workers[1] : workers[0];
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotDrawn.selector, _taskId(d, 0), 0, 0, at[0]));
        _contributeDrawn(d, 0, 0, other, keccak256("r"));
    }

    /// The scheduler's way in, an authorization for a worker of its choice, is refused for a random deal;
    /// so is its chosen (undrawn) worker proving a position.
    function test_the_scheduler_cannot_get_a_worker_of_its_choice_in() public {
        (Deal memory d, Draw.Worker[] memory snap) = _randomDeal(5);
        _keep(snap);
        _realRoundIn(d);
        (address[] memory at, bool[] memory chosen) = _draw(d, 0, snap, 8);
        // the scheduler's favourite: a worker drawn at none of the wave's first 8 positions
        address favourite;
        for (uint256 i; i < 6 && favourite == address(0); ++i) {
            bool drawn;
            for (uint256 j; j < 8; ++j) {
                drawn = drawn || (chosen[j] && at[j] == workers[i]);
            }
            if (!drawn) favourite = workers[i];
        }
        assertTrue(favourite != address(0), "some worker is not drawn");
        bytes32 taskid = _taskId(d, 0);
        _contributeAs(
            favourite,
            d,
            0,
            keccak256("r"),
            abi.encodeWithSelector(IHubErrors.DrawnWorkersOnly.selector, taskid)
        );
        for (uint256 j; j < 3; ++j) {
            vm.expectRevert();
            _contributeDrawn(d, 0, j, favourite, keccak256("r"));
        }
        assertEq(hubx.task(taskid).status, 0, "nothing recorded");
    }

    function test_two_workers_of_one_cluster_are_never_drawn_for_one_task() public {
        // every worker in cluster 7: after the first chosen position, every other is skipped
        vm.startPrank(scheduler);
        for (uint256 i; i < 6; ++i) {
            sel.setWorkerCluster(pool, workers[i], 7);
        }
        vm.stopPrank();
        (Deal memory d, Draw.Worker[] memory snap) = _randomDeal(5);
        _keep(snap);
        assertEq(snap[0].cluster, 7, "the snapshot carries the cluster");
        _realRoundIn(d);
        (address[] memory at, bool[] memory chosen) = _draw(d, 0, snap, 2);
        assertTrue(chosen[0] && !chosen[1], "position 1 skipped");
        _contributeDrawn(d, 0, 0, at[0], keccak256("r"));
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.PositionSkipped.selector, _taskId(d, 0), 0, 1));
        _contributeDrawn(d, 0, 1, at[1], keccak256("r"));
    }

    function test_a_contribution_after_its_workers_deadline_is_refused() public {
        (Deal memory d, Draw.Worker[] memory snap) = _randomDeal(5);
        _keep(snap);
        _realRoundIn(d);
        (address[] memory at,) = _draw(d, 0, snap, 1);
        (, uint256 opensAt, uint256 closesAt) = sel.wave(d, 0);
        assertEq(closesAt - opensAt, 2 * REF, "a wave lasts WAVE_RATIO refs");
        vm.warp(closesAt);
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.PositionExpired.selector, _taskId(d, 0), 0, closesAt)
        );
        _contributeDrawn(d, 0, 0, at[0], keccak256("r"));
    }

    function test_a_position_beyond_the_waves_quorum_is_refused() public {
        (Deal memory d, Draw.Worker[] memory snap) = _randomDeal(2);
        _keep(snap);
        _realRoundIn(d);
        (address[] memory at, bool[] memory chosen) = _draw(d, 0, snap, 8);
        uint256 second;
        for (uint256 j = 1; j < 8 && second == 0; ++j) {
            if (chosen[j]) second = j;
        }
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.PositionOutOfRange.selector, _taskId(d, 0), second, 1)
        );
        _contributeDrawn(d, 0, second, at[second], keccak256("r"));
    }

    // ---- snapshots -------------------------------------------------------------------------------

    function test_a_snapshot_must_list_every_staked_member_in_order() public {
        address[] memory l = _members();
        address[] memory short = new address[](5);
        for (uint256 i; i < 5; ++i) {
            short[i] = l[i];
        }
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.IncompleteSnapshot.selector, pool, 5, 6));
        sel.commitSnapshot(pool, short);
        (l[0], l[1]) = (l[1], l[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.SnapshotNotSorted.selector, pool, l[1]));
        sel.commitSnapshot(pool, l);
        // a leaving member is out of the next snapshot
        vm.prank(workers[0]);
        hubx.leavePool(pool);
        assertEq(sel.stakedWorkers(pool), 5, "five staked members");
    }

    function test_a_snapshot_committed_after_the_deal_started_is_not_its() public {
        (Deal memory d, Draw.Worker[] memory snap) = _randomDeal(5);
        _realRoundIn(d);
        // a member leaves, a fresh snapshot is committed: the deal still draws over the one before its start
        vm.prank(workers[0]);
        hubx.leavePool(pool);
        address[] memory l = new address[](5);
        address[] memory all = _members();
        uint256 n;
        for (uint256 i; i < 6; ++i) {
            if (all[i] != workers[0]) l[n++] = all[i];
        }
        assertEq(sel.commitSnapshot(pool, l), 1, "second snapshot");
        assertEq(sel.snapshotBefore(pool, uint256(_start(d))), 0, "the deal's snapshot");
        (address[] memory at,) = _draw(d, 0, snap, 1);
        DrawProof memory p = _proof(0, 0, snap);
        p.snapshotIndex = 1;
        bytes32 taskid = _taskId(d, 0);
        vm.prank(at[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.WrongSnapshot.selector, _dealId(d), 1));
        sel.contributeDrawn(d, 0, bytes32(0), bytes32(0), p);
        // a forged snapshot (the caller given all the stake) does not match the root
        p.snapshotIndex = 0;
        Draw.Worker[] memory forged = new Draw.Worker[](1);
        forged[0] = Draw.Worker(workers[5], 1, 0);
        p.snapshot = forged;
        vm.prank(workers[5]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.SnapshotMismatch.selector, _dealId(d), 0));
        sel.contributeDrawn(d, 0, bytes32(0), bytes32(0), p);
        _refusedWithADirtyWord(d, snap, at[0]);
        assertEq(hubx.task(taskid).status, 0, "nothing recorded");
    }

    /// The deal's own snapshot with one address word made dirty (a high byte set, the low 20 bytes kept): the
    /// hub hashes the snapshot's calldata as sent, so it matches no root.
    function _refusedWithADirtyWord(Deal memory d, Draw.Worker[] memory snap, address worker) internal {
        DrawProof memory p = _proof(0, 0, snap);
        bytes memory data = abi.encodeCall(sel.contributeDrawn, (d, 0, bytes32(0), bytes32(0), p));
        bytes32 word = bytes32(uint256(uint160(snap[0].worker)));
        uint256 at0 = data.length;
        for (uint256 o = 4; o + 32 <= data.length; o += 32) {
            bytes32 w;
            assembly {
                w := mload(add(add(data, 0x20), o))
            }
            if (w == word) at0 = o;
        }
        assertTrue(at0 < data.length, "the worker's word is in the calldata");
        data[at0] = 0x01;
        vm.prank(worker);
        (bool ok, bytes memory reason) = address(sel).call(data);
        assertFalse(ok, "a dirty snapshot word is refused");
        assertEq(
            keccak256(reason),
            keccak256(abi.encodeWithSelector(IHubErrors.SnapshotMismatch.selector, _dealId(d), 0)),
            "SnapshotMismatch"
        );
    }

    function _start(Deal memory d) internal view returns (uint256 start) {
        (, start) = hubx.dealRecord(_dealId(d));
    }

    function test_no_snapshot_no_random_deal_contribution() public {
        DatasetOrder memory none;
        Deal memory d = _match(
            _appOrder(app, 1),
            none,
            _poolOrder(1, 5, TAG_RANDOM),
            _requestOrder(app, address(0), 1, 5, TAG_RANDOM, address(0))
        );
        uint256 start = _start(d);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NoSnapshotBefore.selector, pool, start));
        sel.snapshotBefore(pool, start);
        DrawProof memory p = _proof(0, 0, _snapshot());
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.WrongSnapshot.selector, _dealId(d), 0));
        sel.contributeDrawn(d, 0, bytes32(0), bytes32(0), p);
    }

    function test_the_facet_is_set_once() public {
        address current = hubx.selection();
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.SelectionAlreadySet.selector, current));
        hubx.setSelection(address(1));
    }

    // ---- waves and absent workers --------------------------------------------------------------

    /// Wave 0 closes without consensus because one drawn worker stayed away: it loses the deal's worker stake
    /// from its pool stake (once), and wave 1's draw brings replacements that reach consensus.
    function test_an_absent_drawn_worker_is_slashed_and_replaced() public {
        (Deal memory d, Draw.Worker[] memory snap) = _randomDeal(5);
        _keep(snap);
        _realRoundIn(d);
        _initialize(d, 0);
        (uint256 absentPos, uint256 present) = _wave0WithOneAbsent(d);
        address absent = _dealSnapAt(d, 0, absentPos);
        bytes32 taskid = _taskId(d, 0);
        // too early: the wave is still open
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotSlashable.selector, taskid, absent));
        sel.slashAbsent(d, 0, _proof(0, absentPos, _dealSnap));
        (, uint256 opens1,) = sel.wave(d, 1);
        vm.warp(opens1);
        (uint256 stakeBefore,,,,) = hubx.poolMember(pool, absent);
        uint256 kittyBefore = hubx.kitty();
        sel.slashAbsent(d, 0, _proof(0, absentPos, _dealSnap));
        (uint256 stakeAfter,,,,) = hubx.poolMember(pool, absent);
        assertEq(stakeBefore - stakeAfter, d.workerStake, "the deal's worker stake is taken");
        assertEq(hubx.kitty() - kittyBefore, d.workerStake, "to the kitty");
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.AlreadySlashed.selector, taskid, absent));
        sel.slashAbsent(d, 0, _proof(0, absentPos, _dealSnap));
        // a worker that contributed is not slashable
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.NotSlashable.selector, taskid, _dealSnapAt(d, 0, present))
        );
        sel.slashAbsent(d, 0, _proof(0, present, _dealSnap));
        _wave1Completes(d);
    }

    /// The worker at position `j` of wave `w` of task 0 of `d`.
    function _dealSnapAt(Deal memory d, uint256 w, uint256 j) internal view returns (address) {
        (address[] memory at,) = _draw(d, w, _dealSnap, j + 1);
        return at[j];
    }

    /// The first two chosen positions of wave 0 contribute, the third stays away; returns its position and
    /// one that contributed.
    function _wave0WithOneAbsent(Deal memory d) internal returns (uint256 absentPos, uint256 present) {
        (address[] memory at, bool[] memory chosen) = _draw(d, 0, _dealSnap, 8);
        uint256 n;
        for (uint256 j; j < 8 && n < 3; ++j) {
            if (!chosen[j]) continue;
            if (n < 2) {
                _contributeDrawn(d, 0, j, at[j], keccak256("result"));
                present = j;
            } else {
                absentPos = j;
            }
            ++n;
        }
        assertEq(n, 3, "three chosen positions");
    }

    /// Wave 1 (a later round) draws replacements that complete the consensus.
    function _wave1Completes(Deal memory d) internal {
        (uint64 round1,,) = sel.wave(d, 1);
        assertGe(round1, REAL_ROUND + 1, "wave 1 draws from a later round");
        beacon.put(round1, keccak256("wave 1"));
        bytes32 taskid = _taskId(d, 0);
        (address[] memory at, bool[] memory chosen) = _draw(d, 1, _dealSnap, 16);
        bool consensus;
        for (uint256 j; j < 16 && !consensus; ++j) {
            if (!chosen[j]) continue;
            (uint8 cstatus,,,) = hubx.contribution(taskid, at[j]);
            if (cstatus != 0) continue;
            _contributeDrawn(d, 1, j, at[j], keccak256("result"));
            consensus = hubx.task(taskid).status == 2;
        }
        assertTrue(consensus, "the replacement completes the consensus");
    }

    function _firstChosen(bool[] memory chosen) internal pure returns (uint256 j) {
        while (!chosen[j]) ++j;
    }

    function test_a_deal_without_the_random_tag_takes_no_drawn_contribution() public {
        sel.commitSnapshot(pool, _members());
        Draw.Worker[] memory snap = _snapshot();
        vm.warp(block.timestamp + 1);
        Deal memory d = _simpleDeal(1, 5);
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotRandomDeal.selector, _dealId(d)));
        sel.contributeDrawn(d, 0, bytes32(0), bytes32(0), _proof(0, 0, snap));
    }

    /// Gas of the position proof: each drawn contribution of a trust-5 task over a six-worker snapshot against
    /// the same contribution authorized by the scheduler on a deal without the random tag (execution gas,
    /// printed, not asserted: `forge test --match-test test_gas_of_the_position_proof -vv`).
    function test_gas_of_the_position_proof() public {
        (Deal memory d, Draw.Worker[] memory snap) = _randomDeal(5);
        _keep(snap);
        _realRoundIn(d);
        (address[] memory at, bool[] memory chosen) = _draw(d, 0, snap, 8);
        uint256[3] memory drawnGas;
        address[3] memory who;
        uint256 n;
        for (uint256 j; j < 8 && n < 3; ++j) {
            if (!chosen[j]) continue;
            uint256 g = gasleft();
            _contributeDrawn(d, 0, j, at[j], keccak256("r"));
            drawnGas[n] = g - gasleft();
            who[n++] = at[j];
        }
        Deal memory plain = _simpleDeal(1, 5);
        for (uint256 k; k < 3; ++k) {
            uint256 g = gasleft();
            _contributeAs(who[k], plain, 0, keccak256("r"), "");
            uint256 authorized = g - gasleft();
            emit log_named_uint("drawn contribution (execution gas)", drawnGas[k]);
            emit log_named_uint("authorized contribution (execution gas)", authorized);
            emit log_named_uint("extra gas of the position proof", drawnGas[k] - authorized);
        }
    }

    event log_named_uint(string key, uint256 val);
}
