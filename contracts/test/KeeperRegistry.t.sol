// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {KeeperRegistry} from "../src/registries/KeeperRegistry.sol";
import {HubKeepers} from "../src/HubKeepers.sol";

/// The keepers' URL registry: each address sets only its own URL, https only, bounded, printable; the hub's
/// keepers facet names the registry.
contract KeeperRegistryTest is Fixture {
    address internal constant KEEPER_A = address(0xA11CE);
    address internal constant KEEPER_B = address(0xB0B);

    event KeeperUrlSet(address indexed keeper, string url);
    event log_named_uint(string key, uint256 val);

    function _set(address who, string memory url) internal {
        vm.prank(who);
        keeperRegistry.setUrl(url);
    }

    function test_the_hub_names_the_registry() public view {
        assertEq(HubKeepers(address(hub)).keeperRegistry(), address(keeperRegistry), "the facet names it");
    }

    function test_a_keeper_sets_and_changes_its_own_url() public {
        vm.expectEmit(address(keeperRegistry));
        emit KeeperUrlSet(KEEPER_A, "https://a.example:7651");
        _set(KEEPER_A, "https://a.example:7651");
        _set(KEEPER_A, "https://a2.example:7651#sha256:00ff");
        assertEq(
            keccak256(bytes(keeperRegistry.urlOf(KEEPER_A))),
            keccak256("https://a2.example:7651#sha256:00ff"),
            "changed"
        );
        assertEq(keeperRegistry.keeperCount(), 1, "listed once however often it sets its URL");
    }

    function test_a_url_set_by_one_address_cannot_be_changed_by_another() public {
        _set(KEEPER_A, "https://a.example");
        // B can only write B's own entry: A's stays what A set.
        _set(KEEPER_B, "https://evil.example");
        assertEq(
            keccak256(bytes(keeperRegistry.urlOf(KEEPER_A))), keccak256("https://a.example"), "A's URL is A's"
        );
        assertEq(
            keccak256(bytes(keeperRegistry.urlOf(KEEPER_B))), keccak256("https://evil.example"), "B's own"
        );
        // Even B removing "its" URL touches only B's.
        _set(KEEPER_B, "");
        assertEq(
            keccak256(bytes(keeperRegistry.urlOf(KEEPER_A))), keccak256("https://a.example"), "A's URL is A's"
        );
        assertEq(bytes(keeperRegistry.urlOf(KEEPER_B)).length, 0, "B removed its own");
    }

    function test_the_list_is_in_order_with_current_urls() public {
        _set(KEEPER_B, "https://b.example");
        _set(KEEPER_A, "https://a.example");
        _set(KEEPER_B, "");
        (address[] memory all, string[] memory urls) = keeperRegistry.keepers(0, 10);
        assertEq(all.length, 2, "two listed");
        assertEq(all[0], KEEPER_B, "B first");
        assertEq(all[1], KEEPER_A, "A second");
        assertEq(bytes(urls[0]).length, 0, "removed");
        assertEq(keccak256(bytes(urls[1])), keccak256("https://a.example"), "A's URL");
        (all,) = keeperRegistry.keepers(1, type(uint256).max);
        assertEq(all.length, 1, "one from 1");
        assertEq(all[0], KEEPER_A, "A from 1");
        (all,) = keeperRegistry.keepers(5, 1);
        assertEq(all.length, 0, "none past the end");
    }

    function test_a_url_that_is_not_https_is_refused() public {
        vm.prank(KEEPER_A);
        vm.expectRevert(KeeperRegistry.UrlNotHttps.selector);
        keeperRegistry.setUrl("http://a.example");
        vm.prank(KEEPER_A);
        vm.expectRevert(KeeperRegistry.UrlNotHttps.selector);
        keeperRegistry.setUrl("https://");
        vm.prank(KEEPER_A);
        vm.expectRevert(abi.encodeWithSelector(KeeperRegistry.UrlNotPrintable.selector, 9));
        keeperRegistry.setUrl("https://a b");
        assertEq(keeperRegistry.keeperCount(), 0, "nothing listed");
    }

    function test_a_url_too_long_is_refused() public {
        bytes memory url = bytes("https://");
        while (url.length < 257) url = bytes.concat(url, "a");
        vm.prank(KEEPER_A);
        vm.expectRevert(abi.encodeWithSelector(KeeperRegistry.UrlTooLong.selector, 257, 256));
        keeperRegistry.setUrl(string(url));
        // 256 bytes is the most, and accepted.
        assembly {
            mstore(url, 256)
        }
        _set(KEEPER_A, string(url));
        assertEq(bytes(keeperRegistry.urlOf(KEEPER_A)).length, 256, "256 bytes kept");
    }

    function test_gas_of_setting_a_url() public {
        vm.prank(KEEPER_A);
        uint256 before = gasleft();
        keeperRegistry.setUrl(
            "https://keeper-1.example.org:7651#sha256:4f1c0c8e2d1b0a99887766554433221100ffeeddccbbaa998877665544332211"
        );
        uint256 used = before - gasleft();
        emit log_named_uint("gas of a first setUrl (a 106-byte pinned URL)", used);
        assertTrue(used < 250_000, "a URL costs less than 250k gas");
    }
}
