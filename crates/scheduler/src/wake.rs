//! Who a change wakes among the long polls (`POST /v1/claim`, `GET /v1/tasks/{taskid}/next`,
//! `POST /v1/next`).
//!
//! A pool of thousands of workers holds thousands of claims open. Waking all of them at every
//! change (a login, a report, a follower pass) costs thousands of attempts for at most a few
//! replicates, and every answer waits behind that herd. So a change wakes only the polls it
//! may give something to:
//! - a change that makes replicates claimable wakes about as many claims as it makes
//!   claimable, the longest waiting first (`Wakes::work_for`). A claim woken that way that
//!   took work, or found work it may not take (at capacity, paused, not allowed to run it),
//!   hands the wake-up on to one waiting claim that has not looked since the change
//!   (`Wakes::pass_on`); so does a woken request that goes away before it looks. An estimate
//!   too low therefore loses nothing: the chain of wake-ups stops only at a claim that found no
//!   task needing a replica at all;
//! - a change whose extent the scheduler does not count (a reorg, a random-selection or
//!   spot-check pass, a pool job) wakes every claim (`Wakes::work_for_all`);
//! - a worker's freed slot wakes that worker's own claims (`Wakes::slots_freed`);
//! - a `next` poll waits on the tasks it names and is woken when one of them changes
//!   (`Wakes::tasks_changed`);
//! - a held task opening to a backup is one alarm (`backup_alarm`), not a timer in every
//!   claim.
//!
//! No lost wake-up: a long poll registers its waiter before each attempt reads anything, so a
//! change made after that notifies it, and the notification is kept until it waits.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::primitives::{Address, B256};
use tokio::sync::Notify;

use crate::{SchedulerError, Shared};

tokio::task_local! {
    /// How long the request being handled has waited in a long poll for something to change
    /// (time that is not the scheduler's work).
    pub(crate) static WAITED: std::cell::Cell<Duration>;
}

/// How many long polls the scheduler woke and how many claim attempts it ran since it started
/// (what the targeted wake-ups save is read here).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WakeCounts {
    /// Waiting claims woken.
    pub claims: u64,
    /// Waiting `next` polls woken.
    pub next: u64,
    /// Claim attempts, a request's first and those after a wake-up.
    pub claim_attempts: u64,
}

/// What one attempt of a long poll found.
pub(crate) enum Attempt<T> {
    /// An answer: the poll ends.
    Found(T),
    /// Nothing for anyone at this version: a wake-up handed to this poll ends with it.
    Nothing,
    /// Nothing for this poll, but maybe for another: a wake-up handed to it goes on.
    NotMine,
}

/// One waiting long poll.
struct Waiter {
    worker: Address,
    notify: Notify,
    /// The version the poll's last attempt read (0 before it read one).
    tried: AtomicU64,
    /// The version of a targeted wake-up it was handed (0: none), which it owes to another
    /// claim if it cannot use it.
    handed: AtomicU64,
}

#[derive(Default)]
struct Waiters {
    next_id: u64,
    /// Waiting claims, the longest waiting first.
    claims: BTreeMap<u64, Arc<Waiter>>,
    /// Waiting `next` polls, by each task they wait on.
    tasks: HashMap<B256, Vec<(u64, Arc<Waiter>)>>,
}

/// The long polls waiting for a change, and who each change wakes.
pub(crate) struct Wakes {
    /// Bumped by every change that may give a claim work (versions start at 1).
    version: AtomicU64,
    waiters: Mutex<Waiters>,
    /// Notified when the next backup time may have changed.
    backups: Notify,
    claims_woken: AtomicU64,
    next_woken: AtomicU64,
    claim_attempts: AtomicU64,
}

impl Default for Wakes {
    fn default() -> Self {
        Self {
            version: AtomicU64::new(1),
            waiters: Mutex::default(),
            backups: Notify::new(),
            claims_woken: AtomicU64::new(0),
            next_woken: AtomicU64::new(0),
            claim_attempts: AtomicU64::new(0),
        }
    }
}

/// What a registration waits for.
enum Kind {
    Claim,
    Tasks(Vec<B256>),
}

/// A long poll's place among the waiters, from before its attempt until it is woken or gone.
pub(crate) struct Registration<'a> {
    wakes: &'a Wakes,
    id: u64,
    waiter: Arc<Waiter>,
    kind: Kind,
    /// The wake-up, if any, was taken over by the poll's next attempt.
    settled: bool,
}

impl Registration<'_> {
    /// Takes over a targeted wake-up this registration got: whether it got one.
    fn take_handed(&mut self) -> bool {
        self.settled = true;
        self.waiter.handed.load(Ordering::Acquire) != 0
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.wakes.unregister(self.id, &self.kind);
        // Woken for work and gone before looking (the wait ended, the client left): another
        // claim looks instead.
        let handed = self.waiter.handed.load(Ordering::Acquire);
        if !self.settled && handed != 0 {
            self.wakes.pass_on(handed);
        }
    }
}

