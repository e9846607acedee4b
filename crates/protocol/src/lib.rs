//! Types shared on- and off-chain: the four order kinds and their EIP-712 hashing and signing,
//! deal and task ids, task statuses, tags, amounts, result hashes and seals, the scheduler's authorization, a
//! Rust mirror of the contracts' consensus rule, and the scheduler–worker wire types.
//!
//! Everything here is pure computation with no I/O, so every other crate (and the simulator) can
//! depend on it. It matches the contracts byte for byte: `contracts/src/libs/Orders.sol` for the
//! EIP-712 types, `Hub.sol` for ids and result hashes, `Consensus.sol` for the rule; the unit
//! tests read the Solidity sources to check the type strings, and `crates/chain/tests` checks
//! hashes and signatures against a deployed hub.

#[macro_use]
mod names;

pub mod amount;
pub mod bundle;
pub mod consensus;
pub mod deadline;
pub mod domain;
pub mod draw;
pub mod encrypted_app;
mod error;
pub mod ids;
pub mod matching;
pub mod order;
pub mod policy;
pub mod pool;
pub mod result;
pub mod spot;
pub mod status;
pub mod tag;
pub mod tee;

pub use amount::{format_amount, parse_amount};
pub use error::ProtocolError;
pub use ids::{deal_id, task_id};
pub use order::{
    AnyOrder, AppOrder, DatasetOrder, Domain, Order, OrderKind, RequestOrder, WorkerpoolOrder,
    signed, typed,
};
pub use status::TaskStatus;
pub use tag::Tag;

/// Chain ids of local development chains: anvil's and hardhat's default (31337, the id
/// `decloud devnet up` uses) and the common local-node id 1337. Plain HTTP, free funding and
/// simulated TEEs are for these alone.
pub const DEVNET_CHAIN_IDS: [u64; 2] = [31337, 1337];

/// Whether `chain_id` is one of [`DEVNET_CHAIN_IDS`].
pub fn is_devnet_chain_id(chain_id: u64) -> bool {
    DEVNET_CHAIN_IDS.contains(&chain_id)
}
