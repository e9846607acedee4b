//! decloud's randomness beacon, in drand's "evmnet" format (scheme
//! `bls-bn254-unchained-on-g1`): threshold BLS signatures on BN254 with signatures on G1 and
//! the group key on G2, unchained rounds (round r signs keccak256(r as 8 big-endian bytes)),
//! hash-to-curve by `expand_message_xmd` with keccak256 and the SvdW map, and a round's
//! randomness = sha256(signature).
//!
//! The chain checks the same signatures with the BN254 precompiles
//! (`contracts/src/beacon/BeaconVerifier.sol`), so a production deployment points at the League
//! of Entropy's evmnet key ([`EVMNET_PUBLIC_KEY`]) and a devnet at its own t-of-n test group
//! ([`ThresholdGroup`]).

pub mod bls;
pub mod group;
pub mod h2c;
pub mod node;

pub use bls::{PublicKey, SecretKey, Signature};
pub use group::{Partial, ThresholdGroup};
pub use h2c::DST;

/// drand's name of the scheme, as `/info` reports it.
pub const SCHEME: &str = "bls-bn254-unchained-on-g1";

/// The League of Entropy's evmnet group public key (drand's encoding, from the chain's `/info`).
pub const EVMNET_PUBLIC_KEY: &str = "07e1d1d335df83fa98462005690372c643340060d205306a9aa8106b6bd0b3820557ec32c2ad488e4d4f6008f89a346f18492092ccc0d594610de2732c8b808f0095685ae3a85ba243747b1b2f426049010f6b73a0cf1d389351d5aaaa1047f6297d3a4f9749b33eb2d904c9d9ebf17224150ddd7abd7567a9bec6c74480ee0b";
/// evmnet's genesis time (unix seconds).
pub const EVMNET_GENESIS: u64 = 1_727_521_075;
/// evmnet's period (seconds).
pub const EVMNET_PERIOD: u64 = 3;
/// evmnet's chain hash (drand's identity of the chain, the relays' URL path).
pub const EVMNET_CHAIN_HASH: &str =
    "04f1e9062b8a81f848fded9c12306733282b2727ecced50032187751166ec8c3";

/// What can go wrong parsing beacon data or combining partial signatures.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BeaconError {
    /// Not hex.
    #[error("not hex: pass the value as hexadecimal digits (an optional 0x prefix)")]
    Hex,
    /// A signature of the wrong size.
    #[error("a signature is 64 bytes (x ‖ y of a G1 point), got {0}")]
    SignatureLength(usize),
    /// A public key of the wrong size.
    #[error("a public key is 128 bytes (a G2 point in drand's encoding), got {0}")]
    PublicKeyLength(usize),
    /// A coordinate ≥ p.
    #[error("a coordinate is not below the field modulus: pass canonical coordinates")]
    NotCanonical,
    /// Not a point of G1.
    #[error("the signature is not a point of BN254 G1")]
    SignatureNotOnCurve,
    /// Not a point of G2's prime-order subgroup.
    #[error("the public key is not a point of BN254 G2's prime-order subgroup")]
    PublicKeyNotOnCurve,
    /// A threshold that can't work.
    #[error("a threshold group needs 1 ≤ t ≤ n ≤ 1000, got t = {threshold}, n = {members}")]
    BadThreshold {
        /// t
        threshold: u32,
        /// n
        members: u32,
    },
    /// A member index outside 1..=n.
    #[error("no member {0} in the group: indices run from 1 to n")]
    UnknownMember(u32),
    /// The same member twice.
    #[error("member {0} sent two partial signatures: pass one per member")]
    DuplicateMember(u32),
    /// A partial its member's key doesn't verify.
    #[error("member {0}'s partial signature does not verify against its share key")]
    BadPartial(u32),
    /// Fewer than t partials.
    #[error("{have} partial signatures, the group needs {need}")]
    TooFewPartials {
        /// partials given
        have: usize,
        /// the threshold
        need: u32,
    },
}

/// The round due at unix time `now` on a chain of `genesis` and `period` (0 before genesis):
/// round r is published at genesis + (r − 1)·period.
pub fn round_at(now: u64, genesis: u64, period: u64) -> u64 {
    if now < genesis || period == 0 {
        return 0;
    }
    (now - genesis) / period + 1
}

/// The unix time at which round `round` (≥ 1) is published.
pub fn round_time(round: u64, genesis: u64, period: u64) -> u64 {
    genesis.saturating_add(round.saturating_sub(1).saturating_mul(period))
}
