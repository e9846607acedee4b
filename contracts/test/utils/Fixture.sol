// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Test} from "./Test.sol";
import {HubKit, OrderSet} from "./HubKit.sol";
import {DevToken} from "../../src/DevToken.sol";
import {Hub} from "../../src/Hub.sol";
import {IHubErrors} from "../../src/interfaces/IHub.sol";
import {HubExtension} from "../../src/HubExtension.sol";
import {HubSelection} from "../../src/HubSelection.sol";
import {HubAudit} from "../../src/HubAudit.sol";
import {HubKeepers} from "../../src/HubKeepers.sol";
import {BeaconWithPut} from "./BeaconWithPut.sol";
import {AppRegistry} from "../../src/registries/AppRegistry.sol";
import {DatasetRegistry} from "../../src/registries/DatasetRegistry.sol";
import {WorkerpoolRegistry} from "../../src/registries/WorkerpoolRegistry.sol";
import {KeeperRegistry} from "../../src/registries/KeeperRegistry.sol";
import {
    AppOrder,
    DatasetOrder,
    WorkerpoolOrder,
    RequestOrder,
    Deal,
    FastResult
} from "../../src/libs/Types.sol";

/// @notice Deploys the protocol, registers resources, funds actors, and builds/signs orders.
abstract contract Fixture is Test {
    DevToken internal token;
    AppRegistry internal apps;
    DatasetRegistry internal datasets;
    WorkerpoolRegistry internal pools;
    Hub internal hub;
    HubExtension internal hubx; // the hub's address seen through the extension ABI
    HubSelection internal sel; // the hub's address seen through the selection facet's ABI
    HubKeepers internal keep; // the hub's address seen through the keepers' facet ABI (attesters, keepers)
    KeeperRegistry internal keeperRegistry; // where keepers publish their URLs (the keepers' facet names it)
    BeaconWithPut internal beacon; // the facet's beacon: evmnet's key, rounds also stored directly by tests

    /// evmnet's genesis and period (the League of Entropy's BN254 beacon).
    uint64 internal constant GENESIS = 1727521075;
    uint64 internal constant PERIOD = 3;

    uint256 internal constant ADMIN_PK = 0xA11CE;
    uint256 internal constant APP_OWNER_PK = 0xA0;
    uint256 internal constant DATASET_OWNER_PK = 0xDA;
    uint256 internal constant SCHEDULER_PK = 0x5C;
    uint256 internal constant REQUESTER_PK = 0x4E;
    uint256 internal constant ATTESTER_PK_BASE = 0xA7000;
    uint256 internal constant ENCLAVE_PK = 0xE1;
    uint256 internal constant WORKER_PK_BASE = 0x1000;

    address internal admin;
    address internal appOwner;
    address internal datasetOwner;
    address internal scheduler;
    address internal requester;
    /// Registered attesters, sorted by address (as contributions list them), and their keys.
    address[] internal attesters;
    uint256[] internal attesterPks;
    address internal enclave;
    address[] internal workers;
    uint256[] internal workerPks;

    address internal app;
    address internal teeApp;
    address internal dataset;
    address internal pool;

    uint256 internal constant REF = 300; // category 0 workClockTimeRef
    uint256 internal constant APP_PRICE = 3e9;
    uint256 internal constant DATASET_PRICE = 2e9;
    uint256 internal constant POOL_PRICE = 10e9;
    uint256 internal constant FUNDS = 1_000e9;
    uint8 internal constant STAKE_RATIO = 30;
    uint8 internal constant REWARD_RATIO = 10;
    uint256 internal constant MIN_ATTESTER_STAKE = 50e9;
    uint256 internal constant ATTESTER_STAKE = 100e9;
    bytes32 internal constant MRENCLAVE = keccak256("mre");

    uint256 internal saltCounter;

    function _evmnetKey() internal pure returns (uint256[4] memory) {
        return [
            0x07e1d1d335df83fa98462005690372c643340060d205306a9aa8106b6bd0b382,
            0x0557ec32c2ad488e4d4f6008f89a346f18492092ccc0d594610de2732c8b808f,
            0x0095685ae3a85ba243747b1b2f426049010f6b73a0cf1d389351d5aaaa1047f6,
            0x297d3a4f9749b33eb2d904c9d9ebf17224150ddd7abd7567a9bec6c74480ee0b
        ];
    }

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        admin = vm.addr(ADMIN_PK);
        appOwner = vm.addr(APP_OWNER_PK);
        datasetOwner = vm.addr(DATASET_OWNER_PK);
        scheduler = vm.addr(SCHEDULER_PK);
        requester = vm.addr(REQUESTER_PK);
        enclave = vm.addr(ENCLAVE_PK);

        token = new DevToken();
        apps = new AppRegistry();
        datasets = new DatasetRegistry();
        pools = new WorkerpoolRegistry();
        hub = new Hub(address(token), address(apps), address(datasets), address(pools), admin);
        hubx = HubExtension(address(hub));

        vm.startPrank(admin);
        hubx.createCategory("XS", "extra small", REF);
        hubx.createCategory("S", "small", 1200);
        hubx.setMinAttesterStake(MIN_ATTESTER_STAKE);
        vm.stopPrank();
        // the selection facet (random selection, the attester registry, keepers), as every deployment sets it
        beacon = new BeaconWithPut(_evmnetKey(), GENESIS, PERIOD);
        HubSelection facet = new HubSelection(
            address(token),
            address(apps),
            address(datasets),
            address(pools),
            address(beacon),
            address(
                new HubKeepers(
                    address(token),
                    address(apps),
                    address(datasets),
                    address(pools),
                    address(beacon),
                    address(keeperRegistry = new KeeperRegistry())
                )
            ),
            address(
                new HubAudit(
                    address(token), address(apps), address(datasets), address(pools), address(beacon)
                )
            )
        );
        vm.prank(admin);
        hubx.setSelection(address(facet));
        sel = HubSelection(address(hub));
        keep = HubKeepers(address(hub));

        vm.prank(appOwner);
        app = apps.register("hello", "https://apps.example/hello.wasm", keccak256("hello-module"), bytes32(0));
        vm.prank(appOwner);
        teeApp = apps.register(
            "hello-tee", "https://apps.example/hello.wasm", keccak256("hello-module"), MRENCLAVE
        );
        vm.prank(datasetOwner);
        dataset = datasets.register("data", "https://data.example/data.bin", keccak256("data"));
        vm.prank(scheduler);
        pool = pools.register("pool", STAKE_RATIO, REWARD_RATIO);

        _fund(requester, FUNDS);
        _fund(scheduler, FUNDS);
        for (uint256 i; i < 6; ++i) {
            uint256 pk = WORKER_PK_BASE + i;
            workerPks.push(pk);
            workers.push(vm.addr(pk));
            _fund(vm.addr(pk), FUNDS);
        }
        for (uint256 i; i < 4; ++i) {
            uint256 pk = ATTESTER_PK_BASE + i;
            address a = vm.addr(pk);
            _fund(a, FUNDS);
            vm.prank(a);
            keep.registerAttester(ATTESTER_STAKE);
            // insertion sort by address
            attesters.push(a);
            attesterPks.push(pk);
            for (uint256 j = attesters.length - 1; j > 0 && attesters[j] < attesters[j - 1]; --j) {
                (attesters[j], attesters[j - 1]) = (attesters[j - 1], attesters[j]);
                (attesterPks[j], attesterPks[j - 1]) = (attesterPks[j - 1], attesterPks[j]);
            }
        }
    }

    function _fund(address who, uint256 amount) internal {
        token.faucet(who, amount);
        vm.startPrank(who);
        token.approve(address(hub), type(uint256).max);
        hub.deposit(amount);
        vm.stopPrank();
    }

    // ---- orders -----------------------------------------------------------------------------------

    function _sign(uint256 pk, bytes32 digest) internal pure returns (bytes memory) {
        return HubKit.sign(pk, digest);
    }

    function _personalSign(uint256 pk, bytes32 h) internal pure returns (bytes memory) {
        return HubKit.personalSign(pk, h);
    }

    function _salt() internal returns (bytes32) {
        return bytes32(++saltCounter);
    }

    function _appOrder(address a, uint256 volume) internal returns (AppOrder memory o) {
        o = AppOrder(a, APP_PRICE, volume, 0, address(0), address(0), address(0), 0, _salt(), "");
        _resignApp(o);
    }

    function _datasetOrder(uint256 volume) internal returns (DatasetOrder memory o) {
        o = DatasetOrder(
            dataset, DATASET_PRICE, volume, 0, address(0), address(0), address(0), 0, _salt(), ""
        );
        _resignDataset(o);
    }

    function _poolOrder(uint256 volume, uint256 trust, bytes32 tag)
        internal
        returns (WorkerpoolOrder memory o)
    {
        o = WorkerpoolOrder(
            pool, POOL_PRICE, volume, tag, 0, trust, address(0), address(0), address(0), 0, _salt(), ""
        );
        _resignPool(o);
    }

    function _requestOrder(address a, address d, uint256 volume, uint256 trust, bytes32 tag, address callback)
        internal
        returns (RequestOrder memory o)
    {
        o.app = a;
        o.appmaxprice = APP_PRICE;
        o.dataset = d;
        o.datasetmaxprice = d == address(0) ? 0 : DATASET_PRICE;
        o.workerpoolmaxprice = POOL_PRICE;
        o.requester = requester;
        o.volume = volume;
        o.tag = tag;
        o.trust = trust;
        o.beneficiary = requester;
        o.callback = callback;
        o.params = '{"args":"--hello"}';
        o.salt = _salt();
        _resignRequest(o);
    }

    function _resignApp(AppOrder memory o) internal view {
        o.sign = _sign(APP_OWNER_PK, hubx.hashAppOrder(o));
    }

    function _resignDataset(DatasetOrder memory o) internal view {
        o.sign = _sign(DATASET_OWNER_PK, hubx.hashDatasetOrder(o));
    }

    function _resignPool(WorkerpoolOrder memory o) internal view {
        o.sign = _sign(SCHEDULER_PK, hubx.hashWorkerpoolOrder(o));
    }

    function _resignRequest(RequestOrder memory o) internal view {
        o.sign = _sign(REQUESTER_PK, hubx.hashRequestOrder(o));
    }

    /// Four compatible orders of `volume` tasks, with the dataset, at trust 1.
    function _orderSet(uint256 volume) internal returns (OrderSet memory o) {
        o.app = _appOrder(app, volume);
        o.dataset = _datasetOrder(volume);
        o.pool = _poolOrder(volume, 1, 0);
        o.request = _requestOrder(app, dataset, volume, 1, 0, address(0));
    }

    /// Signs the orders of `o` again, after a test edited them.
    function _resign(OrderSet memory o) internal view {
        _resignApp(o.app);
        if (o.dataset.dataset != address(0)) _resignDataset(o.dataset);
        _resignPool(o.pool);
        _resignRequest(o.request);
    }

    /// Signs the orders again (so that only the edited field is wrong) and expects the hub's `err`.
    function _expectMatchRevert(OrderSet memory o, bytes memory err) internal {
        _resign(o);
        vm.expectRevert(err);
        hub.matchOrders(o.app, o.dataset, o.pool, o.request);
    }

    /// Sets restriction `which` of `o` to `restriction`: 0-2 the app order's on the dataset, workerpool
    /// and requester, 3-5 the dataset order's on the app, workerpool and requester, 6-8 the workerpool
    /// order's on the app, dataset and requester. Returns the party of the match it applies to and the
    /// error the hub reverts with when the restriction names another.
    function _restrict(OrderSet memory o, uint256 which, address restriction)
        internal
        pure
        returns (address actual, bytes4 err)
    {
        if (which == 0) (o.app.datasetrestrict, actual) = (restriction, o.dataset.dataset);
        else if (which == 1) (o.app.workerpoolrestrict, actual) = (restriction, o.pool.workerpool);
        else if (which == 2) (o.app.requesterrestrict, actual) = (restriction, o.request.requester);
        else if (which == 3) (o.dataset.apprestrict, actual) = (restriction, o.app.app);
        else if (which == 4) (o.dataset.workerpoolrestrict, actual) = (restriction, o.pool.workerpool);
        else if (which == 5) (o.dataset.requesterrestrict, actual) = (restriction, o.request.requester);
        else if (which == 6) (o.pool.apprestrict, actual) = (restriction, o.app.app);
        else if (which == 7) (o.pool.datasetrestrict, actual) = (restriction, o.dataset.dataset);
        else (o.pool.requesterrestrict, actual) = (restriction, o.request.requester);
        if (which < 3) err = IHubErrors.AppOrderRestricted.selector;
        else if (which < 6) err = IHubErrors.DatasetOrderRestricted.selector;
        else err = IHubErrors.WorkerpoolOrderRestricted.selector;
    }

    /// Matches and returns the deal decoded from DealCreated.
    function _match(
        AppOrder memory ao,
        DatasetOrder memory dso,
        WorkerpoolOrder memory wpo,
        RequestOrder memory ro
    ) internal returns (Deal memory deal) {
        vm.recordLogs();
        bytes32 dealid = hub.matchOrders(ao, dso, wpo, ro);
        bytes32 logged;
        (logged, deal) = HubKit.dealCreated(vm.getRecordedLogs());
        assertEq(logged, dealid, "dealid topic");
    }

    function _simpleDeal(uint256 volume, uint256 trust) internal returns (Deal memory) {
        DatasetOrder memory none;
        return _match(
            _appOrder(app, volume),
            none,
            _poolOrder(volume, trust, 0),
            _requestOrder(app, address(0), volume, trust, 0, address(0))
        );
    }

    function _datasetDeal(uint256 volume, uint256 trust, address callback) internal returns (Deal memory) {
        return _match(
            _appOrder(app, volume),
            _datasetOrder(volume),
            _poolOrder(volume, trust, 0),
            _requestOrder(app, dataset, volume, trust, 0, callback)
        );
    }

    function _teeDeal(uint256 volume) internal returns (Deal memory) {
        DatasetOrder memory none;
        return _match(
            _appOrder(teeApp, volume),
            none,
            _poolOrder(volume, 1, bytes32(uint256(1))),
            _requestOrder(teeApp, address(0), volume, 1, bytes32(uint256(1)), address(0))
        );
    }

    function _dealId(Deal memory d) internal pure returns (bytes32) {
        return HubKit.dealId(d);
    }

    function _taskId(Deal memory d, uint256 index) internal pure returns (bytes32) {
        return HubKit.taskId(d, index);
    }

    // ---- task helpers -------------------------------------------------------------------------------

    function _auth(address worker, bytes32 taskid, address encl) internal pure returns (bytes memory) {
        return HubKit.authorization(SCHEDULER_PK, worker, taskid, encl);
    }

    function _resultHash(bytes32 taskid, bytes32 digest) internal pure returns (bytes32) {
        return HubKit.resultHash(taskid, digest);
    }

    function _resultSeal(address worker, bytes32 taskid, bytes32 digest) internal pure returns (bytes32) {
        return HubKit.resultSeal(worker, taskid, digest);
    }

    function _contribute(Deal memory d, uint256 index, uint256 w, bytes32 digest) internal {
        _contributeAs(workers[w], d, index, digest, "");
    }

    /// `worker`, authorized by the scheduler, contributes `digest` to task `index` of `d` without an
    /// enclave; the hub must revert with `err` unless it is empty.
    function _contributeAs(address worker, Deal memory d, uint256 index, bytes32 digest, bytes memory err)
        internal
    {
        bytes32 taskid = _taskId(d, index);
        bytes32 rh = _resultHash(taskid, digest);
        bytes32 rs = _resultSeal(worker, taskid, digest);
        bytes memory auth = _auth(worker, taskid, address(0));
        vm.prank(worker);
        if (err.length != 0) vm.expectRevert(err);
        hub.contribute(d, index, rh, rs, address(0), "", auth);
    }

    function _reveal(Deal memory d, uint256 index, uint256 w, bytes32 digest) internal {
        vm.prank(workers[w]);
        hub.reveal(_taskId(d, index), digest);
    }

    function _finalize(Deal memory d, uint256 index, address[] memory ws) internal {
        vm.prank(scheduler);
        hub.finalize(d, index, "ipfs://result", "", ws);
    }

    /// Attester `i`'s (in address order) packed attestation of `encl` for `taskid`.
    function _attestation(
        uint256 i,
        bytes32 taskid,
        address encl,
        bytes32 measurement,
        uint8 tcb,
        uint64 expiry
    ) internal view returns (bytes memory) {
        return HubKit.attestation(
            attesterPks[i], hubx.domainSeparator(), taskid, encl, measurement, tcb, expiry
        );
    }

    /// Attestations of `encl` for `taskid` by the first `k` attesters, valid for a day, TCB up to date.
    function _attestations(bytes32 taskid, address encl, uint256 k) internal view returns (bytes memory out) {
        for (uint256 i; i < k; ++i) {
            out = bytes.concat(
                out, _attestation(i, taskid, encl, MRENCLAVE, 0, uint64(block.timestamp + 1 days))
            );
        }
    }

    /// The enclave's signature of `worker`'s result `digest` for `taskid`, without attestations.
    function _enclaveSig(bytes32 taskid, address worker, bytes32 digest)
        internal
        pure
        returns (bytes memory)
    {
        return _personalSign(
            ENCLAVE_PK,
            keccak256(abi.encodePacked(_resultHash(taskid, digest), _resultSeal(worker, taskid, digest)))
        );
    }

    /// The enclave's signature followed by `k` attestations: what `enclaveSign` carries.
    function _enclaveSign(bytes32 taskid, address worker, bytes32 digest, uint256 k)
        internal
        view
        returns (bytes memory)
    {
        return bytes.concat(_enclaveSig(taskid, worker, digest), _attestations(taskid, enclave, k));
    }

    /// The TEE fast path's evidence for worker `w` and result `digest` on task `index` of `d`.
    function _fast(Deal memory d, uint256 index, uint256 w, bytes32 digest)
        internal
        view
        returns (FastResult memory r)
    {
        bytes32 taskid = _taskId(d, index);
        address worker = workers[w];
        r.digest = digest;
        r.enclave = enclave;
        r.enclaveSign = _enclaveSign(taskid, worker, digest, HubKit.attestationsRequired(d.tag));
        r.authorizationSign = _auth(worker, taskid, enclave);
        r.resultsLocation = "loc";
    }

    /// Has the scheduler initialize task `index` of `d`.
    function _initialize(Deal memory d, uint256 index) internal returns (bytes32 taskid) {
        vm.prank(scheduler);
        taskid = hub.initialize(d, index);
    }

    function _none() internal pure returns (address[] memory) {
        return new address[](0);
    }

    function _sorted(address a, address b) internal pure returns (address[] memory l) {
        l = new address[](2);
        (l[0], l[1]) = a < b ? (a, b) : (b, a);
    }

    /// Every token unit the hub accounts for: the kitty, the actors' balances and frozen amounts, and the
    /// attesters' balances and stakes.
    function _total() internal view returns (uint256 sum) {
        sum = hubx.kitty();
        for (uint256 i; i < attesters.length; ++i) {
            (uint256 stake,,,,) = keep.attester(attesters[i]);
            sum += hubx.balanceOf(attesters[i]) + stake;
        }
        address[5] memory fixedActors = [appOwner, datasetOwner, scheduler, requester, admin];
        for (uint256 i; i < 5; ++i) {
            sum += hubx.balanceOf(fixedActors[i]) + hubx.frozenOf(fixedActors[i]);
        }
        for (uint256 i; i < workers.length; ++i) {
            sum += hubx.balanceOf(workers[i]) + hubx.frozenOf(workers[i]);
        }
    }
}
