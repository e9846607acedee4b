//! The pool's members, as the hub's worker registry says: a worker may log in only while it is
//! a member (staked at least the pool's minimum, or admitted by the pool's owner), its capacity
//! is what its stake or the owner's cap allows, and a worker that leaves or is removed loses its
//! sessions and its assigned work at the next check.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use decloud_chain::actions::{Membership, membership};
use decloud_protocol::amount::format_amount;
use decloud_protocol::pool::WorkerStatus;

use crate::api::{MAX_CAPACITY, unix_now};
use crate::{SchedulerError, Shared};

/// The replicate reason of work taken back from a worker that is no longer a member.
pub const EXPELLED_REASON: &str = "the worker is no longer a member of the workerpool";

/// Recent registry answers about members (never about strangers: their count is not bounded).
pub(crate) struct Members {
    ttl: Duration,
    cache: Mutex<HashMap<Address, (Membership, Instant)>>,
}

impl Members {
    /// A cache whose answers are believed for `ttl`.
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, worker: Address) -> Option<Membership> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(&worker)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(m, _)| *m)
    }

    fn remember(&self, m: Membership) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if m.is_member() {
            cache.insert(m.worker, (m, Instant::now()));
        } else {
            cache.remove(&m.worker);
        }
    }

    fn forget(&self, worker: Address) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.remove(&worker);
    }

    fn forget_stale(&self) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.retain(|_, (_, at)| at.elapsed() < self.ttl);
    }
}

/// How many replicates the scheduler serves `m`'s worker at once: what the registry allows, at
/// most [`MAX_CAPACITY`]; `None` when it serves it not at all (not a member, or no capacity).
pub fn served_capacity(m: &Membership) -> Option<u64> {
    let capacity = m.capacity().min(MAX_CAPACITY);
    (m.is_member() && capacity > 0).then_some(capacity)
}

/// How many replicates `worker` may hold at once, from its membership of the pool on the chain
/// (or the cache, when fresh): a 403 saying what to do when it is not served.
pub(crate) async fn check(state: &Shared, worker: Address) -> Result<u64, SchedulerError> {
    let m = match state.members.cached(worker) {
        Some(m) => m,
        None => {
            let m = read_membership(state, worker).await?;
            state.members.remember(m);
            m
        }
    };
    served_capacity(&m).ok_or_else(|| SchedulerError::Forbidden(refusal(&m)))
}

/// [`membership`] with its two reads sent together (a login waits for one chain round trip).
async fn read_membership(state: &Shared, worker: Address) -> Result<Membership, SchedulerError> {
    let hub = state.client.hub();
    let (m, pool) = tokio::try_join!(
        state.client.read(
            "reading the worker's membership",
            hub.poolMember(state.workerpool, worker),
        ),
        state.client.read(
            "reading the pool's minimum stake",
            hub.poolConfig(state.workerpool),
        ),
    )?;
    let small = |v: alloy::primitives::U256| u64::try_from(v).unwrap_or(u64::MAX);
    Ok(Membership {
        workerpool: state.workerpool,
        worker,
        stake: m.stake,
        joined_at: small(m.joinedAt),
        leaving_at: small(m.leavingAt),
        cap: small(m.cap),
        admitted: m.admitted,
        min_stake: pool.minStake,
    })
}

/// Why `m` does not make its worker a member, and what to do about it.
pub fn refusal(m: &Membership) -> String {
    let (worker, pool) = (m.worker, m.workerpool);
    if m.leaving_at != 0 {
        return format!(
            "worker {worker} has left workerpool {pool} (its stake unlocks at {}): withdraw it with `decloud worker leave --workerpool {pool}` after that time, then join again with `decloud worker join --workerpool {pool} --stake AMOUNT`",
            m.leaving_at
        );
    }
    if m.min_stake.is_zero() && !m.admitted {
        return format!(
            "workerpool {pool} takes only the workers its owner admits: ask the owner to run `decloud workerpool admit --workerpool {pool} {worker}`"
        );
    }
    if m.joined_at == 0 {
        return format!(
            "worker {worker} is not a member of workerpool {pool}: join it with `decloud worker join --workerpool {pool} --stake {}` (at least the pool's minimum), or ask its owner to admit it",
            format_amount(m.min_stake).replace(' ', "")
        );
    }
    format!(
        "worker {worker}'s stake in workerpool {pool} is {}, below the pool's minimum {}: leave with `decloud worker leave --workerpool {pool}` and join again with at least the minimum",
        format_amount(m.stake),
        format_amount(m.min_stake)
    )
}

