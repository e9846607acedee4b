//! One module per command noun.

pub mod account;
pub mod app;
pub mod deal;
pub mod devnet;
pub mod node;
pub mod order;
pub mod orderbook;
pub mod resource;
pub mod run;
pub mod shared;
pub mod task;
pub mod wallet;
