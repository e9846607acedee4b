//! A t-of-n threshold group of test keys: Shamir shares of one secret over BN254's scalar field.
//! Any t partial signatures of a round combine by Lagrange interpolation at zero into the group's
//! signature, the one the group public key verifies; t − 1 of them reveal nothing about it.
//!
//! The keys derive from a seed, as anvil's accounts do: a devnet's beacon is reproducible and
//! public. A production deployment verifies the League of Entropy's evmnet key instead.

use crate::BeaconError;
use crate::bls::{PublicKey, SecretKey, Signature};
use ark_bn254::{Fr, G1Projective};
use ark_ff::{Field, PrimeField, Zero};
use sha3::{Digest, Keccak256};

/// One member's signature of a round, with the member's index (1-based, the share's x).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partial {
    /// The member's index, 1..=n.
    pub index: u32,
    /// The member's signature with its share.
    pub signature: Signature,
}

/// A t-of-n group: the shares of every member and the public keys that check them.
#[derive(Clone, Debug)]
pub struct ThresholdGroup {
    threshold: u32,
    shares: Vec<SecretKey>,
    share_keys: Vec<PublicKey>,
    public_key: PublicKey,
}

impl ThresholdGroup {
    /// The group of `n` members with threshold `t` derived from `seed`: the secret polynomial's
    /// coefficients are keccak256(seed ‖ k) mod r. Refuses t = 0, t > n and n > 1000.
    pub fn from_seed(seed: &[u8], threshold: u32, members: u32) -> Result<Self, BeaconError> {
        if threshold == 0 || threshold > members || members > 1000 {
            return Err(BeaconError::BadThreshold { threshold, members });
        }
        let coeffs: Vec<Fr> = (0..threshold)
            .map(|k| {
                let mut h = Keccak256::new();
                h.update(seed);
                h.update(k.to_be_bytes());
                Fr::from_be_bytes_mod_order(&h.finalize())
            })
            .collect();
        let eval = |x: Fr| coeffs.iter().rev().fold(Fr::zero(), |acc, c| acc * x + c);
        let shares: Vec<SecretKey> = (1..=members)
            .map(|i| SecretKey(eval(Fr::from(i))))
            .collect();
        let share_keys = shares.iter().map(SecretKey::public_key).collect();
        let public_key = SecretKey(coeffs[0]).public_key();
        Ok(ThresholdGroup {
            threshold,
            shares,
            share_keys,
            public_key,
        })
    }

    /// The threshold t.
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    /// The number of members n.
    pub fn members(&self) -> u32 {
        self.shares.len() as u32
    }

    /// The group public key, the one the contract verifies rounds against.
    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    /// Member `index`'s partial signature of `round`.
    pub fn partial(&self, index: u32, round: u64) -> Result<Partial, BeaconError> {
        let share = self
            .shares
            .get((index as usize).wrapping_sub(1))
            .ok_or(BeaconError::UnknownMember(index))?;
        Ok(Partial {
            index,
            signature: share.sign_round(round),
        })
    }

    /// Whether a partial is its member's signature of `round`.
    pub fn verify_partial(&self, round: u64, partial: &Partial) -> bool {
        self.share_keys
            .get((partial.index as usize).wrapping_sub(1))
            .is_some_and(|k| k.verify_round(round, &partial.signature))
    }

    /// The group signature of `round` from at least t partials of distinct members, each
    /// checked against its member's key first (a bad partial would spoil the combination).
    pub fn combine(&self, round: u64, partials: &[Partial]) -> Result<Signature, BeaconError> {
        let mut seen = std::collections::BTreeSet::new();
        for p in partials {
            if p.index == 0 || p.index > self.members() {
                return Err(BeaconError::UnknownMember(p.index));
            }
            if !seen.insert(p.index) {
                return Err(BeaconError::DuplicateMember(p.index));
            }
            if !self.verify_partial(round, p) {
                return Err(BeaconError::BadPartial(p.index));
            }
        }
        if partials.len() < self.threshold as usize {
            return Err(BeaconError::TooFewPartials {
                have: partials.len(),
                need: self.threshold,
            });
        }
        Ok(interpolate(&partials[..self.threshold as usize]))
    }

    /// The round's group signature, signed by members 1..=t (the devnet node's shortcut).
    pub fn sign_round(&self, round: u64) -> Signature {
        let parts: Vec<Partial> = (1..=self.threshold)
            .map(|i| self.partial(i, round).expect("index in range"))
            .collect();
        interpolate(&parts)
    }
}

/// Σ λᵢ·σᵢ with λᵢ = Π_{j≠i} xⱼ / (xⱼ − xᵢ): the polynomial's value at zero, in the exponent.
/// Callers pass distinct non-zero indices.
pub fn interpolate(partials: &[Partial]) -> Signature {
    let xs: Vec<Fr> = partials.iter().map(|p| Fr::from(p.index)).collect();
    Signature::sum(partials.iter().enumerate().map(|(i, p)| {
        let lambda = xs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .fold(Fr::ONE, |acc, (_, xj)| {
                acc * xj * (*xj - xs[i]).inverse().expect("distinct indices")
            });
        G1Projective::from(p.signature.0) * lambda
    }))
}
