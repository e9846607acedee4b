// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Vm} from "../test/utils/Vm.sol";
import {HubKit, OrderSet} from "../test/utils/HubKit.sol";
import {DevToken} from "../src/DevToken.sol";
import {Hub} from "../src/Hub.sol";
import {HubExtension} from "../src/HubExtension.sol";
import {AppRegistry} from "../src/registries/AppRegistry.sol";
import {DatasetRegistry} from "../src/registries/DatasetRegistry.sol";
import {WorkerpoolRegistry} from "../src/registries/WorkerpoolRegistry.sol";
import {AppOrder, WorkerpoolOrder, RequestOrder, Deal} from "../src/libs/Types.sol";
import {Committee} from "../src/oracle/Committee.sol";
import {Gateway} from "../src/oracle/Gateway.sol";
import {WorkPasses} from "../src/oracle/WorkPasses.sol";
import {Delivery} from "../src/oracle/Delivery.sol";

/// @notice A consumer that accepts everything and stores nothing, so the figures are the paths' own costs.
contract ScalingConsumer {
    constructor(WorkPasses passes, address owner) {
        if (address(passes) != address(0)) passes.register(owner);
    }

    function receiveResult(bytes32, bytes calldata) external {}
}

/// @notice iExec's cross-chain path as its documentation describes it, for comparison only: one authorized
/// reporter reads results on the source chain and a forwarder calls the consumer with a fixed gas budget,
/// ignoring failures. No signature is checked: the reporter is trusted.
contract Forwarder {
    address public immutable reporter;

    constructor(address reporter_) {
        reporter = reporter_;
    }

    function forward(address consumer, bytes32 taskid, bytes calldata data) external {
        require(msg.sender == reporter, "not the reporter");
        // iExec's callback: a fixed gas budget and the outcome ignored.
        (bool ok,) =
            consumer.call{gas: 200_000}(abi.encodeWithSignature("receiveResult(bytes32,bytes)", taskid, data));
        ok;
    }
}

