//! Login/password: argon2id hashes in PHC form, and a throttle that makes repeated bad
//! passwords for one login, or from one client, wait longer and longer (reset on success).

use std::collections::HashMap;
use std::sync::Mutex;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::PoolError;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// The argon2id hash of `password` (PHC string, with its own random salt and the crate's
/// recommended cost).
pub fn hash(password: &str) -> Result<String, PoolError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PoolError::BadRequest(format!(
            "the password is shorter than {MIN_PASSWORD_CHARS} characters: choose a longer one"
        )));
    }
    let mut salt = [0u8; 16];
    rand_08::RngCore::fill_bytes(&mut rand_08::rngs::OsRng, &mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| PoolError::Config(format!("cannot salt a password hash: {e}")))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PoolError::Config(format!("cannot hash a password: {e}")))
}

/// Whether `password` matches the stored `hash` (false, too, for a hash this code cannot read).
pub fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Bad attempts allowed back to back before the first delay.
pub const FREE_FAILURES: u32 = 3;
/// Longest delay between two attempts, in seconds.
pub const MAX_DELAY_SECS: u64 = 15 * 60;
/// Keys kept at most (the oldest are forgotten first when full).
const MAX_KEYS: usize = 100_000;

/// Bad password attempts per key (a login name, a client address): after [`FREE_FAILURES`]
/// failures, each new attempt must wait 2^(n − FREE_FAILURES) seconds after the last failure
/// (capped at [`MAX_DELAY_SECS`]); a success clears the key. Times are unix milliseconds, so a
/// one-second delay is a whole second whenever in a second the failure fell.
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, (u32, u64)>>,
}

impl Throttle {
    /// The delay after `n` failures.
    pub fn delay_after(n: u32) -> u64 {
        if n < FREE_FAILURES {
            0
        } else {
            1u64.checked_shl(n - FREE_FAILURES)
                .unwrap_or(u64::MAX)
                .min(MAX_DELAY_SECS)
        }
    }

    /// Whether an attempt for every one of `keys` may be made at `now_ms`: `Err(seconds)` to
    /// wait otherwise (the longest of the keys', rounded up).
    pub fn check(&self, keys: &[&str], now_ms: u64) -> Result<(), u64> {
        let Ok(failures) = self.failures.lock() else {
            return Ok(());
        };
        let wait_ms = keys
            .iter()
            .filter_map(|k| failures.get(*k))
            .map(|(n, last)| {
                last.saturating_add(Self::delay_after(*n).saturating_mul(1000))
                    .saturating_sub(now_ms)
            })
            .max()
            .unwrap_or(0);
        if wait_ms == 0 {
            Ok(())
        } else {
            Err(wait_ms.div_ceil(1000))
        }
    }

    /// Counts a failed attempt for each of `keys` at `now_ms` (unix milliseconds).
    pub fn failed(&self, keys: &[&str], now: u64) {
        if let Ok(mut failures) = self.failures.lock() {
            if failures.len() >= MAX_KEYS {
                // Bounded memory: forget the oldest half.
                let mut times: Vec<u64> = failures.values().map(|(_, t)| *t).collect();
                times.sort_unstable();
                let cut = times[times.len() / 2];
                failures.retain(|_, (_, t)| *t > cut);
            }
            for key in keys {
                let entry = failures.entry((*key).to_owned()).or_insert((0, now));
                entry.0 = entry.0.saturating_add(1);
                entry.1 = now;
            }
        }
    }

    /// Clears `keys` after a success.
    pub fn succeeded(&self, keys: &[&str]) {
        if let Ok(mut failures) = self.failures.lock() {
            for key in keys {
                failures.remove(*key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify_only_the_password() {
        let a = hash("correct horse").unwrap();
        let b = hash("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "a salt per hash");
        assert!(verify("correct horse", &a));
        assert!(!verify("correct horsf", &a));
        assert!(!verify("correct horse", "not a hash"));
        assert!(hash("short").unwrap_err().to_string().contains("longer"));
    }

    #[test]
    fn bad_attempts_wait_longer_and_longer_and_a_success_resets() {
        let t = Throttle::default();
        let keys = ["login:ann", "ip:10.0.0.1"];
        for _ in 0..FREE_FAILURES {
            assert_eq!(t.check(&keys, 100_000), Ok(()));
            t.failed(&keys, 100_000);
        }
        // Now each attempt waits for 1, 2, 4... seconds after the last failure.
        assert_eq!(t.check(&keys, 100_000), Err(1));
        assert_eq!(t.check(&keys, 100_999), Err(1), "a whole second");
        assert_eq!(t.check(&keys, 101_000), Ok(()));
        t.failed(&keys, 101_000);
        assert_eq!(t.check(&keys, 101_000), Err(2));
        assert_eq!(t.check(&keys, 101_500), Err(2), "rounded up");
        assert_eq!(
            t.check(&["ip:10.0.0.1"], 102_000),
            Err(1),
            "either key counts"
        );
        assert_eq!(
            t.check(&["login:bob"], 101_000),
            Ok(()),
            "others are not slowed"
        );
        assert_eq!(t.check(&keys, 103_000), Ok(()));
        t.succeeded(&keys);
        assert_eq!(t.check(&keys, 103_000), Ok(()));
        t.failed(&keys, 103_000);
        assert_eq!(
            t.check(&keys, 103_000),
            Ok(()),
            "reset: free failures again"
        );
        assert_eq!(Throttle::delay_after(100), MAX_DELAY_SECS);
    }
}