/// Reads the registry again for the members the follower saw change (`progress`): every active
/// worker when the pool's minimum stake changed. The registry's events are followed with the
/// chain, so a worker that leaves or is removed is expelled right after the follower's pass. The
/// reads run beside the chain loop, which must not wait for them (a new minimum re-reads every
/// member, one after the other).
pub(crate) fn after_registry_events(state: &Arc<Shared>, progress: &crate::follower::Progress) {
    let named = match (
        progress.min_stake_changed,
        progress.members_changed.is_empty(),
    ) {
        (true, _) => None,
        (false, false) => Some(progress.members_changed.clone()),
        (false, true) => return,
    };
    let state = state.clone();
    tokio::spawn(async move { sweep(&state, named.as_deref()).await });
}

/// Re-reads the membership of every active worker every `interval`, in case an event was
/// missed (a stop between the follower's pass and its check, a reorg): the events are how
/// changes arrive, this is the net under them.
pub(crate) async fn watch_members(state: Arc<Shared>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        state.members.forget_stale();
        sweep(&state, None).await;
    }
}

/// Reads the registry for the active workers (only those of `named`, when given) and applies
/// it: a worker that is no longer a member is expelled (sessions deleted, assigned work back to
/// the pool), a member whose stake or cap shrank gets the smaller capacity.
async fn sweep(state: &Shared, named: Option<&[Address]>) {
    let workers = match named {
        Some(named) => {
            // Not believed from the cache any more: the next login reads the registry.
            for worker in named {
                state.members.forget(*worker);
            }
            // Only those rows (one `admitWorkers` may name thousands, a pass a handful).
            state
                .store
                .workers_in(named)
                .await
                .map(|found| found.into_values().collect())
        }
        None => state.store.workers().await,
    };
    let workers: Vec<_> = match workers {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "listing workers for the membership check failed; retrying");
            return;
        }
    };
    // Only an expulsion gives work back (a lowered capacity takes none away from others).
    let mut released = false;
    for w in workers.iter().filter(|w| w.status == WorkerStatus::Active) {
        let m = match membership(&state.client, state.workerpool, w.address).await {
            Ok(m) => m,
            Err(e) => {
                // The chain did not answer: nobody is expelled on a guess.
                tracing::warn!(error = %e, "reading the worker registry failed; retrying");
                break;
            }
        };
        state.members.remember(m);
        let outcome = match served_capacity(&m) {
            // The store only ever lowers it: written only when lower, so that 10,000 members
            // are not 10,000 writes on the one connection at every pass.
            Some(capacity) if capacity < w.capacity => state
                .store
                .cap_capacity(w.address, capacity)
                .await
                .map(|_| ()),
            Some(_) => Ok(()),
            None => expel(state, w.address).await.map(|()| released = true),
        };
        if let Err(e) = outcome {
            tracing::warn!(error = %e, worker = %w.address, "applying the worker registry failed; retrying");
        }
    }
    if released {
        state.wakes.work_for(1);
    }
}

/// Takes `worker`'s sessions and assigned work away.
async fn expel(state: &Shared, worker: Address) -> Result<(), SchedulerError> {
    let released = state
        .store
        .expel(worker, unix_now(), EXPELLED_REASON)
        .await?;
    if let Ok(mut sessions) = state.sessions.write() {
        sessions.retain(|_, (w, _)| *w != worker);
    }
    tracing::warn!(%worker, released, "worker is no longer a member of the pool: its sessions end and its assigned work goes back to the pool");
    Ok(())
}