impl Wakes {
    /// The current version: an attempt that found no work at it finds none until it changes.
    pub(crate) fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The counts since start.
    pub(crate) fn counts(&self) -> WakeCounts {
        WakeCounts {
            claims: self.claims_woken.load(Ordering::Relaxed),
            next: self.next_woken.load(Ordering::Relaxed),
            claim_attempts: self.claim_attempts.load(Ordering::Relaxed),
        }
    }

    /// Counts one claim attempt.
    pub(crate) fn claim_attempted(&self) {
        self.claim_attempts.fetch_add(1, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiters> {
        // A panic while holding the lock leaves plain maps behind: still usable.
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) -> u64 {
        self.version.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Registers a claim of `worker`, before its attempt.
    pub(crate) fn claim(&self, worker: Address) -> Registration<'_> {
        self.register(worker, Kind::Claim)
    }

    /// Registers a `next` poll of `worker` on `tasks`, before its attempt.
    pub(crate) fn next(&self, worker: Address, tasks: &[B256]) -> Registration<'_> {
        self.register(worker, Kind::Tasks(tasks.to_vec()))
    }

    fn register(&self, worker: Address, kind: Kind) -> Registration<'_> {
        let waiter = Arc::new(Waiter {
            worker,
            notify: Notify::new(),
            tried: AtomicU64::new(0),
            handed: AtomicU64::new(0),
        });
        let mut waiters = self.lock();
        let id = waiters.next_id;
        waiters.next_id += 1;
        match &kind {
            Kind::Claim => {
                waiters.claims.insert(id, waiter.clone());
            }
            Kind::Tasks(tasks) => {
                for task in tasks {
                    waiters
                        .tasks
                        .entry(*task)
                        .or_default()
                        .push((id, waiter.clone()));
                }
            }
        }
        drop(waiters);
        Registration {
            wakes: self,
            id,
            waiter,
            kind,
            settled: false,
        }
    }

    fn unregister(&self, id: u64, kind: &Kind) {
        let mut waiters = self.lock();
        match kind {
            Kind::Claim => {
                waiters.claims.remove(&id);
            }
            Kind::Tasks(tasks) => {
                for task in tasks {
                    if let Some(list) = waiters.tasks.get_mut(task) {
                        list.retain(|(other, _)| *other != id);
                        if list.is_empty() {
                            waiters.tasks.remove(task);
                        }
                    }
                }
            }
        }
    }

    /// Work for about `n` claims appeared: wakes the `n` longest-waiting claims (each hands
    /// its wake-up on if it cannot use it).
    pub(crate) fn work_for(&self, n: usize) {
        let version = self.bump();
        let mut waiters = self.lock();
        let ids: Vec<u64> = waiters.claims.keys().take(n).copied().collect();
        for id in ids {
            if let Some(waiter) = waiters.claims.remove(&id) {
                self.hand(&waiter, version);
            }
        }
    }

    /// A change whose extent is not counted: wakes every waiting claim.
    pub(crate) fn work_for_all(&self) {
        self.bump();
        let woken = std::mem::take(&mut self.lock().claims);
        self.claims_woken
            .fetch_add(woken.len() as u64, Ordering::Relaxed);
        for waiter in woken.values() {
            waiter.notify.notify_one();
        }
    }

    /// Hands a wake-up at `version` to one waiting claim that has not looked at it, if any.
    pub(crate) fn pass_on(&self, version: u64) {
        let mut waiters = self.lock();
        let next = waiters
            .claims
            .iter()
            .find(|(_, w)| w.tried.load(Ordering::Acquire) < version)
            .map(|(id, _)| *id);
        if let Some(waiter) = next.and_then(|id| waiters.claims.remove(&id)) {
            self.hand(&waiter, version);
        }
    }

    fn hand(&self, waiter: &Waiter, version: u64) {
        waiter.handed.store(version, Ordering::Release);
        waiter.notify.notify_one();
        self.claims_woken.fetch_add(1, Ordering::Relaxed);
    }

