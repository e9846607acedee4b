// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Vm} from "../test/utils/Vm.sol";
import {Gateway} from "../src/oracle/Gateway.sol";
import {WorkPasses} from "../src/oracle/WorkPasses.sol";
import {Delivery} from "../src/oracle/Delivery.sol";
import {SingleResultFeed} from "../src/examples/SingleResultFeed.sol";

/// @notice A consumer that accepts everything and stores nothing: deliveries to it measure the gateway's own
/// cost.
contract NoopConsumer {
    constructor(WorkPasses passes, address owner) {
        passes.register(owner);
    }

    function receiveResult(bytes32, bytes calldata) external {}
}

/// @notice The oracle flows of the gas report, broadcast for real against a fresh anvil by scripts/gas-report.
/// `FLOW` selects: oracle-deliver (one `deliver` to a SingleResultFeed, the consumer's own writes included),
/// oracle-deliver-noop (one `deliver` to a consumer that does nothing), oracle-batch1, oracle-batch10,
/// oracle-batch100 (`deliverBatch` of N results to the no-op consumer), oracle-push (a pass holder pushes its
/// own result to the no-op consumer, no committee). The committee has 3 members, 2 signatures per delivery; the
/// consumer pays the relayer a fee per delivery. Set-up transactions are not measured.
contract OracleFlows {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    uint256 internal constant OWNER_PK = 0x0A0A;
    uint256 internal constant RELAYER_PK = 0x7E7E;
    uint256 internal constant POOL = 0x9001;
    uint256[3] internal memberPks = [uint256(0xa11ce), 0xb0b, 0xca401];

    uint256 internal deployerPk;
    Gateway internal gateway;
    WorkPasses internal passes;
    address internal consumer;
    uint256[] internal sorted;

    function run() external {
        string memory flow = vm.envOr("FLOW", string("oracle-deliver"));
        deployerPk = vm.envOr(
            "DEPLOYER_PK", uint256(0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80)
        );
        bytes32 f = keccak256(bytes(flow));
        _setup(f == keccak256("oracle-deliver"));
        if (f == keccak256("oracle-deliver") || f == keccak256("oracle-deliver-noop")) _deliver();
        else if (f == keccak256("oracle-batch1")) _batch(1);
        else if (f == keccak256("oracle-batch10")) _batch(10);
        else if (f == keccak256("oracle-batch100")) _batch(100);
        else if (f == keccak256("oracle-push")) _push();
        else revert("unknown FLOW");
    }

    function _setup(bool feed) internal {
        address owner = vm.addr(OWNER_PK);
        address[] memory members = new address[](3);
        for (uint256 i; i < 3; ++i) {
            sorted.push(memberPks[i]);
        }
        for (uint256 i; i < 3; ++i) {
            for (uint256 j = i + 1; j < 3; ++j) {
                if (vm.addr(sorted[j]) < vm.addr(sorted[i])) (sorted[i], sorted[j]) = (sorted[j], sorted[i]);
            }
        }
        for (uint256 i; i < 3; ++i) {
            members[i] = vm.addr(sorted[i]);
        }
        vm.startBroadcast(deployerPk);
        gateway = new Gateway(members, 2);
        passes = gateway.passes();
        consumer = feed
            ? address(new SingleResultFeed(address(gateway), keccak256("Price-ETH/USD-9"), owner))
            : address(new NoopConsumer(passes, owner));
        (bool ok,) = owner.call{value: 2 ether}("");
        require(ok);
        (ok,) = vm.addr(RELAYER_PK).call{value: 2 ether}("");
        require(ok);
        vm.stopBroadcast();
        vm.startBroadcast(OWNER_PK);
        passes.grant(
            address(uint160(POOL)),
            consumer,
            WorkPasses.Terms({
                scope: WorkPasses.Scope.WORK,
                usage: WorkPasses.Usage.PER_SERVICE,
                uses: 0,
                notBefore: 0,
                notAfter: type(uint64).max - 1,
                reason: WorkPasses.Reason.COMMITTEE,
                evidence: keccak256("committee")
            }),
            new bytes4[](0)
        );
        gateway.fund{value: 1 ether}(consumer, 1 gwei);
        vm.stopBroadcast();
    }

    function _delivery(uint256 i) internal view returns (Delivery memory d, bytes memory data) {
        data = abi.encode(int256(3100 + int256(i)));
        d = Delivery({
            sourceChainId: 31337,
            sourceHub: address(0x4b),
            dealid: keccak256("deal"),
            taskid: keccak256(abi.encode("task", i)),
            app: address(0xa99),
            dataset: address(0),
            workerpool: address(uint160(POOL)),
            tag: bytes32(0),
            trust: 3,
            digest: keccak256(data),
            consumer: consumer,
            method: NoopConsumer.receiveResult.selector,
            gasLimit: 200_000
        });
    }

    function _sigs(Delivery memory d) internal view returns (bytes[] memory sigs) {
        bytes32 h = gateway.deliveryDigest(d);
        sigs = new bytes[](2);
        for (uint256 i; i < 2; ++i) {
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(sorted[i], h);
            sigs[i] = abi.encodePacked(r, s, v);
        }
    }

    /// The relayer's first delivery creates its earnings word (+17k once): scripts/gas-report lists it as
    /// set-up, like the actors' deposits of the other flows.
    function _warmup() internal {
        (Delivery memory d, bytes memory data) = _delivery(1_000_000);
        bytes[] memory sigs = _sigs(d);
        vm.startBroadcast(RELAYER_PK);
        gateway.deliver(d, data, sigs);
        vm.stopBroadcast();
    }

    function _deliver() internal {
        _warmup();
        (Delivery memory d, bytes memory data) = _delivery(0);
        bytes[] memory sigs = _sigs(d);
        vm.startBroadcast(RELAYER_PK);
        gateway.deliver(d, data, sigs);
        vm.stopBroadcast();
    }

    function _batch(uint256 n) internal {
        Delivery[] memory ds = new Delivery[](n);
        bytes[] memory datas = new bytes[](n);
        bytes[][] memory sigs = new bytes[][](n);
        for (uint256 i; i < n; ++i) {
            (ds[i], datas[i]) = _delivery(i);
            sigs[i] = _sigs(ds[i]);
        }
        _warmup();
        vm.startBroadcast(RELAYER_PK);
        gateway.deliverBatch(ds, datas, sigs);
        vm.stopBroadcast();
    }

    function _push() internal {
        vm.startBroadcast(OWNER_PK);
        passes.grant(
            vm.addr(RELAYER_PK),
            consumer,
            WorkPasses.Terms({
                scope: WorkPasses.Scope.WORK,
                usage: WorkPasses.Usage.PER_SERVICE,
                uses: 0,
                notBefore: 0,
                notAfter: type(uint64).max - 1,
                reason: WorkPasses.Reason.TEE,
                evidence: keccak256("quote")
            }),
            new bytes4[](0)
        );
        vm.stopBroadcast();
        vm.startBroadcast(RELAYER_PK);
        gateway.push(
            consumer, NoopConsumer.receiveResult.selector, keccak256("id"), abi.encode(int256(3100)), 200_000
        );
        vm.stopBroadcast();
    }
}
