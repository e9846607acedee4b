//! The pool's own client API, after XtremWeb-HEP: who may log in (four kinds of credentials),
//! what each user may do (its right, the objects' access bits, confinement), and the
//! desktop-grid jobs authenticated clients submit directly, with no chain and no payment.
//!
//! The scheduler mounts [`api::router`] under `/v1/pool/...` and hands pool jobs to its
//! workers through [`Pool::take_job`]; every decision goes through `decloud-access` (rights ×
//! action first, then access bits, then confinement). Its state lives in SQL through
//! `decloud-sql` (SQLite or Postgres, its own migration table so it can share the scheduler's
//! database).
//!
//! ```no_run
//! # async fn f() -> Result<(), decloud_pool::PoolError> {
//! use decloud_pool::{Pool, PoolConfig};
//! let mut config = PoolConfig::new("sqlite:///var/lib/decloud/pool.db");
//! config.admin_password = Some("an initial administrator password".into());
//! let pool = Pool::open(config).await?;
//! let router = decloud_pool::api::router(pool);
//! # drop(router); Ok(()) }
//! ```

pub mod api;
mod auth;
pub mod credential;
mod error;
pub mod oidc;
pub mod password;
mod store;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

pub use credential::{Credential, may_act};
pub use decloud_access::{Action, Mode, Right};
pub use error::PoolError;
pub use oidc::OidcIssuer;
pub use store::{Caller, DealPlacement, Meta};

/// How the pool's client API behaves.
#[derive(Clone)]
pub struct PoolConfig {
    /// `sqlite://path` or `postgres://...`; may be the scheduler's own database.
    pub database_url: String,
    /// The address wallet logins sign for (the scheduler's), as in the workers' login message.
    pub scheduler: alloy::primitives::Address,
    /// Accept a new identity from a certificate or a token at once (as a standard user), instead
    /// of keeping it pending until an administrator validates it.
    pub auto_accept: bool,
    /// OpenID Connect issuers whose ID tokens are accepted.
    pub issuers: Vec<OidcIssuer>,
    /// How long a login session lasts.
    pub session_ttl: Duration,
    /// The password of the user `admin`, created with the administrator right at the first
    /// start (nothing happens when the user exists).
    pub admin_password: Option<String>,
    /// Let the OpenID issuers' JWKS be fetched from loopback and private addresses (tests, a
    /// devnet).
    pub allow_private_issuers: bool,
}

impl std::fmt::Debug for PoolConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password, nor the database password.
        f.debug_struct("PoolConfig")
            .field("database_url", &decloud_sql::redact(&self.database_url))
            .field("scheduler", &self.scheduler)
            .field("auto_accept", &self.auto_accept)
            .field("issuers", &self.issuers)
            .field("session_ttl", &self.session_ttl)
            .finish_non_exhaustive()
    }
}

impl PoolConfig {
    /// Defaults: new identities pending, no OpenID issuer, sessions of 24 h, no bootstrap
    /// administrator.
    pub fn new(database_url: &str) -> Self {
        Self {
            database_url: database_url.to_owned(),
            scheduler: alloy::primitives::Address::ZERO,
            auto_accept: false,
            issuers: Vec::new(),
            session_ttl: Duration::from_secs(24 * 3600),
            admin_password: None,
            allow_private_issuers: false,
        }
    }
}

