// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {IHubErrors} from "../src/interfaces/IHub.sol";
import {Draw} from "../src/libs/Draw.sol";
import {Deal, FastResult} from "../src/libs/Types.sol";

/// Keepers drawn per epoch (HubKeepers): a dataset's keeper group, the attester snapshot, the draw of an epoch
/// by the beacon, and the hub counting only the current epoch's keepers for a TEE task on the dataset.
contract KeepersTest is Fixture {
    uint256 internal constant EPOCH = 1 hours;
    bytes32 internal constant DIGEST = keccak256("result");
    bytes32 internal constant TEE = bytes32(uint256(1));
    bytes32 internal constant R1 = keccak256("randomness of the first epoch");
    bytes32 internal constant R2 = keccak256("randomness of the second epoch");

    uint256 internal e; // the first epoch drawn: the one after next, so its draw time is ahead

    function setUp() public override {
        super.setUp();
        vm.prank(admin);
        keep.setKeeperEpochLength(EPOCH);
        e = block.timestamp / EPOCH + 2;
    }

    // ---- helpers --------------------------------------------------------------------------------------

    /// The attester snapshot as commitAttesterSnapshot builds it (every attester, in address order).
    function _snapshot() internal view returns (Draw.Worker[] memory s) {
        s = new Draw.Worker[](attesters.length);
        for (uint256 i; i < attesters.length; ++i) {
            (uint256 stake,,,,) = keep.attester(attesters[i]);
            s[i] = Draw.Worker(attesters[i], stake, 0);
        }
    }

    function _group(uint256 n, uint256 k) internal {
        vm.prank(datasetOwner);
        keep.setKeeperGroup(dataset, n, k);
    }

    /// Publishes `r` as the round of `epoch`'s draw and moves the clock to the draw time.
    function _publish(uint256 epoch, bytes32 r) internal returns (uint64 round) {
        uint256 drawTime;
        (round, drawTime) = keep.keeperDrawRound(epoch);
        if (block.timestamp < drawTime) vm.warp(drawTime);
        beacon.put(round, r);
    }

    /// Snapshot now, publish epoch `e`'s round, draw it: the keepers.
    function _drawFirst(uint256 n, uint256 k) internal returns (address[] memory) {
        _group(n, k);
        keep.commitAttesterSnapshot(attesters);
        _publish(e, R1);
        return keep.drawKeepers(dataset, e, 0, _snapshot());
    }

    /// A TEE deal on the fixture's dataset needing `k` attestations by its tag.
    function _teeDatasetDeal(uint256 k) internal returns (Deal memory) {
        bytes32 tag = TEE | bytes32(k > 1 ? ((uint256(1) << (k - 1)) - 1) << 8 : 0);
        return _match(
            _appOrder(teeApp, 1),
            _datasetOrder(1),
            _poolOrder(1, 1, tag),
            _requestOrder(teeApp, dataset, 1, 1, tag, address(0))
        );
    }

    /// The attestations of the attesters at `idx` (increasing address order) for task 0 of `d`.
    function _atts(Deal memory d, uint256[] memory idx) internal view returns (bytes memory out) {
        for (uint256 i; i < idx.length; ++i) {
            out = bytes.concat(
                out,
                _attestation(idx[i], _taskId(d, 0), enclave, MRENCLAVE, 0, uint64(block.timestamp + 1 hours))
            );
        }
    }

    function _fastWith(Deal memory d, bytes memory att) internal view returns (FastResult memory r) {
        r = _fast(d, 0, 0, DIGEST);
        r.enclaveSign = bytes.concat(_enclaveSig(_taskId(d, 0), workers[0], DIGEST), att);
    }

    function _submit(Deal memory d, bytes memory att, bytes memory err) internal {
        FastResult memory r = _fastWith(d, att);
        vm.prank(workers[0]);
        if (err.length != 0) vm.expectRevert(err);
        hub.contributeAndFinalize(d, 0, r);
        if (err.length == 0) assertEq(hubx.task(_taskId(d, 0)).status, 3, "completed");
    }

    /// Indexes (in `attesters`) of those in `keepers` (wanted = true) or not, increasing.
    function _which(address[] memory keepers, bool wanted) internal view returns (uint256[] memory out) {
        uint256 count;
        uint256[] memory tmp = new uint256[](attesters.length);
        for (uint256 i; i < attesters.length; ++i) {
            bool isKeeper;
            for (uint256 j; j < keepers.length; ++j) {
                isKeeper = isKeeper || keepers[j] == attesters[i];
            }
            if (isKeeper == wanted) tmp[count++] = i;
        }
        out = new uint256[](count);
        for (uint256 i; i < count; ++i) {
            out[i] = tmp[i];
        }
    }

    function _one(uint256 i) internal pure returns (uint256[] memory l) {
        l = new uint256[](1);
        l[0] = i;
    }

    // ---- the draw -------------------------------------------------------------------------------------

    function test_drawPicksNDistinctAttestersAsTheDrawLibrary() public {
        address[] memory keepers = _drawFirst(2, 2);
        assertEq(keepers.length, 2, "n keepers");
        assertTrue(keepers[0] != keepers[1], "distinct");
        // the same positions recomputed with Draw: stake-weighted picks keccak(R, dataset, epoch, j), skipping repeats
        Draw.Worker[] memory snap = _snapshot();
        uint256[] memory cum = Draw.cumulate(snap);
        uint256 found;
        address[] memory want = new address[](2);
        for (uint256 j; found < 2; ++j) {
            address a = snap[Draw.pick(Draw.seed(R1, bytes32(uint256(uint160(dataset))), e, j), cum)].worker;
            if (found == 1 && want[0] == a) continue;
            want[found++] = a;
        }
        assertEq(keepers[0], want[0], "first keeper");
        assertEq(keepers[1], want[1], "second keeper");
        for (uint256 i; i < attesters.length; ++i) {
            bool drawn = attesters[i] == keepers[0] || attesters[i] == keepers[1];
            assertTrue(keep.isKeeper(dataset, e, attesters[i]) == drawn, "isKeeper");
            assertFalse(keep.isKeeper(dataset, e + 1, attesters[i]), "not of an undrawn epoch");
        }
    }

    function test_aDrawBeforeItsRoundExistsIsRefused() public {
        _group(2, 2);
        keep.commitAttesterSnapshot(attesters);
        (uint64 round, uint256 drawTime) = keep.keeperDrawRound(e);
        vm.warp(drawTime);
        Draw.Worker[] memory snap = _snapshot();
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.RoundNotAvailable.selector, round));
        keep.drawKeepers(dataset, e, 0, snap);
        beacon.put(round, R1);
        keep.drawKeepers(dataset, e, 0, snap);
    }

    function test_aReplayedOrLateDrawIsRefused() public {
        _drawFirst(2, 2);
        Draw.Worker[] memory snap = _snapshot();
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.KeepersAlreadyDrawn.selector, dataset, e));
        keep.drawKeepers(dataset, e, 0, snap);
        // the next epoch, drawn only after its own epoch is over: late
        _publish(e + 1, R2);
        vm.warp((e + 2) * EPOCH);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.EpochOver.selector, dataset, e + 1));
        keep.drawKeepers(dataset, e + 1, 0, snap);
    }

    function test_theSnapshotMustBeTheEpochsAndComplete() public {
        _group(2, 2);
        address[] memory three = new address[](3);
        for (uint256 i; i < 3; ++i) {
            three[i] = attesters[i];
        }
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.IncompleteAttesterSnapshot.selector, 3, 4));
        keep.commitAttesterSnapshot(three);
        address[] memory unsorted = new address[](4);
        (unsorted[0], unsorted[1], unsorted[2], unsorted[3]) =
        (attesters[1], attesters[0], attesters[2], attesters[3]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.AttesterSnapshotNotSorted.selector, attesters[0]));
        keep.commitAttesterSnapshot(unsorted);

        keep.commitAttesterSnapshot(attesters);
        (uint64 round, uint256 drawTime) = keep.keeperDrawRound(e);
        vm.warp(drawTime);
        beacon.put(round, R1);
        // a snapshot committed at or after the draw time could have been chosen knowing the round
        keep.commitAttesterSnapshot(attesters);
        Draw.Worker[] memory snap = _snapshot();
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.WrongAttesterSnapshot.selector, 1, drawTime));
        keep.drawKeepers(dataset, e, 1, snap);
        // the epoch's snapshot with a stake altered
        snap[0].stake += 1;
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.AttesterSnapshotMismatch.selector, 0));
        keep.drawKeepers(dataset, e, 0, snap);
        snap[0].stake -= 1;
        keep.drawKeepers(dataset, e, 0, snap);
        assertEq(keep.attesterSnapshotBefore(drawTime), 0, "the epoch's snapshot");
    }

    function test_aLeavingAttesterLeavesTheSnapshot() public {
        vm.prank(attesters[2]);
        keep.leaveAttesters();
        (, uint256 listed) = keep.attesterSnapshotCount();
        assertEq(listed, 3, "three attesters to list");
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.IncompleteAttesterSnapshot.selector, 4, 3));
        keep.commitAttesterSnapshot(attesters);
        address[] memory three = new address[](3);
        (three[0], three[1], three[2]) = (attesters[0], attesters[1], attesters[3]);
        keep.commitAttesterSnapshot(three);
    }

    // ---- counting at contribution ---------------------------------------------------------------------

    function test_aKeeperNotOfThisEpochsDrawIsNotCounted() public {
        address[] memory keepers = _drawFirst(2, 2);
        vm.warp(e * EPOCH);
        Deal memory d = _teeDatasetDeal(2);
        uint256[] memory outsiders = _which(keepers, false);
        uint256[] memory insiders = _which(keepers, true);
        // one keeper and one registered, staked attester that is not of this epoch's draw
        uint256[] memory mixed = new uint256[](2);
        (mixed[0], mixed[1]) =
            insiders[0] < outsiders[0] ? (insiders[0], outsiders[0]) : (outsiders[0], insiders[0]);
        _submit(
            d,
            _atts(d, mixed),
            abi.encodeWithSelector(IHubErrors.NotKeeperOfEpoch.selector, dataset, e, attesters[outsiders[0]])
        );
        _submit(d, _atts(d, insiders), "");
    }

    function test_theGroupsThresholdRaisesTheAttestationsNeeded() public {
        address[] memory keepers = _drawFirst(3, 2);
        vm.warp(e * EPOCH);
        Deal memory d = _teeDatasetDeal(1); // the deal asks one attestation, the group two
        uint256[] memory insiders = _which(keepers, true);
        _submit(
            d,
            _atts(d, _one(insiders[0])),
            abi.encodeWithSelector(IHubErrors.TooFewAttestations.selector, _taskId(d, 0), 1, 2)
        );
        uint256[] memory two = new uint256[](2);
        (two[0], two[1]) = (insiders[0], insiders[1]);
        _submit(d, _atts(d, two), "");
    }

    function test_anUndrawnEpochCountsNobody() public {
        _drawFirst(2, 2);
        vm.warp((e + 1) * EPOCH); // epoch e + 1: nobody drew it
        Deal memory d = _teeDatasetDeal(2);
        uint256[] memory two = new uint256[](2);
        (two[0], two[1]) = (0, 1);
        _submit(d, _atts(d, two), abi.encodeWithSelector(IHubErrors.KeepersNotDrawn.selector, dataset, e + 1));
    }

    function test_atTheNextEpochTheOldKeepersNoLongerCount() public {
        address[] memory first = _drawFirst(2, 2);
        _publish(e + 1, R2);
        address[] memory second = keep.drawKeepers(dataset, e + 1, 0, _snapshot());
        // find R2's group differing from R1's (else the test proves nothing)
        uint256[] memory oldOnly;
        {
            uint256[] memory firstIdx = _which(first, true);
            uint256 n;
            uint256[] memory tmp = new uint256[](2);
            for (uint256 i; i < 2; ++i) {
                if (!keep.isKeeper(dataset, e + 1, attesters[firstIdx[i]])) tmp[n++] = firstIdx[i];
            }
            require(n > 0, "R2 drew the same group: pick another R2");
            oldOnly = new uint256[](n);
            for (uint256 i; i < n; ++i) {
                oldOnly[i] = tmp[i];
            }
        }
        vm.warp((e + 1) * EPOCH);
        Deal memory d = _teeDatasetDeal(2);
        uint256[] memory old = _which(first, true);
        _submit(
            d,
            _atts(d, old),
            abi.encodeWithSelector(
                IHubErrors.NotKeeperOfEpoch.selector, dataset, e + 1, attesters[oldOnly[0]]
            )
        );
        _submit(d, _atts(d, _which(second, true)), "");
    }

    function test_aDatasetWithoutAGroupBehavesAsBefore() public {
        Deal memory d = _teeDatasetDeal(2);
        uint256[] memory two = new uint256[](2);
        (two[0], two[1]) = (2, 3);
        _submit(d, _atts(d, two), "");
        // a group removed (n = 0): any attester counts again
        _group(2, 2);
        _group(0, 0);
        (uint256 n, uint256 k) = keep.keeperGroup(dataset);
        assertEq(n + k, 0, "no group");
        Deal memory d2 = _teeDatasetDeal(2);
        _submit(d2, _atts(d2, two), "");
    }

    // ---- administration -------------------------------------------------------------------------------

    function test_groupsAndEpochLengthAreGuarded() public {
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotDatasetOwner.selector, dataset, address(this)));
        keep.setKeeperGroup(dataset, 2, 2);
        vm.startPrank(datasetOwner);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.InvalidKeeperGroup.selector, 2, 3));
        keep.setKeeperGroup(dataset, 2, 3);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.InvalidKeeperGroup.selector, 10, 3));
        keep.setKeeperGroup(dataset, 10, 3);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.InvalidKeeperGroup.selector, 2, 0));
        keep.setKeeperGroup(dataset, 2, 0);
        vm.stopPrank();
        Draw.Worker[] memory snap = _snapshot();
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NoKeeperGroup.selector, dataset));
        keep.drawKeepers(dataset, e, 0, snap);
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.EpochLengthAlreadySet.selector, EPOCH));
        keep.setKeeperEpochLength(2 hours);
        vm.stopPrank();
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotAdmin.selector, address(this)));
        keep.setKeeperEpochLength(2 hours);
        assertEq(keep.keeperEpoch(), block.timestamp / EPOCH, "epoch");
    }

    function test_moreKeepersThanAttestersIsRefused() public {
        _group(5, 3);
        keep.commitAttesterSnapshot(attesters);
        _publish(e, R1);
        Draw.Worker[] memory snap = _snapshot();
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotEnoughKeepers.selector, dataset, 4, 5));
        keep.drawKeepers(dataset, e, 0, snap);
    }
}

