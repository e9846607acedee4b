//! A hostile worker: a scripted identity speaking the scheduler's worker API with its own
//! wallet, that lies in every way a worker can. It reports stages it never reached
//! (`contributed`/`revealed` without a transaction), reports failures it never had, hoards
//! (claims at high concurrency), goes silent while holding work (drop it, or just stop calling),
//! replays old reports and authorizations, and reports on tasks it does not hold. Tests put it
//! beside honest workers and check that the pool still certifies and pays every task.
//!
//! ```no_run
//! # async fn f(pool: &decloud_testkit::pool::Pool) -> Result<(), decloud_testkit::hostile::HostileError> {
//! use decloud_testkit::hostile::Hostile;
//! use decloud_protocol::pool::ReportStatus;
//! let liar = Hostile::throwaway(pool, 1).await?;
//! if let Some(a) = liar.claim(std::time::Duration::from_secs(5)).await? {
//!     liar.lie(a.task_id, ReportStatus::Contributed).await?; // nothing sent to the chain
//! }
//! drop(liar); // and silence
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolValue;
use decloud_chain::ChainError;
use decloud_chain::client::Client;
use decloud_protocol::pool::{Assignment, NextAction, Report, ReportStatus};
use decloud_protocol::result::commitment;
use decloud_protocol::typed::Deal;
use decloud_scheduler::client::{ClientError, SchedulerClient};

use crate::pool::Pool;

/// What went wrong driving the hostile worker (not a lie being refused: that is the point).
#[derive(Debug, thiserror::Error)]
pub enum HostileError {
    /// The scheduler refused or could not be reached.
    #[error("scheduler: {0}")]
    Scheduler(#[from] ClientError),
    /// A chain call failed.
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    /// The scheduler is not running.
    #[error("the pool's scheduler is not running: start it first")]
    NoScheduler,
    /// An assignment carries a deal that does not decode.
    #[error("the assignment's deal does not decode: {0}")]
    Deal(String),
}

/// A hostile worker with its own wallet and session (clones share both).
#[derive(Clone)]
pub struct Hostile {
    key: PrivateKeySigner,
    scheduler: Arc<SchedulerClient>,
    chain: Arc<Client>,
}

impl std::fmt::Debug for Hostile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hostile")
            .field("address", &self.address())
            .finish_non_exhaustive()
    }
}

impl Hostile {
    /// A fresh identity that costs nothing (no ether, no tokens, no stake), admitted to the pool
    /// by its owner with `capacity` and logged in.
    pub async fn throwaway(pool: &Pool, capacity: u64) -> Result<Self, HostileError> {
        Self::login(pool, PrivateKeySigner::random(), capacity).await
    }

    /// A fresh identity given ether and tokens, with `stake` in its escrow account (so it can
    /// contribute, and replay authorizations to the hub), logged in with `capacity`.
    pub async fn funded(pool: &Pool, capacity: u64, stake: U256) -> Result<Self, HostileError> {
        let key = PrivateKeySigner::random();
        decloud_chain::devnet::fund(
            &pool.profile,
            key.address(),
            U256::from(10u64).pow(U256::from(18)),
            stake,
        )
        .await?;
        let me = Self::login(pool, key, capacity).await?;
        if !stake.is_zero() {
            decloud_chain::actions::deposit(&me.chain, stake).await?;
        }
        Ok(me)
    }

    /// A member of the pool already (a stopped worker's key, say), logged in with `capacity`:
    /// the worker turned liar.
    pub async fn member(
        pool: &Pool,
        key: PrivateKeySigner,
        capacity: u64,
    ) -> Result<Self, HostileError> {
        Self::session(pool, key, capacity).await
    }

    async fn login(
        pool: &Pool,
        key: PrivateKeySigner,
        capacity: u64,
    ) -> Result<Self, HostileError> {
        // The pool's owner admits the key first, as a careless administrator would: the worker
        // registry refuses keys nobody vouched for, and these tests are about what the lies of
        // a worker the pool serves can do.
        crate::pool::admit(pool, key.address(), capacity).await?;
        Self::session(pool, key, capacity).await
    }

    async fn session(
        pool: &Pool,
        key: PrivateKeySigner,
        capacity: u64,
    ) -> Result<Self, HostileError> {
        let url = pool.scheduler_url().ok_or(HostileError::NoScheduler)?;
        let scheduler = SchedulerClient::new(&url, key.clone(), capacity)?;
        scheduler.login().await?;
        let chain = Client::connect(&pool.profile, None, Some(key.clone())).await?;
        Ok(Self {
            key,
            scheduler: Arc::new(scheduler),
            chain: Arc::new(chain),
        })
    }

    /// The hostile worker's address.
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// One claim, waiting up to `wait`.
    pub async fn claim(&self, wait: Duration) -> Result<Option<Assignment>, HostileError> {
        Ok(self.scheduler.claim(wait).await?)
    }

    /// Hoards: `parallel` claims at once, each waiting up to `wait`; returns what it got.
    pub async fn hoard(
        &self,
        parallel: usize,
        wait: Duration,
    ) -> Result<Vec<Assignment>, HostileError> {
        let claims = (0..parallel).map(|_| self.scheduler.claim(wait));
        let mut got = Vec::new();
        for outcome in futures::future::join_all(claims).await {
            got.extend(outcome?);
        }
        Ok(got)
    }

