//! Secret management: stores dataset keys, requester secrets and result-encryption keys written
//! by their on-chain owners, and releases them only to workers authorized for a task (and, for
//! TEE tasks, only to an attested enclave).
//!
//! Owned by the SMS issue; empty until then.
