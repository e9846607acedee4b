//! The market service: stores signed orders, refuses those whose signature, owner, remaining
//! volume or requester balance does not hold, follows the chain to mark orders filled,
//! cancelled or dead, and answers order-book queries sorted by price.
//!
//! Owned by the marketplace issue; empty until then.
