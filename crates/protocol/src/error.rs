use alloy::primitives::{Address, B256};

/// What can be wrong with protocol data: a tag name, an amount, a signature. Each message says
/// what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A tag name that decloud does not know.
    #[error("unknown tag {name:?}: use tee, bit<N> (0-255) or a 0x-prefixed 32-byte hex bitmap")]
    UnknownTag {
        /// The name as given.
        name: String,
    },
    /// A name outside a closed set (an order kind, a task or replicate status...).
    #[error("unknown {what} {name:?}: use {expected}")]
    UnknownName {
        /// What the name names, e.g. "order kind".
        what: &'static str,
        /// The name as given.
        name: String,
        /// The names accepted, in words.
        expected: &'static str,
    },
    /// An amount that is not a non-negative decimal number of tokens.
    #[error("invalid amount {input:?}: {reason} (examples: 1000000000, 1.5 DCT, 2DCT)")]
    BadAmount {
        /// The text as given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An order carries no signature.
    #[error("the {kind} is not signed: sign it with its owner's wallet")]
    Unsigned {
        /// Order kind, e.g. "app order".
        kind: &'static str,
    },
    /// A signature that is not 64 or 65 bytes of a valid ECDSA signature.
    #[error("malformed signature on the {kind} ({len} bytes): sign the order again")]
    MalformedSignature {
        /// Order kind or message name.
        kind: &'static str,
        /// Length of the bytes received.
        len: usize,
    },
    /// A 65-byte signature whose last byte is not 27 or 28, which the hub's `ecrecover` refuses
    /// (0/1 or EIP-155 values included).
    #[error(
        "the {kind}'s signature ends with v = {v}, but the hub accepts only 27 or 28 (or a 64-byte EIP-2098 signature): sign the order again"
    )]
    BadRecoveryId {
        /// Order kind or message name.
        kind: &'static str,
        /// The last byte received.
        v: u8,
    },
    /// The signature was made by someone else than expected (or over different data).
    #[error(
        "the {kind} {hash} is signed by {recovered}, not by {expected}: sign it with the owner's wallet, and check that no field changed after signing"
    )]
    WrongSigner {
        /// Order kind or message name.
        kind: &'static str,
        /// The hash that was signed.
        hash: B256,
        /// Who the signature recovers to.
        recovered: Address,
        /// Who should have signed.
        expected: Address,
    },
    /// A TEE deal's attestation count outside what the tag can say.
    #[error("a TEE deal needs between 1 and 9 attestations, not {k}: pick k in 1..=9")]
    BadAttestationCount {
        /// The count asked for.
        k: usize,
    },
    /// Two attestations of one contribution by the same attester: the hub counts distinct ones.
    #[error(
        "attester {attester} signed two of the attestations: ask another key holder for the missing one"
    )]
    DuplicateAttester {
        /// The attester.
        attester: Address,
    },
    /// Signing failed inside the signer.
    #[error("signing failed: {reason}")]
    Signing {
        /// The signer's error.
        reason: String,
    },
    /// Too much weight in one task for the contracts' packed storage.
    #[error(
        "the contributions' weights overflow 112 bits: the hub refuses this contribution (WeightOverflow)"
    )]
    WeightOverflow,
}
