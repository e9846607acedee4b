//! The workerpool scheduler: follows the chain for its pool's deals, initializes tasks,
//! assigns replicates to workers, signs contribution authorizations, and finalizes certified
//! results. Its state lives in SQL so that a restart loses nothing.
//!
//! Owned by the workerpool issue; empty until then.
