// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Test} from "./utils/Test.sol";
import {Gateway} from "../src/oracle/Gateway.sol";
import {WorkPasses, IPassVerifier} from "../src/oracle/WorkPasses.sol";
import {Committee} from "../src/oracle/Committee.sol";
import {Delivery, DeliveryHash} from "../src/oracle/Delivery.sol";
import {DevToken} from "../src/DevToken.sol";
import {SingleResultFeed} from "../src/examples/SingleResultFeed.sol";
import {MedianFeed} from "../src/examples/MedianFeed.sol";
import {StakeVoteFeed} from "../src/examples/StakeVoteFeed.sol";
import {RandomGroupFeed} from "../src/examples/RandomGroupFeed.sol";
import {OracleFeed} from "../src/examples/OracleFeed.sol";

/// @notice A consumer that misbehaves on demand: reverts with a reason, loops, or burns all its gas.
contract FlakyConsumer {
    enum Mode {
        OK,
        REVERT,
        LOOP,
        EAT
    }

    Mode public mode;
    uint256 public received;
    bytes32 public lastTask;

    error Broken(uint256 code);

    constructor(WorkPasses passes, address owner) {
        passes.register(owner);
    }

    function setMode(Mode m) external {
        mode = m;
    }

    function receiveResult(bytes32 taskid, bytes calldata) external {
        if (mode == Mode.REVERT) revert Broken(42);
        if (mode == Mode.LOOP) {
            while (true) {}
        }
        if (mode == Mode.EAT) {
            // Memory expansion until the gas is gone.
            assembly {
                mstore(0xffffffffff, 1)
            }
        }
        received += 1;
        lastTask = taskid;
    }
}

contract FixedRandomness {
    mapping(uint64 => bytes32) public randomness;

    function set(uint64 round, bytes32 r) external {
        randomness[round] = r;
    }
}

contract AcceptAll is IPassVerifier {
    bool public answer;

    function set(bool a) external {
        answer = a;
    }

    function verifyPass(address, address, uint8, bytes32) external view returns (bool) {
        return answer;
    }
}

