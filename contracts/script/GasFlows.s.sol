// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Vm} from "../test/utils/Vm.sol";
import {HubKit, OrderSet} from "../test/utils/HubKit.sol";
import {DevToken} from "../src/DevToken.sol";
import {Hub} from "../src/Hub.sol";
import {HubExtension} from "../src/HubExtension.sol";
import {HubKeepers} from "../src/HubKeepers.sol";
import {AppRegistry} from "../src/registries/AppRegistry.sol";
import {DatasetRegistry} from "../src/registries/DatasetRegistry.sol";
import {WorkerpoolRegistry} from "../src/registries/WorkerpoolRegistry.sol";
import {Beacon} from "../src/beacon/Beacon.sol";
import {
    AppOrder,
    WorkerpoolOrder,
    RequestOrder,
    Deal,
    FastResult,
    BatchContribution,
    ReplicatedFinalize
} from "../src/libs/Types.sol";
import {IHub} from "../src/interfaces/IHub.sol";

/// @notice The gas benchmark flows, broadcast for real against a fresh anvil by scripts/gas-report,
/// which reads every receipt. `FLOW` selects one of: trust1, trust1-dataset, replicated, tee (k = 1
/// attestation), tee-k2, tee-k3, tee-k3-dataset, batch100, trust1-direct, batch100-direct, batch100-batched1/10/100, replicated-noinit,
/// replicated100, replicated100-batched10/100, beacon, beacon-computed.
/// Set-up transactions (deployments, funding, registrations but the first app) are not measured.
contract GasFlows {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    uint256 internal constant APP_OWNER_PK = 0xA0A0;
    uint256 internal constant DATASET_OWNER_PK = 0xDADA;
    uint256 internal constant SCHEDULER_PK = 0x5C5C;
    uint256 internal constant REQUESTER_PK = 0x4E4E;
    uint256 internal constant ENCLAVE_PK = 0xE1E1;
    uint256 internal constant WORKER_PK_BASE = 0x10000;
    uint256 internal constant WORKERS = 4;
    uint256 internal constant ATTESTER_PK_BASE = 0xA7A70;
    uint256 internal constant ATTESTERS = 3;
    bytes32 internal constant MRENCLAVE = 0x8b1a9953c4611296a827abf8c47804d7e6c49c6b0000000000000000000000aa;

    uint256 internal constant APP_PRICE = 1e9;
    uint256 internal constant DATASET_PRICE = 1e9;
    uint256 internal constant POOL_PRICE = 1e9;

    uint256 internal deployerPk;
    DevToken internal token;
    AppRegistry internal apps;
    DatasetRegistry internal datasets;
    WorkerpoolRegistry internal pools;
    Hub internal hub;
    HubExtension internal hubx;
    HubKeepers internal keep; // the hub seen through the keepers' facet (attester registry, keepers)
    address internal app;
    address internal teeApp;
    address internal dataset;
    address internal pool;
    address internal beacon;
    uint256 internal salt;

    function run() external virtual {
        string memory flow = vm.envOr("FLOW", string("trust1"));
        deployerPk = vm.envOr(
            "DEPLOYER_PK", uint256(0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80)
        );
        _setup();
        bytes32 f = keccak256(bytes(flow));
        if (f == keccak256("trust1")) _single(false);
        else if (f == keccak256("trust1-dataset")) _single(true);
        else if (f == keccak256("replicated")) _replicated(true);
        else if (f == keccak256("replicated-noinit")) _replicated(false);
        else if (f == keccak256("tee")) _tee(1);
        else if (f == keccak256("tee-k2")) _tee(2);
        else if (f == keccak256("tee-k3")) _tee(3);
        else if (f == keccak256("tee-k3-dataset")) _teeOn(3, true);
        else if (f == keccak256("batch100")) _batch(100, 25);
        else if (f == keccak256("trust1-direct")) _direct();
        else if (f == keccak256("batch100-direct")) _batchDirect(100, 25);
        else if (f == keccak256("batch100-batched1")) _batchBatched(100, 1, 25);
        else if (f == keccak256("batch100-batched10")) _batchBatched(100, 10, 25);
        else if (f == keccak256("batch100-batched100")) _batchBatched(100, 100, 100);
        else if (f == keccak256("replicated100")) _replicatedBatched(100, 1);
        else if (f == keccak256("replicated100-batched10")) _replicatedBatched(100, 10);
        else if (f == keccak256("replicated100-batched100")) _replicatedBatched(100, 100);
        else if (f == keccak256("beacon")) _beacon(false);
        else if (f == keccak256("beacon-computed")) _beacon(true);
        else revert("unknown FLOW");
    }

    /// Real rounds of the League of Entropy's evmnet beacon verified and stored: by `submitHinted` (the
    /// hash-to-curve's roots supplied, as decloud-beacon submits) or, when `computed`, by `submit`.
    function _beacon(bool computed) internal {
        vm.startBroadcast(deployerPk);
        Beacon b = new Beacon(
            [
                0x07e1d1d335df83fa98462005690372c643340060d205306a9aa8106b6bd0b382,
                0x0557ec32c2ad488e4d4f6008f89a346f18492092ccc0d594610de2732c8b808f,
                0x0095685ae3a85ba243747b1b2f426049010f6b73a0cf1d389351d5aaaa1047f6,
                0x297d3a4f9749b33eb2d904c9d9ebf17224150ddd7abd7567a9bec6c74480ee0b
            ],
            1727521075,
            3
        );
        uint64[3] memory rounds = [uint64(1000), 10_000_000, 18710192];
        uint256[2][3] memory sigs = [
            [
                0x06fd5996329504d3a56b482d9222bf7205857d0a9559ddd216ca31a286f6a8cc,
                0x0a120f021aac2f13553fb164f62bc3a5ca32c76dea88a777b39bcf3cac5fdbd6
            ],
            [
                0x2c7b65b5acfe55256910ca71cf0a0fa71ac34c2a1167f86a22930a03e70ebec0,
                0x0f7a530796e7ee38600b06da0390634a9b154e3eebc3b323dde2111e1c8ebdf3
            ],
            [
                0x174c481ee5453aa002b6a5e4e4b3bad70c62933a286285b5c22e1d6b9304b4d4,
                0x0720072ba15a5c6dfe9f271bd48fd36b9d488334da388da85e45451f95ad1427
            ]
        ];
        for (uint256 k; k < 3; ++k) {
            if (computed) b.submit(rounds[k], sigs[k]);
            else b.submitHinted(rounds[k], sigs[k], b.hints(rounds[k]));
        }
        vm.stopBroadcast();
    }

    function _setup() internal {
        address deployer = vm.addr(deployerPk);
        vm.startBroadcast(deployerPk);
        // deployed from the compiled artifacts so that this script does not embed their creation code
        token = DevToken(vm.deployCode("DevToken.sol:DevToken"));
        apps = AppRegistry(vm.deployCode("AppRegistry.sol:AppRegistry"));
        datasets = DatasetRegistry(vm.deployCode("DatasetRegistry.sol:DatasetRegistry"));
        pools = WorkerpoolRegistry(vm.deployCode("WorkerpoolRegistry.sol:WorkerpoolRegistry"));
        hub = Hub(
            vm.deployCode(
                "Hub.sol:Hub",
                abi.encode(address(token), address(apps), address(datasets), address(pools), deployer)
            )
        );
        hubx = HubExtension(address(hub));
        // the selection facet, as every deployment sets it (it serves the attester registry)
        beacon = vm.deployCode("Beacon.sol:Beacon", _beaconArgs());
        bytes memory facetArgs =
            abi.encode(address(token), address(apps), address(datasets), address(pools), beacon);
        hubx.setSelection(
            vm.deployCode(
                "HubSelection.sol:HubSelection",
                bytes.concat(
                    facetArgs,
                    abi.encode(
                        vm.deployCode(
                            "HubKeepers.sol:HubKeepers",
                            bytes.concat(
                                facetArgs, abi.encode(vm.deployCode("KeeperRegistry.sol:KeeperRegistry"))
                            )
                        ),
                        vm.deployCode("HubAudit.sol:HubAudit", facetArgs)
                    )
                )
            )
        );
        keep = HubKeepers(address(hub));
        hubx.createCategory("XS", "extra small", 300);
        hubx.setMinAttesterStake(10e9);
        _gas(vm.addr(APP_OWNER_PK));
        _gas(vm.addr(DATASET_OWNER_PK));
        _gas(vm.addr(SCHEDULER_PK));
        _gas(vm.addr(REQUESTER_PK));
        for (uint256 i; i < WORKERS; ++i) {
            _gas(vm.addr(WORKER_PK_BASE + i));
        }
        for (uint256 i; i < ATTESTERS; ++i) {
            _gas(vm.addr(ATTESTER_PK_BASE + i));
        }
        vm.stopBroadcast();

        // measured: the first app registration of a fresh owner
        vm.startBroadcast(APP_OWNER_PK);
        app = apps.register(
            "hello-world",
            "https://apps.decloud.example/hello-world.wasm",
            0x5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef,
            bytes32(0)
        );
        teeApp = apps.register(
            "hello-world-tee",
            "https://apps.decloud.example/hello-world.wasm",
            0x5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef,
            MRENCLAVE
        );
        vm.stopBroadcast();
        vm.startBroadcast(DATASET_OWNER_PK);
        dataset = datasets.register(
            "mnist", "https://data.decloud.example/mnist.bin", keccak256("mnist-encrypted")
        );
        vm.stopBroadcast();
        vm.startBroadcast(SCHEDULER_PK);
        pool = pools.register("bench pool", 30, 10);
        vm.stopBroadcast();

        _fund(REQUESTER_PK, 1_000e9);
        _fund(SCHEDULER_PK, 1_000e9);
        for (uint256 i; i < WORKERS; ++i) {
            _fund(WORKER_PK_BASE + i, 100e9);
        }
        for (uint256 i; i < ATTESTERS; ++i) {
            _fund(ATTESTER_PK_BASE + i, 10e9);
            vm.startBroadcast(ATTESTER_PK_BASE + i);
            keep.registerAttester(10e9);
            vm.stopBroadcast();
        }
    }

    /// The beacon's constructor arguments: evmnet's key, genesis and period (RandomFlows: the devnet group's).
    function _beaconArgs() internal view virtual returns (bytes memory) {
        return abi.encode(
            [
                0x07e1d1d335df83fa98462005690372c643340060d205306a9aa8106b6bd0b382,
                0x0557ec32c2ad488e4d4f6008f89a346f18492092ccc0d594610de2732c8b808f,
                0x0095685ae3a85ba243747b1b2f426049010f6b73a0cf1d389351d5aaaa1047f6,
                0x297d3a4f9749b33eb2d904c9d9ebf17224150ddd7abd7567a9bec6c74480ee0b
            ],
            uint64(1727521075),
            uint64(3)
        );
    }

    function _gas(address to) internal {
        (bool ok,) = payable(to).call{value: 10 ether}("");
        require(ok);
    }

    function _fund(uint256 pk, uint256 amount) internal {
        vm.startBroadcast(pk);
        token.faucet(vm.addr(pk), amount);
        token.approve(address(hub), type(uint256).max);
        hub.deposit(amount);
        vm.stopBroadcast();
    }

    // ---- orders -----------------------------------------------------------------------------------

    function _orders(address a, bool withDataset, uint256 volume, uint256 trust, bytes32 tag)
        internal
        returns (OrderSet memory o)
    {
        o.app = AppOrder(
            a, APP_PRICE, volume, tag, address(0), address(0), address(0), 0, bytes32(++salt), ""
        );
        o.app.sign = HubKit.sign(APP_OWNER_PK, hubx.hashAppOrder(o.app));
        if (withDataset) {
            o.dataset.dataset = dataset;
            o.dataset.datasetprice = DATASET_PRICE;
            o.dataset.volume = volume;
            o.dataset.salt = bytes32(++salt);
            o.dataset.sign = HubKit.sign(DATASET_OWNER_PK, hubx.hashDatasetOrder(o.dataset));
        }
        o.pool = WorkerpoolOrder(
            pool,
            POOL_PRICE,
            volume,
            tag,
            0,
            trust,
            address(0),
            address(0),
            address(0),
            0,
            bytes32(++salt),
            ""
        );
        o.pool.sign = HubKit.sign(SCHEDULER_PK, hubx.hashWorkerpoolOrder(o.pool));
        RequestOrder memory ro = o.request;
        ro.app = a;
        ro.appmaxprice = APP_PRICE;
        ro.dataset = o.dataset.dataset;
        ro.datasetmaxprice = withDataset ? DATASET_PRICE : 0;
        ro.workerpoolmaxprice = POOL_PRICE;
        ro.requester = vm.addr(REQUESTER_PK);
        ro.volume = volume;
        ro.tag = tag;
        ro.trust = trust;
        ro.beneficiary = vm.addr(REQUESTER_PK);
        ro.params = '{"args":"--size 1024"}';
        ro.salt = bytes32(++salt);
        ro.sign = HubKit.sign(REQUESTER_PK, hubx.hashRequestOrder(ro));
    }

    function _match(address a, bool withDataset, uint256 volume, uint256 trust, bytes32 tag)
        internal
        returns (Deal memory deal)
    {
        OrderSet memory o = _orders(a, withDataset, volume, trust, tag);
        vm.recordLogs();
        vm.startBroadcast(REQUESTER_PK);
        hub.matchOrders(o.app, o.dataset, o.pool, o.request);
        vm.stopBroadcast();
        bytes32 dealid;
        (dealid, deal) = HubKit.dealCreated(vm.getRecordedLogs());
        require(dealid != 0, "no deal");
    }

    function _contribute(Deal memory d, uint256 index, uint256 workerPk, bytes32 digest) internal {
        bytes32 taskid = HubKit.taskId(d, index);
        address worker = vm.addr(workerPk);
        bytes memory auth = HubKit.authorization(SCHEDULER_PK, worker, taskid, address(0));
        vm.startBroadcast(workerPk);
        hub.contribute(
            d,
            index,
            HubKit.resultHash(taskid, digest),
            HubKit.resultSeal(worker, taskid, digest),
            address(0),
            "",
            auth
        );
        vm.stopBroadcast();
    }

    function _reveal(Deal memory d, uint256 index, uint256 workerPk, bytes32 digest) internal {
        vm.startBroadcast(workerPk);
        hub.reveal(HubKit.taskId(d, index), digest);
        vm.stopBroadcast();
    }

    function _finalize(Deal memory d, uint256 index, address[] memory ws) internal {
        vm.startBroadcast(SCHEDULER_PK);
        hub.finalize(d, index, "https://results.decloud.example/0x5f70bf18a086007016e948b04aed3b82", "", ws);
        vm.stopBroadcast();
    }

    function _initialize(Deal memory d) internal {
        vm.startBroadcast(SCHEDULER_PK);
        hub.initialize(d, 0);
        vm.stopBroadcast();
    }

    function _initializeBatches(Deal memory d, uint256 volume, uint256 batch) internal {
        for (uint256 first; first < volume; first += batch) {
            vm.startBroadcast(SCHEDULER_PK);
            hub.initializeBatch(d, first, batch);
            vm.stopBroadcast();
        }
    }

    // ---- flows ------------------------------------------------------------------------------------

    function _single(bool withDataset) internal {
        Deal memory d = _match(app, withDataset, 1, 1, 0);
        _initialize(d);
        bytes32 digest = keccak256("result-digest");
        _contribute(d, 0, WORKER_PK_BASE, digest);
        _reveal(d, 0, WORKER_PK_BASE, digest);
        _finalize(d, 0, new address[](0));
    }

    function _replicated(bool initialize) internal {
        Deal memory d = _match(app, false, 1, 3, 0);
        if (initialize) _initialize(d);
        bytes32 digest = keccak256("result-digest");
        _contribute(d, 0, WORKER_PK_BASE, digest);
        _contribute(d, 0, WORKER_PK_BASE + 1, digest);
        _reveal(d, 0, WORKER_PK_BASE, digest);
        _reveal(d, 0, WORKER_PK_BASE + 1, digest);
        address a = vm.addr(WORKER_PK_BASE);
        address b = vm.addr(WORKER_PK_BASE + 1);
        address[] memory ws = new address[](2);
        (ws[0], ws[1]) = a < b ? (a, b) : (b, a);
        _finalize(d, 0, ws);
    }

    /// A TEE task whose deal needs `k` attestations (tag bits 8.. set up to k's, see HubBase).
    function _tee(uint256 k) internal {
        _teeOn(k, false);
    }

    /// The same on the dataset when `withDataset` (no keeper group: the hub reads that it has none).
    function _teeOn(uint256 k, bool withDataset) internal {
        bytes32 tee = bytes32(uint256(1) | (k > 1 ? ((uint256(1) << (k - 1)) - 1) << 8 : 0));
        Deal memory d = _match(teeApp, withDataset, 1, 1, tee);
        _initialize(d);
        bytes32 taskid = HubKit.taskId(d, 0);
        uint256 workerPk = WORKER_PK_BASE;
        address worker = vm.addr(workerPk);
        FastResult memory r;
        r.digest = keccak256("result-digest");
        r.enclave = vm.addr(ENCLAVE_PK);
        r.enclaveSign = HubKit.personalSign(
            ENCLAVE_PK,
            keccak256(
                abi.encodePacked(
                    HubKit.resultHash(taskid, r.digest), HubKit.resultSeal(worker, taskid, r.digest)
                )
            )
        );
        r.enclaveSign = bytes.concat(r.enclaveSign, _attestations(taskid, r.enclave, k));
        // the TEE worker sends the scheduler's authorization in its compact form (decloud_protocol's
        // compact_authorization): 64 bytes, one ABI word less than 65
        r.authorizationSign = HubKit.compact(HubKit.authorization(SCHEDULER_PK, worker, taskid, r.enclave));
        r.resultsLocation = "https://results.decloud.example/0x5f70bf18a086007016e948b04aed3b82";
        vm.startBroadcast(workerPk);
        hub.contributeAndFinalize(d, 0, r);
        vm.stopBroadcast();
    }

    /// `k` attesters' attestations of `enclave` for `taskid`, in increasing attester address order.
    function _attestations(bytes32 taskid, address enclave, uint256 k)
        internal
        view
        returns (bytes memory out)
    {
        uint256[] memory pks = new uint256[](ATTESTERS);
        for (uint256 i; i < ATTESTERS; ++i) {
            pks[i] = ATTESTER_PK_BASE + i;
            for (uint256 j = i; j > 0 && vm.addr(pks[j]) < vm.addr(pks[j - 1]); --j) {
                (pks[j], pks[j - 1]) = (pks[j - 1], pks[j]);
            }
        }
        bytes32 ds = hubx.domainSeparator();
        uint64 expiry = uint64(block.timestamp + 1 hours);
        for (uint256 i; i < k; ++i) {
            out = bytes.concat(out, HubKit.attestation(pks[i], ds, taskid, enclave, MRENCLAVE, 0, expiry));
        }
    }

    function _batch(uint256 volume, uint256 batch) internal {
        Deal memory d = _match(app, false, volume, 1, 0);
        _initializeBatches(d, volume, batch);
        for (uint256 i; i < volume; ++i) {
            uint256 pk = WORKER_PK_BASE + i % WORKERS;
            bytes32 digest = keccak256(abi.encodePacked("result-digest", i));
            _contribute(d, i, pk, digest);
            _reveal(d, i, pk, digest);
            _finalize(d, i, new address[](0));
        }
    }

    function _contributeAndReveal(Deal memory d, uint256 index, uint256 workerPk, bytes32 digest) internal {
        bytes memory auth =
            HubKit.authorization(SCHEDULER_PK, vm.addr(workerPk), HubKit.taskId(d, index), address(0));
        vm.startBroadcast(workerPk);
        hub.contributeAndReveal(d, index, digest, address(0), "", auth);
        vm.stopBroadcast();
    }

    function _direct() internal {
        Deal memory d = _match(app, false, 1, 1, 0);
        _initialize(d);
        _contributeAndReveal(d, 0, WORKER_PK_BASE, keccak256("result-digest"));
        _finalize(d, 0, new address[](0));
    }

    /// A trust-1 deal whose tasks are initialized by their contribution: each worker sends its results
    /// `perTx` at a time with contributeAndRevealBatch (workers take turns per batch), then the scheduler
    /// finalizes `finalizeBy` tasks per finalizeBatch.
    function _batchBatched(uint256 volume, uint256 perTx, uint256 finalizeBy) internal {
        Deal memory d = _match(app, false, volume, 1, 0);
        for (uint256 first; first < volume; first += perTx) {
            uint256 pk = WORKER_PK_BASE + (first / perTx) % WORKERS;
            uint256[] memory idx = new uint256[](perTx);
            bytes32[] memory digests = new bytes32[](perTx);
            bytes[] memory auths = new bytes[](perTx);
            for (uint256 j; j < perTx; ++j) {
                idx[j] = first + j;
                digests[j] = keccak256(abi.encodePacked("result-digest", first + j));
                auths[j] =
                    HubKit.authorization(SCHEDULER_PK, vm.addr(pk), HubKit.taskId(d, first + j), address(0));
            }
            vm.startBroadcast(pk);
            hubx.contributeAndRevealBatch(d, idx, digests, auths);
            vm.stopBroadcast();
        }
        for (uint256 first; first < volume; first += finalizeBy) {
            uint256[] memory idx = new uint256[](finalizeBy);
            bytes[] memory locs = new bytes[](finalizeBy);
            for (uint256 j; j < finalizeBy; ++j) {
                idx[j] = first + j;
                locs[j] = "https://results.decloud.example/0x5f70bf18a086007016e948b04aed3b82";
            }
            vm.startBroadcast(SCHEDULER_PK);
            hubx.finalizeBatch(d, idx, locs, new bytes[](0));
            vm.stopBroadcast();
        }
    }

    /// A trust-3 deal of `volume` tasks, each reaching its consensus with two agreeing workers, its tasks
    /// initialized by their first contribution. `perTx` = 1: today's replicated flow per task (contribute,
    /// contribute, reveal, reveal, finalize); otherwise each worker contributes `perTx` tasks per
    /// contributeBatch, then reveals them `perTx` per revealBatch, and the scheduler finalizes them `perTx` per
    /// finalizeReplicatedBatch.
    function _replicatedBatched(uint256 volume, uint256 perTx) internal {
        Deal memory d = _match(app, false, volume, 3, 0);
        bytes32 digest = keccak256("result-digest");
        for (uint256 first; first < volume; first += perTx) {
            for (uint256 w; w < 2; ++w) {
                if (perTx == 1) _contribute(d, first, WORKER_PK_BASE + w, digest);
                else _contributeBatch(d, first, perTx, WORKER_PK_BASE + w, digest);
            }
        }
        for (uint256 first; first < volume; first += perTx) {
            for (uint256 w; w < 2; ++w) {
                if (perTx == 1) {
                    _reveal(d, first, WORKER_PK_BASE + w, digest);
                    continue;
                }
                bytes32[] memory ids = new bytes32[](perTx);
                bytes32[] memory digests = new bytes32[](perTx);
                for (uint256 j; j < perTx; ++j) {
                    (ids[j], digests[j]) = (HubKit.taskId(d, first + j), digest);
                }
                vm.startBroadcast(WORKER_PK_BASE + w);
                IHub(address(hub)).revealBatch(ids, digests);
                vm.stopBroadcast();
            }
        }
        address a = vm.addr(WORKER_PK_BASE);
        address b = vm.addr(WORKER_PK_BASE + 1);
        address[] memory ws = new address[](2);
        (ws[0], ws[1]) = a < b ? (a, b) : (b, a);
        if (perTx == 1) {
            for (uint256 i; i < volume; ++i) {
                _finalize(d, i, ws);
            }
            return;
        }
        for (uint256 first; first < volume; first += perTx) {
            ReplicatedFinalize[] memory f = new ReplicatedFinalize[](perTx);
            for (uint256 j; j < perTx; ++j) {
                f[j].index = first + j;
                f[j].resultsLocation = "https://results.decloud.example/0x5f70bf18a086007016e948b04aed3b82";
                f[j].workers = ws;
            }
            vm.startBroadcast(SCHEDULER_PK);
            IHub(address(hub)).finalizeReplicatedBatch(d, f);
            vm.stopBroadcast();
        }
    }

    /// Worker `workerPk` contributes `digest` to tasks `first .. first + n - 1` of `d` in one contributeBatch.
    function _contributeBatch(Deal memory d, uint256 first, uint256 n, uint256 workerPk, bytes32 digest)
        internal
    {
        address worker = vm.addr(workerPk);
        Deal[] memory deals = new Deal[](1);
        deals[0] = d;
        BatchContribution[] memory items = new BatchContribution[](n);
        for (uint256 j; j < n; ++j) {
            bytes32 taskid = HubKit.taskId(d, first + j);
            items[j] = BatchContribution(
                0,
                first + j,
                HubKit.resultHash(taskid, digest),
                HubKit.resultSeal(worker, taskid, digest),
                HubKit.authorization(SCHEDULER_PK, worker, taskid, address(0))
            );
        }
        vm.startBroadcast(workerPk);
        IHub(address(hub)).contributeBatch(deals, items);
        vm.stopBroadcast();
    }

    function _batchDirect(uint256 volume, uint256 batch) internal {
        Deal memory d = _match(app, false, volume, 1, 0);
        _initializeBatches(d, volume, batch);
        for (uint256 i; i < volume; ++i) {
            _contributeAndReveal(
                d, i, WORKER_PK_BASE + i % WORKERS, keccak256(abi.encodePacked("result-digest", i))
            );
        }
        for (uint256 first; first < volume; first += batch) {
            uint256[] memory idx = new uint256[](batch);
            bytes[] memory locs = new bytes[](batch);
            for (uint256 j; j < batch; ++j) {
                idx[j] = first + j;
                locs[j] = "https://results.decloud.example/0x5f70bf18a086007016e948b04aed3b82";
            }
            vm.startBroadcast(SCHEDULER_PK);
            hubx.finalizeBatch(d, idx, locs, new bytes[](0));
            vm.stopBroadcast();
        }
    }
}
