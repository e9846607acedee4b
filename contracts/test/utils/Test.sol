// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Vm} from "./Vm.sol";

/// @notice Minimal test base (no forge-std offline): cheatcodes, assertions that revert with a message,
/// bounded fuzz inputs, and the invariant-targeting getters forge reads by ABI.
abstract contract Test {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    address[] private _targetContracts;
    address[] private _targetSenders;
    address[] private _excludeContracts;
    FuzzSelector[] private _targetSelectors;

    function targetContracts() public view returns (address[] memory) {
        return _targetContracts;
    }

    function targetSenders() public view returns (address[] memory) {
        return _targetSenders;
    }

    function excludeContracts() public view returns (address[] memory) {
        return _excludeContracts;
    }

    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetSelectors;
    }

    function targetContract(address a) internal {
        _targetContracts.push(a);
    }

    function targetSender(address a) internal {
        _targetSenders.push(a);
    }

    function excludeContract(address a) internal {
        _excludeContracts.push(a);
    }

    function targetSelector(FuzzSelector memory s) internal {
        _targetSelectors.push(s);
    }

    // ---- assertions -------------------------------------------------------------------------------

    error AssertionFailed(string message);
    error AssertionFailedUint(string message, uint256 left, uint256 right);
    error AssertionFailedBytes32(string message, bytes32 left, bytes32 right);
    error AssertionFailedAddress(string message, address left, address right);

    function assertTrue(bool c, string memory m) internal pure {
        if (!c) revert AssertionFailed(m);
    }

    function assertFalse(bool c, string memory m) internal pure {
        if (c) revert AssertionFailed(m);
    }

    function assertEq(uint256 a, uint256 b, string memory m) internal pure {
        if (a != b) revert AssertionFailedUint(m, a, b);
    }

    function assertEq(bytes32 a, bytes32 b, string memory m) internal pure {
        if (a != b) revert AssertionFailedBytes32(m, a, b);
    }

    function assertEq(address a, address b, string memory m) internal pure {
        if (a != b) revert AssertionFailedAddress(m, a, b);
    }

    function assertLe(uint256 a, uint256 b, string memory m) internal pure {
        if (a > b) revert AssertionFailedUint(m, a, b);
    }

    function assertGe(uint256 a, uint256 b, string memory m) internal pure {
        if (a < b) revert AssertionFailedUint(m, a, b);
    }

    /// @notice Maps `x` into [lo, hi] (inclusive).
    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        if (lo > hi) revert AssertionFailed("bound: lo > hi");
        if (hi - lo == type(uint256).max) return x;
        return lo + x % (hi - lo + 1);
    }
}
