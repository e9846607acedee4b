// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {HubKit} from "./utils/HubKit.sol";
import {IHubErrors, IHubEvents} from "../src/interfaces/IHub.sol";
import {Sha512} from "../src/libs/Sha512.sol";
import {DatasetOrder, Deal, EnclaveAttestation} from "../src/libs/Types.sol";

/// Challenges of attestations (HubKeepers.challengeAttestation, docs/confidential.md#challenge-and-slash), on
/// real `sim` quotes written by the Rust tee crate (test/tee-vectors.json, from
/// crates/tee/tests/challenge_vectors.rs): the contract reads them at the same offsets and hashes their
/// report_data preimage to the same SHA-512 as Rust does; an honest attestation's challenge reverts and
/// changes nothing; each contradiction (debug TD, another runner, report_data of another task) takes the
/// signer's whole stake, every token accounted for; a second challenge is refused.
contract ChallengeTest is Fixture {
    bytes32 internal constant TEE = bytes32(uint256(1));
    uint256 internal constant Q_REPORT_DATA = 568;

    event log_named_uint(string key, uint256 val);

    string internal vectors;
    address internal simApp;
    bytes32 internal simMeasurement;
    bytes32 internal hpkeKey;
    bytes32 internal nonce;
    address internal challenger;

    function setUp() public override {
        super.setUp();
        vectors = vm.readFile("test/tee-vectors.json");
        simMeasurement = vm.parseJsonBytes32(vectors, ".simMeasurement");
        hpkeKey = vm.parseJsonBytes32(vectors, ".hpkeKey");
        nonce = vm.parseJsonBytes32(vectors, ".nonce");
        // an app whose runner is the sim one, with the vectors' checksum
        vm.prank(appOwner);
        simApp = apps.register(
            "sim-tee",
            "https://apps.example/sim.wasm",
            vm.parseJsonBytes32(vectors, ".appChecksum"),
            simMeasurement
        );
        challenger = workers[5];
    }

    // ---- the contract reads what the Rust crate wrote ----------------------------------------------

    function test_sha512IsRusts() public {
        for (uint256 i; i < 6; ++i) {
            bytes memory input = vm.parseJsonBytes(vectors, string.concat(".sha512Input", vm.toString(i)));
            (bytes32 hi, bytes32 lo) = Sha512.hash(input);
            assertEq(
                keccak256(abi.encodePacked(hi, lo)),
                keccak256(vm.parseJsonBytes(vectors, string.concat(".sha512Digest", vm.toString(i)))),
                string.concat("sha512 of ", vm.toString(input.length), " bytes")
            );
        }
        uint256 gas = gasleft();
        Sha512.hash(new bytes(194));
        emit log_named_uint("gas of Sha512.hash, 194 bytes (a report_data preimage)", gas - gasleft());
        // FIPS 180-4's "abc"
        (bytes32 h, bytes32 l) = Sha512.hash("abc");
        assertEq(h, 0xddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a, "abc, first half");
        assertEq(l, 0x2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f, "abc, second half");
    }

    function test_quoteClaimsAreRusts() public view {
        bytes memory rd = vm.parseJsonBytes(vectors, ".reportData");
        string[3] memory keys = [".honestQuote", ".debugQuote", ".otherRunnerQuote"];
        bool[3] memory debugs = [false, true, false];
        bytes32[3] memory runners =
            [simMeasurement, simMeasurement, vm.parseJsonBytes32(vectors, ".otherMeasurement")];
        for (uint256 i; i < 3; ++i) {
            (bool debug, bytes32 m, bytes32 hi, bytes32 lo) =
                keep.tdxQuoteClaims(vm.parseJsonBytes(vectors, keys[i]));
            assertTrue(debug == debugs[i], string.concat(keys[i], " debug"));
            assertEq(m, runners[i], string.concat(keys[i], " measurement"));
            assertEq(
                keccak256(abi.encodePacked(hi, lo)), keccak256(rd), string.concat(keys[i], " report_data")
            );
        }
        // the contract's report_data of the vectors' fields is Rust's
        (bytes32 eHi, bytes32 eLo) = keep.reportDataOf(
            vm.parseJsonBytes32(vectors, ".taskId"),
            vm.parseJsonBytes32(vectors, ".appChecksum"),
            vm.parseJsonAddress(vectors, ".enclave"),
            hpkeKey,
            nonce
        );
        assertEq(keccak256(abi.encodePacked(eHi, eLo)), keccak256(rd), "report_data");
    }

    // ---- challenges --------------------------------------------------------------------------------

    function _simDeal() internal returns (Deal memory) {
        DatasetOrder memory none;
        return _match(
            _appOrder(simApp, 1),
            none,
            _poolOrder(1, 1, TEE),
            _requestOrder(simApp, address(0), 1, 1, TEE, address(0))
        );
    }

    /// Rust's quote `key` with its report_data replaced by what the enclave of `taskid` binds (the quote's
    /// signature is not checked on chain, so this is the quote a real enclave of this task would give).
    function _forTask(string memory key, bytes32 taskid) internal view returns (bytes memory q) {
        q = vm.parseJsonBytes(vectors, key);
        (bytes32 hi, bytes32 lo) =
            keep.reportDataOf(taskid, vm.parseJsonBytes32(vectors, ".appChecksum"), enclave, hpkeKey, nonce);
        assembly {
            mstore(add(q, add(32, Q_REPORT_DATA)), hi)
            mstore(add(q, add(64, Q_REPORT_DATA)), lo)
        }
    }

    /// Attester `i`'s statement of `measurement` for `taskid` and `enclave`, committing to `quote`.
    function _statement(uint256 i, bytes32 taskid, bytes32 measurement, bytes memory quote)
        internal
        view
        returns (EnclaveAttestation memory a)
    {
        a = EnclaveAttestation(
            taskid,
            enclave,
            measurement,
            0,
            uint64(block.timestamp + 1 days),
            keccak256(abi.encodePacked(quote, hpkeKey, nonce)),
            ""
        );
        a.sign = HubKit.sign(attesterPks[i], keep.hashEnclaveAttested(a));
    }

    function _challenge(Deal memory d, EnclaveAttestation memory a, bytes memory quote)
        internal
        returns (uint256 gas)
    {
        vm.prank(challenger);
        gas = gasleft();
        keep.challengeAttestation(d, 0, a, quote, hpkeKey, nonce);
        gas -= gasleft();
    }

    function _expectSlashed(
        Deal memory d,
        string memory what,
        uint256 i,
        EnclaveAttestation memory a,
        bytes memory quote,
        uint256 contradictions
    ) internal {
        uint256 total = _total();
        uint256 kitty = hubx.kitty();
        uint256 before = hubx.balanceOf(challenger);
        vm.expectEmit(address(hub));
        emit IHubEvents.AttestationContradicted(attesters[i], a.taskId, contradictions);
        vm.expectEmit(address(hub));
        emit IHubEvents.AttesterSlashed(
            attesters[i], a.taskId, challenger, ATTESTER_STAKE, ATTESTER_STAKE / 2
        );
        uint256 gas = _challenge(d, a, quote);
        emit log_named_uint(string.concat("gas of challengeAttestation, ", what), gas);
        (uint256 stake,,, bool slashed, bool active) = keep.attester(attesters[i]);
        assertEq(stake, 0, "the whole stake");
        assertTrue(slashed && !active, "slashed, no longer counted");
        assertEq(hubx.balanceOf(challenger), before + ATTESTER_STAKE / 2, "the challenger's half");
        assertEq(hubx.kitty(), kitty + ATTESTER_STAKE - ATTESTER_STAKE / 2, "the kitty's half");
        assertEq(_total(), total, "every token accounted for");
        assertEq(_total(), token.balanceOf(address(hub)), "the hub holds them");
        // a second challenge of the same attester is refused
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NothingToSlash.selector, attesters[i]));
        keep.challengeAttestation(d, 0, a, quote, hpkeKey, nonce);
    }

    function test_honestAttestationCannotBeChallenged() public {
        Deal memory d = _simDeal();
        bytes32 taskid = _taskId(d, 0);
        bytes memory q = _forTask(".honestQuote", taskid);
        EnclaveAttestation memory a = _statement(0, taskid, simMeasurement, q);
        uint256 total = _total();
        uint256 before = hubx.balanceOf(challenger);
        vm.prank(challenger);
        uint256 gas = gasleft();
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.AttestationConsistent.selector, attesters[0], taskid)
        );
        keep.challengeAttestation(d, 0, a, q, hpkeKey, nonce);
        gas -= gasleft();
        emit log_named_uint("gas of challengeAttestation, honest (reverts)", gas);
        (uint256 stake,,, bool slashed, bool active) = keep.attester(attesters[0]);
        assertEq(stake, ATTESTER_STAKE, "stake kept");
        assertTrue(!slashed && active, "still counted");
        assertEq(hubx.balanceOf(challenger), before, "nothing paid");
        assertEq(_total(), total, "nothing moved");
    }

    function test_debugTdIsSlashed() public {
        Deal memory d = _simDeal();
        bytes32 taskid = _taskId(d, 0);
        bytes memory q = _forTask(".debugQuote", taskid);
        _expectSlashed(d, "debug TD", 0, _statement(0, taskid, simMeasurement, q), q, 1);
    }

    function test_anotherRunnerIsSlashed() public {
        Deal memory d = _simDeal();
        bytes32 taskid = _taskId(d, 0);
        bytes memory q = _forTask(".otherRunnerQuote", taskid);
        // signed as the app's runner: neither what the quote says nor, then, the app's
        _expectSlashed(
            d, "measurement not the one signed", 1, _statement(1, taskid, simMeasurement, q), q, 2 | 4
        );
    }

    function test_runnerNotTheAppsIsSlashed() public {
        Deal memory d = _simDeal();
        bytes32 taskid = _taskId(d, 0);
        bytes memory q = _forTask(".otherRunnerQuote", taskid);
        bytes32 other = vm.parseJsonBytes32(vectors, ".otherMeasurement");
        // what the quote says, but not the runner the app names
        _expectSlashed(d, "measurement not the app's", 2, _statement(2, taskid, other, q), q, 4);
    }

    function test_quoteOfAnotherTaskIsSlashed() public {
        Deal memory d = _simDeal();
        bytes32 taskid = _taskId(d, 0);
        // Rust's quote as written: it binds the vectors' task, not this one (a replayed quote)
        bytes memory q = vm.parseJsonBytes(vectors, ".honestQuote");
        _expectSlashed(d, "report_data of another task", 3, _statement(3, taskid, simMeasurement, q), q, 8);
    }

    function test_leavingAttesterIsStillSlashable() public {
        Deal memory d = _simDeal();
        bytes32 taskid = _taskId(d, 0);
        bytes memory q = _forTask(".debugQuote", taskid);
        EnclaveAttestation memory a = _statement(0, taskid, simMeasurement, q);
        vm.prank(attesters[0]);
        keep.leaveAttesters();
        _challenge(d, a, q);
        (uint256 stake,,, bool slashed,) = keep.attester(attesters[0]);
        assertEq(stake, 0, "seized while leaving");
        assertTrue(slashed, "slashed");
    }

    function test_badChallengesChangeNothing() public {
        Deal memory d = _simDeal();
        bytes32 taskid = _taskId(d, 0);
        bytes memory q = _forTask(".debugQuote", taskid);
        EnclaveAttestation memory a = _statement(0, taskid, simMeasurement, q);
        uint256 total = _total();
        // evidence other than what was signed
        bytes memory other = _forTask(".honestQuote", taskid);
        vm.prank(challenger);
        vm.expectRevert(
            abi.encodeWithSelector(
                IHubErrors.EvidenceNotAttested.selector,
                a.evidenceHash,
                keccak256(abi.encodePacked(other, hpkeKey, nonce))
            )
        );
        keep.challengeAttestation(d, 0, a, other, hpkeKey, nonce);
        // another H than the one signed
        vm.prank(challenger);
        vm.expectRevert(
            abi.encodeWithSelector(
                IHubErrors.EvidenceNotAttested.selector,
                a.evidenceHash,
                keccak256(abi.encodePacked(q, bytes32(0), nonce))
            )
        );
        keep.challengeAttestation(d, 0, a, q, bytes32(0), nonce);
        // an attestation of another task than the deal's
        EnclaveAttestation memory elsewhere = _statement(0, keccak256("elsewhere"), simMeasurement, q);
        vm.prank(challenger);
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.EvidenceTaskMismatch.selector, elsewhere.taskId, taskid)
        );
        keep.challengeAttestation(d, 0, elsewhere, q, hpkeKey, nonce);
        // a signature by nobody registered
        EnclaveAttestation memory stranger = _statement(0, taskid, simMeasurement, q);
        stranger.sign = HubKit.sign(0xBAD, keep.hashEnclaveAttested(stranger));
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NothingToSlash.selector, vm.addr(0xBAD)));
        keep.challengeAttestation(d, 0, stranger, q, hpkeKey, nonce);
        // something that is not a TDX v4 quote: nothing can be said of it on chain
        bytes memory garbage = new bytes(700);
        EnclaveAttestation memory g = _statement(0, taskid, simMeasurement, garbage);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.UnsupportedQuote.selector, 700));
        keep.challengeAttestation(d, 0, g, garbage, hpkeKey, nonce);
        // an unknown deal
        Deal memory fake = d;
        fake.volume = 2;
        vm.prank(challenger);
        vm.expectRevert();
        keep.challengeAttestation(fake, 0, a, q, hpkeKey, nonce);
        assertEq(_total(), total, "nothing moved");
        (uint256 stake,,,,) = keep.attester(attesters[0]);
        assertEq(stake, ATTESTER_STAKE, "stake kept");
    }
}
