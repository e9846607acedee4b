//! The scheduler's limits on what one client may ask (the token buckets themselves are
//! [`decloud_service::limits`]'s, shared by every service).

pub use decloud_service::limits::{Rate, RateLimiter, retry_after_secs};

/// The scheduler's limits on what one client may ask.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimits {
    /// Login challenges per client address (its IP when the server knows it).
    pub challenges: Rate,
    /// Claims per worker.
    pub claims: Rate,
    /// Open login challenges kept at most, whoever asked for them (past it, the oldest open
    /// one makes room).
    pub max_challenges: u64,
    /// Open login challenges one client address may hold at once (more are refused until
    /// some are used or expire).
    pub max_challenges_per_client: u64,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            challenges: Rate {
                burst: 20,
                per_sec: 2.0,
            },
            claims: Rate {
                burst: 64,
                per_sec: 32.0,
            },
            max_challenges: 10_000,
            max_challenges_per_client: 256,
        }
    }
}
