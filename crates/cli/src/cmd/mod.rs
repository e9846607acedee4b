//! One module per command noun; a noun with many verbs is a folder with a file per verb.

pub mod account;
pub mod app;
pub mod category;
pub mod deal;
pub mod demo;
pub mod devnet;
pub mod node;
pub mod order;
pub mod orderbook;
pub mod resource;
pub mod result;
pub mod run;
pub mod services;
pub mod shared;
pub mod sim;
pub mod task;
pub mod wallet;
