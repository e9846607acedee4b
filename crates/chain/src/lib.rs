//! EVM access for decloud: the contract bindings generated from the committed artifacts, the
//! chain profile every command reads, the deployment of the protocol contracts, and the local
//! devnet (an `anvil` process this crate starts, watches and stops by pid).
//!
//! Wallets (keystore V3), transaction sending with nonce management and custom-error decoding
//! join this crate with the marketplace issue.

pub mod accounts;
pub mod anvil;
pub mod contracts;
pub mod deploy;
pub mod devnet;
mod error;
pub mod profile;

pub use error::ChainError;
pub use profile::ChainProfile;
