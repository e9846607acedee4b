// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title BLS signatures on BN254 in drand's evmnet format (scheme `bls-bn254-unchained-on-g1`)
/// @notice Signatures on G1, public keys on G2. A round r signs keccak256(r as 8 big-endian bytes), hashed to G1 by
/// expand_message_xmd(keccak256) with the DST below, two 48-byte field elements, the Shallue–van de Woestijne map
/// (RFC 9380 §6.6.1, Z = 1) and a point addition. The Rust crate `decloud-beacon` computes the same function.
/// @dev Gas: the square roots and the one inversion go to the modexp precompile (p ≡ 3 mod 4, so √a = a^((p+1)/4));
/// a root is tried and checked rather than a Legendre symbol computed first, which saves one modexp per candidate.
/// The two maps share one inversion (Montgomery's trick).
library Bn254Bls {
    /// @dev The base field modulus p.
    uint256 internal constant P = 0x30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47;
    /// @dev (p + 1) / 4: a^SQRT_EXP is a square root of a when a is a square.
    uint256 private constant SQRT_EXP = 0x0c19139cb84c680a6e14116da060561765e05aa45a1c72a34f082305b61f3f52;
    /// @dev p - 2: a^INV_EXP = 1/a (and 0 for 0, which is RFC 9380's inv0).
    uint256 private constant INV_EXP = 0x30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd45;
    /// @dev SvdW constants for y² = x³ + 3, Z = 1: c1 = g(Z) = 4, c2 = -Z/2, c3 = √(-12) with sgn0 = 0, c4 = -16/3.
    uint256 private constant C2 = 0x183227397098d014dc2822db40c0ac2ecbc0b548b438e5469e10460b6c3e7ea3;
    uint256 private constant C3 = 0x0000000000000000016789af3a83522eb353c98fc6b36d713d5d8d1cc5dffffffa;
    uint256 private constant C4 = 0x10216f7ba065e00de81ac1e7808072c9dd2b2385cd7b438469602eb24829a9bd;
    /// @dev -G2's generator in the pairing precompile's order (x.im, x.re, y.im, y.re).
    uint256 private constant NEG_G2_X_IM = 0x198e9393920d483a7260bfb731fb5d25f1aa493335a9e71297e485b7aef312c2;
    uint256 private constant NEG_G2_X_RE = 0x1800deef121f1e76426a00665e5c4479674322d4f75edadd46debd5cd992f6ed;
    uint256 private constant NEG_G2_Y_IM = 0x275dc4a288d1afb3cbb1ac09187524c7db36395df7be3b99e673b13a075a65ec;
    uint256 private constant NEG_G2_Y_RE = 0x1d9befcd05a5323e6da4d435f3b617cdb3af83285c2df711ef39c01571827f9d;

    /// @notice Domain separation tag of drand's evmnet chain.
    bytes internal constant DST = "BLS_SIG_BN254G1_XMD:KECCAK-256_SVDW_RO_NUL_";
    /// @dev The DST's first 32 bytes, and its last 11 followed by its length (43 = 0x2b = "+"), for hashToField.
    bytes32 private constant DST_HI = "BLS_SIG_BN254G1_XMD:KECCAK-256_S";
    bytes32 private constant DST_LO = "VDW_RO_NUL_+";
    /// @dev 2^256 mod p.
    uint256 private constant R256 = 0x0e0a77c19a07df2f666ea36f7879462c0a78eb28f5c70b3dd35d438dc58f0d9d;

    /// @notice The modexp precompile failed (out of gas).
    error ModexpFailed();
    /// @notice The ecAdd precompile failed (out of gas).
    error EcAddFailed();
    /// @notice A hash-to-curve hint proves nothing: recompute the hints for this round.
    error BadHint();

    /// @notice The point round `round`'s signature signs.
    function roundPoint(uint64 round) internal view returns (uint256 x, uint256 y) {
        return hashToPoint(roundMessage(round));
    }

    /// @notice What round `round` signs before hashing to the curve: keccak256(round as 8 big-endian bytes).
    function roundMessage(uint64 round) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(round));
    }

    /// @notice Whether (sigX, sigY) is `pubkey`'s signature of `round`; `pubkey` in the precompile's order
    /// (x.im, x.re, y.im, y.re), which is also drand's encoding. A point off the curve, non-canonical coordinates
    /// and the point at infinity (encoded (0, 0), which is off y² = x³ + 3) are all "no". `pubkey` must be a valid G2
    /// point (the Beacon contract checks it once at deployment).
    function verifyRound(uint64 round, uint256 sigX, uint256 sigY, uint256[4] memory pubkey)
        internal
        view
        returns (bool ok)
    {
        (uint256 hx, uint256 hy) = roundPoint(round);
        return verifyPoint(hx, hy, sigX, sigY, pubkey);
    }

    /// @notice Whether (sigX, sigY) is `pubkey`'s signature of the G1 point (hx, hy): e(sig, -G2)·e(H, pk) = 1.
    function verifyPoint(uint256 hx, uint256 hy, uint256 sigX, uint256 sigY, uint256[4] memory pubkey)
        internal
        view
        returns (bool ok)
    {
        // checked here rather than left to the precompile, whose failure burns all the gas it was given
        if (sigX >= P || sigY >= P || mulmod(sigY, sigY, P) != _g(sigX)) return false;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, sigX)
            mstore(add(m, 0x20), sigY)
            mstore(add(m, 0x40), NEG_G2_X_IM)
            mstore(add(m, 0x60), NEG_G2_X_RE)
            mstore(add(m, 0x80), NEG_G2_Y_IM)
            mstore(add(m, 0xa0), NEG_G2_Y_RE)
            mstore(add(m, 0xc0), hx)
            mstore(add(m, 0xe0), hy)
            mstore(add(m, 0x100), mload(pubkey))
            mstore(add(m, 0x120), mload(add(pubkey, 0x20)))
            mstore(add(m, 0x140), mload(add(pubkey, 0x40)))
            mstore(add(m, 0x160), mload(add(pubkey, 0x60)))
            // Yul evaluates arguments right to left: call first, then read the result
            let called := staticcall(gas(), 0x08, m, 0x180, m, 0x20)
            ok := and(called, eq(mload(m), 1))
        }
    }

    /// @notice hash_to_curve(DST, message) for a 32-byte message, the square roots and the inversion computed here
    /// (modexp).
    function hashToPoint(bytes32 message) internal view returns (uint256 x, uint256 y) {
        uint256[7] memory none;
        return _hashToPoint(message, none, false);
    }

    /// @notice hash_to_curve(DST, message) with the expensive parts supplied and checked instead of computed:
    /// `h` = [1/(d0·d1), then for each of the two maps a root per SvdW candidate tried]. A candidate's root r
    /// either proves it a square (r² = g(x): the candidate is taken) or proves it a non-square (r² = -g(x), as -1 is
    /// not a square mod p: the next candidate is tried), so a submitter can't steer the map to another point.
    /// Reverts BadHint on a hint that proves neither. `hints(message)` (or decloud-beacon) computes them.
    function hashToPointHinted(bytes32 message, uint256[7] memory h)
        internal
        view
        returns (uint256 x, uint256 y)
    {
        return _hashToPoint(message, h, true);
    }

    /// @notice The hints `hashToPointHinted` takes for `message`, computed with modexp (for tests and tools): the
    /// computed path records the inversion and every root it tries.
    function hints(bytes32 message) internal view returns (uint256[7] memory h) {
        _hashToPoint(message, h, false);
    }

    /// @dev hash_to_curve; when not `hinted`, computes the inversion and the roots and records them in `h`.
    function _hashToPoint(bytes32 message, uint256[7] memory h, bool hinted)
        private
        view
        returns (uint256 x, uint256 y)
    {
        (uint256 u0, uint256 u1) = hashToField(message);
        (uint256 inv0, uint256 inv1) = _inverses(u0, u1, h, hinted);
        (uint256 x0, uint256 y0) = _map(u0, inv0, h, 1, hinted);
        (x, y) = _map(u1, inv1, h, 4, hinted);
        return _ecAdd(x0, y0, x, y);
    }

    /// @dev 4u², SvdW's u²·g(Z).
    function _t(uint256 u) private pure returns (uint256) {
        return mulmod(mulmod(u, u, P), 4, P);
    }

    /// @dev (1 - t)(1 + t), the denominator of the SvdW map.
    function _d(uint256 u) private pure returns (uint256) {
        uint256 t = _t(u);
        return mulmod(addmod(1, P - t, P), addmod(1, t, P), P);
    }

    /// @dev 1/d0 and 1/d1 from one inversion of d0·d1 (Montgomery's trick), h[0] checked or computed into h[0];
    /// inv0(0) = 0 when one of them is zero (probability ~2^-253, computed separately).
    function _inverses(uint256 u0, uint256 u1, uint256[7] memory h, bool hinted)
        private
        view
        returns (uint256 inv0, uint256 inv1)
    {
        (uint256 d0, uint256 d1) = (_d(u0), _d(u1));
        uint256 both = mulmod(d0, d1, P);
        if (both == 0) return (_modexp(d0, INV_EXP), _modexp(d1, INV_EXP));
        if (hinted) {
            if (mulmod(h[0], both, P) != 1) revert BadHint();
        } else {
            h[0] = _modexp(both, INV_EXP);
        }
        return (mulmod(h[0], d1, P), mulmod(h[0], d0, P));
    }

    /// @dev The first SvdW candidate whose g(x) is a square (x1 = c2 - tv4, x2 = c2 + tv4, x3 = 1 + c4·(tv2²/d)²,
    /// each computed only when the previous is not), with the root whose parity is u's (RFC 9380's sgn0).
    /// `inv` = inv0((1 - t)(1 + t)); the roots are h[at..at+3], checked when hinted, computed and recorded otherwise.
    function _map(uint256 u, uint256 inv, uint256[7] memory h, uint256 at, bool hinted)
        private
        view
        returns (uint256 x, uint256 y)
    {
        uint256 t = _t(u);
        uint256 tv4 = mulmod(mulmod(mulmod(u, addmod(1, P - t, P), P), inv, P), C3, P);
        bool square;
        x = addmod(C2, P - tv4, P);
        (y, square) = _root(x, h, at, hinted);
        if (!square) {
            x = addmod(C2, tv4, P);
            (y, square) = _root(x, h, at + 1, hinted);
            if (!square) {
                uint256 tv2 = addmod(1, t, P);
                uint256 s = mulmod(mulmod(tv2, tv2, P), inv, P);
                x = addmod(mulmod(mulmod(s, s, P), C4, P), 1, P);
                (y, square) = _root(x, h, at + 2, hinted);
                // SvdW guarantees one of the three is a square: only a broken precompile gets here
                if (!square) revert ModexpFailed();
            }
        }
        if ((u & 1) != (y & 1) && y != 0) y = P - y;
    }

    /// @dev A root of g(x) (square) or of -g(x) (not), from h[k] (checked) or modexp (recorded in h[k]): for
    /// p ≡ 3 mod 4, a^((p+1)/4) squares to a or to -a.
    function _root(uint256 x, uint256[7] memory h, uint256 k, bool hinted)
        private
        view
        returns (uint256 r, bool square)
    {
        uint256 gx = _g(x);
        if (hinted) {
            r = h[k];
        } else {
            r = _modexp(gx, SQRT_EXP);
            h[k] = r;
        }
        uint256 rr = mulmod(r, r, P);
        square = rr == gx;
        if (hinted && !square && rr != P - gx) revert BadHint();
    }

    function _ecAdd(uint256 x0, uint256 y0, uint256 x1, uint256 y1)
        private
        view
        returns (uint256 x, uint256 y)
    {
        bool ok;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, x0)
            mstore(add(m, 0x20), y0)
            mstore(add(m, 0x40), x1)
            mstore(add(m, 0x60), y1)
            ok := staticcall(gas(), 0x06, m, 0x80, m, 0x40)
            x := mload(m)
            y := mload(add(m, 0x20))
        }
        if (!ok) revert EcAddFailed();
    }

    /// @notice expand_message_xmd(message, DST, 96) with keccak256, split into two 48-byte big-endian integers
    /// reduced mod p. The zero pad is keccak256's block size, 136 bytes, as RFC 9380 says and the real evmnet rounds
    /// need (a 64-byte pad, which some public libraries use, verifies none of them).
    function hashToField(bytes32 message) internal pure returns (uint256 u0, uint256 u1) {
        assembly ("memory-safe") {
            // scratch space past the free memory pointer, left unallocated
            let m := mload(0x40)
            // b0 = H(Z_pad<136> ‖ msg<32> ‖ I2OSP(96, 2) ‖ I2OSP(0, 1) ‖ DST<43> ‖ I2OSP(43, 1))
            mstore(m, 0)
            mstore(add(m, 0x20), 0)
            mstore(add(m, 0x40), 0)
            mstore(add(m, 0x60), 0)
            mstore(add(m, 0x80), 0)
            mstore(add(m, 136), message)
            mstore(add(m, 168), shl(232, 0x006000))
            mstore(add(m, 171), DST_HI)
            mstore(add(m, 203), DST_LO)
            let b0 := keccak256(m, 215)
            // b_i = H((b0 xor b_{i-1}) ‖ I2OSP(i, 1) ‖ DST ‖ I2OSP(43, 1)), b1 with b0 alone
            mstore(add(m, 33), DST_HI)
            mstore(add(m, 65), DST_LO)
            mstore(m, b0)
            mstore8(add(m, 32), 1)
            let b1 := keccak256(m, 77)
            mstore(m, xor(b0, b1))
            mstore8(add(m, 32), 2)
            let b2 := keccak256(m, 77)
            mstore(m, xor(b0, b2))
            mstore8(add(m, 32), 3)
            let b3 := keccak256(m, 77)
            // u0 = b1 ‖ b2[0..16], u1 = b2[16..32] ‖ b3, as 48-byte integers: hi·2^256 + lo mod p
            u0 := addmod(mulmod(shr(128, b1), R256, P), or(shl(128, b1), shr(128, b2)), P)
            u1 := addmod(mulmod(and(b2, 0xffffffffffffffffffffffffffffffff), R256, P), b3, P)
        }
    }

    function _g(uint256 x) private pure returns (uint256) {
        return addmod(mulmod(mulmod(x, x, P), x, P), 3, P);
    }

    function _modexp(uint256 base, uint256 exponent) private view returns (uint256 r) {
        bool ok;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, 0x20)
            mstore(add(m, 0x20), 0x20)
            mstore(add(m, 0x40), 0x20)
            mstore(add(m, 0x60), base)
            mstore(add(m, 0x80), exponent)
            mstore(add(m, 0xa0), P)
            ok := staticcall(gas(), 0x05, m, 0xc0, m, 0x20)
            r := mload(m)
        }
        if (!ok) revert ModexpFailed();
    }
}
