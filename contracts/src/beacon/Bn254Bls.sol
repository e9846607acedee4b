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

    /// @notice The modexp precompile failed (out of gas).
    error ModexpFailed();
    /// @notice The ecAdd precompile failed (out of gas).
    error EcAddFailed();

    /// @notice The point round `round`'s signature signs.
    function roundPoint(uint64 round) internal view returns (uint256 x, uint256 y) {
        return hashToPoint(keccak256(abi.encodePacked(round)));
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
        // checked here rather than left to the precompile, whose failure burns all the gas it was given
        if (sigX >= P || sigY >= P || mulmod(sigY, sigY, P) != _g(sigX)) return false;
        (uint256 hx, uint256 hy) = roundPoint(round);
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

    /// @notice hash_to_curve(DST, message) for a 32-byte message.
    function hashToPoint(bytes32 message) internal view returns (uint256 x, uint256 y) {
        (uint256 u0, uint256 u1) = hashToField(message);
        (uint256 x0, uint256 y0, uint256 x1, uint256 y1) = _mapBoth(u0, u1);
        return _ecAdd(x0, y0, x1, y1);
    }

    /// @dev Both maps, sharing one inversion: 1/d0 = d1/(d0·d1) and 1/d1 = d0/(d0·d1), unless one is zero.
    function _mapBoth(uint256 u0, uint256 u1) private view returns (uint256 x0, uint256 y0, uint256 x1, uint256 y1) {
        uint256 t0 = mulmod(mulmod(u0, u0, P), 4, P);
        uint256 t1 = mulmod(mulmod(u1, u1, P), 4, P);
        uint256 d0 = mulmod(addmod(1, P - t0, P), addmod(1, t0, P), P);
        uint256 d1 = mulmod(addmod(1, P - t1, P), addmod(1, t1, P), P);
        uint256 inv0;
        uint256 inv1;
        if (mulmod(d0, d1, P) == 0) {
            inv0 = _modexp(d0, INV_EXP);
            inv1 = _modexp(d1, INV_EXP);
        } else {
            uint256 inv = _modexp(mulmod(d0, d1, P), INV_EXP);
            inv0 = mulmod(inv, d1, P);
            inv1 = mulmod(inv, d0, P);
        }
        (x0, y0) = _map(u0, t0, inv0);
        (x1, y1) = _map(u1, t1, inv1);
    }

    function _ecAdd(uint256 x0, uint256 y0, uint256 x1, uint256 y1) private view returns (uint256 x, uint256 y) {
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
        bytes memory dst = DST;
        bytes32 b0 = keccak256(abi.encodePacked(bytes32(0), bytes32(0), bytes32(0), bytes32(0), bytes8(0), message, uint8(0), uint8(96), uint8(0), dst, uint8(dst.length)));
        bytes32 b1 = keccak256(abi.encodePacked(b0, uint8(1), dst, uint8(dst.length)));
        bytes32 b2 = keccak256(abi.encodePacked(b0 ^ b1, uint8(2), dst, uint8(dst.length)));
        bytes32 b3 = keccak256(abi.encodePacked(b0 ^ b2, uint8(3), dst, uint8(dst.length)));
        // u0 = b1 ‖ b2[0..16], u1 = b2[16..32] ‖ b3, as 48-byte integers: hi·2^256 + lo mod p
        uint256 r = 0x0e0a77c19a07df2f666ea36f7879462c0a78eb28f5c70b3dd35d438dc58f0d9d; // 2^256 mod p
        u0 = addmod(mulmod(uint256(b1) >> 128, r, P), (uint256(b1) << 128) | (uint256(b2) >> 128), P);
        u1 = addmod(mulmod(uint256(b2) & type(uint128).max, r, P), uint256(b3), P);
    }

    /// @dev map_to_curve_svdw(u) given t = 4u² and inv = inv0((1 - t)(1 + t)).
    function _map(uint256 u, uint256 t, uint256 inv) private view returns (uint256 x, uint256 y) {
        uint256 tv2 = addmod(1, t, P);
        uint256 tv4 = mulmod(mulmod(mulmod(u, addmod(1, P - t, P), P), inv, P), C3, P);
        bool found;
        x = addmod(C2, P - tv4, P);
        (y, found) = _sqrt(_g(x));
        if (!found) {
            x = addmod(C2, tv4, P);
            (y, found) = _sqrt(_g(x));
            if (!found) {
                uint256 s = mulmod(mulmod(tv2, tv2, P), inv, P);
                x = addmod(mulmod(mulmod(s, s, P), C4, P), 1, P);
                (y, found) = _sqrt(_g(x));
                // SvdW guarantees one of the three is a square; reaching here means a broken precompile
                if (!found) revert ModexpFailed();
            }
        }
        if ((u & 1) != (y & 1) && y != 0) y = P - y;
    }

    function _g(uint256 x) private pure returns (uint256) {
        return addmod(mulmod(mulmod(x, x, P), x, P), 3, P);
    }

    function _sqrt(uint256 a) private view returns (uint256 r, bool ok) {
        r = _modexp(a, SQRT_EXP);
        ok = mulmod(r, r, P) == a;
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
