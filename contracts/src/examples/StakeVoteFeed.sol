// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {OracleFeed} from "./OracleFeed.sol";

/// @title StakeVoteFeed
/// @notice Acceptance by a stake-weighted vote (Astrea style): each source workerpool has a weight (the
/// stake the owner recognizes for it); a source votes once per round with its result, and a value is
/// published when the weight behind it is more than half of all weight. Results of sources without weight
/// are refused (the delivery is recorded as failed, retryable if the owner adds the source).
contract StakeVoteFeed is OracleFeed {
    /// @notice Weight of each source.
    mapping(address source => uint256) public weightOf;
    /// @notice Sum of all weights.
    uint256 public totalWeight;
    /// @notice Weight behind each value of each round.
    mapping(bytes32 round => mapping(int256 value => uint256)) public tally;
    /// @notice Whether a source voted in a round.
    mapping(bytes32 round => mapping(address source => bool)) public voted;

    /// @notice A source voted.
    event Voted(bytes32 indexed round, address indexed source, int256 value, uint256 weightForValue);
    /// @notice A vote after its round was decided (ignored).
    event Late(bytes32 indexed round, address indexed source);

    /// @notice The source has no weight.
    error NoWeight(address source);
    /// @notice The source already voted in this round.
    error AlreadyVoted(bytes32 round, address source);

    constructor(address gateway_, bytes32 feedId_, address owner_) OracleFeed(gateway_, feedId_, owner_) {}

    /// @notice Sets a source's weight (the owner mirrors stakes it trusts).
    function setWeight(address source, uint256 weight) external onlyOwner {
        totalWeight = totalWeight - weightOf[source] + weight;
        weightOf[source] = weight;
    }

    function _accept(bytes32, address source, bytes32 round, int256 value) internal override {
        uint256 w = weightOf[source];
        if (w == 0) revert NoWeight(source);
        if (voted[round][source]) revert AlreadyVoted(round, source);
        voted[round][source] = true;
        if (published[round].timestamp != 0) {
            emit Late(round, source);
            return;
        }
        uint256 t = tally[round][value] + w;
        tally[round][value] = t;
        emit Voted(round, source, value, t);
        if (2 * t > totalWeight) _publish(round, value);
    }
}
