//! The requester/provider library of decloud: what the `decloud` command line does, without the
//! command line.
//!
//! - [`select`]: the selection rules, which published orders a request may use and which
//!   combination is the cheapest (pure, no chain);
//! - [`market`]: buying: the market's offers for a demand, checked against the chain, and the
//!   request order that matches them into a deal;
//! - [`orders`]: selling: signed orders, their file, signing and cancelling;
//! - [`lookup`]: deals and tasks on chain, their statuses and deadlines, and the scheduler's
//!   view of a task;
//! - [`result`]: downloading a result and verifying it against the certified digest;
//! - [`resource`]: apps, datasets and workerpools in their registries, and the hub's
//!   categories;
//! - [`account`]: the escrow account on the hub;
//! - [`secret`]: secrets in a secret management service (requester secrets, dataset keys);
//! - [`encrypted_app`]: an app module encrypted for attested enclaves only.

pub mod account;
pub mod encrypted_app;
pub mod error;
pub mod lookup;
pub mod market;
pub mod orders;
pub mod resource;
pub mod result;
pub mod secret;
pub mod select;

pub use error::{Error, Result};
