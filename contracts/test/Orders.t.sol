// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {OrderSet} from "./utils/HubKit.sol";
import {IHubErrors} from "../src/interfaces/IHub.sol";
import {AppOrder, DatasetOrder, WorkerpoolOrder, RequestOrder, Deal} from "../src/libs/Types.sol";

/// An EIP-1271 wallet that accepts signatures from its owner key.
contract Wallet {
    address internal immutable owner;

    constructor(address owner_) {
        owner = owner_;
    }

    function isValidSignature(bytes32 h, bytes calldata sig) external view returns (bytes4) {
        (bytes32 r, bytes32 s) = abi.decode(sig[:64], (bytes32, bytes32));
        uint8 v = uint8(sig[64]);
        return ecrecover(h, v, r, s) == owner ? bytes4(0x1626ba7e) : bytes4(0xffffffff);
    }
}

contract OrdersTest is Fixture {
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    function _domain() internal view returns (bytes32) {
        return keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("decloud"), keccak256("1"), block.chainid, address(hub))
        );
    }

    function _digest(bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", _domain(), structHash));
    }

    // ---- EIP-712 hashes against the exact type strings ----------------------------------------------

    function test_appOrderHash() public {
        AppOrder memory o = _appOrder(app, 7);
        o.tag = bytes32(uint256(1));
        o.datasetrestrict = address(1);
        o.workerpoolrestrict = address(2);
        o.requesterrestrict = address(3);
        o.expiry = 99;
        bytes32 sh = keccak256(
            abi.encode(
                keccak256(
                    "AppOrder(address app,uint256 appprice,uint256 volume,bytes32 tag,address datasetrestrict,address workerpoolrestrict,address requesterrestrict,uint256 expiry,bytes32 salt)"
                ),
                o.app,
                o.appprice,
                o.volume,
                o.tag,
                o.datasetrestrict,
                o.workerpoolrestrict,
                o.requesterrestrict,
                o.expiry,
                o.salt
            )
        );
        assertEq(hubx.hashAppOrder(o), _digest(sh), "app order digest");
    }

    function test_datasetOrderHash() public {
        DatasetOrder memory o = _datasetOrder(7);
        o.apprestrict = address(1);
        o.expiry = 5;
        bytes32 sh = keccak256(
            abi.encode(
                keccak256(
                    "DatasetOrder(address dataset,uint256 datasetprice,uint256 volume,bytes32 tag,address apprestrict,address workerpoolrestrict,address requesterrestrict,uint256 expiry,bytes32 salt)"
                ),
                o.dataset,
                o.datasetprice,
                o.volume,
                o.tag,
                o.apprestrict,
                o.workerpoolrestrict,
                o.requesterrestrict,
                o.expiry,
                o.salt
            )
        );
        assertEq(hubx.hashDatasetOrder(o), _digest(sh), "dataset order digest");
    }

    function test_workerpoolOrderHash() public {
        WorkerpoolOrder memory o = _poolOrder(7, 5, bytes32(uint256(3)));
        o.category = 1;
        o.datasetrestrict = address(9);
        bytes32 sh = keccak256(
            abi.encode(
                keccak256(
                    "WorkerpoolOrder(address workerpool,uint256 workerpoolprice,uint256 volume,bytes32 tag,uint256 category,uint256 trust,address apprestrict,address datasetrestrict,address requesterrestrict,uint256 expiry,bytes32 salt)"
                ),
                o.workerpool,
                o.workerpoolprice,
                o.volume,
                o.tag,
                o.category,
                o.trust,
                o.apprestrict,
                o.datasetrestrict,
                o.requesterrestrict,
                o.expiry,
                o.salt
            )
        );
        assertEq(hubx.hashWorkerpoolOrder(o), _digest(sh), "workerpool order digest");
    }

    function test_requestOrderHash() public {
        RequestOrder memory o = _requestOrder(app, dataset, 7, 5, bytes32(uint256(1)), address(0xCA11));
        o.workerpool = pool;
        o.expiry = 123;
        // abi.encode of 17 values at once is too deep for the legacy code generator: hash in two steps.
        bytes memory head = abi.encode(
            keccak256(
                "RequestOrder(address app,uint256 appmaxprice,address dataset,uint256 datasetmaxprice,address workerpool,uint256 workerpoolmaxprice,address requester,uint256 volume,bytes32 tag,uint256 category,uint256 trust,address beneficiary,address callback,string params,uint256 expiry,bytes32 salt)"
            ),
            o.app,
            o.appmaxprice,
            o.dataset,
            o.datasetmaxprice,
            o.workerpool,
            o.workerpoolmaxprice,
            o.requester,
            o.volume
        );
        bytes memory tail = abi.encode(
            o.tag,
            o.category,
            o.trust,
            o.beneficiary,
            o.callback,
            keccak256(bytes(o.params)),
            o.expiry,
            o.salt
        );
        bytes32 h1 = keccak256(bytes.concat(head, tail));
        assertEq(hubx.hashRequestOrder(o), _digest(h1), "request order digest");
    }

    // ---- matching ------------------------------------------------------------------------------------

    function _orders(uint256 volume)
        internal
        returns (AppOrder memory, DatasetOrder memory, WorkerpoolOrder memory, RequestOrder memory)
    {
        OrderSet memory o = _orderSet(volume);
        return (o.app, o.dataset, o.pool, o.request);
    }

    function test_partialFillsAndConsumedVolumes() public {
        (AppOrder memory ao, DatasetOrder memory dso, WorkerpoolOrder memory wpo, RequestOrder memory ro) =
            _orders(10);
        ao.volume = 3;
        _resignApp(ao);
        Deal memory d1 = _match(ao, dso, wpo, ro);
        assertEq(d1.volume, 3, "limited by the app order");
        assertEq(d1.botFirst, 0, "first");
        bytes32 rh = hubx.hashRequestOrder(ro);
        assertEq(hubx.requestOrderConsumed(rh, 10), 3, "request consumed");
        (uint256 consumed,,) = hubx.orderStatus(hubx.hashAppOrder(ao));
        assertEq(consumed, 3, "app consumed");
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.OrderFullyConsumed.selector, hubx.hashAppOrder(ao)));
        hub.matchOrders(ao, dso, wpo, ro);
        AppOrder memory ao2 = _appOrder(app, 100);
        Deal memory d2 = _match(ao2, dso, wpo, ro);
        assertEq(d2.volume, 7, "rest of the request");
        assertEq(d2.botFirst, 3, "botFirst");
        assertEq(hubx.requestOrderConsumed(rh, 10), 10, "request fully consumed");
        (consumed,,) = hubx.orderStatus(rh);
        assertEq(consumed, 3, "completing deal not recorded in the order slot");
        ao2 = _appOrder(app, 100);
        dso = _datasetOrder(100);
        wpo = _poolOrder(100, 1, 0);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.OrderFullyConsumed.selector, rh));
        hub.matchOrders(ao2, dso, wpo, ro);
        assertEq(
            hubx.frozenOf(requester), 10 * (APP_PRICE + DATASET_PRICE + POOL_PRICE), "frozen for 10 tasks"
        );
        (bytes32 commitment, uint256 start) = hubx.dealRecord(_dealId(d2));
        assertTrue(commitment != 0, "deal recorded");
        assertEq(start, block.timestamp, "start");
        assertEq(hubx.dealId(d2), _dealId(d2), "dealId view");
        assertEq(hubx.taskId(_dealId(d2), 4), _taskId(d2, 4), "taskId view");
    }

    function test_presignAndCancel() public {
        (AppOrder memory ao, DatasetOrder memory dso, WorkerpoolOrder memory wpo, RequestOrder memory ro) =
            _orders(1);
        ao.sign = "";
        dso.sign = "";
        wpo.sign = "";
        ro.sign = "";
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.InvalidSignature.selector, hubx.hashAppOrder(ao), appOwner)
        );
        hub.matchOrders(ao, dso, wpo, ro);
        vm.expectRevert(
            abi.encodeWithSelector(IHubErrors.NotOrderSigner.selector, hubx.hashAppOrder(ao), address(this))
        );
        hubx.manageAppOrder(ao, false);
        vm.prank(appOwner);
        hubx.manageAppOrder(ao, false);
        vm.prank(datasetOwner);
        hubx.manageDatasetOrder(dso, false);
        vm.prank(scheduler);
        hubx.manageWorkerpoolOrder(wpo, false);
        vm.prank(requester);
        hubx.manageRequestOrder(ro, false);
        (, bool presigned,) = hubx.orderStatus(hubx.hashRequestOrder(ro));
        assertTrue(presigned, "presigned");
        // cancel the request: no match any more
        vm.prank(requester);
        hubx.manageRequestOrder(ro, true);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.OrderCancelled.selector, hubx.hashRequestOrder(ro)));
        hub.matchOrders(ao, dso, wpo, ro);
        RequestOrder memory ro2 = _requestOrder(app, dataset, 1, 1, 0, address(0));
        _match(ao, dso, wpo, ro2);
    }

    function test_unknownResourceInManage() public {
        AppOrder memory ao = _appOrder(address(0xdead), 1);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.UnknownResource.selector, address(0xdead)));
        hubx.manageAppOrder(ao, true);
    }

    function test_contractRequesterEip1271() public {
        Wallet wallet = new Wallet(requester);
        _fund(address(wallet), 100e9);
        (AppOrder memory ao, DatasetOrder memory dso, WorkerpoolOrder memory wpo, RequestOrder memory ro) =
            _orders(1);
        ro.requester = address(wallet);
        _resignRequest(ro);
        Deal memory d = _match(ao, dso, wpo, ro);
        assertEq(d.requester, address(wallet), "wallet requester");
        assertEq(hubx.frozenOf(address(wallet)), APP_PRICE + DATASET_PRICE + POOL_PRICE, "wallet frozen");
        // a bad signature from the wallet
        RequestOrder memory ro2 = _requestOrder(app, dataset, 1, 1, 0, address(0));
        ro2.requester = address(wallet);
        ro2.sign = _sign(APP_OWNER_PK, hubx.hashRequestOrder(ro2));
        (ao, dso, wpo,) = _orders(1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IHubErrors.InvalidSignature.selector, hubx.hashRequestOrder(ro2), address(wallet)
            )
        );
        hub.matchOrders(ao, dso, wpo, ro2);
    }

    function test_depositAndMatch() public {
        address poor = vm.addr(0xBEEF);
        token.faucet(address(this), 100e9);
        token.approve(address(hub), 100e9);
        DatasetOrder memory none;
        RequestOrder memory ro = _requestOrder(app, address(0), 1, 1, 0, address(0));
        ro.requester = poor;
        ro.sign = _sign(0xBEEF, hubx.hashRequestOrder(ro));
        hub.depositAndMatchOrders(20e9, _appOrder(app, 1), none, _poolOrder(1, 1, 0), ro);
        assertEq(hubx.frozenOf(poor), APP_PRICE + POOL_PRICE, "frozen");
        assertEq(hubx.balanceOf(poor), 20e9 - APP_PRICE - POOL_PRICE, "rest");
    }

    function test_matchErrors() public {
        OrderSet memory o;

        o = _orderSet(1);
        o.request.app = teeApp;
        _expectMatchRevert(o, abi.encodeWithSelector(IHubErrors.AppMismatch.selector, teeApp, app));

        o = _orderSet(1);
        o.request.dataset = address(0);
        _expectMatchRevert(
            o, abi.encodeWithSelector(IHubErrors.DatasetMismatch.selector, address(0), dataset)
        );

        o = _orderSet(1);
        o.request.workerpool = address(0x1234);
        _expectMatchRevert(
            o, abi.encodeWithSelector(IHubErrors.WorkerpoolMismatch.selector, address(0x1234), pool)
        );

        o = _orderSet(1);
        o.request.category = 1;
        _expectMatchRevert(o, abi.encodeWithSelector(IHubErrors.CategoryMismatch.selector, 1, 0));

        o = _orderSet(1);
        o.request.trust = 2;
        _expectMatchRevert(o, abi.encodeWithSelector(IHubErrors.TrustNotOffered.selector, 2, 1));

        o = _orderSet(1);
        o.request.trust = uint256(1) << 32;
        o.pool.trust = uint256(1) << 32;
        _expectMatchRevert(o, abi.encodeWithSelector(IHubErrors.TrustTooLarge.selector, uint256(1) << 32));

        o = _orderSet(1);
        o.request.appmaxprice = APP_PRICE - 1;
        _expectMatchRevert(
            o, abi.encodeWithSelector(IHubErrors.AppPriceTooHigh.selector, APP_PRICE, APP_PRICE - 1)
        );

        o = _orderSet(1);
        o.request.datasetmaxprice = 0;
        _expectMatchRevert(
            o, abi.encodeWithSelector(IHubErrors.DatasetPriceTooHigh.selector, DATASET_PRICE, 0)
        );

        o = _orderSet(1);
        o.request.workerpoolmaxprice = 1;
        _expectMatchRevert(
            o, abi.encodeWithSelector(IHubErrors.WorkerpoolPriceTooHigh.selector, POOL_PRICE, 1)
        );

        o = _orderSet(1);
        o.app.appprice = uint256(1) << 96;
        o.request.appmaxprice = uint256(1) << 96;
        _expectMatchRevert(o, abi.encodeWithSelector(IHubErrors.PriceTooLarge.selector, uint256(1) << 96));

        o = _orderSet(1);
        o.request.tag = bytes32(uint256(2));
        _expectMatchRevert(
            o, abi.encodeWithSelector(IHubErrors.TagNotOffered.selector, bytes32(uint256(2)), bytes32(0))
        );

        o = _orderSet(1);
        o.request.tag = bytes32(uint256(1));
        o.pool.tag = bytes32(uint256(1));
        _expectMatchRevert(o, abi.encodeWithSelector(IHubErrors.TeeAppRequired.selector, app));

        o = _orderSet(1);
        o.app.expiry = block.timestamp - 1;
        _resignApp(o.app);
        _expectMatchRevert(
            o,
            abi.encodeWithSelector(
                IHubErrors.OrderExpired.selector, hubx.hashAppOrder(o.app), block.timestamp - 1
            )
        );

        o = _orderSet(1);
        o.app.app = address(0x77);
        o.request.app = address(0x77);
        _expectMatchRevert(o, abi.encodeWithSelector(IHubErrors.UnknownResource.selector, address(0x77)));

        o = _orderSet(1);
        o.dataset.dataset = address(0x78);
        o.request.dataset = address(0x78);
        _expectMatchRevert(o, abi.encodeWithSelector(IHubErrors.UnknownResource.selector, address(0x78)));

        o = _orderSet(1);
        o.pool.workerpool = address(0x79);
        _expectMatchRevert(o, abi.encodeWithSelector(IHubErrors.UnknownResource.selector, address(0x79)));

        o = _orderSet(1);
        o.pool.category = 7;
        o.request.category = 7;
        _expectMatchRevert(o, abi.encodeWithSelector(IHubErrors.UnknownCategory.selector, 7));

        o = _orderSet(1000);
        uint256 cost = 1000 * (APP_PRICE + DATASET_PRICE + POOL_PRICE);
        _expectMatchRevert(
            o, abi.encodeWithSelector(IHubErrors.InsufficientBalance.selector, requester, FUNDS, cost)
        );

        o = _orderSet(1);
        o.pool.sign = _sign(REQUESTER_PK, hubx.hashWorkerpoolOrder(o.pool));
        vm.expectRevert(
            abi.encodeWithSelector(
                IHubErrors.InvalidSignature.selector, hubx.hashWorkerpoolOrder(o.pool), scheduler
            )
        );
        hub.matchOrders(o.app, o.dataset, o.pool, o.request);
    }

    /// Each of the nine restrictions, naming another party than the match's.
    function test_matchRestrictions() public {
        address other = address(0x99);
        for (uint256 which; which < 9; ++which) {
            OrderSet memory o = _orderSet(1);
            (address actual, bytes4 err) = _restrict(o, which, other);
            _expectMatchRevert(o, abi.encodeWithSelector(err, other, actual));
        }
    }

    function test_schedulerStakeNeeded() public {
        vm.startPrank(scheduler);
        hubx.withdraw(FUNDS);
        vm.stopPrank();
        (AppOrder memory ao, DatasetOrder memory dso, WorkerpoolOrder memory wpo, RequestOrder memory ro) =
            _orders(1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IHubErrors.InsufficientBalance.selector, scheduler, 0, POOL_PRICE * 30 / 100
            )
        );
        hub.matchOrders(ao, dso, wpo, ro);
    }

    function test_noDatasetMeansNoDatasetPrice() public {
        DatasetOrder memory dso;
        dso.datasetprice = 5e9; // ignored: no dataset
        RequestOrder memory ro = _requestOrder(app, address(0), 1, 1, 0, address(0));
        ro.datasetmaxprice = 5e9;
        _resignRequest(ro);
        Deal memory d = _match(_appOrder(app, 1), dso, _poolOrder(1, 1, 0), ro);
        assertEq(d.datasetPrice, 0, "no dataset price");
    }

    function test_transferredAppInvalidatesOldOwnerOrders() public {
        AppOrder memory ao = _appOrder(app, 1);
        vm.prank(appOwner);
        apps.transferFrom(appOwner, address(0xBEEF), uint256(uint160(app)));
        DatasetOrder memory none;
        RequestOrder memory ro = _requestOrder(app, address(0), 1, 1, 0, address(0));
        WorkerpoolOrder memory wpo = _poolOrder(1, 1, 0);
        vm.expectRevert(
            abi.encodeWithSelector(
                IHubErrors.InvalidSignature.selector, hubx.hashAppOrder(ao), address(0xBEEF)
            )
        );
        hub.matchOrders(ao, none, wpo, ro);
    }
}
