//! The sandbox's clocks and randomness: fixed per task, so every replica sees the same values.

use rand_core::TryRng;
use sha2::{Digest as _, Sha256};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// Nanoseconds the virtual monotonic clock advances at every reading, so elapsed-time loops end.
pub(crate) const MONOTONIC_STEP_NS: u64 = 1_000;

/// The wall clock: always the task's fixed time.
pub(crate) struct FixedWallClock(pub Duration);

impl HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

/// A virtual monotonic clock: starts at 0 and advances by [`MONOTONIC_STEP_NS`] at each reading,
/// and by the requested duration when the app sleeps (see `poll_oneoff` in `sandbox.rs`): a
/// deterministic function of what the app did, never of the host's time.
#[derive(Clone, Default)]
pub(crate) struct VirtualClock(pub Arc<AtomicU64>);

impl VirtualClock {
    /// Advances the clock by `ns` nanoseconds and returns the new time.
    pub(crate) fn advance(&self, ns: u64) -> u64 {
        let old = self.0.fetch_add(ns, Ordering::Relaxed);
        old.saturating_add(ns)
    }
    /// The current time, without advancing.
    pub(crate) fn peek(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl HostMonotonicClock for VirtualClock {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        self.advance(MONOTONIC_STEP_NS)
    }
}

/// A deterministic random generator: SHA-256 in counter mode,
/// `block_i = sha256(seed || u64_be(i))`, bytes served in order. Seeded from the task id, so every
/// replica of a task reads the same bytes from `random_get`.
pub(crate) struct TaskRng {
    seed: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl TaskRng {
    /// A generator seeded with `sha256(label || task_id)`.
    pub(crate) fn new(label: &[u8], task_id: &[u8; 32]) -> Self {
        let seed: [u8; 32] = Sha256::new()
            .chain_update(label)
            .chain_update(task_id)
            .finalize()
            .into();
        TaskRng {
            seed,
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }

    fn fill(&mut self, out: &mut [u8]) {
        let mut written = 0;
        while written < out.len() {
            if self.used == self.block.len() {
                self.block = Sha256::new()
                    .chain_update(self.seed)
                    .chain_update(self.counter.to_be_bytes())
                    .finalize()
                    .into();
                self.counter += 1;
                self.used = 0;
            }
            let n = (out.len() - written).min(self.block.len() - self.used);
            out[written..written + n].copy_from_slice(&self.block[self.used..self.used + n]);
            written += n;
            self.used += n;
        }
    }
}

impl TryRng for TaskRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0; 4];
        self.fill(&mut b);
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0; 8];
        self.fill(&mut b);
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.fill(dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_rng_is_a_function_of_the_task_id_and_independent_of_chunking() {
        let id = [7u8; 32];
        let mut a = TaskRng::new(b"x", &id);
        let mut b = TaskRng::new(b"x", &id);
        let mut whole = [0u8; 100];
        a.fill(&mut whole);
        let mut parts = [0u8; 100];
        b.fill(&mut parts[..3]);
        b.fill(&mut parts[3..70]);
        b.fill(&mut parts[70..]);
        assert_eq!(whole, parts);
        let mut other = TaskRng::new(b"x", &[8u8; 32]);
        let mut c = [0u8; 100];
        other.fill(&mut c);
        assert_ne!(whole, c);
    }

    #[test]
    fn virtual_clock_advances_per_reading() {
        let c = VirtualClock::default();
        assert_eq!(c.now(), MONOTONIC_STEP_NS);
        assert_eq!(c.now(), 2 * MONOTONIC_STEP_NS);
        assert_eq!(c.advance(10), 2 * MONOTONIC_STEP_NS + 10);
    }
}
