//! The host side of the sandbox that wasmtime-wasi does not give us as-is: a deterministic
//! `poll_oneoff`, and the resource limiter.

use crate::clock::VirtualClock;
use wasmtime::{Caller, Extern};

const ERRNO_SUCCESS: i32 = 0;
const ERRNO_FAULT: i32 = 21;
const ERRNO_INVAL: i32 = 28;
const ERRNO_NOTSUP: i32 = 58;

const SUBSCRIPTION_SIZE: usize = 48;
const EVENT_SIZE: usize = 32;
const CLOCK_REALTIME: u32 = 0;
const CLOCK_MONOTONIC: u32 = 1;
const SUBCLOCKFLAGS_ABSTIME: u16 = 1;

/// What `poll_oneoff` needs from the store.
pub(crate) trait PollState {
    fn virtual_clock(&self) -> &VirtualClock;
    fn wall_clock_ns(&self) -> u64;
}

/// A deterministic `wasi_snapshot_preview1::poll_oneoff` that replaces wasmtime-wasi's (which
/// really sleeps, beyond the reach of the wall-clock cap). Clock subscriptions complete at once
/// and advance the virtual monotonic clock by the shortest timeout, so `sleep` costs no host time
/// and leaves the same trace on every replica. Subscriptions on file descriptors are refused
/// with `ENOTSUP`: a batch app has nothing to wait for.
pub(crate) fn poll_oneoff<T: PollState>(
    mut caller: Caller<'_, T>,
    in_ptr: i32,
    out_ptr: i32,
    nsubscriptions: i32,
    nevents_ptr: i32,
) -> i32 {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return ERRNO_INVAL;
    };
    let n = nsubscriptions as u32 as usize;
    if n == 0 {
        return ERRNO_INVAL;
    }
    let Some(len) = n.checked_mul(SUBSCRIPTION_SIZE) else {
        return ERRNO_FAULT;
    };
    let mut subs = vec![0u8; len];
    if memory
        .read(&caller, in_ptr as u32 as usize, &mut subs)
        .is_err()
    {
        return ERRNO_FAULT;
    }
    let clock = caller.data().virtual_clock().clone();
    let wall_ns = caller.data().wall_clock_ns();
    let now_mono = clock.peek();
    let mut timeouts = Vec::with_capacity(n);
    for sub in subs.chunks_exact(SUBSCRIPTION_SIZE) {
        let userdata = u64::from_le_bytes(sub[0..8].try_into().expect("8 bytes"));
        if sub[8] != 0 {
            return ERRNO_NOTSUP;
        }
        let id = u32::from_le_bytes(sub[16..20].try_into().expect("4 bytes"));
        let timeout = u64::from_le_bytes(sub[24..32].try_into().expect("8 bytes"));
        let flags = u16::from_le_bytes(sub[40..42].try_into().expect("2 bytes"));
        let absolute = flags & SUBCLOCKFLAGS_ABSTIME != 0;
        let relative = match (id, absolute) {
            (_, false) => timeout,
            (CLOCK_MONOTONIC, true) => timeout.saturating_sub(now_mono),
            (CLOCK_REALTIME, true) => timeout.saturating_sub(wall_ns),
            _ => return ERRNO_INVAL,
        };
        timeouts.push((userdata, relative));
    }
    let shortest = timeouts.iter().map(|t| t.1).min().unwrap_or(0);
    clock.advance(shortest);
    let mut written = 0u32;
    for (userdata, _) in timeouts.iter().filter(|t| t.1 == shortest) {
        let mut event = [0u8; EVENT_SIZE];
        event[0..8].copy_from_slice(&userdata.to_le_bytes());
        // error = 0 (success), type = 0 (clock): already zero.
        let at = (out_ptr as u32 as usize).checked_add(written as usize * EVENT_SIZE);
        let Some(at) = at else { return ERRNO_FAULT };
        if memory.write(&mut caller, at, &event).is_err() {
            return ERRNO_FAULT;
        }
        written += 1;
    }
    if memory
        .write(
            &mut caller,
            nevents_ptr as u32 as usize,
            &written.to_le_bytes(),
        )
        .is_err()
    {
        return ERRNO_FAULT;
    }
    ERRNO_SUCCESS
}

/// The error a limiter raises when the module asks for more memory than its cap: it becomes a
/// trap, recognized afterwards as [`crate::FailureKind::MemoryLimit`].
#[derive(Debug, thiserror::Error)]
#[error("{what} growth to {desired} beyond the cap of {cap}")]
pub(crate) struct OverCap {
    pub what: &'static str,
    pub desired: usize,
    pub cap: usize,
}

/// Caps memories and tables of one store, and remembers whether the cap was hit.
pub(crate) struct Limiter {
    pub memory_bytes: usize,
    pub table_elements: usize,
    pub hit: Option<String>,
    /// The largest memory size granted, in bytes (the instance's footprint in linear memory).
    pub peak_memory: usize,
}

impl Limiter {
    /// Allows a growth to `desired` within `cap`; past it, remembers the cap that was hit (the
    /// module sees a failed grow, the task a one-line reason).
    fn allow(&mut self, what: &'static str, desired: usize, cap: usize) -> wasmtime::Result<bool> {
        if desired > cap {
            let err = OverCap { what, desired, cap };
            self.hit = Some(err.to_string());
            return Err(wasmtime::Error::new(err));
        }
        Ok(true)
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let cap = self.memory_bytes;
        let allowed = self.allow("memory", desired, cap)?;
        self.peak_memory = self.peak_memory.max(desired);
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let cap = self.table_elements;
        self.allow("table", desired, cap)
    }
}
