// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {HubKit} from "./utils/HubKit.sol";
import {IHubErrors, IHubEvents} from "../src/interfaces/IHub.sol";
import {AppRegistry} from "../src/registries/AppRegistry.sol";
import {DatasetOrder, Deal, FastResult, EnclaveAttestation} from "../src/libs/Types.sol";

/// The attester registry and the k attestations a TEE contribution needs.
contract AttestersTest is Fixture {
    bytes32 internal constant DIGEST = keccak256("result");
    bytes32 internal constant TEE = bytes32(uint256(1));

    /// The tag of a TEE deal needing `k` attestations: bits 8 .. 8 + k - 2 set (a thermometer code).
    function _teeTag(uint256 k) internal pure returns (bytes32) {
        return TEE | bytes32(k > 1 ? ((uint256(1) << (k - 1)) - 1) << 8 : 0);
    }

    function _teeDealK(uint256 k) internal returns (Deal memory) {
        DatasetOrder memory none;
        bytes32 tag = _teeTag(k);
        return _match(
            _appOrder(teeApp, 1),
            none,
            _poolOrder(1, 1, tag),
            _requestOrder(teeApp, address(0), 1, 1, tag, address(0))
        );
    }

    /// Fast-path evidence for worker 0 on task 0 of `d` with `att` as the attestations.
    function _fastWith(Deal memory d, bytes memory att) internal view returns (FastResult memory r) {
        r = _fast(d, 0, 0, DIGEST);
        r.enclaveSign = bytes.concat(_enclaveSig(_taskId(d, 0), workers[0], DIGEST), att);
    }

    function _expectFastRevert(Deal memory d, bytes memory att, bytes memory err) internal {
        FastResult memory r = _fastWith(d, att);
        vm.prank(workers[0]);
        vm.expectRevert(err);
        hub.contributeAndFinalize(d, 0, r);
    }

    function _expectFastOk(Deal memory d, bytes memory att) internal {
        FastResult memory r = _fastWith(d, att);
        vm.prank(workers[0]);
        hub.contributeAndFinalize(d, 0, r);
        assertEq(hubx.task(_taskId(d, 0)).status, 3, "completed");
    }

    function _expiry() internal view returns (uint64) {
        return uint64(block.timestamp + 1 hours);
    }

    /// Attester `i`'s attestation of the fixture's enclave for task 0 of `d`, TCB up to date.
    function _att(uint256 i, Deal memory d) internal view returns (bytes memory) {
        return _attestation(i, _taskId(d, 0), enclave, MRENCLAVE, 0, _expiry());
    }

    // ---- k --------------------------------------------------------------------------------------------

    function test_kFromTag() public view {
        assertEq(keep.attestationsRequired(TEE), 1, "no bit: 1");
        assertEq(keep.attestationsRequired(_teeTag(2)), 2, "bit 8: 2");
        assertEq(keep.attestationsRequired(_teeTag(3)), 3, "bits 8-9: 3");
        assertEq(keep.attestationsRequired(bytes32(uint256(0x400))), 4, "bit 10 alone: 4");
        assertEq(keep.attestationsRequired(bytes32(uint256(0xff00))), 9, "all: 9");
        assertEq(keep.attestationsRequired(bytes32(uint256(0x10000))), 1, "bit 16 is not k's");
    }

    function testFuzz_kFromTag(bytes32 tag) public view {
        assertEq(keep.attestationsRequired(tag), HubKit.attestationsRequired(tag), "k");
        // a thermometer code of k gives k back; OR-ing two gives the larger
        uint256 k1 = bound(uint256(tag), 1, 9);
        uint256 k2 = bound(uint256(tag) >> 128, 1, 9);
        assertEq(keep.attestationsRequired(_teeTag(k1)), k1, "thermometer");
        assertEq(keep.attestationsRequired(_teeTag(k1) | _teeTag(k2)), k1 > k2 ? k1 : k2, "max");
    }

    function test_kTwoNeedsTwoDistinctAttesters() public {
        Deal memory d = _teeDealK(2);
        bytes32 taskid = _taskId(d, 0);
        _expectFastRevert(d, "", abi.encodeWithSelector(IHubErrors.TooFewAttestations.selector, taskid, 0, 2));
        _expectFastRevert(
            d, _att(0, d), abi.encodeWithSelector(IHubErrors.TooFewAttestations.selector, taskid, 1, 2)
        );
        _expectFastRevert(
            d,
            bytes.concat(_att(0, d), _att(0, d)),
            abi.encodeWithSelector(IHubErrors.DuplicateAttester.selector, taskid, attesters[0])
        );
        _expectFastRevert(
            d,
            bytes.concat(_att(1, d), _att(0, d)),
            abi.encodeWithSelector(IHubErrors.AttestersNotSorted.selector, taskid, attesters[0])
        );
        _expectFastRevert(
            d,
            bytes.concat(_att(0, d), hex"00"),
            abi.encodeWithSelector(IHubErrors.MalformedAttestations.selector, taskid, 107)
        );
        _expectFastOk(d, bytes.concat(_att(0, d), _att(1, d)));
    }

    function test_moreThanKAttestationsAreAllChecked() public {
        Deal memory d = _teeDealK(1);
        bytes32 taskid = _taskId(d, 0);
        bytes memory expired = _attestation(1, taskid, enclave, MRENCLAVE, 0, uint64(block.timestamp - 1));
        _expectFastRevert(
            d,
            bytes.concat(_att(0, d), expired),
            abi.encodeWithSelector(IHubErrors.AttestationExpired.selector, taskid, 1, block.timestamp - 1)
        );
        _expectFastOk(d, bytes.concat(_att(0, d), _att(1, d), _att(2, d)));
    }

    // ---- what each attestation must say ---------------------------------------------------------------

    function test_attestationMustNameThisTaskEnclaveAndMeasurement() public {
        Deal memory d = _teeDealK(1);
        bytes32 taskid = _taskId(d, 0);
        uint64 exp = _expiry();
        bytes32 ds = hubx.domainSeparator();
        // each wrong field makes the signature recover another address than the attester's
        bytes32[3] memory digests = [
            HubKit.enclaveAttestedDigest(ds, keccak256("other task"), enclave, MRENCLAVE, 0, exp),
            HubKit.enclaveAttestedDigest(ds, taskid, address(0xE2), MRENCLAVE, 0, exp),
            HubKit.enclaveAttestedDigest(ds, taskid, enclave, keccak256("other runner"), 0, exp)
        ];
        bytes[3] memory atts = [
            _attestation(0, keccak256("other task"), enclave, MRENCLAVE, 0, exp),
            _attestation(0, taskid, address(0xE2), MRENCLAVE, 0, exp),
            _attestation(0, taskid, enclave, keccak256("other runner"), 0, exp)
        ];
        bytes32 right = HubKit.enclaveAttestedDigest(ds, taskid, enclave, MRENCLAVE, 0, exp);
        for (uint256 i; i < 3; ++i) {
            address recovered = _recover(right, atts[i]);
            assertTrue(recovered != attesters[0], "not the attester");
            assertEq(_recover(digests[i], atts[i]), attesters[0], "signed by the attester");
            _expectFastRevert(
                d, atts[i], abi.encodeWithSelector(IHubErrors.UnknownAttester.selector, taskid, recovered)
            );
        }
        // the evidence hash is signed too: another one in the packed attestation recovers another address
        bytes memory altered = _attestation(0, taskid, enclave, MRENCLAVE, 0, exp);
        altered[9] ^= 0x01;
        address other = _recover(_evidenceDigest(ds, taskid, exp, altered), altered);
        assertTrue(other != attesters[0], "another evidence hash, another signer");
        _expectFastRevert(
            d, altered, abi.encodeWithSelector(IHubErrors.UnknownAttester.selector, taskid, other)
        );
        _expectFastOk(d, _att(0, d));
    }

    /// The digest of an attestation of `enclave` for `taskid` with MRENCLAVE that carries packed `att`'s
    /// evidence hash.
    function _evidenceDigest(bytes32 ds, bytes32 taskid, uint64 exp, bytes memory att)
        internal
        view
        returns (bytes32)
    {
        bytes32 e;
        assembly {
            e := mload(add(att, 41))
        }
        return HubKit.enclaveAttestedDigest(ds, taskid, enclave, MRENCLAVE, 0, exp, e);
    }

    function _recover(bytes32 h, bytes memory att) internal pure returns (address) {
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly {
            r := mload(add(att, 73))
            s := mload(add(att, 105))
            v := byte(0, mload(add(att, 137)))
        }
        return ecrecover(h, v, r, s);
    }

    function test_expiredAttestationRefused() public {
        Deal memory d = _teeDealK(1);
        bytes32 taskid = _taskId(d, 0);
        uint64 exp = uint64(block.timestamp + 10);
        bytes memory att = _attestation(0, taskid, enclave, MRENCLAVE, 0, exp);
        vm.warp(exp + 1);
        _expectFastRevert(
            d, att, abi.encodeWithSelector(IHubErrors.AttestationExpired.selector, taskid, 0, exp)
        );
        vm.warp(exp); // valid through its expiry second
        _expectFastOk(d, att);
    }

    function test_signatureByNonAttesterRefused() public {
        Deal memory d = _teeDealK(1);
        bytes32 taskid = _taskId(d, 0);
        uint256 pk = 0xBAD;
        bytes memory att =
            HubKit.attestation(pk, hubx.domainSeparator(), taskid, enclave, MRENCLAVE, 0, _expiry());
        _expectFastRevert(
            d, att, abi.encodeWithSelector(IHubErrors.UnknownAttester.selector, taskid, vm.addr(pk))
        );
        // garbage that recovers no address
        bytes memory garbage = bytes.concat(bytes1(0), bytes8(_expiry()), bytes32(0), new bytes(65));
        _expectFastRevert(
            d, garbage, abi.encodeWithSelector(IHubErrors.InvalidAttestation.selector, taskid, 0)
        );
    }

    function test_tcbStatusNeedsTheAppsPolicy() public {
        Deal memory d = _teeDealK(1);
        bytes32 taskid = _taskId(d, 0);
        bytes memory outOfDate = _attestation(0, taskid, enclave, MRENCLAVE, 3, _expiry());
        _expectFastRevert(
            d, outOfDate, abi.encodeWithSelector(IHubErrors.TcbStatusNotAccepted.selector, taskid, 3)
        );
        vm.prank(appOwner);
        apps.setTcbPolicy(teeApp, 1 << 1); // SW hardening needed only
        _expectFastRevert(
            d, outOfDate, abi.encodeWithSelector(IHubErrors.TcbStatusNotAccepted.selector, taskid, 3)
        );
        bytes memory unknown = _attestation(0, taskid, enclave, MRENCLAVE, 4, _expiry());
        vm.prank(appOwner);
        apps.setTcbPolicy(teeApp, 0xE);
        _expectFastRevert(
            d, unknown, abi.encodeWithSelector(IHubErrors.TcbStatusNotAccepted.selector, taskid, 4)
        );
        _expectFastOk(d, outOfDate);
    }

    function test_tcbPolicyIsTheAppOwners() public {
        vm.expectRevert(abi.encodeWithSelector(AppRegistry.NotAppOwner.selector, teeApp, address(this)));
        apps.setTcbPolicy(teeApp, 2);
        vm.startPrank(appOwner);
        vm.expectRevert(abi.encodeWithSelector(AppRegistry.NotTeeApp.selector, app));
        apps.setTcbPolicy(app, 2);
        vm.expectRevert(abi.encodeWithSelector(AppRegistry.InvalidTcbPolicy.selector, 1));
        apps.setTcbPolicy(teeApp, 1);
        vm.expectEmit(address(apps));
        emit AppRegistry.TcbPolicySet(teeApp, 6);
        apps.setTcbPolicy(teeApp, 6);
        vm.stopPrank();
        assertEq(apps.tcbPolicy(teeApp), 6, "policy");
        (, uint96 extra) = apps.ownerInfo(teeApp);
        assertEq(extra, 7, "TEE flag kept");
        assertEq(apps.mrenclaveOf(teeApp), MRENCLAVE, "mrenclave");
    }

    function testFuzz_tcbStatus(uint8 tcb, uint8 policy) public {
        policy &= 0xE;
        vm.prank(appOwner);
        apps.setTcbPolicy(teeApp, policy);
        Deal memory d = _teeDealK(1);
        bytes32 taskid = _taskId(d, 0);
        bytes memory att = _attestation(0, taskid, enclave, MRENCLAVE, tcb, _expiry());
        bool ok = tcb == 0 || (tcb <= 3 && (uint256(policy) >> tcb) & 1 == 1);
        if (ok) {
            _expectFastOk(d, att);
        } else {
            _expectFastRevert(
                d, att, abi.encodeWithSelector(IHubErrors.TcbStatusNotAccepted.selector, taskid, tcb)
            );
        }
    }

    /// Any k from 1 to 4 (the fixture's attesters) and any number given: accepted iff n >= k.
    function testFuzz_kOfN(uint8 kSeed, uint8 nSeed) public {
        uint256 k = bound(kSeed, 1, 4);
        uint256 n = bound(nSeed, 0, 4);
        Deal memory d = _teeDealK(k);
        bytes32 taskid = _taskId(d, 0);
        bytes memory att = _attestations(taskid, enclave, n);
        if (n >= k) {
            _expectFastOk(d, att);
        } else {
            _expectFastRevert(
                d, att, abi.encodeWithSelector(IHubErrors.TooFewAttestations.selector, taskid, n, k)
            );
        }
    }

    // ---- who may attest --------------------------------------------------------------------------------

    function test_leavingAttesterNoLongerCounts() public {
        Deal memory d = _teeDealK(1);
        bytes32 taskid = _taskId(d, 0);
        bytes memory att = _att(0, d);
        vm.prank(attesters[0]);
        vm.expectEmit(address(hub));
        emit IHubEvents.AttesterLeaving(attesters[0], block.timestamp + 7 days);
        keep.leaveAttesters();
        _expectFastRevert(
            d,
            att,
            abi.encodeWithSelector(
                IHubErrors.AttesterIsLeaving.selector, attesters[0], block.timestamp + 7 days
            )
        );
        (,,,, bool active) = keep.attester(attesters[0]);
        assertFalse(active, "inactive");
        _expectFastOk(d, _att(1, d));
        taskid;
    }

    function test_understakedAttesterNoLongerCounts() public {
        Deal memory d = _teeDealK(1);
        bytes memory att = _att(0, d);
        vm.prank(admin);
        hubx.setMinAttesterStake(ATTESTER_STAKE + 1);
        _expectFastRevert(
            d,
            att,
            abi.encodeWithSelector(
                IHubErrors.AttesterUnderstaked.selector, attesters[0], ATTESTER_STAKE, ATTESTER_STAKE + 1
            )
        );
        vm.prank(attesters[0]);
        keep.addAttesterStake(1);
        (uint256 stake,,,, bool active) = keep.attester(attesters[0]);
        assertEq(stake, ATTESTER_STAKE + 1, "topped up");
        assertTrue(active, "active again");
        _expectFastOk(d, att);
    }

    function test_slashedAttesterNoLongerCounts() public {
        Deal memory d = _teeDealK(1);
        bytes32 taskid = _taskId(d, 0);
        bytes memory att = _att(0, d);
        (EnclaveAttestation memory a, EnclaveAttestation memory b) = _doubleAttestation(0, taskid);
        keep.slashAttester(a, b);
        _expectFastRevert(d, att, abi.encodeWithSelector(IHubErrors.AttesterBanned.selector, attesters[0]));
        (, uint256 listed) = keep.attesterSnapshotCount();
        assertEq(listed, 3, "a slashed attester leaves the keeper snapshots");
    }

    function test_aLeavingAttesterSlashedLeavesTheSnapshotsOnce() public {
        Deal memory d = _teeDealK(1);
        (EnclaveAttestation memory a, EnclaveAttestation memory b) = _doubleAttestation(1, _taskId(d, 0));
        vm.prank(attesters[1]);
        keep.leaveAttesters();
        (, uint256 listed) = keep.attesterSnapshotCount();
        assertEq(listed, 3, "leaving");
        keep.slashAttester(a, b);
        (, listed) = keep.attesterSnapshotCount();
        assertEq(listed, 3, "slashed while leaving: not counted twice");
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.AttesterBanned.selector, attesters[1]));
        vm.prank(attesters[1]);
        keep.registerAttester(ATTESTER_STAKE);
    }

    function test_teeContributeChecksAttestationsToo() public {
        // a replicated TEE deal: the TEE branch of contribute counts k attestations as well
        DatasetOrder memory none;
        bytes32 tag = _teeTag(2);
        Deal memory d = _match(
            _appOrder(teeApp, 1),
            none,
            _poolOrder(1, 3, tag),
            _requestOrder(teeApp, address(0), 1, 3, tag, address(0))
        );
        bytes32 taskid = _taskId(d, 0);
        address w = workers[0];
        bytes32 rh = _resultHash(taskid, DIGEST);
        bytes32 rs = _resultSeal(w, taskid, DIGEST);
        bytes memory auth = _auth(w, taskid, enclave);
        bytes memory one = _enclaveSign(taskid, w, DIGEST, 1);
        bytes memory two = _enclaveSign(taskid, w, DIGEST, 2);
        vm.prank(w);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.TooFewAttestations.selector, taskid, 1, 2));
        hub.contribute(d, 0, rh, rs, enclave, one, auth);
        vm.prank(w);
        hub.contribute(d, 0, rh, rs, enclave, two, auth);
        assertEq(hubx.task(taskid).contributions, 1, "contributed");
    }

    function test_compactAuthorizationIsTheSameCheck() public {
        // the TEE worker sends the scheduler's authorization in 64 bytes (EIP-2098): the same signer is
        // recovered, so one over another enclave is refused as the 65-byte form is
        Deal memory d = _teeDealK(3);
        bytes32 taskid = _taskId(d, 0);
        FastResult memory r = _fastWith(d, bytes.concat(_att(0, d), _att(1, d), _att(2, d)));
        r.authorizationSign = HubKit.compact(_auth(workers[0], taskid, address(0xE)));
        assertEq(r.authorizationSign.length, 64, "compact");
        vm.prank(workers[0]);
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.InvalidAuthorization.selector, taskid, workers[0], enclave)
        );
        hub.contributeAndFinalize(d, 0, r);
        r.authorizationSign = HubKit.compact(_auth(workers[0], taskid, enclave));
        vm.prank(workers[0]);
        hub.contributeAndFinalize(d, 0, r);
        assertEq(hubx.task(taskid).status, 3, "completed");
    }

    // ---- the registry ----------------------------------------------------------------------------------

    function test_registerLeaveWithdraw() public {
        address a = vm.addr(0xA7F00);
        _fund(a, FUNDS);
        vm.startPrank(a);
        vm.expectRevert(
            abi.encodeWithSelector(
                IHubErrors.AttesterStakeBelowMinimum.selector, MIN_ATTESTER_STAKE - 1, MIN_ATTESTER_STAKE
            )
        );
        keep.registerAttester(MIN_ATTESTER_STAKE - 1);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.InsufficientBalance.selector, a, FUNDS, FUNDS + 1));
        keep.registerAttester(FUNDS + 1);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotAttester.selector, a));
        keep.leaveAttesters();
        vm.expectEmit(address(hub));
        emit IHubEvents.AttesterRegistered(a, MIN_ATTESTER_STAKE);
        keep.registerAttester(MIN_ATTESTER_STAKE);
        assertEq(hubx.balanceOf(a), FUNDS - MIN_ATTESTER_STAKE, "stake left the balance");
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.AlreadyAttester.selector, a));
        keep.registerAttester(MIN_ATTESTER_STAKE);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.AttesterNotLeaving.selector, a));
        keep.withdrawAttesterStake();
        keep.leaveAttesters();
        uint256 until = block.timestamp + keep.ATTESTER_LEAVE_DELAY();
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.AttesterIsLeaving.selector, a, until));
        keep.leaveAttesters();
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.AttesterIsLeaving.selector, a, until));
        keep.addAttesterStake(1);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.AttesterStakeLocked.selector, a, until));
        keep.withdrawAttesterStake();
        vm.warp(until);
        vm.expectEmit(address(hub));
        emit IHubEvents.AttesterLeft(a, MIN_ATTESTER_STAKE);
        keep.withdrawAttesterStake();
        vm.stopPrank();
        assertEq(hubx.balanceOf(a), FUNDS, "stake back");
        (uint256 stake, uint256 registeredAt,,,) = keep.attester(a);
        assertEq(stake + registeredAt, 0, "record deleted");
        assertEq(token.balanceOf(address(hub)), _total() + FUNDS, "conservation");
    }

    function test_registryAdministration() public {
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotAdmin.selector, address(this)));
        hubx.setMinAttesterStake(1);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.AmountTooLarge.selector, uint256(1) << 112));
        hubx.setMinAttesterStake(uint256(1) << 112);
        vm.prank(admin);
        vm.expectEmit(address(hub));
        emit IHubEvents.MinAttesterStakeChanged(0);
        hubx.setMinAttesterStake(0);
        address a = vm.addr(0xA7F01);
        _fund(a, FUNDS);
        vm.prank(a);
        vm.expectRevert(IHubErrors.AttesterRegistryClosed.selector);
        keep.registerAttester(FUNDS);
        assertEq(hub.minAttesterStake(), 0, "closed");
    }

    // ---- slashing --------------------------------------------------------------------------------------

    /// Two attestations by attester `i` of one task for two enclave keys, as slashAttester takes them.
    function _doubleAttestation(uint256 i, bytes32 taskid)
        internal
        view
        returns (EnclaveAttestation memory a, EnclaveAttestation memory b)
    {
        a = EnclaveAttestation(taskid, enclave, MRENCLAVE, 0, _expiry(), HubKit.EVIDENCE_HASH, "");
        b = EnclaveAttestation(taskid, address(0xE2), MRENCLAVE, 0, _expiry(), HubKit.EVIDENCE_HASH, "");
        a.sign = HubKit.sign(attesterPks[i], keep.hashEnclaveAttested(a));
        b.sign = HubKit.sign(attesterPks[i], keep.hashEnclaveAttested(b));
    }

    function test_slashingOnTwoEnclavesForOneTask() public {
        bytes32 taskid = keccak256("task");
        (EnclaveAttestation memory a, EnclaveAttestation memory b) = _doubleAttestation(0, taskid);
        address reporter = workers[5];
        uint256 kittyBefore = hubx.kitty();
        uint256 reward = ATTESTER_STAKE * keep.ATTESTER_SLASH_REWARD_RATIO() / 100;
        vm.prank(reporter);
        vm.expectEmit(address(hub));
        emit IHubEvents.AttesterSlashed(attesters[0], taskid, reporter, ATTESTER_STAKE, reward);
        keep.slashAttester(a, b);
        assertEq(hubx.balanceOf(reporter), FUNDS + reward, "reporter rewarded");
        assertEq(hubx.kitty(), kittyBefore + ATTESTER_STAKE - reward, "rest to the kitty");
        (uint256 stake,,, bool slashed, bool active) = keep.attester(attesters[0]);
        assertEq(stake, 0, "stake seized");
        assertTrue(slashed && !active, "slashed");
        // stakes in = balances + slashed: the attester's balance did not move, its stake is all seized
        assertEq(hubx.balanceOf(attesters[0]) + ATTESTER_STAKE, FUNDS, "attester's account");
        assertEq(token.balanceOf(address(hub)), _total(), "conservation");
        // once only, and never again under this key
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NothingToSlash.selector, attesters[0]));
        keep.slashAttester(a, b);
        vm.prank(attesters[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.AttesterBanned.selector, attesters[0]));
        keep.registerAttester(ATTESTER_STAKE);
        vm.prank(attesters[0]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotAttester.selector, attesters[0]));
        keep.withdrawAttesterStake();
    }

    function test_slashingEvidenceMustHold() public {
        bytes32 taskid = keccak256("task");
        (EnclaveAttestation memory a, EnclaveAttestation memory b) = _doubleAttestation(0, taskid);
        // same enclave twice: no rule broken
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.EvidenceSameEnclave.selector, enclave));
        keep.slashAttester(a, a);
        // two tasks
        EnclaveAttestation memory other =
            EnclaveAttestation(keccak256("task2"), address(0xE2), MRENCLAVE, 0, 1, HubKit.EVIDENCE_HASH, "");
        other.sign = HubKit.sign(attesterPks[0], keep.hashEnclaveAttested(other));
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.EvidenceTaskMismatch.selector, taskid, other.taskId)
        );
        keep.slashAttester(a, other);
        // two signers
        (, EnclaveAttestation memory b1) = _doubleAttestation(1, taskid);
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.EvidenceSignerMismatch.selector, attesters[0], attesters[1])
        );
        keep.slashAttester(a, b1);
        // an edited field no longer recovers the attester
        b.measurement = keccak256("edited");
        address edited = _recoverEvidence(b);
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.EvidenceSignerMismatch.selector, attesters[0], edited)
        );
        keep.slashAttester(a, b);
        // a non-attester's double attestation: nothing to slash
        EnclaveAttestation memory x =
            EnclaveAttestation(taskid, enclave, MRENCLAVE, 0, 1, HubKit.EVIDENCE_HASH, "");
        EnclaveAttestation memory y =
            EnclaveAttestation(taskid, address(0xE2), MRENCLAVE, 0, 1, HubKit.EVIDENCE_HASH, "");
        x.sign = HubKit.sign(0xBAD, keep.hashEnclaveAttested(x));
        y.sign = HubKit.sign(0xBAD, keep.hashEnclaveAttested(y));
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NothingToSlash.selector, vm.addr(0xBAD)));
        keep.slashAttester(x, y);
        (uint256 stake,,,,) = keep.attester(attesters[0]);
        assertEq(stake, ATTESTER_STAKE, "nothing changed");
    }

    function _recoverEvidence(EnclaveAttestation memory e) internal view returns (address) {
        bytes memory s = e.sign;
        bytes32 r;
        bytes32 ss;
        uint8 v;
        assembly {
            r := mload(add(s, 32))
            ss := mload(add(s, 64))
            v := byte(0, mload(add(s, 96)))
        }
        return ecrecover(keep.hashEnclaveAttested(e), v, r, ss);
    }

    function test_leavingAttesterIsSlashableUntilWithdrawn() public {
        vm.prank(attesters[1]);
        keep.leaveAttesters();
        (EnclaveAttestation memory a, EnclaveAttestation memory b) = _doubleAttestation(1, keccak256("t"));
        vm.warp(block.timestamp + keep.ATTESTER_LEAVE_DELAY() - 1);
        vm.prank(workers[5]);
        keep.slashAttester(a, b);
        vm.warp(block.timestamp + 1);
        vm.prank(attesters[1]);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotAttester.selector, attesters[1]));
        keep.withdrawAttesterStake();
        assertEq(hubx.balanceOf(attesters[1]), FUNDS - ATTESTER_STAKE, "stake lost");
        assertEq(token.balanceOf(address(hub)), _total(), "conservation");
    }

    function test_selfReportGetsNoReward() public {
        (EnclaveAttestation memory a, EnclaveAttestation memory b) = _doubleAttestation(2, keccak256("t"));
        uint256 kittyBefore = hubx.kitty();
        vm.prank(attesters[2]);
        keep.slashAttester(a, b);
        assertEq(hubx.balanceOf(attesters[2]), FUNDS - ATTESTER_STAKE, "no reward to itself");
        assertEq(hubx.kitty(), kittyBefore + ATTESTER_STAKE, "all to the kitty");
    }

    /// Token accounting over any sequence of registrations, top-ups, leaves, withdrawals and slashes:
    /// what the attesters staked = what they hold (balance + stake) + what was slashed from them.
    function testFuzz_attesterAccounting(uint256 seed) public {
        uint256 slashed;
        uint256 rewards;
        for (uint256 step; step < 12; ++step) {
            seed = uint256(keccak256(abi.encode(seed)));
            uint256 i = seed % attesters.length;
            uint256 op = (seed >> 8) % 5;
            address a = attesters[i];
            (uint256 stake,, uint256 leavingAt, bool isSlashed,) = keep.attester(a);
            vm.startPrank(a);
            if (op == 0 && stake == 0 && !isSlashed) {
                keep.registerAttester(MIN_ATTESTER_STAKE + (seed >> 16) % 1e9);
            } else if (op == 1 && stake != 0 && leavingAt == 0) {
                keep.addAttesterStake((seed >> 16) % 1e9);
            } else if (op == 2 && stake != 0 && leavingAt == 0) {
                keep.leaveAttesters();
            } else if (op == 3 && leavingAt != 0 && !isSlashed) {
                vm.warp(leavingAt);
                keep.withdrawAttesterStake();
            } else if (op == 4 && stake != 0) {
                vm.stopPrank();
                (EnclaveAttestation memory x, EnclaveAttestation memory y) =
                    _doubleAttestation(i, bytes32(seed));
                vm.prank(workers[0]);
                keep.slashAttester(x, y);
                slashed += stake;
                rewards += stake * keep.ATTESTER_SLASH_REWARD_RATIO() / 100;
                vm.startPrank(a);
            }
            vm.stopPrank();
        }
        uint256 held;
        for (uint256 i; i < attesters.length; ++i) {
            (uint256 stake,,,,) = keep.attester(attesters[i]);
            held += hubx.balanceOf(attesters[i]) + stake;
        }
        assertEq(held + slashed, FUNDS * attesters.length, "stakes in = balances + slashed");
        assertEq(hubx.balanceOf(workers[0]), FUNDS + rewards, "rewards");
        assertEq(token.balanceOf(address(hub)), _total(), "conservation");
    }
}
