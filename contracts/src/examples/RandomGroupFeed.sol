// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {OracleFeed} from "./OracleFeed.sol";
import {Draw} from "../libs/Draw.sol";

/// @notice The beacon's verified randomness by round (`Beacon.sol`).
interface IRandomness {
    /// @notice Zero until the round is verified.
    function randomness(uint64 round) external view returns (bytes32);
}

/// @title RandomGroupFeed
/// @notice Acceptance by t-of-n of a random group (DOS style): round r's group is `size` positions drawn
/// from the registered sources with the beacon's randomness of round r (`Draw.draw`, stake-weighted, with
/// worker distancing by cluster, positions skipped by distancing left empty); a value is published when
/// `t` distinct group members delivered it. Results are `(bytes32 round, int256 value)` with round = the
/// beacon round. A result that arrives before the beacon's round is verified fails (and is recorded by the
/// gateway: retry it once the round is submitted); a source outside the group is refused.
contract RandomGroupFeed is OracleFeed {
    /// @notice The beacon.
    IRandomness public immutable beacon;
    /// @notice Agreeing members a value needs.
    uint256 public immutable t;
    /// @notice Positions drawn per round.
    uint256 public immutable size;
    /// @notice The registered sources (snapshot for every draw).
    Draw.Worker[] internal _sources;
    /// @notice Agreement per round and value.
    mapping(bytes32 round => mapping(int256 value => uint256)) public agreeing;
    /// @notice Whether a source delivered in a round.
    mapping(bytes32 round => mapping(address source => bool)) public delivered;

    /// @notice A group member delivered.
    event MemberResult(bytes32 indexed round, address indexed source, int256 value, uint256 agreeing);

    /// @notice The beacon round is not verified yet.
    error NotYetRandom(uint64 round);
    /// @notice The source is not in the round's group.
    error NotInGroup(bytes32 round, address source);
    /// @notice The source already delivered in this round.
    error AlreadyDelivered(bytes32 round, address source);
    /// @notice The result is not `(round, value)`, or the round does not fit 64 bits.
    error NeedsRound();
    /// @notice t must be in 1..size.
    error BadThreshold();

    constructor(address gateway_, bytes32 feedId_, address owner_, address beacon_, uint256 t_, uint256 size_)
        OracleFeed(gateway_, feedId_, owner_)
    {
        if (t_ == 0 || t_ > size_) revert BadThreshold();
        beacon = IRandomness(beacon_);
        t = t_;
        size = size_;
    }

    /// @notice Registers a source with its stake and cluster (0: none).
    function addSource(address source, uint256 stake, uint64 cluster) external onlyOwner {
        _sources.push(Draw.Worker({worker: source, stake: stake, cluster: cluster}));
    }

    /// @notice Round r's group (chosen positions only); reverts before the beacon's round is verified.
    function group(uint64 round) public view returns (address[] memory members) {
        bytes32 r = beacon.randomness(round);
        if (r == bytes32(0)) revert NotYetRandom(round);
        Draw.Worker[] memory snapshot = _sources;
        (uint256[] memory picks, bool[] memory chosen) = Draw.draw(r, feedId, round, size, snapshot);
        members = new address[](size);
        uint256 k;
        for (uint256 j; j < size; ++j) {
            if (chosen[j]) members[k++] = snapshot[picks[j]].worker;
        }
        assembly ("memory-safe") {
            mstore(members, k)
        }
    }

    function _accept(bytes32, address source, bytes32 round, int256 value) internal override {
        if (uint256(round) > type(uint64).max || round == bytes32(0)) revert NeedsRound();
        address[] memory members = group(uint64(uint256(round)));
        bool inGroup;
        for (uint256 i; i < members.length && !inGroup; ++i) {
            inGroup = members[i] == source;
        }
        if (!inGroup) revert NotInGroup(round, source);
        if (delivered[round][source]) revert AlreadyDelivered(round, source);
        delivered[round][source] = true;
        uint256 a = agreeing[round][value] + 1;
        agreeing[round][value] = a;
        emit MemberResult(round, source, value, a);
        if (a == t && published[round].timestamp == 0) _publish(round, value);
    }
}
