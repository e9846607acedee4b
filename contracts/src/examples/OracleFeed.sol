// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IResultReceiver} from "../interfaces/IResultReceiver.sol";

/// @notice What a feed reads from the gateway during a delivery.
interface IDeliverySource {
    /// @notice The workerpool (or pushing holder), the app and the deal of the result being delivered.
    function source() external view returns (address workerpool, address app, bytes32 dealid);
    /// @notice The work passes the gateway consumes.
    function passes() external view returns (address);
}

/// @notice Registration of a consumer with the work passes.
interface IWorkPassesRegister {
    /// @notice The caller (a consumer) names its owner.
    function register(address owner) external returns (uint256);
}

/// @title OracleFeed
/// @notice The base of the example consumers: results arrive from the gateway through EIP-1154's
/// `receiveResult(taskid, result)` push; each consumer decides how to accept them (`_accept`) and
/// publishes values by round, read back with EIP-1154's `resultFor(id)` (pull) and EIP-2362's
/// `valueFor(id)`. A result is one ABI-encoded `int256` (the round is then the source deal: the tasks of
/// one deal are one round) or `(bytes32 round, int256 value)` (rounds that span deals and workerpools).
/// `valueFor(feedId)` is the latest published value; `valueFor(round)` that round's.
abstract contract OracleFeed is IResultReceiver {
    /// @notice A published value.
    struct Entry {
        int256 value;
        uint64 timestamp;
    }

    /// @notice EIP-2362 status codes.
    uint256 internal constant OK = 200;
    uint256 internal constant NOT_FOUND = 404;

    /// @notice The gateway allowed to deliver.
    address public immutable gateway;
    /// @notice The id under which `valueFor` answers the latest value (EIP-2362 style, e.g.
    /// keccak256("Price-ETH/USD-9")).
    bytes32 public immutable feedId;
    /// @notice Who registered the feed with the work passes (its OWN holder).
    address public immutable owner;
    /// @notice Values published by round.
    mapping(bytes32 round => Entry) public published;
    /// @notice The latest published value and its round.
    Entry public latest;
    bytes32 public latestRound;

    /// @notice A round's value was published.
    event ValuePublished(bytes32 indexed round, int256 value);

    /// @notice Someone other than the gateway called `receiveResult`.
    error NotGateway(address caller);
    /// @notice The result is neither 32 nor 64 bytes.
    error BadResult(uint256 length);
    /// @notice Nothing published under this id (EIP-1154 `resultFor`).
    error NoResult(bytes32 id);
    /// @notice The owner only.
    error NotOwner(address caller);

    constructor(address gateway_, bytes32 feedId_, address owner_) {
        gateway = gateway_;
        feedId = feedId_;
        owner = owner_;
        IWorkPassesRegister(IDeliverySource(gateway_).passes()).register(owner_);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    /// @inheritdoc IResultReceiver
    function receiveResult(bytes32 taskid, bytes calldata result) external {
        if (msg.sender != gateway) revert NotGateway(msg.sender);
        (address workerpool,, bytes32 dealid) = IDeliverySource(gateway).source();
        bytes32 round;
        int256 value;
        if (result.length == 32) {
            round = dealid;
            value = abi.decode(result, (int256));
        } else if (result.length == 64) {
            (round, value) = abi.decode(result, (bytes32, int256));
        } else {
            revert BadResult(result.length);
        }
        _accept(taskid, workerpool, round, value);
    }

    /// @notice EIP-2362: the value under `id` (the feed id: the latest; else a round), its time, 200 or 404.
    function valueFor(bytes32 id) external view returns (int256, uint256, uint256) {
        Entry memory e = id == feedId ? latest : published[id];
        if (e.timestamp == 0) return (0, 0, NOT_FOUND);
        return (e.value, e.timestamp, OK);
    }

    /// @notice EIP-1154 pull: the ABI-encoded value under `id` (as `valueFor`); reverts when none.
    function resultFor(bytes32 id) external view returns (bytes memory) {
        Entry memory e = id == feedId ? latest : published[id];
        if (e.timestamp == 0) revert NoResult(id);
        return abi.encode(e.value);
    }

    /// @dev How this consumer accepts one certified result of `workerpool` for `round`.
    function _accept(bytes32 taskid, address workerpool, bytes32 round, int256 value) internal virtual;

    function _publish(bytes32 round, int256 value) internal {
        Entry memory e = Entry({value: value, timestamp: uint64(block.timestamp)});
        published[round] = e;
        latest = e;
        latestRound = round;
        emit ValuePublished(round, value);
    }
}