    /// Keeps claiming with `parallel` claims in flight and sending heartbeats, never computing
    /// anything, until the returned task is aborted (or dropped with the runtime). Counts the
    /// replicates it got in `hoarded`.
    pub fn hoard_forever(
        &self,
        parallel: usize,
        hoarded: Arc<std::sync::atomic::AtomicU64>,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                match me.hoard(parallel, Duration::from_secs(1)).await {
                    Ok(got) => {
                        hoarded.fetch_add(got.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
                let _ = me.scheduler.heartbeat().await;
            }
        })
    }

    /// Sends heartbeats every `period` until the returned task is aborted: the worker looks
    /// alive while it does nothing.
    pub fn pretend_alive(&self, period: Duration) -> tokio::task::JoinHandle<()> {
        let scheduler = self.scheduler.clone();
        tokio::spawn(async move {
            loop {
                let _ = scheduler.heartbeat().await;
                tokio::time::sleep(period).await;
            }
        })
    }

    /// Reports `status` on `task_id` without having done anything: no transaction behind a
    /// `contributed` or `revealed`, no failure behind a `failed` (whose reason, and the
    /// `revealed` location, point at nothing).
    pub async fn lie(&self, task_id: B256, status: ReportStatus) -> Result<(), HostileError> {
        self.report(task_id, &Self::fake(status)).await
    }

    /// The report [`Self::lie`] sends.
    pub fn fake(status: ReportStatus) -> Report {
        Report {
            status,
            reason: (status == ReportStatus::Failed)
                .then(|| "the download failed (it did not)".to_owned()),
            results_location: (status == ReportStatus::Revealed)
                .then(|| "http://127.0.0.1:9/blobs/0000".to_owned()),
            callback_data: None,
            stages: None,
        }
    }

    /// Sends `report` as is (to replay an old one).
    pub async fn report(&self, task_id: B256, report: &Report) -> Result<(), HostileError> {
        Ok(self.scheduler.report(task_id, report).await?)
    }

    /// Contributes `digest` (a lie, or the truth) to the random-selection task of `assignment`
    /// with the proof of the drawn position the scheduler relayed (`contributeDrawn`).
    pub async fn contribute_drawn(
        &self,
        assignment: &Assignment,
        digest: B256,
    ) -> Result<(), HostileError> {
        let deal =
            Deal::abi_decode(&assignment.deal).map_err(|e| HostileError::Deal(e.to_string()))?;
        let drawn = assignment
            .drawn
            .as_ref()
            .ok_or_else(|| HostileError::Deal("the assignment has no drawn position".into()))?;
        let snapshot = decloud_chain::selection::DealSnapshot {
            index: drawn.snapshot_index,
            workers: drawn.snapshot.clone(),
        };
        let c = commitment(self.address(), assignment.task_id, digest);
        decloud_chain::selection::contribute_drawn(
            &self.chain,
            (&deal).into(),
            assignment.index,
            c.result_hash,
            c.result_seal,
            decloud_chain::selection::proof(&snapshot, drawn.wave, drawn.position),
        )
        .await?;
        Ok(())
    }

    /// Asks the scheduler what to do next with its replicate of `task_id` (`next`, long-polled
    /// up to `wait`): a liar that plays along with the pool's flow reveals when told.
    pub async fn next(&self, task_id: B256, wait: Duration) -> Result<NextAction, HostileError> {
        Ok(self.scheduler.next(task_id, wait).await?)
    }

    /// Reveals `digest` for the spot-checked task of `assignment` on chain
    /// (`revealSpotChecked`: refused while its audit could still copy the digest).
    pub async fn reveal_spot_checked(
        &self,
        assignment: &Assignment,
        digest: B256,
    ) -> Result<(), HostileError> {
        let deal =
            Deal::abi_decode(&assignment.deal).map_err(|e| HostileError::Deal(e.to_string()))?;
        decloud_chain::audit::reveal_spot_checked(
            &self.chain,
            (&deal).into(),
            assignment.index,
            digest,
        )
        .await?;
        Ok(())
    }

    /// Reveals `digest` for `task_id` on chain (`reveal`).
    pub async fn reveal(&self, task_id: B256, digest: B256) -> Result<(), HostileError> {
        let tx = self
            .chain
            .hub()
            .reveal(task_id, digest)
            .into_transaction_request();
        self.chain.send("revealing (hostile)", tx).await?;
        Ok(())
    }

    /// Contributes `digest` to the task of `assignment` on chain, with the authorization
    /// `authorization` (the assignment's own, or one replayed from another assignment, which
    /// the hub must refuse). Needs a [funded](Self::funded) identity.
    pub async fn contribute_with(
        &self,
        assignment: &Assignment,
        digest: B256,
        authorization: Bytes,
    ) -> Result<(), HostileError> {
        let deal =
            Deal::abi_decode(&assignment.deal).map_err(|e| HostileError::Deal(e.to_string()))?;
        let hub = self.chain.hub();
        let tx = if assignment.trust <= 1 {
            hub.contributeAndReveal(
                (&deal).into(),
                U256::from(assignment.index),
                digest,
                Address::ZERO,
                Bytes::new(),
                authorization,
            )
            .into_transaction_request()
        } else {
            let c = commitment(self.address(), assignment.task_id, digest);
            hub.contribute(
                (&deal).into(),
                U256::from(assignment.index),
                c.result_hash,
                c.result_seal,
                Address::ZERO,
                Bytes::new(),
                authorization,
            )
            .into_transaction_request()
        };
        self.chain.send("contributing (hostile)", tx).await?;
        Ok(())
    }
}
