// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Test} from "./utils/Test.sol";
import {MedianOracle} from "../src/examples/MedianOracle.sol";

contract MedianOracleTest is Test {
    MedianOracle internal oracle;
    address internal constant HUB = address(0x4b);

    function setUp() public {
        oracle = new MedianOracle(HUB);
    }

    function _eq(int256 a, int256 b, string memory m) internal pure {
        assertEq(bytes32(uint256(a)), bytes32(uint256(b)), m);
    }

    function test_keepsEachTasksValueAndTheLatest() public {
        vm.prank(HUB);
        oracle.receiveResult(bytes32(uint256(1)), abi.encode(int256(-5)));
        vm.prank(HUB);
        oracle.receiveResult(bytes32(uint256(2)), abi.encode(int256(42)));
        _eq(oracle.valueOf(bytes32(uint256(1))), -5, "task 1");
        _eq(oracle.valueOf(bytes32(uint256(2))), 42, "task 2");
        _eq(oracle.latest(), 42, "latest");
        assertEq(oracle.latestTask(), bytes32(uint256(2)), "latest task");
    }

    function test_onlyTheHubDelivers() public {
        vm.expectRevert(abi.encodeWithSelector(MedianOracle.NotHub.selector, address(this)));
        oracle.receiveResult(bytes32(uint256(1)), abi.encode(int256(1)));
    }

    function test_refusesWhatIsNotOneInt256() public {
        vm.prank(HUB);
        vm.expectRevert(abi.encodeWithSelector(MedianOracle.NotAnInt256.selector, 31));
        oracle.receiveResult(bytes32(uint256(1)), new bytes(31));
    }

    function testFuzz_storesAnyInt256(int256 v) public {
        vm.prank(HUB);
        oracle.receiveResult(bytes32(uint256(7)), abi.encode(v));
        _eq(oracle.valueOf(bytes32(uint256(7))), v, "stored");
    }
}
