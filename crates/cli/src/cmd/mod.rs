//! One module per command noun.

pub mod app;
pub mod devnet;
pub mod node;
