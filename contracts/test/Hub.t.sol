// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {Hub} from "../src/Hub.sol";
import {IHubErrors} from "../src/interfaces/IHub.sol";
import {Deal} from "../src/libs/Types.sol";

/// Escrow, administration, categories.
contract HubAdminTest is Fixture {
    function test_constructorRejectsZeroAddresses() public {
        vm.expectRevert(IHubErrors.ZeroAddress.selector);
        new Hub(address(0), address(apps), address(datasets), address(pools), admin);
        vm.expectRevert(IHubErrors.ZeroAddress.selector);
        new Hub(address(token), address(apps), address(datasets), address(pools), address(0));
    }

    function test_depositWithdraw() public {
        address alice = address(0xA11);
        token.faucet(alice, 100);
        vm.startPrank(alice);
        token.approve(address(hub), 100);
        hub.deposit(60);
        hubx.depositFor(workers[0], 40);
        assertEq(hubx.balanceOf(alice), 60, "deposited");
        assertEq(hubx.balanceOf(workers[0]), FUNDS + 40, "deposited for");
        hubx.withdraw(10);
        hubx.withdrawTo(address(0xB0B), 20);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.InsufficientBalance.selector, alice, 30, 31));
        hubx.withdraw(31);
        vm.expectRevert(IHubErrors.ZeroAddress.selector);
        hubx.withdrawTo(address(0), 1);
        vm.expectRevert(IHubErrors.ZeroAddress.selector);
        hubx.depositFor(address(0), 1);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.AmountTooLarge.selector, uint256(1) << 112));
        hub.deposit(uint256(1) << 112);
        vm.stopPrank();
        assertEq(hubx.balanceOf(alice), 30, "left");
        assertEq(token.balanceOf(alice), 10, "withdrawn");
        assertEq(token.balanceOf(address(0xB0B)), 20, "withdrawn to");
        assertEq(token.balanceOf(address(hub)), _total() + 30, "hub holds all");
    }

    function test_adminFunctions() public {
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotAdmin.selector, address(this)));
        hubx.createCategory("x", "y", 10);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotAdmin.selector, address(this)));
        hubx.setMinAttesterStake(1);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.NotAdmin.selector, address(this)));
        hubx.transferAdmin(address(1));
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.InvalidWorkClockTimeRef.selector, 0));
        hubx.createCategory("x", "y", 0);
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.InvalidWorkClockTimeRef.selector, uint256(1) << 32));
        hubx.createCategory("x", "y", uint256(1) << 32);
        uint256 id = hubx.createCategory("M", "medium", 3600);
        vm.expectRevert(IHubErrors.ZeroAddress.selector);
        hubx.transferAdmin(address(0));
        hubx.transferAdmin(address(0xAD));
        vm.stopPrank();
        assertEq(hub.admin(), address(0xAD), "admin moved");
        assertEq(id, 2, "third category");
        (string memory name, uint256 ref) = hubx.category(2);
        assertEq(keccak256(bytes(name)), keccak256("M"), "name");
        assertEq(ref, 3600, "ref");
        vm.expectRevert(abi.encodeWithSelector(IHubErrors.UnknownCategory.selector, 9));
        hubx.category(9);
        assertEq(hub.categoryCount(), 3, "count");
    }

    function test_extensionSeesHubStorage() public view {
        assertTrue(hub.extension() != address(0), "extension");
        assertEq(hubx.domainSeparator(), _expectedDomain(), "domain");
    }

    function _expectedDomain() internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256(
                    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
                ),
                keccak256("decloud"),
                keccak256("1"),
                block.chainid,
                address(hub)
            )
        );
    }

    function test_unknownSelectorReverts() public {
        (bool ok,) = address(hub).call(abi.encodeWithSignature("nope()"));
        assertFalse(ok, "unknown selector");
    }
}
