//! Oracles across chains (proxy tasks): a task runs with Proof-of-Contribution on a source chain
//! A, and only its certified result and its traceability reach a consumer on a destination chain
//! B. A proxy deal names the [`contracts::Committee`] on A as its callback and its destination in
//! the request's `params` ([`delivery::Destination`]); each committee member runs a
//! [`signer`] that signs the finalized task's `Delivery` for B's gateway, and any [`relayer`]
//! carries `threshold` signatures to the [`contracts::Gateway`] on B, which checks them and the
//! source workerpool's work pass, then calls the consumer with a gas cap, recording a failing
//! consumer for anyone to retry. [`devnet`] starts chain B beside a devnet. See docs/oracles.md.

pub mod contracts;
pub mod delivery;
pub mod deploy;
pub mod devnet;
pub mod profile;
pub mod relayer;
pub mod signer;
pub mod status;

/// Why an oracle operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OracleError {
    /// The request's `params` name a destination that cannot be used.
    #[error("bad oracle destination in the request params: {0}")]
    BadDestination(String),
    /// The oracle profile is missing or malformed.
    #[error("{0}")]
    Profile(String),
    /// A chain call or transaction failed.
    #[error("{0}")]
    Chain(String),
    /// Signing failed.
    #[error("signing a delivery failed: {0}")]
    Sign(String),
    /// A service could not start or answer.
    #[error("{0}")]
    Service(String),
}

/// The one-line reason a contract call reverted, with the gateway's and the passes' errors
/// decoded by name.
pub fn revert_reason(e: &alloy::contract::Error) -> String {
    match e.as_revert_data() {
        Some(data) => describe_revert(&data),
        None => deploy::first_line(&e.to_string()),
    }
}

/// Revert data in words: `Error(string)`'s message, the gateway's, the passes' and the example
/// feeds' errors by name, else the data in hex.
pub fn describe_revert(data: &[u8]) -> String {
    use alloy::sol_types::{SolError, SolInterface};
    if let Ok(e) = alloy::sol_types::Revert::abi_decode(data) {
        return e.reason;
    }
    if let Ok(err) = contracts::Gateway::GatewayErrors::abi_decode(data) {
        return format!("{err:?}");
    }
    if let Ok(err) = contracts::WorkPasses::WorkPassesErrors::abi_decode(data) {
        return format!("{err:?}");
    }
    if let Ok(err) = contracts::StakeVoteFeed::StakeVoteFeedErrors::abi_decode(data) {
        return format!("{err:?}");
    }
    if let Ok(err) = contracts::MedianFeed::MedianFeedErrors::abi_decode(data) {
        return format!("{err:?}");
    }
    format!("reverted with 0x{}", alloy::primitives::hex::encode(data))
}
