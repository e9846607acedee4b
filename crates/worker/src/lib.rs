//! The worker agent: registers with a scheduler, claims work, fetches and verifies the app and
//! its data, runs it in the sandbox, uploads the result, and contributes and reveals on-chain.
//!
//! Owned by the workerpool issue; empty until then.
