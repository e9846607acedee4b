//! Settlement: what `finalize` (and a contradicting audit) does to scores and stakes, and what the
//! pool's registry does to a worker whose stake falls below the pool's minimum.

use alloy::primitives::U256;
use decloud_protocol::draw::{SnapshotWorker, cumulated_stakes};

use crate::config::SimConfig;
use crate::task::{Answer, Class, TaskRecord, certified, same_result};

/// A simulated worker.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Worker {
    pub class: Class,
    pub score: u64,
}

/// Per-class counters, in [`crate::report::ClassReport`]'s order.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counters {
    pub contributions: u64,
    pub wins: u64,
    pub losses: u64,
    pub audited: u64,
    pub zeroed: u64,
    pub ejected: u64,
    pub restaked: u64,
}

/// The workers, their registry stakes and what happened to each class.
pub(crate) struct Ledger {
    pub workers: Vec<Worker>,
    pub per_class: [Counters; 3],
    /// The pool's registry, as the draw sees it.
    pub snapshot: Vec<SnapshotWorker>,
    /// Each worker's stake when it joined (what a re-stake puts back).
    joined: Vec<U256>,
    /// The snapshot changed since the draw last cumulated it.
    pub dirty: bool,
    frozen: bool,
    pool_slash: bool,
    restake: bool,
    min_stake: U256,
    worker_stake: u64,
}

impl Ledger {
    pub(crate) fn new(
        workers: Vec<Worker>,
        snapshot: Vec<SnapshotWorker>,
        config: &SimConfig,
    ) -> Self {
        Self {
            joined: snapshot.iter().map(|s| s.stake).collect(),
            workers,
            per_class: [Counters::default(); 3],
            snapshot,
            dirty: false,
            frozen: config.frozen_scores,
            pool_slash: config.pool_slash,
            restake: config.restake,
            min_stake: U256::from(config.min_stake),
            worker_stake: config.worker_stake,
        }
    }

    fn counters(&mut self, w: usize) -> &mut Counters {
        &mut self.per_class[self.workers[w].class.index()]
    }

    /// The worker loses a contribution's stake: from its escrow balance (the hub's `contribute`;
    /// nothing to model) or, with `pool_slash`, from its registry stake, as `slashAbsent` takes it.
    fn seize(&mut self, w: usize) {
        if !self.pool_slash || self.snapshot[w].stake.is_zero() {
            return;
        }
        let s = &mut self.snapshot[w].stake;
        *s = s.saturating_sub(U256::from(self.worker_stake));
        self.dirty = true;
        if *s >= self.min_stake {
            return;
        }
        if self.restake {
            let back = self.joined[w] - *s;
            self.snapshot[w].stake = self.joined[w];
            self.counters(w).restaked += back.saturating_to::<u64>();
        } else {
            // out of the draw: the registry no longer lists it
            self.snapshot[w].stake = U256::ZERO;
            self.counters(w).ejected += 1;
        }
    }

    /// Settles a task as `finalize` does: winners of a replicated task score + 1, the others
    /// lose their stake and a third of their score; a task without consensus is claimed and
    /// refunds everyone.
    pub(crate) fn settle(&mut self, record: &TaskRecord, trust: u64) {
        let winner = certified(record);
        for (w, answer) in &record.contributors {
            self.counters(*w).contributions += 1;
            let Some(winner) = winner else { continue };
            if trust <= 1 {
                continue;
            }
            if *answer == winner {
                self.counters(*w).wins += 1;
                if !self.frozen {
                    self.workers[*w].score += 1;
                }
            } else {
                self.counters(*w).losses += 1;
                self.seize(*w);
                if !self.frozen {
                    let s = &mut self.workers[*w].score;
                    *s = *s * 2 / 3;
                }
            }
        }
    }

    /// An audit with `zero_audit_dissent`: settled as a task, then every auditor that disagrees
    /// with its certified result loses the rest of its score.
    pub(crate) fn settle_audit(&mut self, audit: &TaskRecord, trust: u64, zero_dissent: bool) {
        self.settle(audit, trust);
        let Some(truth) = certified(audit).filter(|_| zero_dissent && trust > 1) else {
            return;
        };
        for (w, answer) in &audit.contributors {
            if *answer != truth {
                self.zero(*w);
            }
        }
    }

    /// A task that its audit contradicted fails: it is not finalized, so nobody wins; a
    /// contribution that disagrees with the audit loses its stake and its score, the others get
    /// their stake back.
    pub(crate) fn refute(&mut self, record: &TaskRecord, truth: Answer) {
        for (w, answer) in &record.contributors {
            self.counters(*w).contributions += 1;
            if !same_result(*answer, truth) {
                self.counters(*w).audited += 1;
                self.seize(*w);
                self.zero(*w);
            }
        }
    }

    /// A certified task that an audit checked, with the task's result standing: every
    /// contribution that disagrees with the audit loses its stake (unless it lost it already in
    /// the task) and its score.
    pub(crate) fn audit_standing(&mut self, record: &TaskRecord, trust: u64, truth: Answer) {
        let won = certified(record);
        for (w, answer) in &record.contributors {
            if same_result(*answer, truth) {
                continue;
            }
            let lost = trust > 1 && won.is_some_and(|a| a != *answer);
            if !lost {
                self.counters(*w).audited += 1;
                self.seize(*w);
            }
            self.zero(*w);
        }
    }

    fn zero(&mut self, w: usize) {
        self.counters(w).zeroed += 1;
        if !self.frozen {
            self.workers[w].score = 0;
        }
    }

    /// How many workers the draw can still pick.
    pub(crate) fn drawable(&self) -> usize {
        self.snapshot.iter().filter(|s| !s.stake.is_zero()).count()
    }

    /// The cumulated registry stakes for the draw, or `None` when nobody is left in it.
    pub(crate) fn cumulated(&mut self) -> Option<Vec<U256>> {
        self.dirty = false;
        cumulated_stakes(&self.snapshot).ok()
    }
}
