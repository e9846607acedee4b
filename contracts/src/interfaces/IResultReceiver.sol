// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title IResultReceiver
/// @notice EIP-1154 result consumer: a deal's `callback` contract receives each finalized task's
/// callback data.
interface IResultReceiver {
    function receiveResult(bytes32 taskid, bytes calldata result) external;
}
