//! Sandboxed app execution: runs a WASI preview-1 command module under wasmtime with `/in`
//! read-only and `/out` writable, a fixed clock, seeded randomness, fuel, memory and wall-clock
//! caps, and computes the result digest that workers vote on.
//!
//! Owned by the runtime issue; empty until then.
