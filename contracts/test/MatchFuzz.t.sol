// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {OrderSet} from "./utils/HubKit.sol";
import {IHubErrors} from "../src/interfaces/IHub.sol";
import {AppOrder, DatasetOrder, WorkerpoolOrder, RequestOrder, Deal} from "../src/libs/Types.sol";

contract MatchFuzzTest is Fixture {
    /// Prices and caps are [app, dataset, workerpool]; volumes [app, dataset, workerpool, request].
    struct Params {
        uint256[3] price;
        uint256[3] maxPrice;
        uint256[4] volume;
        uint256 reqTrust;
        uint256 poolTrust;
    }

    function _bound(Params memory p) internal pure {
        for (uint256 i; i < 3; ++i) {
            p.price[i] = bound(p.price[i], 0, 5e9);
            p.maxPrice[i] = bound(p.maxPrice[i], 0, 5e9);
        }
        for (uint256 i; i < 4; ++i) {
            p.volume[i] = bound(p.volume[i], 1, 40);
        }
        p.reqTrust = bound(p.reqTrust, 0, 6);
        p.poolTrust = bound(p.poolTrust, 0, 6);
    }

    function _min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }

    function testFuzz_matching(Params memory p) public {
        _bound(p);
        AppOrder memory ao = _appOrder(app, p.volume[0]);
        ao.appprice = p.price[0];
        _resignApp(ao);
        DatasetOrder memory dso = _datasetOrder(p.volume[1]);
        dso.datasetprice = p.price[1];
        _resignDataset(dso);
        WorkerpoolOrder memory wpo = _poolOrder(p.volume[2], p.poolTrust, 0);
        wpo.workerpoolprice = p.price[2];
        _resignPool(wpo);
        RequestOrder memory ro = _requestOrder(app, dataset, p.volume[3], p.reqTrust, 0, address(0));
        ro.appmaxprice = p.maxPrice[0];
        ro.datasetmaxprice = p.maxPrice[1];
        ro.workerpoolmaxprice = p.maxPrice[2];
        _resignRequest(ro);

        bytes4[3] memory tooHigh = [
            IHubErrors.AppPriceTooHigh.selector,
            IHubErrors.DatasetPriceTooHigh.selector,
            IHubErrors.WorkerpoolPriceTooHigh.selector
        ];
        bytes memory err;
        if (p.reqTrust > p.poolTrust) {
            err = abi.encodeWithSelector(IHubErrors.TrustNotOffered.selector, p.reqTrust, p.poolTrust);
        }
        for (uint256 i; i < 3 && err.length == 0; ++i) {
            if (p.price[i] > p.maxPrice[i]) {
                err = abi.encodeWithSelector(tooHigh[i], p.price[i], p.maxPrice[i]);
            }
        }
        uint256 volume = _min(_min(p.volume[0], p.volume[1]), _min(p.volume[2], p.volume[3]));
        uint256 cost = (p.price[0] + p.price[1] + p.price[2]) * volume;
        if (err.length == 0 && cost > FUNDS) {
            err = abi.encodeWithSelector(IHubErrors.InsufficientBalance.selector, requester, FUNDS, cost);
        }
        if (err.length != 0) {
            vm.expectRevert(err);
            hub.matchOrders(ao, dso, wpo, ro);
            return;
        }
        Deal memory d = _match(ao, dso, wpo, ro);
        assertEq(d.volume, volume, "volume = min of the four");
        assertEq(d.trust, p.reqTrust, "trust");
        assertEq(d.appPrice, p.price[0], "app price");
        assertEq(hubx.frozenOf(requester), cost, "requester frozen");
        assertEq(hubx.balanceOf(requester), FUNDS - cost, "requester balance");
        assertEq(hubx.frozenOf(scheduler), p.price[2] * 30 / 100 * volume, "scheduler stake");
        (uint256 consumed,,) = hubx.orderStatus(hubx.hashAppOrder(ao));
        assertEq(consumed, volume, "app consumed");
        assertEq(
            hubx.requestOrderConsumed(hubx.hashRequestOrder(ro), p.volume[3]), volume, "request consumed"
        );
        assertEq(token.balanceOf(address(hub)), _total(), "conservation");
    }

    /// Restrictions: a restricted order matches only its named counterpart.
    function testFuzz_restrictions(address restriction, uint8 which) public {
        vm.assume(restriction != address(0));
        OrderSet memory o = _orderSet(1);
        (address actual, bytes4 err) = _restrict(o, bound(which, 0, 8), restriction);
        if (restriction != actual) {
            _expectMatchRevert(o, abi.encodeWithSelector(err, restriction, actual));
        } else {
            _resign(o);
            _match(o.app, o.dataset, o.pool, o.request);
        }
    }

    /// Tags: the pool must offer every bit asked by the app, the dataset and the request.
    function testFuzz_tags(uint8 appTag, uint8 reqTag, uint8 poolTag) public {
        // bit 0 (TEE) needs a TEE app: keep it off here, the TEE rule has its own test
        bytes32 at = bytes32(uint256(appTag) & 0xfe);
        bytes32 rt = bytes32(uint256(reqTag) & 0xfe);
        bytes32 pt = bytes32(uint256(poolTag) & 0xfe);
        AppOrder memory ao = _appOrder(app, 1);
        ao.tag = at;
        _resignApp(ao);
        DatasetOrder memory none;
        WorkerpoolOrder memory wpo = _poolOrder(1, 1, pt);
        RequestOrder memory ro = _requestOrder(app, address(0), 1, 1, rt, address(0));
        bytes32 need = at | rt;
        if (need & ~pt != 0) {
            vm.expectRevert(abi.encodeWithSelector(IHubErrors.TagNotOffered.selector, need, pt));
            hub.matchOrders(ao, none, wpo, ro);
        } else {
            Deal memory d = _match(ao, none, wpo, ro);
            assertEq(d.tag, need, "deal tag = union of requirements");
        }
    }
}
