//! Benchmarks of decloud's attestation; the figures come from `benches/appraisal.rs`
//! (`cargo bench -p decloud-bench-tee`).