/// What the keeper check adds to a TEE task's contributeAndFinalize at k = 3 (n = 3): printed, not asserted
/// (`forge test --match-test test_gasOfTheKeeperCheck -vv`); the hub's storage is cooled before each call so
/// that its reads cost what they cost in a transaction of their own. See scripts/gas-report (tee-k3-dataset).
contract KeepersGasTest is KeepersTest {
    event log_named_uint(string key, uint256 val);

    function _measure(Deal memory d, bytes memory att) internal returns (uint256 used) {
        FastResult memory r = _fastWith(d, att);
        vm.cool(address(hub));
        vm.prank(workers[0]);
        uint256 before = gasleft();
        hub.contributeAndFinalize(d, 0, r);
        used = before - gasleft();
        assertEq(hubx.task(_taskId(d, 0)).status, 3, "completed");
    }

    function test_gasOfTheKeeperCheck() public {
        // a first task pays the owners' first credits (zero to non-zero), so that both measures below pay alike
        Deal memory d0 = _teeDatasetDeal(3);
        uint256[] memory three = new uint256[](3);
        (three[0], three[1], three[2]) = (0, 1, 2);
        _submit(d0, _atts(d0, three), "");
        address[] memory keepers = _drawFirst(3, 3);
        vm.warp(e * EPOCH);
        Deal memory d = _teeDatasetDeal(3);
        uint256 withKeepers = _measure(d, _atts(d, _which(keepers, true)));
        _group(0, 0);
        Deal memory d2 = _teeDatasetDeal(3);
        uint256 without = _measure(d2, _atts(d2, _which(keepers, true)));
        emit log_named_uint("contributeAndFinalize, k = 3, dataset with a 3-of-3 keeper group", withKeepers);
        emit log_named_uint("contributeAndFinalize, k = 3, dataset without a group", without);
        emit log_named_uint("the keeper check", withKeepers - without);
        assertGe(withKeepers, without, "the check costs something");
    }
}