contract OracleTest is Test {
    Gateway internal gateway;
    WorkPasses internal passes;
    FlakyConsumer internal consumer;
    uint256[] internal keys;
    address internal constant OWNER = address(0x0e);
    address internal constant POOL = address(0x9001);
    address internal constant APP = address(0xa99);
    address internal constant HUB_A = address(0x4b);
    address internal constant RELAYER = address(0x7e1a);
    uint256 internal constant CHAIN_A = 65_001;
    bytes4 internal constant METHOD = FlakyConsumer.receiveResult.selector;

    function setUp() public {
        vm.warp(1_000_000);
        // Five members, sorted by address (signatures go in increasing signer order).
        uint256[5] memory ks = [uint256(0xa11ce), 0xb0b, 0xca401, 0xd4e, 0xe1e];
        for (uint256 i; i < 5; ++i) {
            keys.push(ks[i]);
        }
        for (uint256 i; i < 5; ++i) {
            for (uint256 j = i + 1; j < 5; ++j) {
                if (vm.addr(keys[j]) < vm.addr(keys[i])) (keys[i], keys[j]) = (keys[j], keys[i]);
            }
        }
        address[] memory members = new address[](5);
        for (uint256 i; i < 5; ++i) {
            members[i] = vm.addr(keys[i]);
        }
        gateway = new Gateway(members, 3);
        passes = gateway.passes();
        consumer = new FlakyConsumer(passes, OWNER);
        _grantWork(POOL, address(consumer), WorkPasses.Usage.PER_SERVICE, 0, new bytes4[](0));
    }

    // ---- helpers ----

    function _terms(WorkPasses.Scope scope, WorkPasses.Usage usage, uint32 uses)
        internal
        view
        returns (WorkPasses.Terms memory)
    {
        return WorkPasses.Terms({
            scope: scope,
            usage: usage,
            uses: uses,
            notBefore: uint64(block.timestamp),
            notAfter: uint64(block.timestamp + 1 days),
            reason: WorkPasses.Reason.COMMITTEE,
            evidence: keccak256("committee decision 1")
        });
    }

    function _grantWork(
        address holder,
        address to,
        WorkPasses.Usage usage,
        uint32 uses,
        bytes4[] memory methods
    ) internal returns (uint256 id) {
        vm.prank(OWNER);
        id = passes.grant(holder, to, _terms(WorkPasses.Scope.WORK, usage, uses), methods);
    }

    function _delivery(bytes32 taskid, bytes memory data, address to)
        internal
        pure
        returns (Delivery memory d)
    {
        d = Delivery({
            sourceChainId: CHAIN_A,
            sourceHub: HUB_A,
            dealid: keccak256("deal"),
            taskid: taskid,
            app: APP,
            dataset: address(0),
            workerpool: POOL,
            tag: bytes32(0),
            trust: 3,
            digest: keccak256(data),
            consumer: to,
            method: METHOD,
            gasLimit: 200_000
        });
    }

    function _sig(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function _digestFor(Delivery memory d, uint256 chainId, address gw) internal view returns (bytes32) {
        return this.typedHash(d, DeliveryHash.domain(chainId, gw));
    }

    function typedHash(Delivery calldata d, bytes32 domain) external pure returns (bytes32) {
        return DeliveryHash.typed(domain, d);
    }

    function _sigs(Delivery memory d, uint256 n) internal view returns (bytes[] memory sigs) {
        bytes32 h = gateway.deliveryDigest(d);
        sigs = new bytes[](n);
        for (uint256 i; i < n; ++i) {
            sigs[i] = _sig(keys[i], h);
        }
    }

    function _deliver(Delivery memory d, bytes memory data) internal {
        bytes[] memory sigs = _sigs(d, 3);
        vm.prank(RELAYER);
        gateway.deliver(d, data, sigs);
    }

    function _key(Delivery memory d) internal view returns (bytes32) {
        return gateway.deliveryKey(d.sourceChainId, d.sourceHub, d.taskid, d.consumer, d.method);
    }

    // ---- the committee path ----

    function test_deliversASignedResult() public {
        bytes memory data = abi.encode(int256(7));
        Delivery memory d = _delivery(bytes32(uint256(1)), data, address(consumer));
        _deliver(d, data);
        assertEq(consumer.received(), 1, "consumer called");
        assertEq(consumer.lastTask(), d.taskid, "with the task");
        assertEq(uint256(gateway.status(_key(d))), uint256(Gateway.Status.DELIVERED), "recorded");
    }

    function test_refusesAReplay() public {
        bytes memory data = abi.encode(int256(7));
        Delivery memory d = _delivery(bytes32(uint256(1)), data, address(consumer));
        _deliver(d, data);
        bytes[] memory sigs = _sigs(d, 3);
        vm.expectRevert(
            abi.encodeWithSelector(Gateway.AlreadyDelivered.selector, _key(d), Gateway.Status.DELIVERED)
        );
        gateway.deliver(d, data, sigs);
        assertEq(consumer.received(), 1, "called once");
    }

    function test_refusesSignaturesForAnotherChainOrGateway() public {
        bytes memory data = abi.encode(int256(7));
        Delivery memory d = _delivery(bytes32(uint256(1)), data, address(consumer));
        bytes32 otherChain = _digestFor(d, block.chainid + 1, address(gateway));
        bytes32 otherGateway = _digestFor(d, block.chainid, address(0xbeef));
        assertEq(
            _digestFor(d, block.chainid, address(gateway)), gateway.deliveryDigest(d), "same hash off chain"
        );
        bytes32[2] memory wrong = [otherChain, otherGateway];
        for (uint256 w; w < 2; ++w) {
            bytes[] memory sigs = new bytes[](3);
            for (uint256 i; i < 3; ++i) {
                sigs[i] = _sig(keys[i], wrong[w]);
            }
            vm.expectRevert();
            gateway.deliver(d, data, sigs);
        }
        assertEq(consumer.received(), 0, "nothing delivered");
    }

    function test_refusesTooFewSignatures() public {
        bytes memory data = abi.encode(int256(7));
        Delivery memory d = _delivery(bytes32(uint256(1)), data, address(consumer));
        bytes[] memory sigs = _sigs(d, 2);
        vm.expectRevert(abi.encodeWithSelector(Gateway.TooFewSignatures.selector, 2, 3));
        gateway.deliver(d, data, sigs);
    }

    function test_refusesASignerOutsideTheCommitteeOrARepeatedOne() public {
        bytes memory data = abi.encode(int256(7));
        Delivery memory d = _delivery(bytes32(uint256(1)), data, address(consumer));
        bytes[] memory sigs = _sigs(d, 3);
        uint256 outsider = 0x5eed;
        sigs[2] = _sig(outsider, gateway.deliveryDigest(d));
        vm.expectRevert(abi.encodeWithSelector(Gateway.NotMember.selector, 2, vm.addr(outsider)));
        gateway.deliver(d, data, sigs);
        sigs = _sigs(d, 3);
        sigs[2] = sigs[1];
        vm.expectRevert(abi.encodeWithSelector(Gateway.NotMember.selector, 2, vm.addr(keys[1])));
        gateway.deliver(d, data, sigs);
    }

    function test_refusesDataThatIsNotTheSignedDigest() public {
        bytes memory data = abi.encode(int256(7));
        Delivery memory d = _delivery(bytes32(uint256(1)), data, address(consumer));
        bytes[] memory sigs = _sigs(d, 3);
        vm.expectRevert(abi.encodeWithSelector(Gateway.DigestMismatch.selector, d.taskid));
        gateway.deliver(d, abi.encode(int256(8)), sigs);
    }

    /// Signatures of the handover to `members` at `nextEpoch` by `keys[first..first + n)`.
    function _handoverSigs(uint256 nextEpoch, address[] memory members, uint256 t, uint256 first, uint256 n)
        internal
        view
        returns (bytes[] memory sigs)
    {
        bytes32 h = gateway.handoverDigest(nextEpoch, members, t);
        sigs = new bytes[](n);
        for (uint256 i; i < n; ++i) {
            sigs[i] = _sig(keys[first + i], h);
        }
    }

    function _fresh() internal view returns (address[] memory fresh) {
        fresh = new address[](1);
        fresh[0] = vm.addr(keys[4]);
    }

    function test_theOutgoingCommitteeHandsOverAndTheOldOneRetires() public {
        address[] memory fresh = _fresh();
        assertEq(gateway.epoch(), 1, "the deployer's committee");
        bytes[] memory sigs = _handoverSigs(2, fresh, 1, 0, 3);
        vm.prank(RELAYER); // anyone carries it
        gateway.handover(2, fresh, 1, sigs);
        assertEq(gateway.epoch(), 2, "next epoch");
        assertEq(gateway.threshold(), 1, "new threshold");
        bytes memory data = abi.encode(int256(7));
        Delivery memory d = _delivery(bytes32(uint256(1)), data, address(consumer));
        bytes[] memory old = _sigs(d, 1);
        vm.expectRevert(abi.encodeWithSelector(Gateway.NotMember.selector, 0, vm.addr(keys[0])));
        gateway.deliver(d, data, old);
        bytes[] memory one = new bytes[](1);
        one[0] = _sig(keys[4], gateway.deliveryDigest(d));
        gateway.deliver(d, data, one);
        assertEq(uint256(gateway.status(_key(d))), uint256(Gateway.Status.DELIVERED), "the new member's word");
    }

    function test_aHandoverIsRefusedReplayedStaleOrSkipping() public {
        address[] memory fresh = _fresh();
        bytes[] memory sigs = _handoverSigs(2, fresh, 1, 0, 3);
        gateway.handover(2, fresh, 1, sigs);
        // replayed: its epoch is gone
        vm.expectRevert(abi.encodeWithSelector(Gateway.StaleEpoch.selector, 2, 3));
        gateway.handover(2, fresh, 1, sigs);
        // signed for a later epoch than the next
        bytes[] memory later = _handoverSigs(4, fresh, 1, 4, 1);
        vm.expectRevert(abi.encodeWithSelector(Gateway.StaleEpoch.selector, 4, 3));
        gateway.handover(4, fresh, 1, later);
    }

    function test_aHandoverNeedsThresholdSignaturesOfTheOutgoingCommittee() public {
        address[] memory fresh = _fresh();
        // two signatures where three are needed
        bytes[] memory few = _handoverSigs(2, fresh, 1, 0, 2);
        vm.expectRevert(abi.encodeWithSelector(Gateway.TooFewSignatures.selector, 2, 3));
        gateway.handover(2, fresh, 1, few);
        // signed for other members than those carried: the signers recovered are not members
        address[] memory other = new address[](1);
        other[0] = address(0xBAD);
        bytes[] memory sigs = _handoverSigs(2, other, 1, 0, 3);
        vm.expectRevert();
        gateway.handover(2, fresh, 1, sigs);
        // another gateway of the same committee does not take it: the signatures are bound to this one
        address[] memory members = gateway.members();
        Gateway twin = new Gateway(members, 3);
        sigs = _handoverSigs(2, fresh, 1, 0, 3);
        vm.expectRevert();
        twin.handover(2, fresh, 1, sigs);
        assertEq(gateway.epoch(), 1, "nothing changed");
        assertEq(twin.epoch(), 1, "nothing changed on the twin");
    }

    // ---- work passes ----

    function test_refusesAWorkerpoolWithoutPass() public {
        FlakyConsumer other = new FlakyConsumer(passes, OWNER);
        bytes memory data = abi.encode(int256(7));
        Delivery memory d = _delivery(bytes32(uint256(1)), data, address(other));
        bytes[] memory sigs = _sigs(d, 3);
        vm.expectRevert(abi.encodeWithSelector(WorkPasses.NoPass.selector, POOL, address(other)));
        gateway.deliver(d, data, sigs);
    }

    function test_refusesAnExpiredOrNotYetValidPass() public {
        bytes memory data = abi.encode(int256(7));
        Delivery memory d = _delivery(bytes32(uint256(1)), data, address(consumer));
        bytes[] memory sigs = _sigs(d, 3);
        uint256 id = passes.passOf(POOL, address(consumer));
        uint64 nb = uint64(block.timestamp);
        vm.warp(block.timestamp + 1 days + 1);
        vm.expectRevert(
            abi.encodeWithSelector(WorkPasses.PassNotValid.selector, id, nb, nb + 1 days, block.timestamp)
        );
        gateway.deliver(d, data, sigs);
    }

    /// OWNER grants DELEGATE to `delegate`, which grants POOL a WORK pass (replacing the one set up).
    function _delegatedWork(address delegate) internal returns (uint256 delegation, uint256 work) {
        vm.prank(OWNER);
        delegation = passes.grant(
            delegate,
            address(consumer),
            _terms(WorkPasses.Scope.DELEGATE, WorkPasses.Usage.PER_SERVICE, 0),
            new bytes4[](0)
        );
        vm.prank(delegate);
        work = passes.grant(
            POOL,
            address(consumer),
            _terms(WorkPasses.Scope.WORK, WorkPasses.Usage.PER_SERVICE, 0),
            new bytes4[](0)
        );
        assertEq(passes.pass(work).issuedBy, delegation, "issued under the delegation");
    }

    function test_revokingADelegationRevokesTheWorkPassesItGranted() public {
        address delegate = address(0xDE1E);
        (uint256 delegation, uint256 work) = _delegatedWork(delegate);
        bytes memory data = abi.encode(int256(7));
        Delivery memory d = _delivery(bytes32(uint256(1)), data, address(consumer));
        bytes[] memory sigs = _sigs(d, 3);
        // the owner revokes the delegation only: the WORK pass under it goes too, when used
        vm.prank(OWNER);
        passes.revoke(delegation);
        assertFalse(passes.pass(work).revoked, "nothing written below the revoked pass");
        vm.expectRevert(abi.encodeWithSelector(WorkPasses.IssuerRevoked.selector, work, delegation));
        gateway.deliver(d, data, sigs);
        (bool ok, bytes memory why) = passes.check(POOL, address(consumer), bytes4(0));
        assertFalse(ok, "refused");
        assertEq(
            keccak256(why),
            keccak256(abi.encodeWithSelector(WorkPasses.IssuerRevoked.selector, work, delegation)),
            "the reason"
        );
        // nor may the revoked delegate grant again
        vm.prank(delegate);
        vm.expectRevert(abi.encodeWithSelector(WorkPasses.PassRevokedError.selector, delegation));
        passes.grant(
            POOL,
            address(consumer),
            _terms(WorkPasses.Scope.WORK, WorkPasses.Usage.PER_SERVICE, 0),
            new bytes4[](0)
        );
        // a new grant by the owner, under its own valid pass, delivers
        _grantWork(POOL, address(consumer), WorkPasses.Usage.PER_SERVICE, 0, new bytes4[](0));
        _deliver(d, data);
        assertEq(uint256(gateway.status(_key(d))), uint256(Gateway.Status.DELIVERED), "delivered");
    }

    function test_revokingTheOwnersPassRevokesEverythingBelowIt() public {
        address delegate = address(0xDE1E);
        (, uint256 work) = _delegatedWork(delegate);
        uint256 own = passes.passOf(OWNER, address(consumer));
        assertEq(passes.pass(own).issuedBy, 0, "a registration is the root");
        vm.prank(OWNER);
        passes.revoke(own);
        // two levels up: the WORK pass names the top of the chain that was revoked
        (bool ok, bytes memory why) = passes.check(POOL, address(consumer), bytes4(0));
        assertFalse(ok, "refused");
        assertEq(
            keccak256(why),
            keccak256(abi.encodeWithSelector(WorkPasses.IssuerRevoked.selector, work, own)),
            "the top of the chain"
        );
        (ok, why) = passes.check(delegate, address(consumer), bytes4(0));
        assertFalse(ok, "refused");
    }

    function test_revokingADelegationLeavesPassesGrantedByOthers() public {
        address delegate = address(0xDE1E);
        (uint256 delegation,) = _delegatedWork(delegate);
        // another holder's WORK pass granted by the owner directly
        address other = address(0x07E4);
        _grantWork(other, address(consumer), WorkPasses.Usage.PER_SERVICE, 0, new bytes4[](0));
        vm.prank(OWNER);
        passes.revoke(delegation);
        (bool ok,) = passes.check(other, address(consumer), bytes4(0));
        assertTrue(ok, "still valid");
    }

    function test_refusesARevokedPass() public {
        bytes memory data = abi.encode(int256(7));
        Delivery memory d = _delivery(bytes32(uint256(1)), data, address(consumer));
        bytes[] memory sigs = _sigs(d, 3);
        uint256 id = passes.passOf(POOL, address(consumer));
        vm.prank(RELAYER);
        vm.expectRevert(abi.encodeWithSelector(WorkPasses.NotRevoker.selector, id, RELAYER));
        passes.revoke(id);
        vm.prank(OWNER);
        passes.revoke(id);
        vm.expectRevert(abi.encodeWithSelector(WorkPasses.PassRevokedError.selector, id));
        gateway.deliver(d, data, sigs);
    }

    function test_oneTimeAndNUsesPassesRunOut() public {
        uint256 id = _grantWork(POOL, address(consumer), WorkPasses.Usage.N_USES, 2, new bytes4[](0));
        for (uint256 i; i < 2; ++i) {
            bytes memory data = abi.encode(int256(int256(i)));
            _deliver(_delivery(bytes32(i + 10), data, address(consumer)), data);
        }
        bytes memory last = abi.encode(int256(99));
        Delivery memory d = _delivery(bytes32(uint256(99)), last, address(consumer));
        bytes[] memory sigs = _sigs(d, 3);
        vm.expectRevert(abi.encodeWithSelector(WorkPasses.PassExhausted.selector, id));
        gateway.deliver(d, last, sigs);
        (bool ok,) = passes.check(POOL, address(consumer), METHOD);
        assertFalse(ok, "check says exhausted");

        id = _grantWork(POOL, address(consumer), WorkPasses.Usage.ONE_TIME, 0, new bytes4[](0));
        _deliver(d, last);
        bytes memory more = abi.encode(int256(100));
        d = _delivery(bytes32(uint256(100)), more, address(consumer));
        sigs = _sigs(d, 3);
        vm.expectRevert(abi.encodeWithSelector(WorkPasses.PassExhausted.selector, id));
        gateway.deliver(d, more, sigs);
        assertEq(consumer.received(), 3, "three deliveries");
    }

    function test_refusesAMethodThePassDoesNotAllow() public {
        bytes4[] memory methods = new bytes4[](1);
        methods[0] = bytes4(keccak256("otherMethod(bytes32,bytes)"));
        uint256 id = _grantWork(POOL, address(consumer), WorkPasses.Usage.PER_SERVICE, 0, methods);
        bytes memory data = abi.encode(int256(7));
        Delivery memory d = _delivery(bytes32(uint256(1)), data, address(consumer));
        bytes[] memory sigs = _sigs(d, 3);
        vm.expectRevert(abi.encodeWithSelector(WorkPasses.MethodNotAllowed.selector, id, METHOD));
        gateway.deliver(d, data, sigs);
    }

    function test_refusesAPassBelowWork() public {
        // A NONE scope cannot be granted; a DELEGATE holder may deliver, a WORK one may not grant.
        vm.prank(OWNER);
        vm.expectRevert(
            abi.encodeWithSelector(
                WorkPasses.ScopeNotGrantable.selector, WorkPasses.Scope.OWN, WorkPasses.Scope.NONE
            )
        );
        passes.grant(
            POOL,
            address(consumer),
            _terms(WorkPasses.Scope.NONE, WorkPasses.Usage.PER_SERVICE, 0),
            new bytes4[](0)
        );
        vm.prank(POOL);
        vm.expectRevert(
            abi.encodeWithSelector(
                WorkPasses.ScopeNotGrantable.selector, WorkPasses.Scope.WORK, WorkPasses.Scope.WORK
            )
        );
        passes.grant(
            address(0x1234),
            address(consumer),
            _terms(WorkPasses.Scope.WORK, WorkPasses.Usage.PER_SERVICE, 0),
            new bytes4[](0)
        );
    }

    function test_anIssuerGrantsOnlyBelowItsScopeMethodsAndWindow() public {
        address delegate = address(0xde1e);
        bytes4[] memory methods = new bytes4[](1);
        methods[0] = METHOD;
        vm.prank(OWNER);
        uint256 did = passes.grant(
            delegate,
            address(consumer),
            _terms(WorkPasses.Scope.DELEGATE, WorkPasses.Usage.PER_SERVICE, 0),
            methods
        );
        vm.startPrank(delegate);
        vm.expectRevert(
            abi.encodeWithSelector(
                WorkPasses.ScopeNotGrantable.selector, WorkPasses.Scope.DELEGATE, WorkPasses.Scope.DELEGATE
            )
        );
        passes.grant(
            POOL,
            address(consumer),
            _terms(WorkPasses.Scope.DELEGATE, WorkPasses.Usage.PER_SERVICE, 0),
            methods
        );
        vm.expectRevert(
            abi.encodeWithSelector(
                WorkPasses.ScopeNotGrantable.selector, WorkPasses.Scope.DELEGATE, WorkPasses.Scope.OWN
            )
        );
        passes.grant(
            POOL, address(consumer), _terms(WorkPasses.Scope.OWN, WorkPasses.Usage.PER_SERVICE, 0), methods
        );
        // Every method: more than the delegate holds.
        vm.expectRevert(abi.encodeWithSelector(WorkPasses.BeyondIssuer.selector, did));
        passes.grant(
            POOL,
            address(consumer),
            _terms(WorkPasses.Scope.WORK, WorkPasses.Usage.PER_SERVICE, 0),
            new bytes4[](0)
        );
        WorkPasses.Terms memory longer = _terms(WorkPasses.Scope.WORK, WorkPasses.Usage.PER_SERVICE, 0);
        longer.notAfter += 1;
        vm.expectRevert(abi.encodeWithSelector(WorkPasses.BeyondIssuer.selector, did));
        passes.grant(POOL, address(consumer), longer, methods);
        // Within its scope, methods and window: granted, and it delivers.
        passes.grant(
            POOL, address(consumer), _terms(WorkPasses.Scope.WORK, WorkPasses.Usage.PER_SERVICE, 0), methods
        );
        vm.stopPrank();
        bytes memory data = abi.encode(int256(7));
        _deliver(_delivery(bytes32(uint256(1)), data, address(consumer)), data);
        assertEq(consumer.received(), 1, "delivered under the delegated pass");
    }

    function test_proofPassesGoThroughTheConsumersVerifier() public {
        WorkPasses.Terms memory t = _terms(WorkPasses.Scope.WORK, WorkPasses.Usage.PER_SERVICE, 0);
        t.reason = WorkPasses.Reason.PROOF;
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(WorkPasses.EvidenceRejected.selector, address(0)));
        passes.grant(POOL, address(consumer), t, new bytes4[](0));
        AcceptAll verifier = new AcceptAll();
        vm.prank(RELAYER);
        vm.expectRevert(abi.encodeWithSelector(WorkPasses.NoPass.selector, RELAYER, address(consumer)));
        passes.setVerifier(address(consumer), address(verifier));
        vm.prank(OWNER);
        passes.setVerifier(address(consumer), address(verifier));
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(WorkPasses.EvidenceRejected.selector, address(verifier)));
        passes.grant(POOL, address(consumer), t, new bytes4[](0));
        verifier.set(true);
        vm.prank(OWNER);
        uint256 id = passes.grant(POOL, address(consumer), t, new bytes4[](0));
        assertEq(uint256(passes.pass(id).reason), uint256(WorkPasses.Reason.PROOF), "proof pass");
    }

    function test_onlyTheGatewayConsumesPasses() public {
        vm.expectRevert(abi.encodeWithSelector(WorkPasses.NotGateway.selector, address(this)));
        passes.consume(POOL, address(consumer), METHOD);
    }

    // ---- callbacks never fail silently ----

    function test_aFailingConsumerIsRecordedAndRetriedOnceFixed() public {
        FlakyConsumer.Mode[3] memory modes =
            [FlakyConsumer.Mode.REVERT, FlakyConsumer.Mode.LOOP, FlakyConsumer.Mode.EAT];
        vm.prank(OWNER);
        gateway.fund{value: 0}(address(consumer), 1 gwei);
        vm.deal(address(this), 1 ether);
        gateway.fund{value: 1 ether}(address(consumer), 1 gwei);
        for (uint256 m; m < 3; ++m) {
            consumer.setMode(modes[m]);
            bytes memory data = abi.encode(int256(int256(m)));
            Delivery memory d = _delivery(bytes32(m + 1), data, address(consumer));
            uint256 before = gateway.earned(RELAYER);
            _deliver(d, data);
            assertEq(uint256(gateway.status(_key(d))), uint256(Gateway.Status.FAILED), "recorded as failed");
            assertEq(gateway.earned(RELAYER), before + 1 gwei, "the relayer is paid anyway");
            // Still broken: the retry records the failure again.
            gateway.retry(d, data);
            assertEq(uint256(gateway.status(_key(d))), uint256(Gateway.Status.FAILED), "still failed");
            consumer.setMode(FlakyConsumer.Mode.OK);
            vm.prank(address(0xa11));
            gateway.retry(d, data);
            assertEq(
                uint256(gateway.status(_key(d))), uint256(Gateway.Status.DELIVERED), "delivered on retry"
            );
            assertEq(consumer.lastTask(), d.taskid, "the consumer got it");
            vm.expectRevert(abi.encodeWithSelector(Gateway.NothingToRetry.selector, _key(d)));
            gateway.retry(d, data);
        }
        assertEq(consumer.received(), 3, "each delivered once");
    }

    function test_aRetryMustBringTheFailedDelivery() public {
        consumer.setMode(FlakyConsumer.Mode.REVERT);
        bytes memory data = abi.encode(int256(5));
        Delivery memory d = _delivery(bytes32(uint256(5)), data, address(consumer));
        _deliver(d, data);
        consumer.setMode(FlakyConsumer.Mode.OK);
        Delivery memory forged = d;
        forged.gasLimit = 100_000;
        vm.expectRevert(abi.encodeWithSelector(Gateway.NothingToRetry.selector, _key(d)));
        gateway.retry(forged, data);
        vm.expectRevert(abi.encodeWithSelector(Gateway.NothingToRetry.selector, _key(d)));
        gateway.retry(d, abi.encode(int256(6)));
    }

    function test_aStarvedCallRevertsInsteadOfRecordingAFailure() public {
        bytes memory data = abi.encode(int256(7));
        Delivery memory d = _delivery(bytes32(uint256(1)), data, address(consumer));
        d.gasLimit = 2_000_000;
        bytes[] memory sigs = _sigs(d, 3);
        (bool ok,) = address(gateway).call{gas: 400_000}(abi.encodeCall(Gateway.deliver, (d, data, sigs)));
        assertFalse(ok, "refused");
        assertEq(uint256(gateway.status(_key(d))), uint256(Gateway.Status.NONE), "nothing recorded");
    }

    function test_aHolderPushesItsOwnResult() public {
        address enclave = address(0xe9c1);
        _grantWork(enclave, address(consumer), WorkPasses.Usage.ONE_TIME, 0, new bytes4[](0));
        vm.prank(enclave);
        gateway.push(address(consumer), METHOD, bytes32(uint256(77)), abi.encode(int256(1)), 100_000);
        assertEq(consumer.lastTask(), bytes32(uint256(77)), "pushed");
        vm.prank(enclave);
        vm.expectRevert();
        gateway.push(address(consumer), METHOD, bytes32(uint256(78)), abi.encode(int256(1)), 100_000);
    }

    // ---- batching ----

    function test_deliversABatch() public {
        uint256 n = 10;
        Delivery[] memory ds = new Delivery[](n);
        bytes[] memory datas = new bytes[](n);
        bytes[][] memory sigs = new bytes[][](n);
        for (uint256 i; i < n; ++i) {
            datas[i] = abi.encode(int256(i));
            ds[i] = _delivery(bytes32(i + 1), datas[i], address(consumer));
            sigs[i] = _sigs(ds[i], 3);
        }
        vm.prank(RELAYER);
        gateway.deliverBatch(ds, datas, sigs);
        assertEq(consumer.received(), n, "all delivered");
    }

    // ---- the committee on A ----

    function test_committeeSlashesEquivocationAndWrongDigests() public {
        DevToken token = new DevToken();
        Committee committee = new Committee(HUB_A, address(token), 100, 7 days);
        address m0 = vm.addr(keys[0]);
        address m1 = vm.addr(keys[1]);
        token.faucet(m0, 1000);
        token.faucet(m1, 1000);
        vm.prank(m0);
        token.approve(address(committee), 1000);
        vm.prank(m0);
        committee.join(1000);
        vm.prank(m1);
        token.approve(address(committee), 1000);
        vm.prank(m1);
        vm.expectRevert(abi.encodeWithSelector(Committee.StakeTooLow.selector, 99, 100));
        committee.join(99);
        vm.prank(m1);
        committee.join(1000);
        assertEq(committee.members().length, 2, "two members");

        Delivery memory a = _delivery(bytes32(uint256(1)), abi.encode(int256(1)), address(consumer));
        Delivery memory b = _delivery(bytes32(uint256(1)), abi.encode(int256(2)), address(consumer));
        // Two destinations, same digest: no equivocation.
        bytes memory sa = _sig(keys[0], _digestFor(a, 10, address(gateway)));
        bytes memory sa2 = _sig(keys[0], _digestFor(a, 11, address(0xbeef)));
        vm.expectRevert(Committee.NoEquivocation.selector);
        committee.slashEquivocation(a, 10, address(gateway), sa, a, 11, address(0xbeef), sa2);
        // Two digests for one task, even to two chains: slashed.
        bytes memory sb = _sig(keys[0], _digestFor(b, 11, address(0xbeef)));
        vm.prank(RELAYER);
        committee.slashEquivocation(a, 10, address(gateway), sa, b, 11, address(0xbeef), sb);
        assertEq(token.balanceOf(RELAYER), 500, "half to the reporter");
        assertEq(committee.burnt(), 500, "half burnt");
        assertEq(committee.members().length, 1, "one member left");
        vm.expectRevert(Committee.NoEquivocation.selector);
        committee.slashEquivocation(a, 10, address(gateway), sa, b, 11, address(0xbeef), sb);

        // The hub certifies task 2's result; m1 signs another digest for it.
        Delivery memory good = _delivery(bytes32(uint256(2)), abi.encode(int256(5)), address(consumer));
        good.sourceChainId = block.chainid;
        vm.expectRevert(abi.encodeWithSelector(Committee.NotHub.selector, address(this)));
        committee.receiveResult(good.taskid, abi.encode(int256(5)));
        vm.prank(HUB_A);
        committee.receiveResult(good.taskid, abi.encode(int256(5)));
        bytes memory sg = _sig(keys[1], _digestFor(good, 10, address(gateway)));
        vm.expectRevert(abi.encodeWithSelector(Committee.NotWrong.selector, good.taskid));
        committee.slashWrongDigest(good, 10, address(gateway), sg);
        Delivery memory bad = good;
        bad.digest = keccak256(abi.encode(int256(6)));
        bytes memory sbad = _sig(keys[1], _digestFor(bad, 10, address(gateway)));
        committee.slashWrongDigest(bad, 10, address(gateway), sbad);
        assertEq(committee.members().length, 0, "no member left");
    }

    function test_committeeMembersLeaveAfterUnbonding() public {
        DevToken token = new DevToken();
        Committee committee = new Committee(HUB_A, address(token), 100, 7 days);
        address m0 = vm.addr(keys[0]);
        token.faucet(m0, 100);
        vm.startPrank(m0);
        token.approve(address(committee), 100);
        committee.join(100);
        committee.leave();
        vm.expectRevert(
            abi.encodeWithSelector(Committee.StillBonded.selector, uint64(block.timestamp + 7 days))
        );
        committee.withdraw();
        vm.warp(block.timestamp + 7 days);
        committee.withdraw();
        vm.stopPrank();
        assertEq(token.balanceOf(m0), 100, "stake back");
        assertEq(committee.members().length, 0, "gone");
    }

    // ---- acceptance examples ----

    function _feedDeliver(address feed, bytes32 taskid, address pool, bytes memory data) internal {
        Delivery memory d = _delivery(taskid, data, feed);
        d.method = OracleFeed.receiveResult.selector;
        d.workerpool = pool;
        _deliver(d, data);
    }

    function _open(address feed, address pool) internal {
        vm.prank(OWNER);
        passes.grant(
            pool, feed, _terms(WorkPasses.Scope.WORK, WorkPasses.Usage.PER_SERVICE, 0), new bytes4[](0)
        );
    }

    function test_singleResultFeedPublishesEachResult() public {
        SingleResultFeed feed = new SingleResultFeed(address(gateway), keccak256("ETH/USD"), OWNER);
        _open(address(feed), POOL);
        (,, uint256 status) = feed.valueFor(keccak256("ETH/USD"));
        assertEq(status, 404, "nothing yet");
        _feedDeliver(address(feed), bytes32(uint256(1)), POOL, abi.encode(int256(3100)));
        (int256 v, uint256 ts, uint256 st) = feed.valueFor(keccak256("ETH/USD"));
        assertEq(uint256(v), 3100, "value");
        assertEq(ts, block.timestamp, "time");
        assertEq(st, 200, "ok");
        assertEq(
            keccak256(feed.resultFor(keccak256("deal"))), keccak256(abi.encode(int256(3100))), "by round"
        );
        vm.expectRevert(abi.encodeWithSelector(OracleFeed.NoResult.selector, bytes32(uint256(9))));
        feed.resultFor(bytes32(uint256(9)));
    }

    function test_medianFeedPublishesTheMedianAndReportsOutliers() public {
        MedianFeed feed = new MedianFeed(address(gateway), keccak256("ETH/USD"), OWNER, 5, 500);
        _open(address(feed), POOL);
        int256[5] memory values = [int256(3000), 3010, 9999, 2990, 3005];
        vm.recordLogs();
        for (uint256 i; i < 5; ++i) {
            _feedDeliver(address(feed), bytes32(i + 1), POOL, abi.encode(values[i]));
            (,, uint256 st) = feed.valueFor(keccak256("deal"));
            assertEq(st, i < 4 ? 404 : 200, "published at the fifth");
        }
        (int256 v,,) = feed.valueFor(keccak256("ETH/USD"));
        assertEq(uint256(v), 3005, "median");
        uint256 outliers;
        bytes32 outlierTask;
        (Vm_Log[] memory logs) = _logs();
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == MedianFeed.Outlier.selector) {
                outliers++;
                outlierTask = logs[i].topics[2];
            }
        }
        assertEq(outliers, 1, "one outlier");
        assertEq(outlierTask, bytes32(uint256(3)), "task 3 lied");
    }

    function test_stakeVoteFeedPublishesOnAMajorityOfWeight() public {
        StakeVoteFeed feed = new StakeVoteFeed(address(gateway), keccak256("ETH/USD"), OWNER);
        address[3] memory pools = [address(0x501), address(0x502), address(0x503)];
        uint256[3] memory weights = [uint256(50), 30, 25];
        for (uint256 i; i < 3; ++i) {
            _open(address(feed), pools[i]);
            vm.prank(OWNER);
            feed.setWeight(pools[i], weights[i]);
        }
        bytes32 round = bytes32(uint256(1));
        _feedDeliver(address(feed), bytes32(uint256(1)), pools[0], abi.encode(round, int256(10)));
        _feedDeliver(address(feed), bytes32(uint256(2)), pools[2], abi.encode(round, int256(11)));
        (,, uint256 st) = feed.valueFor(round);
        assertEq(st, 404, "50 of 105 is no majority");
        _feedDeliver(address(feed), bytes32(uint256(3)), pools[1], abi.encode(round, int256(10)));
        (int256 v,, uint256 st2) = feed.valueFor(round);
        assertEq(st2, 200, "80 of 105 is");
        assertEq(uint256(v), 10, "the majority's value");
        // An unweighted source: the delivery is recorded as failed (the owner may add it and retry).
        address stranger = address(0x5ff);
        _open(address(feed), stranger);
        Delivery memory d = _delivery(bytes32(uint256(4)), abi.encode(round, int256(12)), address(feed));
        d.method = OracleFeed.receiveResult.selector;
        d.workerpool = stranger;
        _deliver(d, abi.encode(round, int256(12)));
        assertEq(uint256(gateway.status(_key(d))), uint256(Gateway.Status.FAILED), "refused by the consumer");
    }

    function test_randomGroupFeedCountsOnlyTheDrawnGroup() public {
        FixedRandomness beacon = new FixedRandomness();
        RandomGroupFeed feed =
            new RandomGroupFeed(address(gateway), keccak256("ETH/USD"), OWNER, address(beacon), 2, 3);
        for (uint256 i; i < 6; ++i) {
            address p = address(uint160(0x600 + i));
            _open(address(feed), p);
            vm.prank(OWNER);
            feed.addSource(p, 10, 0);
        }
        uint64 round = 7;
        // Before the beacon's round: the delivery fails, is recorded, and is retried later.
        address first = address(0x600);
        Delivery memory early =
            _delivery(bytes32(uint256(1)), abi.encode(bytes32(uint256(round)), int256(1)), address(feed));
        early.method = OracleFeed.receiveResult.selector;
        early.workerpool = first;
        _deliver(early, abi.encode(bytes32(uint256(round)), int256(1)));
        assertEq(uint256(gateway.status(_key(early))), uint256(Gateway.Status.FAILED), "no randomness yet");
        beacon.set(round, keccak256("round 7"));
        address[] memory g = feed.group(round);
        assertGe(g.length, 2, "a group");
        // A source outside the group is refused.
        for (uint256 i; i < 6; ++i) {
            address p = address(uint160(0x600 + i));
            bool inGroup;
            for (uint256 k; k < g.length; ++k) {
                inGroup = inGroup || g[k] == p;
            }
            if (!inGroup) {
                Delivery memory d = _delivery(
                    bytes32(uint256(100 + i)), abi.encode(bytes32(uint256(round)), int256(1)), address(feed)
                );
                d.method = OracleFeed.receiveResult.selector;
                d.workerpool = p;
                _deliver(d, abi.encode(bytes32(uint256(round)), int256(1)));
                assertEq(uint256(gateway.status(_key(d))), uint256(Gateway.Status.FAILED), "outsider refused");
                break;
            }
        }
        _feedDeliver(
            address(feed), bytes32(uint256(200)), g[0], abi.encode(bytes32(uint256(round)), int256(42))
        );
        (,, uint256 st) = feed.valueFor(bytes32(uint256(round)));
        assertEq(st, 404, "one of two");
        _feedDeliver(
            address(feed), bytes32(uint256(201)), g[1], abi.encode(bytes32(uint256(round)), int256(42))
        );
        (int256 v,, uint256 st2) = feed.valueFor(bytes32(uint256(round)));
        assertEq(st2, 200, "two of the group agree");
        assertEq(uint256(v), 42, "their value");
    }

    struct Vm_Log {
        bytes32[] topics;
        bytes data;
        address emitter;
    }

    function _logs() internal returns (Vm_Log[] memory out) {
        bytes memory raw = abi.encode(vm.getRecordedLogs());
        out = abi.decode(raw, (Vm_Log[]));
    }
}
