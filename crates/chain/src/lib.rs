//! EVM access for decloud: the contract bindings generated from the committed artifacts, the
//! chain profile every command reads, the deployment of the protocol contracts, and the local
//! devnet (an `anvil` process this crate starts, watches and stops by pid).
//!
//! Wallets are keystore V3 files ([`wallet`]); [`client`] sends transactions with nonce
//! management, gas estimation and rebroadcasts, and [`revert`] decodes the contracts' custom
//! errors into one-line messages; [`orders`] binds the protocol's orders to the hub;
//! [`attesters`] is the hub's registry of key holders and the TEE fast path; [`keepers`] draws
//! a dataset's keepers per epoch among them.

pub mod accounts;
pub mod actions;
pub mod anvil;
pub mod attesters;
pub mod audit;
pub mod client;
pub mod contracts;
pub mod deploy;
pub mod devnet;
mod error;
pub mod follower;
pub mod keeper_registry;
pub mod keepers;
pub mod keyfile;
pub mod orders;
pub mod profile;
pub mod revert;
pub mod rpc;
pub mod selection;
mod send;
pub mod wallet;

pub use error::{ChainError, FileError};
pub use profile::{ChainLimits, ChainProfile, NewChain};
