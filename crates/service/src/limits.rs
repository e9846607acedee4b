//! Bounded work per client: token-bucket rate limits kept in a fixed-size table, so that a
//! flood of random addresses costs a fixed amount of memory (they share buckets) instead of one
//! entry each forever. Every service keys its limits the same way: by the client's IP
//! ([`client_ip`]) and, where a request is signed, by its signer.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets in a [`RateLimiter`]'s table. Keys hash to a slot with a per-process random seed,
/// so nobody can aim their flood at someone else's bucket.
pub const SLOTS: usize = 4096;

/// A rate: up to `burst` at once, refilled at `per_sec`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Requests allowed back to back.
    pub burst: u32,
    /// Requests allowed per second, sustained.
    pub per_sec: f64,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Option<Instant>,
}

/// Token buckets in a fixed table of [`SLOTS`].
pub struct RateLimiter {
    rate: Rate,
    seed: RandomState,
    slots: Mutex<Vec<Bucket>>,
}

impl RateLimiter {
    /// A limiter allowing `rate` per key.
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            seed: RandomState::new(),
            slots: Mutex::new(vec![
                Bucket {
                    tokens: 0.0,
                    last: None,
                };
                SLOTS
            ]),
        }
    }

    /// Takes one request of `key` now: `Err(seconds)` when its bucket is empty, with the whole
    /// seconds to wait that a refusal sends as `Retry-After`.
    pub fn admit(&self, key: impl Hash) -> Result<(), u64> {
        self.take(key, Instant::now()).map_err(retry_after_secs)
    }

    /// Takes one request of `key` at `now`: `Err(wait)` when its bucket is empty, with how long
    /// until it holds one again.
    pub fn take(&self, key: impl Hash, now: Instant) -> Result<(), Duration> {
        let slot = usize::try_from(self.seed.hash_one(key) % SLOTS as u64).unwrap_or(0);
        let burst = f64::from(self.rate.burst.max(1));
        let per_sec = self.rate.per_sec.max(f64::MIN_POSITIVE);
        // A poisoned lock only means another request panicked mid-update: the numbers are
        // still usable.
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = &mut slots[slot];
        let tokens = match bucket.last {
            None => burst,
            Some(last) => (bucket.tokens
                + now.saturating_duration_since(last).as_secs_f64() * per_sec)
                .min(burst),
        };
        bucket.last = Some(now);
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            Ok(())
        } else {
            bucket.tokens = tokens;
            Err(Duration::from_secs_f64((1.0 - tokens) / per_sec))
        }
    }
}

/// The IP address of the client of a request, when the server recorded it (services started
/// with [`Service::serve`](crate::Service::serve) always do); `None` otherwise, which a limiter
/// treats as one shared key (still bounded, only coarser).
pub fn client_ip(extensions: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip())
}

/// Whole seconds to put in `Retry-After` for a wait (at least 1).
pub fn retry_after_secs(wait: Duration) -> u64 {
    u64::try_from(wait.as_nanos().div_ceil(1_000_000_000))
        .unwrap_or(u64::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_waits_for_the_refill() {
        let limiter = RateLimiter::new(Rate {
            burst: 3,
            per_sec: 2.0,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.take("a", t0).is_ok());
        }
        let wait = limiter.take("a", t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert_eq!(retry_after_secs(wait), 1);
        // Another key has its own bucket (barring a collision, which the seed makes unlikely
        // to be the same twice).
        assert!(limiter.take("b", t0).is_ok());
        // Half a second refills one request.
        assert!(limiter.take("a", t0 + Duration::from_millis(500)).is_ok());
        assert!(limiter.take("a", t0 + Duration::from_millis(500)).is_err());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}
