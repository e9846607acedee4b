//! Hash-to-curve onto BN254 G1 as drand's evmnet chain does it: `expand_message_xmd` with
//! keccak256 (RFC 9380 §5.3.1), two field elements of 48 bytes each, the Shallue–van de Woestijne
//! map (RFC 9380 §6.6.1, Z = 1), and the sum of the two mapped points (G1's cofactor is 1).
//!
//! `contracts/src/beacon/BeaconVerifier.sol` computes the same function; the vectors test in
//! `contracts/test/Beacon.t.sol` and the real evmnet rounds in this crate's tests hold both to it.

use ark_bn254::{Fq, G1Affine};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{AdditiveGroup, BigInteger, Field, PrimeField};
use sha3::{Digest, Keccak256};
use std::sync::LazyLock;

/// The domain separation tag of drand's evmnet scheme (`bls-bn254-unchained-on-g1`).
pub const DST: &[u8] = b"BLS_SIG_BN254G1_XMD:KECCAK-256_SVDW_RO_NUL_";

/// The zero block that starts `msg_prime` in `expand_message_xmd`: the hash's input block size,
/// 136 bytes for keccak256, as RFC 9380 says. (Some public BN254 libraries pad with 64 bytes;
/// those don't verify the real evmnet rounds, which the tests check.)
const Z_PAD: usize = 136;

/// The message drand signs for an unchained round: keccak256 of the round number as 8
/// big-endian bytes.
pub fn round_message(round: u64) -> [u8; 32] {
    Keccak256::digest(round.to_be_bytes()).into()
}

/// `expand_message_xmd(msg, dst, 96)` with keccak256 (a 136-byte zero pad, see `Z_PAD`).
pub fn expand_message_96(dst: &[u8], msg: &[u8]) -> [u8; 96] {
    assert!(
        dst.len() <= 255,
        "a domain separation tag is at most 255 bytes"
    );
    let dst_len = [dst.len() as u8];
    let mut h = Keccak256::new();
    h.update([0u8; Z_PAD]);
    h.update(msg);
    h.update([0u8, 96, 0]);
    h.update(dst);
    h.update(dst_len);
    let b0: [u8; 32] = h.finalize().into();
    let mut out = [0u8; 96];
    let mut prev = [0u8; 32];
    for i in 0..3u8 {
        let mut input = [0u8; 32];
        for (k, byte) in input.iter_mut().enumerate() {
            *byte = b0[k] ^ prev[k];
        }
        if i == 0 {
            input = b0;
        }
        let mut h = Keccak256::new();
        h.update(input);
        h.update([i + 1]);
        h.update(dst);
        h.update(dst_len);
        prev = h.finalize().into();
        out[32 * i as usize..32 * (i as usize + 1)].copy_from_slice(&prev);
    }
    out
}

/// Two field elements from a message: 48 bytes each of the expanded message, reduced mod p.
pub fn hash_to_field(dst: &[u8], msg: &[u8]) -> [Fq; 2] {
    let bytes = expand_message_96(dst, msg);
    [
        Fq::from_be_bytes_mod_order(&bytes[..48]),
        Fq::from_be_bytes_mod_order(&bytes[48..]),
    ]
}

/// The SvdW constants for y² = x³ + 3 with Z = 1 (RFC 9380 §6.6.1, A = 0, B = 3).
struct Svdw {
    /// g(Z) = 4
    c1: Fq,
    /// -Z / 2
    c2: Fq,
    /// sqrt(-g(Z)·3Z²), the root with sgn0 = 0
    c3: Fq,
    /// -4·g(Z) / 3Z²
    c4: Fq,
}

static SVDW: LazyLock<Svdw> = LazyLock::new(|| {
    let three = Fq::from(3u64);
    let four = Fq::from(4u64);
    let c3 = (-(four * three)).sqrt().expect("-12 is a square mod p");
    let c3 = if sgn0(&c3) { -c3 } else { c3 };
    Svdw {
        c1: four,
        c2: -(Fq::ONE / Fq::from(2u64)),
        c3,
        c4: -(four * four) / three,
    }
});

/// The SvdW constants as big-endian words, for the Solidity side (`c1, c2, c3, c4`).
pub fn svdw_constants() -> [[u8; 32]; 4] {
    let s = &*SVDW;
    [fq_be(&s.c1), fq_be(&s.c2), fq_be(&s.c3), fq_be(&s.c4)]
}

/// RFC 9380's sgn0 for a prime field: the parity of the canonical integer.
fn sgn0(x: &Fq) -> bool {
    x.into_bigint().is_odd()
}

fn g(x: Fq) -> Fq {
    x * x * x + Fq::from(3u64)
}

