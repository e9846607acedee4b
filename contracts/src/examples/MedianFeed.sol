// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {OracleFeed} from "./OracleFeed.sol";

/// @title MedianFeed
/// @notice Acceptance by aggregation (ChainLink style): a round is published when `n` results arrived, as
/// their median (the lower middle for an even n); a result farther than `maxDeviationBps` (basis points of
/// the median's magnitude) from it is reported as an outlier. With the round being the source deal, the n
/// tasks of one deal (each a replicated task) make one round.
contract MedianFeed is OracleFeed {
    /// @notice Results per round.
    uint256 public immutable n;
    /// @notice Largest deviation from the median, in basis points, not reported as an outlier.
    uint256 public immutable maxDeviationBps;
    /// @notice Values received per round (until it is published).
    mapping(bytes32 round => int256[]) internal _values;
    /// @notice The task of each value received.
    mapping(bytes32 round => bytes32[]) internal _tasks;

    /// @notice A result arrived for a round not yet complete.
    event ResultCollected(bytes32 indexed round, bytes32 indexed taskid, int256 value, uint256 count);
    /// @notice A result deviated from its round's median by more than the bound.
    event Outlier(bytes32 indexed round, bytes32 indexed taskid, int256 value, int256 median);
    /// @notice A result for a round already published (ignored).
    event Late(bytes32 indexed round, bytes32 indexed taskid);

    /// @notice n must be positive.
    error BadN();

    constructor(address gateway_, bytes32 feedId_, address owner_, uint256 n_, uint256 maxDeviationBps_)
        OracleFeed(gateway_, feedId_, owner_)
    {
        if (n_ == 0) revert BadN();
        n = n_;
        maxDeviationBps = maxDeviationBps_;
    }

    /// @notice Values collected so far for an unpublished round.
    function collected(bytes32 round) external view returns (int256[] memory) {
        return _values[round];
    }

    function _accept(bytes32 taskid, address, bytes32 round, int256 value) internal override {
        if (published[round].timestamp != 0) {
            emit Late(round, taskid);
            return;
        }
        int256[] storage values = _values[round];
        values.push(value);
        _tasks[round].push(taskid);
        emit ResultCollected(round, taskid, value, values.length);
        if (values.length < n) return;
        int256[] memory sorted = values;
        _sort(sorted);
        int256 median = sorted[(sorted.length - 1) / 2];
        uint256 magnitude = median < 0 ? uint256(-median) : uint256(median);
        bytes32[] storage tasks = _tasks[round];
        for (uint256 i; i < values.length; ++i) {
            int256 v = values[i];
            uint256 dev = v > median ? uint256(v - median) : uint256(median - v);
            if (dev * 10_000 > magnitude * maxDeviationBps) emit Outlier(round, tasks[i], v, median);
        }
        delete _values[round];
        delete _tasks[round];
        _publish(round, median);
    }

    function _sort(int256[] memory a) private pure {
        for (uint256 i = 1; i < a.length; ++i) {
            int256 v = a[i];
            uint256 j = i;
            while (j > 0 && a[j - 1] > v) {
                a[j] = a[j - 1];
                --j;
            }
            a[j] = v;
        }
    }
}
