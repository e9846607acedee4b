// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {IHubErrors} from "../src/interfaces/IHub.sol";
import {AppOrder, DatasetOrder, WorkerpoolOrder, RequestOrder, Deal} from "../src/libs/Types.sol";

contract MatchFuzzTest is Fixture {
    struct Params {
        uint256 appPrice;
        uint256 dsPrice;
        uint256 poolPrice;
        uint256 appMax;
        uint256 dsMax;
        uint256 poolMax;
        uint256 appVol;
        uint256 dsVol;
        uint256 poolVol;
        uint256 reqVol;
        uint256 reqTrust;
        uint256 poolTrust;
    }

    function _bound(Params memory p) internal pure {
        p.appPrice = bound(p.appPrice, 0, 5e9);
        p.dsPrice = bound(p.dsPrice, 0, 5e9);
        p.poolPrice = bound(p.poolPrice, 0, 5e9);
        p.appMax = bound(p.appMax, 0, 5e9);
        p.dsMax = bound(p.dsMax, 0, 5e9);
        p.poolMax = bound(p.poolMax, 0, 5e9);
        p.appVol = bound(p.appVol, 1, 40);
        p.dsVol = bound(p.dsVol, 1, 40);
        p.poolVol = bound(p.poolVol, 1, 40);
        p.reqVol = bound(p.reqVol, 1, 40);
        p.reqTrust = bound(p.reqTrust, 0, 6);
        p.poolTrust = bound(p.poolTrust, 0, 6);
    }

    function _min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }

    function testFuzz_matching(Params memory p) public {
        _bound(p);
        AppOrder memory ao = _appOrder(app, p.appVol);
        ao.appprice = p.appPrice;
        _resignApp(ao);
        DatasetOrder memory dso = _datasetOrder(p.dsVol);
        dso.datasetprice = p.dsPrice;
        _resignDataset(dso);
        WorkerpoolOrder memory wpo = _poolOrder(p.poolVol, p.poolTrust, 0);
        wpo.workerpoolprice = p.poolPrice;
        _resignPool(wpo);
        RequestOrder memory ro = _requestOrder(app, dataset, p.reqVol, p.reqTrust, 0, address(0));
        ro.appmaxprice = p.appMax;
        ro.datasetmaxprice = p.dsMax;
        ro.workerpoolmaxprice = p.poolMax;
        _resignRequest(ro);

        bytes memory err;
        if (p.reqTrust > p.poolTrust) {
            err = abi.encodeWithSelector(IHubErrors.TrustNotOffered.selector, p.reqTrust, p.poolTrust);
        } else if (p.appPrice > p.appMax) {
            err = abi.encodeWithSelector(IHubErrors.AppPriceTooHigh.selector, p.appPrice, p.appMax);
        } else if (p.dsPrice > p.dsMax) {
            err = abi.encodeWithSelector(IHubErrors.DatasetPriceTooHigh.selector, p.dsPrice, p.dsMax);
        } else if (p.poolPrice > p.poolMax) {
            err = abi.encodeWithSelector(IHubErrors.WorkerpoolPriceTooHigh.selector, p.poolPrice, p.poolMax);
        }
        uint256 volume = _min(_min(p.appVol, p.dsVol), _min(p.poolVol, p.reqVol));
        uint256 cost = (p.appPrice + p.dsPrice + p.poolPrice) * volume;
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
        assertEq(d.appPrice, p.appPrice, "app price");
        assertEq(hub.frozenOf(requester), cost, "requester frozen");
        assertEq(hub.balanceOf(requester), FUNDS - cost, "requester balance");
        assertEq(hub.frozenOf(scheduler), p.poolPrice * 30 / 100 * volume, "scheduler stake");
        (uint256 consumed,,) = hubx.orderStatus(hubx.hashAppOrder(ao));
        assertEq(consumed, volume, "app consumed");
        assertEq(hubx.requestOrderConsumed(hubx.hashRequestOrder(ro), p.reqVol), volume, "request consumed");
        assertEq(token.balanceOf(address(hub)), _total(), "conservation");
    }

    /// Restrictions: a restricted order matches only its named counterpart.
    function testFuzz_restrictions(address restriction, uint8 which) public {
        which = uint8(bound(which, 0, 2));
        vm.assume(restriction != address(0));
        AppOrder memory ao = _appOrder(app, 1);
        DatasetOrder memory dso = _datasetOrder(1);
        WorkerpoolOrder memory wpo = _poolOrder(1, 1, 0);
        RequestOrder memory ro = _requestOrder(app, dataset, 1, 1, 0, address(0));
        address actual;
        if (which == 0) {
            ao.requesterrestrict = restriction;
            _resignApp(ao);
            actual = requester;
        } else if (which == 1) {
            dso.apprestrict = restriction;
            _resignDataset(dso);
            actual = app;
        } else {
            wpo.datasetrestrict = restriction;
            _resignPool(wpo);
            actual = dataset;
        }
        if (restriction != actual) {
            bytes4 sel = which == 0
                ? IHubErrors.AppOrderRestricted.selector
                : which == 1
                    ? IHubErrors.DatasetOrderRestricted.selector
                    : IHubErrors.WorkerpoolOrderRestricted.selector;
            vm.expectRevert(abi.encodeWithSelector(sel, restriction, actual));
            hub.matchOrders(ao, dso, wpo, ro);
        } else {
            _match(ao, dso, wpo, ro);
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