/// `map_to_curve_svdw(u)`, straight-line as in RFC 9380 §6.6.1 (inv0(0) = 0).
pub fn map_to_point(u: Fq) -> G1Affine {
    let s = &*SVDW;
    let tv1 = u * u * s.c1;
    let tv2 = Fq::ONE + tv1;
    let tv1 = Fq::ONE - tv1;
    let tv3 = (tv1 * tv2).inverse().unwrap_or(Fq::ZERO);
    let tv4 = u * tv1 * tv3 * s.c3;
    let x1 = s.c2 - tv4;
    let x2 = s.c2 + tv4;
    let x3 = {
        let t = tv2 * tv2 * tv3;
        t * t * s.c4 + Fq::ONE
    };
    // is_square(0) is true in RFC 9380 (ark's Legendre symbol says "zero", not "residue")
    let x = if g(x1).sqrt().is_some() {
        x1
    } else if g(x2).sqrt().is_some() {
        x2
    } else {
        x3
    };
    let y = g(x).sqrt().expect("SvdW gives a point on the curve");
    let y = if sgn0(&u) == sgn0(&y) { y } else { -y };
    G1Affine::new_unchecked(x, y)
}

/// The hints the contract's `submitHinted` takes for `msg` (`Bn254Bls.hashToPointHinted`):
/// `[1/(d0·d1), roots for map 0's candidates, roots for map 1's candidates]`, where dᵢ is the
/// SvdW denominator (1 − 4uᵢ²)(1 + 4uᵢ²) and each candidate tried gets a root of g(x) (a square:
/// taken) or of −g(x) (a non-square: the next one is tried); slots after the chosen candidate
/// are zero. The contract checks each with one multiplication instead of a modexp.
pub fn hints(dst: &[u8], msg: &[u8]) -> [[u8; 32]; 7] {
    let s = &*SVDW;
    let [u0, u1] = hash_to_field(dst, msg);
    let denominator = |u: Fq| {
        let t = u * u * s.c1;
        (Fq::ONE - t) * (Fq::ONE + t)
    };
    let (d0, d1) = (denominator(u0), denominator(u1));
    let mut out = [[0u8; 32]; 7];
    out[0] = fq_be(&(d0 * d1).inverse().unwrap_or(Fq::ZERO));
    for (at, u) in [(1usize, u0), (4, u1)] {
        let t = u * u * s.c1;
        let tv2 = Fq::ONE + t;
        let tv1 = Fq::ONE - t;
        let inv = (tv1 * tv2).inverse().unwrap_or(Fq::ZERO);
        let tv4 = u * tv1 * inv * s.c3;
        let x3 = {
            let w = tv2 * tv2 * inv;
            w * w * s.c4 + Fq::ONE
        };
        for (k, x) in [s.c2 - tv4, s.c2 + tv4, x3].into_iter().enumerate() {
            if let Some(r) = g(x).sqrt() {
                out[at + k] = fq_be(&r);
                break;
            }
            out[at + k] = fq_be(&(-g(x)).sqrt().expect("-g(x) is a square when g(x) is not"));
        }
    }
    out
}

/// The hints of round `round` (see [`hints`]).
pub fn round_hints(round: u64) -> [[u8; 32]; 7] {
    hints(DST, &round_message(round))
}

/// Hash a message to a point of G1 (drand evmnet: `hash_to_curve` with [`DST`]).
pub fn hash_to_g1(dst: &[u8], msg: &[u8]) -> G1Affine {
    let [u0, u1] = hash_to_field(dst, msg);
    (map_to_point(u0) + map_to_point(u1)).into_affine()
}

/// The point a round's signature signs: `hash_to_g1(DST, keccak256(round as u64 BE))`.
pub fn round_point(round: u64) -> G1Affine {
    hash_to_g1(DST, &round_message(round))
}

/// A field element as 32 big-endian bytes.
pub(crate) fn fq_be(x: &Fq) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&x.into_bigint().to_bytes_be());
    out
}

/// A G1 point as drand serialises it (and the contract takes it): x ‖ y, 32 bytes each,
/// big-endian; the point at infinity is all zeroes.
pub fn g1_bytes(p: &G1Affine) -> [u8; 64] {
    let mut out = [0u8; 64];
    if let Some((x, y)) = p.xy() {
        out[..32].copy_from_slice(&fq_be(&x));
        out[32..].copy_from_slice(&fq_be(&y));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_points_are_on_the_curve_for_edge_inputs() {
        // u = 0 and the u that zeroes tv1·tv2 take the exceptional branch of inv0
        for u in [
            Fq::ZERO,
            Fq::ONE,
            -Fq::ONE,
            Fq::from(2u64).sqrt().unwrap_or(Fq::ONE),
        ] {
            let p = map_to_point(u);
            assert!(p.is_on_curve(), "u = {u}");
        }
    }

    #[test]
    fn c3_is_the_even_root_of_minus_twelve() {
        let s = &*SVDW;
        assert_eq!(s.c3 * s.c3, -Fq::from(12u64));
        assert!(!sgn0(&s.c3));
    }
}
