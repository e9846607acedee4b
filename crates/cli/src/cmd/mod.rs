//! One module per command noun.

pub mod account;
pub mod app;
pub mod devnet;
pub mod node;
pub mod wallet;