    /// `worker` has room again (a replicate of its left the assigned stage): wakes its own
    /// waiting claims.
    pub(crate) fn slots_freed(&self, worker: Address) {
        let mut waiters = self.lock();
        let ids: Vec<u64> = waiters
            .claims
            .iter()
            .filter(|(_, w)| w.worker == worker)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(waiter) = waiters.claims.remove(&id) {
                waiter.notify.notify_one();
                self.claims_woken.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// `tasks` changed: wakes the `next` polls waiting on any of them.
    pub(crate) fn tasks_changed(&self, tasks: impl IntoIterator<Item = B256>) {
        let mut waiters = self.lock();
        let mut woken: HashMap<u64, Arc<Waiter>> = HashMap::new();
        for task in tasks {
            if let Some(list) = waiters.tasks.remove(&task) {
                woken.extend(list);
            }
        }
        drop(waiters);
        self.notify_next(woken.into_values());
    }

    /// Any task may have changed (a reorg, a pass the scheduler does not itemize): wakes every
    /// `next` poll.
    pub(crate) fn all_tasks_changed(&self) {
        let all = std::mem::take(&mut self.lock().tasks);
        let woken: HashMap<u64, Arc<Waiter>> = all.into_values().flatten().collect();
        self.notify_next(woken.into_values());
    }

    fn notify_next(&self, woken: impl Iterator<Item = Arc<Waiter>>) {
        for waiter in woken {
            waiter.notify.notify_one();
            self.next_woken.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The next backup time may have changed (the alarm reads it again).
    pub(crate) fn backups_changed(&self) {
        self.backups.notify_one();
    }
}

/// How long "nothing for anyone at this version" is believed without a scan (seconds). Every
/// change that stores claimable work bumps the version, so this bound is not what makes new
/// work found: it caps what a change stored without its wake-up (a bug, a path that failed
/// between the two) can cost at one claim cycle, instead of a pool stalled until the next
/// change. One scan per this many seconds is nothing next to the herd it saves.
pub(crate) const IDLE_RECHECK_SECS: u64 = 5;

/// The version at which a claim found no task needing a replica at all, and when: claims at the
/// same version skip the scan (no thundering herd on a large pool) for at most
/// [`IDLE_RECHECK_SECS`].
pub(crate) struct Idle {
    version: AtomicU64,
    /// Unix seconds.
    at: AtomicU64,
}

impl Default for Idle {
    fn default() -> Self {
        Self {
            version: AtomicU64::new(u64::MAX),
            at: AtomicU64::new(0),
        }
    }
}

impl Idle {
    /// A scan at `version` found nothing for anyone at `now`.
    pub(crate) fn mark(&self, version: u64, now: u64) {
        self.at.store(now, Ordering::Release);
        self.version.store(version, Ordering::Release);
    }

    /// Whether a claim at `version` at `now` may skip the scan.
    pub(crate) fn holds(&self, version: u64, now: u64) -> bool {
        self.version.load(Ordering::Acquire) == version
            && now
                < self
                    .at
                    .load(Ordering::Acquire)
                    .saturating_add(IDLE_RECHECK_SECS)
    }
}

/// Calls `attempt` with the version it runs at, registered with `register` before each call,
/// and again each time the registration is woken, until it finds an answer or `wait` has
/// passed (`None` then). A claim woken for work that it took, or could not take, hands the
/// wake-up on (see the module's documentation).
pub(crate) async fn long_poll<'w, T, A>(
    wakes: &'w Wakes,
    wait: Duration,
    mut register: impl FnMut() -> Registration<'w>,
    mut attempt: impl FnMut(u64) -> A,
) -> Result<Option<T>, SchedulerError>
where
    A: Future<Output = Result<Attempt<T>, SchedulerError>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    let mut handed = false;
    loop {
        // Anything that changes after this point wakes this registration: no lost wake-up.
        let mut waiting = register();
        let version = wakes.version();
        waiting.waiter.tried.store(version, Ordering::Release);
        let outcome = attempt(version).await;
        if handed && !matches!(outcome, Ok(Attempt::Nothing)) {
            wakes.pass_on(version);
        }
        match outcome? {
            Attempt::Found(answer) => return Ok(Some(answer)),
            Attempt::Nothing | Attempt::NotMine => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        let started = tokio::time::Instant::now();
        let woken = tokio::time::timeout_at(deadline, waiting.waiter.notify.notified()).await;
        let _ = WAITED.try_with(|w| w.set(w.get() + started.elapsed()));
        if woken.is_err() {
            return Ok(None);
        }
        handed = waiting.take_handed();
    }
}

/// Wakes one claim when a task held by others opens to a backup (the time the last claim that
/// found nothing saw: [`Shared::backups_at`]), once per such time; the claims hand it on from
/// there.
pub(crate) async fn backup_alarm(shared: Arc<Shared>) {
    let mut fired = u64::MAX;
    loop {
        let changed = shared.wakes.backups.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let at = shared.backups_at.load(Ordering::Acquire);
        let now = crate::api::unix_now();
        if at == u64::MAX || at == fired {
            changed.await;
        } else if at > now {
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep(Duration::from_secs(at - now)) => {}
            }
        } else {
            fired = at;
            shared.wakes.work_for(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_found_is_believed_at_its_version_for_a_few_seconds_only() {
        let idle = Idle::default();
        assert!(!idle.holds(1, 100), "nothing was marked yet");
        idle.mark(7, 100);
        assert!(idle.holds(7, 100));
        assert!(idle.holds(7, 100 + IDLE_RECHECK_SECS - 1));
        assert!(
            !idle.holds(7, 100 + IDLE_RECHECK_SECS),
            "an old mark sends the claim to scan again"
        );
        assert!(
            !idle.holds(8, 101),
            "a change since the mark sends the claim to scan"
        );
    }
}
