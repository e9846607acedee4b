// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Bn254Bls} from "./Bn254Bls.sol";

/// @title The randomness beacon as the chain sees it
/// @notice Verifies rounds of a drand "evmnet"-format beacon (threshold BLS on BN254, unchained, signatures on G1)
/// against the beacon's group key and stores each round's randomness once: sha256 of the 64-byte signature, as
/// drand defines it. Anyone may submit a round; a deal that fixed a future round reads its randomness here.
/// Production points at the League of Entropy's evmnet key, a devnet at `decloud node --beacon`'s test group.
contract Beacon {
    /// @notice The group public key in the pairing precompile's order (x.im, x.re, y.im, y.re).
    uint256 public immutable pkXIm;
    /// @notice See `pkXIm`.
    uint256 public immutable pkXRe;
    /// @notice See `pkXIm`.
    uint256 public immutable pkYIm;
    /// @notice See `pkXIm`.
    uint256 public immutable pkYRe;
    /// @notice Unix time of round 1.
    uint64 public immutable genesis;
    /// @notice Seconds between rounds.
    uint64 public immutable period;

    /// @notice round => sha256(signature); zero until the round is submitted.
    mapping(uint64 round => bytes32) public randomness;

    /// @notice A round was verified and stored.
    event RoundVerified(uint64 indexed round, bytes32 randomness);

    /// @notice The signature is not the group's signature of this round.
    error BadBeaconSignature(uint64 round);
    /// @notice The round is already stored (its randomness can't change, so a replay is refused).
    error RoundAlreadyVerified(uint64 round);
    /// @notice The round is published more than one period after the block's time: it is due at `dueAt`, the block is at `now_`.
    error RoundTooFarAhead(uint64 round, uint256 dueAt, uint256 now_);
    /// @notice Round 0 does not exist (rounds count from 1 at genesis).
    error RoundZero();
    /// @notice The constructor's key is not a G2 point, or the period is zero.
    error BadBeaconConfig();

    /// @param pubkey the group key in drand's encoding read as four words (x.im, x.re, y.im, y.re)
    /// @param genesis_ unix time of round 1
    /// @param period_ seconds between rounds
    constructor(uint256[4] memory pubkey, uint64 genesis_, uint64 period_) {
        if (period_ == 0) revert BadBeaconConfig();
        // a pairing with the key fails unless it is a valid G2 point: check it once, here
        if (!_isG2(pubkey)) revert BadBeaconConfig();
        pkXIm = pubkey[0];
        pkXRe = pubkey[1];
        pkYIm = pubkey[2];
        pkYRe = pubkey[3];
        genesis = genesis_;
        period = period_;
    }

    /// @notice The group key as four words (x.im, x.re, y.im, y.re).
    function publicKey() public view returns (uint256[4] memory) {
        return [pkXIm, pkXRe, pkYIm, pkYRe];
    }

    /// @notice Unix time at which `round` is published: genesis + (round - 1) * period.
    function roundTime(uint64 round) public view returns (uint256) {
        if (round == 0) revert RoundZero();
        return uint256(genesis) + uint256(round - 1) * period;
    }

    /// @notice The latest round published at or before unix time `t` (0 before genesis).
    function roundAt(uint256 t) public view returns (uint64) {
        if (t < genesis) return 0;
        return uint64((t - genesis) / period + 1);
    }

    /// @notice Whether `sig` (x, y of a G1 point) is the group's signature of `round`; stores nothing.
    function verify(uint64 round, uint256[2] calldata sig) public view returns (bool) {
        return Bn254Bls.verifyRound(round, sig[0], sig[1], publicKey());
    }

    /// @notice Verify and store a round. Refuses a round already stored, round 0, a round due more than one period
    /// after the block's time, and a signature that does not verify. Returns the round's randomness.
    function submit(uint64 round, uint256[2] calldata sig) external returns (bytes32) {
        _admit(round);
        if (!verify(round, sig)) revert BadBeaconSignature(round);
        return _store(round, sig);
    }

    /// @notice `submit` with the hash-to-curve's square roots and inversion supplied (and checked) rather than
    /// computed: the same refusals, about 10k gas cheaper. `decloud-beacon`'s `h2c::hints` (or `hints(round)` here)
    /// computes them; a wrong hint reverts `Bn254Bls.BadHint`.
    function submitHinted(uint64 round, uint256[2] calldata sig, uint256[7] calldata hints_)
        external
        returns (bytes32)
    {
        _admit(round);
        (uint256 hx, uint256 hy) = Bn254Bls.hashToPointHinted(Bn254Bls.roundMessage(round), hints_);
        if (!Bn254Bls.verifyPoint(hx, hy, sig[0], sig[1], publicKey())) revert BadBeaconSignature(round);
        return _store(round, sig);
    }

    /// @notice The hints `submitHinted` takes for `round`.
    function hints(uint64 round) external view returns (uint256[7] memory) {
        return Bn254Bls.hints(Bn254Bls.roundMessage(round));
    }

    function _admit(uint64 round) private view {
        if (randomness[round] != 0) revert RoundAlreadyVerified(round);
        uint256 due = roundTime(round);
        // one period of slack for the skew between the beacon's clock and the block's timestamp
        if (due > block.timestamp + period) revert RoundTooFarAhead(round, due, block.timestamp);
    }

    function _store(uint64 round, uint256[2] calldata sig) private returns (bytes32 r) {
        r = sha256(abi.encodePacked(sig[0], sig[1]));
        randomness[round] = r;
        emit RoundVerified(round, r);
    }

    /// @notice The point of G1 that round `round` signs (for off-chain cross-checks).
    function roundPoint(uint64 round) external view returns (uint256 x, uint256 y) {
        return Bn254Bls.roundPoint(round);
    }

    /// @dev On the twist y² = x³ + 3/(9 + i) with canonical coordinates, and in the prime-order subgroup: checked
    /// by one pairing e(G1, pk)·e(-G1, pk) = 1, which the precompile only evaluates for subgroup points.
    function _isG2(uint256[4] memory pk) private view returns (bool ok) {
        uint256 p = Bn254Bls.P;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, 1)
            mstore(add(m, 0x20), 2)
            mstore(add(m, 0x40), mload(pk))
            mstore(add(m, 0x60), mload(add(pk, 0x20)))
            mstore(add(m, 0x80), mload(add(pk, 0x40)))
            mstore(add(m, 0xa0), mload(add(pk, 0x60)))
            mstore(add(m, 0xc0), 1)
            mstore(add(m, 0xe0), sub(p, 2))
            mstore(add(m, 0x100), mload(pk))
            mstore(add(m, 0x120), mload(add(pk, 0x20)))
            mstore(add(m, 0x140), mload(add(pk, 0x40)))
            mstore(add(m, 0x160), mload(add(pk, 0x60)))
            // Yul evaluates arguments right to left: call first, then read the result
            let called := staticcall(gas(), 0x08, m, 0x180, m, 0x20)
            ok := and(called, eq(mload(m), 1))
        }
        // the point at infinity passes the pairing but is no key
        ok = ok && (pk[0] | pk[1] | pk[2] | pk[3]) != 0;
    }
}
