//! BLS signatures on BN254 with signatures on G1 and public keys on G2 (drand's
//! `bls-bn254-unchained-on-g1`), and the byte encodings drand and the contract use.

use crate::BeaconError;
use crate::h2c::{fq_be, g1_bytes, round_point};
use ark_bn254::{Bn254, Fq, Fq2, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::pairing::Pairing;
use ark_ec::{AffineRepr, CurveGroup, PrimeGroup};
use ark_ff::{PrimeField, Zero};
use sha2::Sha256;
use sha3::Digest;

/// A secret key (or a share of one): a scalar of BN254.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(pub(crate) Fr);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// A key derived from seed bytes (keccak256, reduced mod r). For test and devnet keys only:
    /// whoever knows the seed knows the key.
    pub fn from_seed(seed: &[u8]) -> Self {
        let h = sha3::Keccak256::digest(seed);
        SecretKey(Fr::from_be_bytes_mod_order(&h))
    }

    /// The public key on G2.
    pub fn public_key(&self) -> PublicKey {
        PublicKey((G2Projective::generator() * self.0).into_affine())
    }

    /// The signature of a round: `sk · hash_to_g1(DST, keccak256(round))`.
    pub fn sign_round(&self, round: u64) -> Signature {
        Signature((round_point(round) * self.0).into_affine())
    }
}

/// A public key: a point of G2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicKey(pub G2Affine);

impl PublicKey {
    /// drand's (kyber's) encoding: x.c1 ‖ x.c0 ‖ y.c1 ‖ y.c0, 32 bytes each, big-endian. This
    /// is also the order the pairing precompile takes a G2 point in (imaginary part first).
    pub fn to_bytes(&self) -> [u8; 128] {
        let mut out = [0u8; 128];
        if let Some((x, y)) = self.0.xy() {
            out[..32].copy_from_slice(&fq_be(&x.c1));
            out[32..64].copy_from_slice(&fq_be(&x.c0));
            out[64..96].copy_from_slice(&fq_be(&y.c1));
            out[96..].copy_from_slice(&fq_be(&y.c0));
        }
        out
    }

    /// The four words the contract's constructor takes, in the precompile's order.
    pub fn to_words(&self) -> [[u8; 32]; 4] {
        let b = self.to_bytes();
        std::array::from_fn(|i| b[32 * i..32 * (i + 1)].try_into().expect("32 bytes"))
    }

    /// Parse drand's 128-byte encoding; refuses points off the curve, outside the prime-order
    /// subgroup, or at infinity.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BeaconError> {
        if bytes.len() != 128 {
            return Err(BeaconError::PublicKeyLength(bytes.len()));
        }
        let f = |i: usize| fq_from_be(&bytes[32 * i..32 * (i + 1)]);
        let x = Fq2::new(f(1)?, f(0)?);
        let y = Fq2::new(f(3)?, f(2)?);
        let p = G2Affine::new_unchecked(x, y);
        if p.is_zero() || !p.is_on_curve() || !p.is_in_correct_subgroup_assuming_on_curve() {
            return Err(BeaconError::PublicKeyNotOnCurve);
        }
        Ok(PublicKey(p))
    }

    /// Parse the hex of drand's encoding (as `/info` serves it).
    pub fn from_hex(s: &str) -> Result<Self, BeaconError> {
        let bytes = hex::decode(s.trim_start_matches("0x")).map_err(|_| BeaconError::Hex)?;
        Self::from_bytes(&bytes)
    }

    /// Whether `sig` is this key's signature of `round`: e(sig, G2) = e(H(round), pk).
    pub fn verify_round(&self, round: u64, sig: &Signature) -> bool {
        if sig.0.is_zero() {
            return false;
        }
        // PairingOutput is written additively: zero is the identity of GT
        let neg_g2 = -G2Affine::generator();
        Bn254::multi_pairing([sig.0, round_point(round)], [neg_g2, self.0]).is_zero()
    }
}

/// A signature: a point of G1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature(pub G1Affine);

impl Signature {
    /// drand's encoding: x ‖ y, 32 bytes each, big-endian.
    pub fn to_bytes(&self) -> [u8; 64] {
        g1_bytes(&self.0)
    }

    /// Parse drand's 64-byte encoding; refuses points off the curve and the point at
    /// infinity (G1 has cofactor 1, so on the curve is in the group).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BeaconError> {
        if bytes.len() != 64 {
            return Err(BeaconError::SignatureLength(bytes.len()));
        }
        let x = fq_from_be(&bytes[..32])?;
        let y = fq_from_be(&bytes[32..])?;
        let p = G1Affine::new_unchecked(x, y);
        if p.is_zero() || !p.is_on_curve() {
            return Err(BeaconError::SignatureNotOnCurve);
        }
        Ok(Signature(p))
    }

    /// Parse the hex of drand's encoding (as `/public/{round}` serves it).
    pub fn from_hex(s: &str) -> Result<Self, BeaconError> {
        let bytes = hex::decode(s.trim_start_matches("0x")).map_err(|_| BeaconError::Hex)?;
        Self::from_bytes(&bytes)
    }

    /// The round's randomness as drand defines it: sha256 of the encoded signature.
    pub fn randomness(&self) -> [u8; 32] {
        Sha256::digest(self.to_bytes()).into()
    }

    /// The sum of signatures, for combining weighted partials.
    pub(crate) fn sum(parts: impl IntoIterator<Item = G1Projective>) -> Signature {
        Signature(parts.into_iter().sum::<G1Projective>().into_affine())
    }
}

/// A canonical field element from 32 big-endian bytes (refuses values ≥ p).
fn fq_from_be(bytes: &[u8]) -> Result<Fq, BeaconError> {
    let x = Fq::from_be_bytes_mod_order(bytes);
    if fq_be(&x) != bytes {
        return Err(BeaconError::NotCanonical);
    }
    Ok(x)
}
