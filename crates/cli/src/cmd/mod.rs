//! One module per command noun.

pub mod app;
pub mod node;
