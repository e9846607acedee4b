//! One module per command noun; a noun with many verbs is a folder with a file per verb.

pub(crate) mod account;
pub(crate) mod app;
pub(crate) mod attester;
pub(crate) mod category;
pub(crate) mod chain;
pub(crate) mod deal;
pub(crate) mod demo;
pub(crate) mod demo_confidential;
pub(crate) mod demo_oracle;
pub(crate) mod devnet;
pub(crate) mod explorer;
pub(crate) mod node;
pub(crate) mod oracle_node;
pub(crate) mod order;
pub(crate) mod orderbook;
pub(crate) mod pool;
pub(crate) mod resource;
pub(crate) mod result;
pub(crate) mod run;
pub(crate) mod secret;
pub(crate) mod services;
pub(crate) mod shared;
pub(crate) mod sim;
pub(crate) mod task;
pub(crate) mod wallet;
pub(crate) mod worker;
