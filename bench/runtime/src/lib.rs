//! Benchmarks of the decloud sandbox; see `benches/runtime.rs` and `bench/runtime/README.md`.
