// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title The random draw of a task's workers
/// @notice Position j of task i maps to the worker whose slice of the snapshot's cumulated stakes contains
/// keccak256(abi.encode(R, dealId, i, j)) mod totalStake (stake-weighted: splitting a stake into many identities
/// buys no extra draws). Positions are taken in order; one whose worker is an earlier chosen worker, or shares a
/// non-zero cluster with one, is skipped (worker distancing). The Rust mirror is `decloud_protocol::draw`; see
/// docs/randomness.md.
library Draw {
    /// @notice One worker of a deal's frozen registry snapshot.
    struct Worker {
        address worker;
        uint256 stake;
        uint64 cluster;
    }

    /// @notice The snapshot holds no stake (empty, or every stake zero).
    error NoStake();

    /// @notice keccak256(abi.encode(snapshot)), the root a snapshot is committed under, hashed from the calldata
    /// as it is instead of decoded and re-encoded: the elements are static, so abi.encode is the offset word, the
    /// length and the elements' words. Words that are not clean (an address with high bits) hash differently from
    /// the committed root, so they fail the comparison as a forged snapshot does.
    function hashOf(Worker[] calldata snapshot) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            let size := mul(snapshot.length, 0x60)
            mstore(m, 0x20)
            mstore(add(m, 0x20), snapshot.length)
            calldatacopy(add(m, 0x40), snapshot.offset, size)
            h := keccak256(m, add(size, 0x40))
        }
    }

    /// @notice keccak256(abi.encode(R, dealId, task, j)).
    function seed(bytes32 randomness, bytes32 deal, uint256 task, uint256 j)
        internal
        pure
        returns (bytes32 s)
    {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, randomness)
            mstore(add(m, 0x20), deal)
            mstore(add(m, 0x40), task)
            mstore(add(m, 0x60), j)
            s := keccak256(m, 0x80)
        }
    }

    /// @notice cum[k] = stake of workers 0..=k; reverts NoStake when the total is zero (and on overflow).
    function cumulate(Worker[] memory snapshot) internal pure returns (uint256[] memory cum) {
        cum = new uint256[](snapshot.length);
        uint256 total;
        for (uint256 k; k < snapshot.length; ++k) {
            total += snapshot[k].stake;
            cum[k] = total;
        }
        if (total == 0) revert NoStake();
    }

    /// @notice The first k with (s mod total) < cum[k].
    function pick(bytes32 s, uint256[] memory cum) internal pure returns (uint256 lo) {
        uint256 target = uint256(s) % cum[cum.length - 1];
        uint256 hi = cum.length;
        while (lo < hi) {
            uint256 mid = (lo + hi) >> 1;
            if (cum[mid] <= target) lo = mid + 1;
            else hi = mid;
        }
    }

    /// @notice Positions 0..positions-1 of task `task`: the drawn snapshot index of each and whether it was chosen
    /// (false when distancing skipped it).
    function draw(bytes32 randomness, bytes32 deal, uint256 task, uint256 positions, Worker[] memory snapshot)
        internal
        pure
        returns (uint256[] memory workers, bool[] memory chosen)
    {
        uint256[] memory cum = cumulate(snapshot);
        workers = new uint256[](positions);
        chosen = new bool[](positions);
        for (uint256 j; j < positions; ++j) {
            uint256 w = pick(seed(randomness, deal, task, j), cum);
            workers[j] = w;
            uint64 cluster = snapshot[w].cluster;
            bool clash;
            for (uint256 k; k < j && !clash; ++k) {
                if (!chosen[k]) continue;
                clash = workers[k] == w || (cluster != 0 && snapshot[workers[k]].cluster == cluster);
            }
            chosen[j] = !clash;
        }
    }
}
