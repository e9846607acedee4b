// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {ERC721} from "solady/tokens/ERC721.sol";
import {AppRegistry} from "../src/registries/AppRegistry.sol";
import {DatasetRegistry} from "../src/registries/DatasetRegistry.sol";
import {WorkerpoolRegistry} from "../src/registries/WorkerpoolRegistry.sol";

contract RegistriesTest is Fixture {
    function test_appFieldsAndDerivedId() public view {
        (address owner, bytes32 checksum, bytes32 mrenclave) = apps.appInfo(app);
        assertEq(owner, appOwner, "owner");
        assertEq(checksum, keccak256("hello-module"), "checksum");
        assertEq(mrenclave, bytes32(0), "no enclave");
        assertEq(
            app,
            apps.predictId(
                appOwner, "hello", "https://apps.example/hello.wasm", keccak256("hello-module"), 0
            ),
            "derived id"
        );
        assertEq(apps.ownerOf(uint256(uint160(app))), appOwner, "erc721 owner");
        (, uint96 extra) = apps.ownerInfo(teeApp);
        assertEq(extra, 1, "tee flag");
        (, extra) = apps.ownerInfo(app);
        assertEq(extra, 0, "no tee flag");
        assertTrue(apps.exists(app), "exists");
        assertEq(apps.ownerOfResource(app), appOwner, "ownerOfResource");
        assertEq(bytes(apps.tokenURI(uint256(uint160(app)))).length, 0, "tokenURI");
        assertEq(keccak256(bytes(apps.name())), keccak256("decloud apps"), "name");
        assertEq(keccak256(bytes(apps.symbol())), keccak256("DCAPP"), "symbol");
    }

    function test_appDuplicateAndEmptyChecksumRevert() public {
        vm.prank(appOwner);
        vm.expectRevert(ERC721.TokenAlreadyExists.selector);
        apps.register("hello", "https://apps.example/hello.wasm", keccak256("hello-module"), bytes32(0));
        vm.expectRevert(AppRegistry.EmptyChecksum.selector);
        apps.register("x", "y", 0, 0);
        vm.expectRevert(ERC721.TokenDoesNotExist.selector);
        apps.tokenURI(1);
    }

    function test_datasetRegistry() public {
        (address owner, bytes32 checksum) = datasets.datasetInfo(dataset);
        assertEq(owner, datasetOwner, "owner");
        assertEq(checksum, keccak256("data"), "checksum");
        assertEq(
            dataset,
            datasets.predictId(datasetOwner, "data", "https://data.example/data.bin", keccak256("data")),
            "id"
        );
        vm.expectRevert(DatasetRegistry.EmptyChecksum.selector);
        datasets.register("x", "y", 0);
        vm.prank(datasetOwner);
        vm.expectRevert(ERC721.TokenAlreadyExists.selector);
        datasets.register("data", "https://data.example/data.bin", keccak256("data"));
        assertEq(keccak256(bytes(datasets.symbol())), keccak256("DCDATA"), "symbol");
        assertEq(keccak256(bytes(datasets.name())), keccak256("decloud datasets"), "name");
    }

    function test_workerpoolRegistryPolicy() public {
        (address owner, uint8 stakeRatio, uint8 rewardRatio) = pools.workerpoolInfo(pool);
        assertEq(owner, scheduler, "owner");
        assertEq(stakeRatio, STAKE_RATIO, "stake ratio");
        assertEq(rewardRatio, REWARD_RATIO, "reward ratio");
        vm.expectRevert(
            abi.encodeWithSelector(WorkerpoolRegistry.NotWorkerpoolOwner.selector, pool, address(this))
        );
        pools.setPolicy(pool, 1, 1);
        vm.startPrank(scheduler);
        vm.expectRevert(abi.encodeWithSelector(WorkerpoolRegistry.RatioTooLarge.selector, 101));
        pools.setPolicy(pool, 101, 1);
        vm.expectRevert(abi.encodeWithSelector(WorkerpoolRegistry.RatioTooLarge.selector, 101));
        pools.register("p", 1, 101);
        pools.setPolicy(pool, 50, 20);
        address second = pools.register("pool", 0, 0);
        vm.stopPrank();
        (, stakeRatio, rewardRatio) = pools.workerpoolInfo(pool);
        assertEq(stakeRatio, 50, "new stake ratio");
        assertEq(rewardRatio, 20, "new reward ratio");
        assertTrue(second != pool, "same description, new id");
        assertEq(pools.count(), 2, "count");
        assertEq(keccak256(bytes(pools.symbol())), keccak256("DCPOOL"), "symbol");
        assertEq(keccak256(bytes(pools.name())), keccak256("decloud workerpools"), "name");
    }

    function test_schedulerKeyIsPublishedByTheOwnerOnly() public {
        bytes32 key = sha256("scheduler SPKI");
        assertEq(pools.schedulerKey(pool), bytes32(0), "none at first");
        vm.expectRevert(
            abi.encodeWithSelector(WorkerpoolRegistry.NotWorkerpoolOwner.selector, pool, address(this))
        );
        pools.setSchedulerKey(pool, key);
        vm.prank(scheduler);
        pools.setSchedulerKey(pool, key);
        assertEq(pools.schedulerKey(pool), key, "published");
        vm.prank(scheduler);
        pools.setSchedulerKey(pool, bytes32(0));
        assertEq(pools.schedulerKey(pool), bytes32(0), "withdrawn");
    }

    function test_transferMovesOwnershipOfOrders() public {
        address newOwner = address(0xBEEF);
        vm.prank(appOwner);
        apps.transferFrom(appOwner, newOwner, uint256(uint160(app)));
        (address owner,,) = apps.appInfo(app);
        assertEq(owner, newOwner, "new owner");
    }
}
