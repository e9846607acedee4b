//! Open login challenges, kept in memory.
//!
//! A challenge lives for the few milliseconds between a worker asking for it and signing it,
//! so writing it to the database (a commit to hand it out, another to consume it) cost more
//! than the login itself. A scheduler restart forgets the open ones; their workers ask for a
//! new one, which is what they do for any refused challenge.
//!
//! A challenge is asked for before anybody is identified, so nothing about it may grow with
//! what a stranger asks: each client address holds at most `per_client` open challenges
//! (more is refused with a 429 until some are used or expire), and the whole store at most
//! `total`; past that the oldest open challenge makes room. An honest worker answers its
//! challenge within one round trip, so evicting the oldest costs honest workers nothing unless
//! a flood of `total` challenges arrives within that round trip, whereas refusing new ones
//! would let a flood lock every worker out for the challenge's lifetime.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

/// Why a challenge was not handed out.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TooManyOpen;

#[derive(Debug)]
struct Open {
    deadline: u64,
    client: Option<IpAddr>,
}

#[derive(Debug, Default)]
struct Inner {
    open: HashMap<String, Open>,
    /// Nonces in the order they were handed out (some already used: skipped when met).
    order: VecDeque<String>,
    per_client: HashMap<Option<IpAddr>, u64>,
}

impl Inner {
    fn forget(&mut self, nonce: &str) -> Option<Open> {
        let open = self.open.remove(nonce)?;
        if let Some(n) = self.per_client.get_mut(&open.client) {
            *n -= 1;
            if *n == 0 {
                self.per_client.remove(&open.client);
            }
        }
        Some(open)
    }

    /// Drops the expired challenges at the front, and used nonces, from the order.
    fn sweep(&mut self, now: u64) {
        while let Some(front) = self.order.front() {
            match self.open.get(front) {
                Some(open) if open.deadline >= now => break,
                Some(_) => {
                    let nonce = self.order.pop_front().unwrap_or_default();
                    self.forget(&nonce);
                }
                None => {
                    self.order.pop_front();
                }
            }
        }
        // Used nonces behind a live one would pile up: compact now and then (amortized O(1)).
        if self.order.len() > 2 * self.open.len() + 64 {
            let open = &self.open;
            self.order.retain(|nonce| open.contains_key(nonce));
        }
    }
}

/// The open login challenges: single-use, expiring, bounded per client and in all.
#[derive(Debug)]
pub(crate) struct Challenges {
    inner: Mutex<Inner>,
    total: u64,
    per_client: u64,
}

impl Challenges {
    /// At most `total` open challenges, `per_client` of them for one client address.
    pub(crate) fn new(total: u64, per_client: u64) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            total: total.max(1),
            per_client: per_client.max(1),
        }
    }

    /// Records `nonce`, valid until `deadline`, for `client`; refused when the client already
    /// holds its share of open challenges.
    pub(crate) fn insert(
        &self,
        nonce: String,
        deadline: u64,
        client: Option<IpAddr>,
        now: u64,
    ) -> Result<(), TooManyOpen> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.sweep(now);
        if inner.per_client.get(&client).copied().unwrap_or(0) >= self.per_client {
            return Err(TooManyOpen);
        }
        while inner.open.len() as u64 >= self.total {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            inner.forget(&oldest);
        }
        *inner.per_client.entry(client).or_default() += 1;
        inner.order.push_back(nonce.clone());
        inner.open.insert(nonce, Open { deadline, client });
        Ok(())
    }

    /// Consumes a challenge: true once for an open, unexpired `(nonce, deadline)`, false after
    /// (and for anything else, which changes nothing).
    pub(crate) fn take(&self, nonce: &str, deadline: u64, now: u64) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match inner.open.get(nonce) {
            Some(open) if open.deadline == deadline && deadline >= now => {
                inner.forget(nonce);
                true
            }
            _ => false,
        }
    }

    /// How many challenges are open (expired ones not yet swept included).
    pub(crate) fn len(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.open.len()
    }

    /// Drops the expired challenges.
    pub(crate) fn purge(&self, now: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.sweep(now);
        let expired: Vec<String> = inner
            .open
            .iter()
            .filter(|(_, open)| open.deadline < now)
            .map(|(nonce, _)| nonce.clone())
            .collect();
        for nonce in expired {
            inner.forget(&nonce);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, n]))
    }

    #[test]
    fn a_challenge_is_single_use_and_expires() {
        let c = Challenges::new(100, 10);
        c.insert("a".into(), 200, ip(1), 100).unwrap();
        assert!(!c.take("a", 201, 150), "another deadline");
        assert!(!c.take("a", 200, 250), "expired");
        assert!(!c.take("b", 200, 150), "unknown");
        assert!(c.take("a", 200, 150));
        assert!(!c.take("a", 200, 150), "used");
        c.insert("old".into(), 100, ip(1), 50).unwrap();
        c.purge(101);
        assert_eq!(c.len(), 0);
        assert!(!c.take("old", 100, 0), "purged");
    }

    #[test]
    fn one_client_holds_at_most_its_share() {
        let c = Challenges::new(100, 3);
        for i in 0..3 {
            c.insert(format!("n{i}"), 500, ip(1), 0).unwrap();
        }
        assert_eq!(c.insert("n3".into(), 500, ip(1), 0), Err(TooManyOpen));
        c.insert("m0".into(), 500, ip(2), 0)
            .expect("another client is not affected");
        assert!(c.take("n0", 500, 0));
        c.insert("n3".into(), 500, ip(1), 0)
            .expect("a used challenge frees its place");
        // Expired challenges free their places too.
        let c = Challenges::new(100, 1);
        c.insert("x".into(), 10, ip(1), 0).unwrap();
        c.insert("y".into(), 30, ip(1), 20)
            .expect("x expired at 10");
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn a_flood_of_many_clients_evicts_the_oldest_and_stays_bounded() {
        let c = Challenges::new(50, 5);
        c.insert("honest".into(), 1_000, ip(0), 0).unwrap();
        for i in 0..10_000u32 {
            let client = Some(IpAddr::from(i.to_be_bytes()));
            c.insert(format!("flood{i}"), 1_000, client, 0).unwrap();
            assert!(c.len() <= 50);
        }
        assert!(!c.take("honest", 1_000, 0), "the oldest made room");
        assert!(c.take("flood9999", 1_000, 0), "the newest is open");
        let inner = c.inner.lock().unwrap();
        assert!(inner.order.len() <= 2 * inner.open.len() + 64 + 1);
        assert!(inner.per_client.len() <= 50);
    }

    #[test]
    fn used_nonces_do_not_pile_up_behind_a_live_one() {
        let c = Challenges::new(1_000, 1_000_000);
        c.insert("long".into(), 1_000_000, ip(9), 0).unwrap();
        for i in 0..100_000 {
            c.insert(format!("n{i}"), 1_000, ip(1), 0).unwrap();
            assert!(c.take(&format!("n{i}"), 1_000, 0));
        }
        let inner = c.inner.lock().unwrap();
        assert!(inner.order.len() < 100, "{} kept", inner.order.len());
        assert_eq!(inner.open.len(), 1);
    }
}
