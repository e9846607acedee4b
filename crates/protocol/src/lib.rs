//! Types shared on- and off-chain: the four order kinds and their EIP-712 hashing, deal and task
//! ids, tags, result hashes and seals, and a Rust mirror of the contracts' consensus rule.
//!
//! Everything here is pure computation with no I/O, so every other crate (and the simulator) can
//! depend on it. The marketplace issue fills it; it is empty until then.
