// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IResultReceiver} from "../interfaces/IResultReceiver.sol";

/// @title MedianOracle
/// @notice An example result consumer (EIP-1154): keeps the median that the `median` example app
/// certifies, one ABI-encoded `int256` per task, and the latest one. A deal whose `callback` is this
/// contract delivers each finalized task's value here; only the hub may deliver.
contract MedianOracle is IResultReceiver {
    /// @notice The hub allowed to deliver results.
    address public immutable hub;
    /// @notice The last value received.
    int256 public latest;
    /// @notice The task that delivered `latest`.
    bytes32 public latestTask;
    /// @notice The value each task delivered.
    mapping(bytes32 taskid => int256) public valueOf;

    /// @notice A task delivered `value`.
    event ValueReceived(bytes32 indexed taskid, int256 value);

    /// @notice Someone other than the hub called `receiveResult`.
    error NotHub(address caller);
    /// @notice The result is not one ABI-encoded `int256` (32 bytes).
    error NotAnInt256(uint256 length);

    constructor(address hub_) {
        hub = hub_;
    }

    /// @inheritdoc IResultReceiver
    function receiveResult(bytes32 taskid, bytes calldata result) external {
        if (msg.sender != hub) revert NotHub(msg.sender);
        if (result.length != 32) revert NotAnInt256(result.length);
        int256 value = abi.decode(result, (int256));
        valueOf[taskid] = value;
        latest = value;
        latestTask = taskid;
        emit ValueReceived(taskid, value);
    }
}