/// @notice The sweep of docs/oracles.md's scaling table, broadcast for real by scripts/oracle-scaling, which
/// reads the receipts and attributes each one by its sender and function. `PHASE` selects:
/// - `a`: on chain A, the protocol and the committee, then C·N proxy deals of R trust-1 tasks each (one deal
///   per destination chain and consumer), every task finalized with the committee as callback;
///   `CALLBACK=none` runs the same tasks without a callback (the task iExec's forwarder reads);
/// - `plain`: on a chain B, the protocol and N deals of R trust-1 tasks calling a consumer there directly
///   (the task run on B itself);
/// - `b`: on a chain B, once for each path: a gateway (3 members, 2 signatures), N consumers, N·R results
///   delivered through the committee with each pass usage (PER_SERVICE batched by BATCH, N_USES batched,
///   ONE_TIME: a grant before each result), pushed by a TEE pass holder, and forwarded iExec-style.
/// Keys: each path signs with its own keys (`PATH_KEY + 16·path + role`), so the driver can attribute each
/// receipt; chain set-up (funding, deployments of the protocol) comes from FUNDER and is not measured.
contract OracleScaling {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    uint256 internal constant SCHEDULER_PK = 0x5C5C;
    uint256 internal constant REQUESTER_PK = 0x4E4E;
    uint256 internal constant APP_OWNER_PK = 0xA0A0;
    uint256 internal constant WORKER_PK_BASE = 0x10000;
    uint256 internal constant WORKERS = 4;
    uint256 internal constant PATH_KEY = 0xB000;
    uint256 internal constant ROLE_DEPLOYER = 0;
    uint256 internal constant ROLE_OWNER = 1;
    uint256 internal constant ROLE_RELAYER = 2;
    uint256 internal constant POOL = 0x9001;
    uint256 internal constant PRICE = 1e9;
    uint256[3] internal memberPks = [uint256(0xa11ce), 0xb0b, 0xca401];

    uint256 internal funderPk;
    uint256 internal salt;
    DevToken internal token;
    Hub internal hub;
    HubExtension internal hubx;
    address internal app;
    address internal pool;
    uint256[] internal sorted;

    function run() external {
        funderPk = vm.envOr(
            "FUNDER_PK", uint256(0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80)
        );
        bytes32 phase = keccak256(bytes(vm.envOr("PHASE", string("a"))));
        uint256 n = vm.envOr("N", uint256(1));
        uint256 r = vm.envOr("R", uint256(1));
        if (phase == keccak256("a")) {
            uint256 c = vm.envOr("C", uint256(1));
            bool committee =
                keccak256(bytes(vm.envOr("CALLBACK", string("committee")))) == keccak256("committee");
            _protocol();
            address callback;
            if (committee) {
                vm.startBroadcast(funderPk);
                callback = address(new Committee(address(hub), address(token), 1e9, 1 days));
                vm.stopBroadcast();
            }
            _tasks(c * n, r, callback);
        } else if (phase == keccak256("plain")) {
            _protocol();
            vm.startBroadcast(funderPk);
            address consumer = address(new ScalingConsumer(WorkPasses(address(0)), address(0)));
            vm.stopBroadcast();
            // N consumers are N deals calling back; one no-op consumer stands for all of them.
            _tasks(n, r, consumer);
        } else if (phase == keccak256("b")) {
            _members();
            uint256 batch = vm.envOr("BATCH", uint256(100));
            _committeePath(0, n, r, WorkPasses.Usage.PER_SERVICE, batch);
            _committeePath(1, n, r, WorkPasses.Usage.N_USES, batch);
            _committeePath(2, n, r, WorkPasses.Usage.ONE_TIME, 1);
            _pushPath(3, n, r);
            _forwarderPath(4, n, r);
        } else {
            revert("unknown PHASE");
        }
    }

    // ---- chain A (and the plain task on B) ------------------------------------------------------

    function _protocol() internal {
        address funder = vm.addr(funderPk);
        vm.startBroadcast(funderPk);
        token = DevToken(vm.deployCode("DevToken.sol:DevToken"));
        AppRegistry apps = AppRegistry(vm.deployCode("AppRegistry.sol:AppRegistry"));
        DatasetRegistry datasets = DatasetRegistry(vm.deployCode("DatasetRegistry.sol:DatasetRegistry"));
        WorkerpoolRegistry pools =
            WorkerpoolRegistry(vm.deployCode("WorkerpoolRegistry.sol:WorkerpoolRegistry"));
        hub = Hub(
            vm.deployCode(
                "Hub.sol:Hub",
                abi.encode(address(token), address(apps), address(datasets), address(pools), funder)
            )
        );
        hubx = HubExtension(address(hub));
        hubx.createCategory("XS", "extra small", 300);
        _gas(vm.addr(APP_OWNER_PK));
        _gas(vm.addr(SCHEDULER_PK));
        _gas(vm.addr(REQUESTER_PK));
        for (uint256 i; i < WORKERS; ++i) {
            _gas(vm.addr(WORKER_PK_BASE + i));
        }
        vm.stopBroadcast();
        vm.startBroadcast(APP_OWNER_PK);
        app = apps.register(
            "median",
            "https://apps.decloud.example/median.wasm",
            0x5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef,
            bytes32(0)
        );
        vm.stopBroadcast();
        vm.startBroadcast(SCHEDULER_PK);
        pool = pools.register("scaling pool", 30, 10);
        vm.stopBroadcast();
        _fund(REQUESTER_PK, 1_000_000e9);
        _fund(SCHEDULER_PK, 1_000_000e9);
        for (uint256 i; i < WORKERS; ++i) {
            _fund(WORKER_PK_BASE + i, 1_000_000e9);
        }
    }

    function _gas(address to) internal {
        (bool ok,) = payable(to).call{value: 100 ether}("");
        require(ok);
    }

    function _fund(uint256 pk, uint256 amount) internal {
        vm.startBroadcast(pk);
        token.faucet(vm.addr(pk), amount);
        token.approve(address(hub), type(uint256).max);
        hub.deposit(amount);
        vm.stopBroadcast();
    }

    /// `deals` deals of `volume` trust-1 tasks, each result (an ABI int256) handed to `callback`.
    function _tasks(uint256 deals, uint256 volume, address callback) internal {
        for (uint256 k; k < deals; ++k) {
            Deal memory d = _match(volume, callback, k);
            vm.startBroadcast(SCHEDULER_PK);
            hub.initializeBatch(d, 0, volume);
            vm.stopBroadcast();
            for (uint256 i; i < volume; ++i) {
                bytes memory data = abi.encode(int256(3100 + int256(i)));
                bytes32 digest = keccak256(data);
                uint256 pk = WORKER_PK_BASE + i % WORKERS;
                bytes memory auth =
                    HubKit.authorization(SCHEDULER_PK, vm.addr(pk), HubKit.taskId(d, i), address(0));
                vm.startBroadcast(pk);
                hub.contributeAndReveal(d, i, digest, address(0), "", auth);
                vm.stopBroadcast();
                vm.startBroadcast(SCHEDULER_PK);
                hub.finalize(
                    d,
                    i,
                    "https://results.decloud.example/0x5f70bf18a086007016e948b04aed3b82",
                    callback == address(0) ? bytes("") : data,
                    new address[](0)
                );
                vm.stopBroadcast();
            }
        }
    }

    function _match(uint256 volume, address callback, uint256 k) internal returns (Deal memory deal) {
        OrderSet memory o;
        o.app = AppOrder(app, PRICE, volume, 0, address(0), address(0), address(0), 0, bytes32(++salt), "");
        o.app.sign = HubKit.sign(APP_OWNER_PK, hubx.hashAppOrder(o.app));
        o.pool = WorkerpoolOrder(
            pool, PRICE, volume, 0, 0, 1, address(0), address(0), address(0), 0, bytes32(++salt), ""
        );
        o.pool.sign = HubKit.sign(SCHEDULER_PK, hubx.hashWorkerpoolOrder(o.pool));
        RequestOrder memory ro = o.request;
        ro.app = app;
        ro.appmaxprice = PRICE;
        ro.workerpoolmaxprice = PRICE;
        ro.requester = vm.addr(REQUESTER_PK);
        ro.volume = volume;
        ro.trust = 1;
        ro.beneficiary = vm.addr(REQUESTER_PK);
        ro.callback = callback;
        // A proxy request's params as `decloud` writes them: the destination of deal k.
        ro.params = string.concat(
            '{"args":"3100 3090 3120","oracle":{"chain_id":',
            vm.toString(31338 + k),
            ',"gateway":"0x5FbDB2315678afecb367f032d93F642f64180aa3","consumer":"',
            vm.toString(address(uint160(0xC0000 + k))),
            '"}}'
        );
        ro.salt = bytes32(++salt);
        ro.sign = HubKit.sign(REQUESTER_PK, hubx.hashRequestOrder(ro));
        vm.recordLogs();
        vm.startBroadcast(REQUESTER_PK);
        hub.matchOrders(o.app, o.dataset, o.pool, ro);
        vm.stopBroadcast();
        bytes32 dealid;
        (dealid, deal) = HubKit.dealCreated(vm.getRecordedLogs());
        require(dealid != 0, "no deal");
    }

    // ---- chain B ----------------------------------------------------------------------------------

    function _members() internal {
        for (uint256 i; i < 3; ++i) {
            sorted.push(memberPks[i]);
        }
        for (uint256 i; i < 3; ++i) {
            for (uint256 j = i + 1; j < 3; ++j) {
                if (vm.addr(sorted[j]) < vm.addr(sorted[i])) (sorted[i], sorted[j]) = (sorted[j], sorted[i]);
            }
        }
    }

    function _key(uint256 path, uint256 role) internal pure returns (uint256) {
        return PATH_KEY + 16 * path + role;
    }

    function _fundPath(uint256 path) internal {
        vm.startBroadcast(funderPk);
        for (uint256 role; role < 3; ++role) {
            _gas(vm.addr(_key(path, role)));
        }
        vm.stopBroadcast();
    }

    function _terms(WorkPasses.Usage usage, uint32 uses, WorkPasses.Reason reason)
        internal
        pure
        returns (WorkPasses.Terms memory)
    {
        return WorkPasses.Terms({
            scope: WorkPasses.Scope.WORK,
            usage: usage,
            uses: uses,
            notBefore: 0,
            notAfter: type(uint64).max - 1,
            reason: reason,
            evidence: keccak256("evidence")
        });
    }

    /// A gateway and N funded consumers open to the pool (a pass of `usage`), then N·R deliveries in
    /// batches of `batch`; with ONE_TIME passes the owner grants a fresh pass before each delivery.
    function _committeePath(uint256 path, uint256 n, uint256 r, WorkPasses.Usage usage, uint256 batch)
        internal
    {
        _fundPath(path);
        address[] memory members = new address[](3);
        for (uint256 i; i < 3; ++i) {
            members[i] = vm.addr(sorted[i]);
        }
        vm.startBroadcast(_key(path, ROLE_DEPLOYER));
        Gateway gateway = new Gateway(members, 2);
        vm.stopBroadcast();
        WorkPasses passes = gateway.passes();
        address[] memory consumers = new address[](n);
        uint256 owner = _key(path, ROLE_OWNER);
        vm.startBroadcast(owner);
        for (uint256 j; j < n; ++j) {
            consumers[j] = address(new ScalingConsumer(passes, vm.addr(owner)));
            if (usage != WorkPasses.Usage.ONE_TIME) {
                passes.grant(
                    address(uint160(POOL)),
                    consumers[j],
                    _terms(usage, uint32(r), WorkPasses.Reason.COMMITTEE),
                    new bytes4[](0)
                );
            }
            gateway.fund{value: 1 ether}(consumers[j], 1 gwei);
        }
        vm.stopBroadcast();

        for (uint256 first; first < n * r; first += batch) {
            _deliverRange(path, gateway, consumers, r, first, batch, usage);
        }
    }

    /// Delivers results `first`.. (at most `batch`) of the sweep, result `at` going to consumer `at / r`.
    function _deliverRange(
        uint256 path,
        Gateway gateway,
        address[] memory consumers,
        uint256 r,
        uint256 first,
        uint256 batch,
        WorkPasses.Usage usage
    ) internal {
        uint256 total = consumers.length * r;
        uint256 size = first + batch > total ? total - first : batch;
        Delivery[] memory ds = new Delivery[](size);
        bytes[] memory datas = new bytes[](size);
        bytes[][] memory sigs = new bytes[][](size);
        for (uint256 i; i < size; ++i) {
            (ds[i], datas[i]) = _delivery(consumers[(first + i) / r], first + i);
            sigs[i] = _sigs(gateway, ds[i]);
        }
        if (usage == WorkPasses.Usage.ONE_TIME) {
            WorkPasses passes = gateway.passes();
            vm.startBroadcast(_key(path, ROLE_OWNER));
            passes.grant(
                address(uint160(POOL)),
                ds[0].consumer,
                _terms(usage, 1, WorkPasses.Reason.COMMITTEE),
                new bytes4[](0)
            );
            vm.stopBroadcast();
        }
        vm.startBroadcast(_key(path, ROLE_RELAYER));
        if (size == 1) gateway.deliver(ds[0], datas[0], sigs[0]);
        else gateway.deliverBatch(ds, datas, sigs);
        vm.stopBroadcast();
    }

    /// A gateway and N consumers each granting the relayer key (a TEE enclave here) a PER_SERVICE pass;
    /// the holder pushes its N·R results itself, no committee.
    function _pushPath(uint256 path, uint256 n, uint256 r) internal {
        _fundPath(path);
        // The gateway needs a committee; the push path never uses it.
        address[] memory members = new address[](1);
        members[0] = vm.addr(sorted[0]);
        vm.startBroadcast(_key(path, ROLE_DEPLOYER));
        Gateway gateway = new Gateway(members, 1);
        vm.stopBroadcast();
        WorkPasses passes = gateway.passes();
        address holder = vm.addr(_key(path, ROLE_RELAYER));
        for (uint256 j; j < n; ++j) {
            vm.startBroadcast(_key(path, ROLE_OWNER));
            address consumer = address(new ScalingConsumer(passes, vm.addr(_key(path, ROLE_OWNER))));
            passes.grant(
                holder,
                consumer,
                _terms(WorkPasses.Usage.PER_SERVICE, 0, WorkPasses.Reason.TEE),
                new bytes4[](0)
            );
            vm.stopBroadcast();
            vm.startBroadcast(_key(path, ROLE_RELAYER));
            for (uint256 i; i < r; ++i) {
                gateway.push(
                    consumer,
                    ScalingConsumer.receiveResult.selector,
                    keccak256(abi.encode("task", j, i)),
                    abi.encode(int256(3100 + int256(i))),
                    200_000
                );
            }
            vm.stopBroadcast();
        }
    }

    /// iExec's path: a forwarder, N consumers, one reporter forwarding N·R results.
    function _forwarderPath(uint256 path, uint256 n, uint256 r) internal {
        _fundPath(path);
        vm.startBroadcast(_key(path, ROLE_DEPLOYER));
        Forwarder forwarder = new Forwarder(vm.addr(_key(path, ROLE_RELAYER)));
        vm.stopBroadcast();
        for (uint256 j; j < n; ++j) {
            vm.startBroadcast(_key(path, ROLE_OWNER));
            address consumer = address(new ScalingConsumer(WorkPasses(address(0)), address(0)));
            vm.stopBroadcast();
            vm.startBroadcast(_key(path, ROLE_RELAYER));
            for (uint256 i; i < r; ++i) {
                forwarder.forward(
                    consumer, keccak256(abi.encode("task", j, i)), abi.encode(int256(3100 + int256(i)))
                );
            }
            vm.stopBroadcast();
        }
    }

    function _delivery(address consumer, uint256 i)
        internal
        view
        returns (Delivery memory d, bytes memory data)
    {
        data = abi.encode(int256(3100 + int256(i)));
        d = Delivery({
            sourceChainId: 31337,
            sourceHub: address(0x4b),
            dealid: keccak256(abi.encode("deal", consumer)),
            taskid: keccak256(abi.encode("task", i)),
            app: address(0xa99),
            dataset: address(0),
            workerpool: address(uint160(POOL)),
            tag: bytes32(0),
            trust: 1,
            digest: keccak256(data),
            consumer: consumer,
            method: ScalingConsumer.receiveResult.selector,
            gasLimit: 200_000
        });
    }

    function _sigs(Gateway gateway, Delivery memory d) internal view returns (bytes[] memory sigs) {
        bytes32 h = gateway.deliveryDigest(d);
        sigs = new bytes[](2);
        for (uint256 i; i < 2; ++i) {
            (uint8 v, bytes32 rr, bytes32 s) = vm.sign(sorted[i], h);
            sigs[i] = abi.encodePacked(rr, s, v);
        }
    }
}
