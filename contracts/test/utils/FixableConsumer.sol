// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @notice A result consumer that refuses every result until someone calls `fix`, for the tests of failed
/// callbacks: the hub's or the gateway's record of the failure, then a retry once it is fixed.
contract FixableConsumer {
    /// @notice Whether results are refused.
    bool public broken = true;
    /// @notice The last result received for each task.
    mapping(bytes32 taskid => bytes) public received;

    /// @notice EIP-1154: refuses while broken, with a reason that says so.
    function receiveResult(bytes32 taskid, bytes calldata result) external {
        require(!broken, "consumer is paused for maintenance");
        received[taskid] = result;
    }

    /// @notice Accepts results from now on.
    function fix() external {
        broken = false;
    }
}