/// The pool: its store, its credential checkers and the signal that work was submitted.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    store: store::Store,
    config: PoolConfig,
    throttle: password::Throttle,
    issuers: oidc::Verifier,
    /// Bumped at every submitted job: the scheduler's waiting claims listen to it.
    submitted: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// Opens (creating) the pool's database and creates the bootstrap administrator if asked.
    pub async fn open(config: PoolConfig) -> Result<Self, PoolError> {
        let store = store::Store::open(&config.database_url).await?;
        if let Some(password) = &config.admin_password {
            let hash = password::hash(password)?;
            store.create_admin("admin", &hash, unix_now()).await?;
        }
        let issuers = oidc::Verifier::new(config.issuers.clone(), config.allow_private_issuers)?;
        let (submitted, _) = tokio::sync::watch::channel(0);
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                throttle: password::Throttle::default(),
                issuers,
                config,
                submitted,
            }),
        })
    }

    /// Changes whenever a job is submitted (to wake claims that wait for work).
    pub fn submissions(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.submitted.subscribe()
    }

    fn store(&self) -> &store::Store {
        &self.inner.store
    }

    /// Hands `worker` the oldest pending job it may run under confinement (its app and its
    /// datum may go to that worker), marking it running on that worker; `None` when there is
    /// none. A worker the pool does not list is public: it gets public work only.
    pub async fn take_job(
        &self,
        worker: alloy::primitives::Address,
    ) -> Result<Option<wire::WorkOrder>, PoolError> {
        self.store().take_job(worker, unix_now()).await
    }

    /// The module of the app of `job`, for the worker that holds it only.
    pub async fn job_app(
        &self,
        worker: alloy::primitives::Address,
        job: &str,
    ) -> Result<Vec<u8>, PoolError> {
        self.store()
            .job_content(worker, job, store::Part::App)
            .await
    }

    /// The datum of `job`, for the worker that holds it only (never a certificate: such a job
    /// is refused at submission).
    pub async fn job_datum(
        &self,
        worker: alloy::primitives::Address,
        job: &str,
    ) -> Result<Vec<u8>, PoolError> {
        self.store()
            .job_content(worker, job, store::Part::Datum)
            .await
    }

    /// Records the end of `job` by the worker that holds it: its result (the packed `/out`),
    /// or why it failed. Any other worker is refused and nothing changes.
    pub async fn finish_job(
        &self,
        worker: alloy::primitives::Address,
        job: &str,
        outcome: wire::JobOutcome,
    ) -> Result<(), PoolError> {
        self.store()
            .finish_job(worker, job, outcome, unix_now())
            .await
    }

    /// Puts the jobs each of `workers` holds back in the queue (workers lost for want of
    /// heartbeats, or logged in anew after a restart and no longer running them), and wakes
    /// the claims that wait for work; how many each held, in the order given.
    pub async fn release_jobs(
        &self,
        workers: &[alloy::primitives::Address],
    ) -> Result<Vec<u64>, PoolError> {
        let released = self.store().release_jobs(workers, unix_now()).await?;
        if released.iter().any(|&n| n > 0) {
            self.inner.submitted.send_modify(|n| *n = n.wrapping_add(1));
        }
        Ok(released)
    }

    /// How the pool confines on-chain deals now (the workers it lists, the app and dataset
    /// addresses it confines); read from memory except after a change.
    pub async fn deal_placement(&self) -> Result<Arc<DealPlacement>, PoolError> {
        self.store().placement().await
    }

    /// Records a deal's task as a job owned by the deal's requester (its wallet address), so
    /// the requester reads it after a wallet login; its status follows the task's.
    pub async fn record_deal_task(
        &self,
        task_id: &str,
        requester: alloy::primitives::Address,
        status: &str,
    ) -> Result<(), PoolError> {
        self.record_deal_tasks(&[(task_id.to_owned(), requester, status.to_owned())])
            .await
    }

    /// [`Self::record_deal_task`] for many tasks (task id, requester, status) in one
    /// transaction: all or none.
    pub async fn record_deal_tasks(
        &self,
        tasks: &[(String, alloy::primitives::Address, String)],
    ) -> Result<(), PoolError> {
        let rows: Vec<(String, String, String)> = tasks
            .iter()
            .map(|(task, requester, status)| (task.clone(), requester.to_string(), status.clone()))
            .collect();
        self.store().upsert_deal_jobs(&rows, unix_now()).await
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Unix time in milliseconds (the password throttle's clock).
pub(crate) fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

/// Random bytes in hex (tokens, nonces, ids).
pub(crate) fn random_hex(bytes: usize) -> String {
    use rand_08::RngCore;
    let mut buf = vec![0u8; bytes];
    rand_08::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// The sha256 (hex) of some bytes.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
