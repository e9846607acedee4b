//! The workerpool scheduler: follows the chain for its pool's deals, registers and
//! authenticates workers (wallet signature challenge → session token), assigns replicates to
//! them, decides how many replicas a task needs (counting pending workers as iExec's scheduler
//! does), signs contribution authorizations, marks workers that stop sending heartbeats as lost
//! so that their work goes to others, and shows every replicate's off-chain stage. Its state
//! lives in SQL (SQLite embedded, Postgres by URL) so that a restart loses nothing.
//!
//! Features: `server` (default) is the service; `client` is the typed client of its worker
//! API (`client::SchedulerClient`), which a worker takes without the server's sqlx and axum.
//!
//! ```no_run
//! # async fn f(profile: decloud_chain::ChainProfile, pool: alloy::primitives::Address, key: alloy::signers::local::PrivateKeySigner) -> Result<(), decloud_scheduler::SchedulerError> {
//! use decloud_scheduler::{SchedulerConfig, start};
//! let config = SchedulerConfig::new(profile, pool, key, "sqlite:///var/lib/decloud/scheduler.db");
//! let scheduler = start(config).await?;
//! println!("workers log in at {}", scheduler.url());
//! scheduler.wait().await;
//! # Ok(()) }
//! ```

#[cfg(feature = "server")]
pub mod api;
#[cfg(feature = "server")]
pub mod assign;
#[cfg(feature = "server")]
mod challenges;
#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "server")]
pub mod db;
#[cfg(feature = "server")]
pub mod driver;
#[cfg(feature = "server")]
mod error;
#[cfg(feature = "server")]
pub mod follower;
#[cfg(feature = "server")]
mod group_commit;
#[cfg(feature = "server")]
pub mod limits;
#[cfg(feature = "server")]
pub mod members;
#[cfg(feature = "server")]
pub mod pool_work;
#[cfg(feature = "server")]
pub mod random;
#[cfg(feature = "server")]
pub mod spot;
#[cfg(feature = "server")]
pub mod tee;
#[cfg(feature = "server")]
pub mod wake;
pub use decloud_protocol::policy;

#[cfg(feature = "server")]
use std::collections::HashMap;
#[cfg(feature = "server")]
use std::fmt;
#[cfg(feature = "server")]
use std::net::SocketAddr;
#[cfg(feature = "server")]
use std::sync::Arc;
#[cfg(feature = "server")]
use std::sync::atomic::AtomicU64;
#[cfg(feature = "server")]
use std::time::Duration;

#[cfg(feature = "server")]
use alloy::primitives::Address;
#[cfg(feature = "server")]
use alloy::signers::local::PrivateKeySigner;
#[cfg(feature = "server")]
use decloud_chain::ChainProfile;
#[cfg(feature = "server")]
use decloud_chain::client::Client;
#[cfg(feature = "server")]
use decloud_chain::contracts::WorkerpoolRegistry;
#[cfg(feature = "server")]
use decloud_service::Service;
#[cfg(feature = "server")]
use tokio::sync::{Mutex, Notify};

#[cfg(feature = "server")]
pub use db::Store;
#[cfg(feature = "server")]
pub use error::{PassFailed, SchedulerError};

#[cfg(feature = "server")]
/// How to run a scheduler.
#[derive(Clone)]
pub struct SchedulerConfig {
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// `sqlite://path` (created if missing) or `postgres://...`.
    pub database_url: String,
    /// The chain.
    pub profile: ChainProfile,
    /// An RPC URL overriding the profile's.
    pub rpc: Option<String>,
    /// The workerpool this scheduler runs: its owner must be `signer`.
    pub workerpool: Address,
    /// The scheduler's key (the workerpool owner's): signs authorizations and transactions.
    pub signer: PrivateKeySigner,
    /// How often the chain is read.
    pub follow_interval: Duration,
    /// Blocks read again after a reorg.
    pub reorg_depth: u64,
    /// A worker silent for this long is lost and its assigned work goes to others.
    pub heartbeat_timeout: Duration,
    /// How long a login session lasts.
    pub session_ttl: Duration,
    /// How often the worker registry is read again for every logged-in worker, in case one of
    /// its events was missed; the events are followed with the chain, so a worker that left or
    /// was removed is expelled at the next follower pass. Also how long a login believes a
    /// membership read before (unless an event changed it since).
    pub membership_interval: Duration,
    /// How often the registry is compared with the last snapshot committed for random
    /// selection (a new one is committed when they differ).
    pub snapshot_interval: Duration,
    /// Per-client limits on login challenges and claims.
    pub rate_limits: limits::RateLimits,
    /// TLS with the scheduler's key (the default: a key made for this run; give it a key file
    /// to keep the same fingerprint across restarts), or plain HTTP on a devnet.
    pub transport: decloud_service::transport::Transport,
    /// Certificate authorities whose client certificates the pool API accepts (mutual TLS:
    /// `POST /v1/pool/login/certificate`); empty, no certificate is asked for.
    pub client_cas: Vec<decloud_service::tls::CertificateDer<'static>>,
    /// The pool's own client API (`/v1/pool/...`): its identities, credentials and
    /// desktop-grid jobs. An empty `database_url` keeps it in the scheduler's database; its
    /// `scheduler` address is set to the scheduler's.
    pub pool: decloud_pool::PoolConfig,
    /// The randomness beacon's HTTP API (drand's shape: `GET /public/{round}`), where the
    /// scheduler fetches a round its random-selection deals need and nobody submitted yet
    /// (`None`: it waits for someone else to submit it).
    pub beacon_url: Option<String>,
}

#[cfg(feature = "server")]
impl fmt::Debug for SchedulerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key is not printed, only its address; the database URL without its password.
        f.debug_struct("SchedulerConfig")
            .field("listen", &self.listen)
            .field("database_url", &decloud_sql::redact(&self.database_url))
            .field("rpc", &self.rpc.as_deref().map(decloud_sql::redact))
            .field("workerpool", &self.workerpool)
            .field("scheduler", &self.signer.address())
            .field("follow_interval", &self.follow_interval)
            .field("reorg_depth", &self.reorg_depth)
            .field("heartbeat_timeout", &self.heartbeat_timeout)
            .field("session_ttl", &self.session_ttl)
            .field("membership_interval", &self.membership_interval)
            .field("snapshot_interval", &self.snapshot_interval)
            .field("rate_limits", &self.rate_limits)
            .field("transport", &self.transport)
            .field("client_cas", &self.client_cas.len())
            .field("pool", &self.pool)
            .field(
                "beacon_url",
                &self.beacon_url.as_deref().map(decloud_sql::redact),
            )
            .finish()
    }
}

#[cfg(feature = "server")]
impl SchedulerConfig {
    /// A configuration with the defaults: listen on 127.0.0.1 on a free port, read the chain
    /// every second, re-read 12 blocks after a reorg, lose workers after 60 s of silence,
    /// sessions of 24 h, TLS with a key made for this run.
    pub fn new(
        profile: ChainProfile,
        workerpool: Address,
        signer: PrivateKeySigner,
        database_url: &str,
    ) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.to_owned(),
            profile,
            rpc: None,
            workerpool,
            signer,
            follow_interval: Duration::from_secs(1),
            reorg_depth: follower::FollowerOptions::default().reorg_depth,
            heartbeat_timeout: Duration::from_secs(60),
            session_ttl: Duration::from_secs(24 * 3600),
            membership_interval: Duration::from_secs(60),
            snapshot_interval: Duration::from_secs(5),
            rate_limits: limits::RateLimits::default(),
            transport: decloud_service::transport::Transport::ephemeral(),
            client_cas: Vec::new(),
            pool: decloud_pool::PoolConfig::new(""),
            beacon_url: None,
        }
    }
}

#[cfg(feature = "server")]
/// State shared by the API handlers and the background loops.
pub(crate) struct Shared {
    store: Store,
    client: Client,
    signer: PrivateKeySigner,
    workerpool: Address,
    heartbeat_timeout: Duration,
    session_ttl: Duration,
    /// The worker registry's recent answers.
    members: members::Members,
    /// Login challenges per client address.
    challenge_limiter: limits::RateLimiter,
    /// Claims per worker.
    claim_limiter: limits::RateLimiter,
    /// Open login challenges (in memory: single-use, expiring, bounded).
    challenges: challenges::Challenges,
    /// Commits logins, those waiting together in one transaction.
    logins: group_commit::GroupCommit<group_commit::Logins>,
    /// Commits workers' reports, those waiting together in one transaction.
    reports: group_commit::GroupCommit<group_commit::Reports>,
    /// Puts back in the pool's queue the jobs of workers that logged in anew, those waiting
    /// together in one transaction.
    pool_releases: group_commit::GroupCommit<group_commit::PoolReleases>,
    /// The waiting long polls, and who each change wakes (see [`wake`]).
    wakes: wake::Wakes,
    /// Serializes assignments so that two claims never over-assign a task.
    assign_lock: Mutex<()>,
    /// Wakes the chain loop early (a worker reported a reveal: a task may be ready to
    /// finalize).
    wake: Notify,
    /// Sessions already checked, by token hash: the worker and the session's expiry.
    sessions: std::sync::RwLock<HashMap<String, (Address, u64)>>,
    /// When each worker was last heard from since the last flush (every authenticated call is
    /// a heartbeat); the heartbeat monitor writes them to the database together.
    seen: std::sync::Mutex<HashMap<Address, u64>>,
    /// The [`wake::Wakes`] version at which a claim found no task needing a replica at all:
    /// other claims woken at the same version skip the scan (no thundering herd on a large
    /// pool), for a few seconds at most.
    idle: wake::Idle,
    /// The pool's own client API and its desktop-grid jobs.
    pool: decloud_pool::Pool,
    /// When the next task held by others opens to a backup (unix seconds; `u64::MAX`: none
    /// known), as the last claim that found nothing saw it: waiting claims look again then.
    backups_at: AtomicU64,
    /// Random-selection deals: their draws, snapshots and absences.
    random: random::RandomState,
    /// The audits of spot-checked tasks, in memory (rebuilt from the chain).
    spot: spot::SpotState,
}

#[cfg(feature = "server")]
impl Shared {
    /// Notes that `worker` was heard from at `now`.
    fn heard_from(&self, worker: Address, now: u64) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.insert(worker, now);
        }
    }
}

#[cfg(feature = "server")]
/// A running scheduler: its HTTP server, chain follower and heartbeat monitor. Dropping it
/// stops them.
pub struct RunningScheduler {
    service: Service,
    shared: Arc<Shared>,
}

#[cfg(feature = "server")]
impl RunningScheduler {
    /// Where the API listens.
    pub fn addr(&self) -> SocketAddr {
        self.service.addr()
    }

    /// URL of the API with the fingerprint of the scheduler's key, as workers and clients
    /// are given it, e.g. `https://127.0.0.1:8091#sha256:9f86...` (`http://...` over plain
    /// HTTP).
    pub fn url(&self) -> String {
        self.service.pinned_url().to_string()
    }

    /// The scheduler's address.
    pub fn address(&self) -> Address {
        self.shared.signer.address()
    }

    /// The scheduler's database.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// How many login challenges are open (handed out, neither used nor purged yet).
    pub fn open_challenges(&self) -> usize {
        self.shared.challenges.len()
    }

    /// The pool's own client API (identities, objects, desktop-grid jobs).
    pub fn pool(&self) -> &decloud_pool::Pool {
        &self.shared.pool
    }

    /// How many long polls it woke and how many claim attempts it ran since it started.
    pub fn wake_counts(&self) -> wake::WakeCounts {
        self.shared.wakes.counts()
    }

    /// Stops the server and the loops and waits until they are gone (the database stays
    /// consistent: every change was committed before it was acknowledged).
    pub async fn stop(self) {
        self.service.stop().await;
    }

    /// Waits until the server stops (it runs until the process ends or this value is dropped).
    pub async fn wait(self) {
        if let Err(e) = self.service.wait().await {
            tracing::error!(error = %e, "scheduler server stopped");
        }
    }
}

#[cfg(feature = "server")]
/// Checks that `signer` owns the workerpool, opens the database, binds the listener, and
/// starts serving, following the chain and watching heartbeats.
pub async fn start(config: SchedulerConfig) -> Result<RunningScheduler, SchedulerError> {
    let client = Client::connect(
        &config.profile,
        config.rpc.as_deref(),
        Some(config.signer.clone()),
    )
    .await?;
    config
        .transport
        .check_allowed(config.profile.chain_id, config.profile.is_devnet())
        .map_err(|e| SchedulerError::Config(e.to_string()))?;
    let registry = WorkerpoolRegistry::new(
        config.profile.contracts.workerpool_registry,
        client.provider().clone(),
    );
    let pool = registry
        .workerpoolInfo(config.workerpool)
        .call()
        .await
        .map_err(|e| client.contract_error("reading the workerpool", &e))?;
    let me = config.signer.address();
    if pool.owner == Address::ZERO {
        return Err(SchedulerError::Config(format!(
            "workerpool {} is not registered on this chain: register it with `decloud workerpool register`, or check the address",
            config.workerpool
        )));
    }
    if pool.owner != me {
        return Err(SchedulerError::Config(format!(
            "the scheduler's key is {me} but workerpool {} belongs to {}: run the scheduler with the pool owner's wallet",
            config.workerpool, pool.owner
        )));
    }
    publish_tls_key(&client, &config).await?;
    let store = Store::open(&config.database_url).await?;
    let mut pool_config = config.pool.clone();
    if pool_config.database_url.is_empty() {
        pool_config.database_url = config.database_url.clone();
    }
    pool_config.scheduler = me;
    let pool = decloud_pool::Pool::open(pool_config)
        .await
        .map_err(|e| SchedulerError::Config(format!("the pool's client API: {e}")))?;
    let (login_writer, write_logins) =
        group_commit::GroupCommit::new(group_commit::Logins(store.clone()));
    let (report_writer, write_reports) =
        group_commit::GroupCommit::new(group_commit::Reports(store.clone()));
    let (release_writer, write_releases) =
        group_commit::GroupCommit::new(group_commit::PoolReleases(pool.clone()));
    let shared = Arc::new(Shared {
        logins: login_writer,
        reports: report_writer,
        pool_releases: release_writer,
        store,
        client,
        signer: config.signer.clone(),
        workerpool: config.workerpool,
        heartbeat_timeout: config.heartbeat_timeout,
        session_ttl: config.session_ttl,
        members: members::Members::new(config.membership_interval),
        challenge_limiter: limits::RateLimiter::new(config.rate_limits.challenges),
        claim_limiter: limits::RateLimiter::new(config.rate_limits.claims),
        challenges: challenges::Challenges::new(
            config.rate_limits.max_challenges,
            config.rate_limits.max_challenges_per_client,
        ),
        wakes: wake::Wakes::default(),
        assign_lock: Mutex::new(()),
        wake: Notify::new(),
        sessions: std::sync::RwLock::new(HashMap::new()),
        seen: std::sync::Mutex::new(HashMap::new()),
        idle: wake::Idle::default(),
        backups_at: AtomicU64::new(u64::MAX),
        pool,
        random: random::RandomState::new(config.beacon_url.clone()),
        spot: spot::SpotState::default(),
    });
    // The confinement records every claim consults, read before the first claim: read then,
    // at 10,000 listed workers and behind the pool writes of a login storm, the whole read held
    // the claims' lock for hundreds of milliseconds. Changes since patch the copy row by row.
    shared.pool.deal_placement().await.map_err(|e| {
        SchedulerError::Config(format!("reading the pool's confinement records: {e}"))
    })?;
    let router = api::router(shared.clone());
    let limits = decloud_service::Limits::default();
    let served = match (&config.transport, config.client_cas.is_empty()) {
        (_, true) => Service::serve_on(config.listen, router, limits, &config.transport).await,
        (decloud_service::transport::Transport::Tls(identity), false) => {
            Service::serve_mtls(config.listen, router, limits, identity, &config.client_cas).await
        }
        (decloud_service::transport::Transport::InsecureHttp, false) => {
            return Err(SchedulerError::Config(
                "client certificates need TLS: drop --insecure-http or the client CAs".into(),
            ));
        }
    };
    let mut service = served.map_err(|source| SchedulerError::Listen {
        addr: config.listen,
        source,
    })?;
    service.spawn(chain_loop(
        shared.clone(),
        config.follow_interval,
        follower::FollowerOptions {
            reorg_depth: config.reorg_depth,
        },
    ));
    service.spawn(write_logins);
    service.spawn(write_reports);
    service.spawn(write_releases);
    service.spawn(watch_heartbeats(shared.clone()));
    service.spawn(wake::backup_alarm(shared.clone()));
    service.spawn(pool_work::wake_on_submissions(shared.clone()));
    service.spawn(members::watch_members(
        shared.clone(),
        config.membership_interval,
    ));
    service.spawn(random::watch_registry(
        shared.clone(),
        config.snapshot_interval,
    ));
    service.spawn(random::drive(shared.clone(), config.follow_interval));
    service.spawn(spot::drive(shared.clone(), config.follow_interval));
    tracing::info!(url = %service.pinned_url(), scheduler = %me, workerpool = %config.workerpool, "scheduler listening");
    Ok(RunningScheduler { service, shared })
}

#[cfg(feature = "server")]
/// Publishes the fingerprint of the scheduler's TLS key with its workerpool on chain when the
/// chain holds another one (a first start, or a new key), so that workers can pin the key from
/// the chain. Over plain HTTP nothing is published.
async fn publish_tls_key(client: &Client, config: &SchedulerConfig) -> Result<(), SchedulerError> {
    let Some(fingerprint) = config.transport.fingerprint() else {
        return Ok(());
    };
    let key = alloy::primitives::B256::from(fingerprint.0);
    let published = decloud_chain::actions::scheduler_key(client, config.workerpool).await?;
    if published != Some(key) {
        decloud_chain::actions::set_scheduler_key(client, config.workerpool, key).await?;
        tracing::info!(workerpool = %config.workerpool, key = %fingerprint, "published the scheduler's TLS key on chain");
    }
    Ok(())
}

#[cfg(feature = "server")]
/// Follows the chain and drives revealing tasks to their end, every `interval` or sooner when
/// woken; errors are logged and retried.
async fn chain_loop(shared: Arc<Shared>, interval: Duration, options: follower::FollowerOptions) {
    pool_work::catch_up_deal_jobs(&shared).await;
    loop {
        // A failed pass stored part of its work: that part is shown and woken for like a whole
        // pass's (the next pass does not see it as new).
        let started = std::time::Instant::now();
        let progress = stored(
            follower::follow_once(&shared.client, &shared.store, shared.workerpool, options).await,
            "scheduler follower pass",
        );
        after_pass(&shared, &progress).await;
        members::after_registry_events(&shared, &progress);
        let followed = started.elapsed();
        let report = stored(
            driver::drive_once(&shared.client, &shared.store).await,
            "driving tasks",
        );
        wake_after_drive(&shared, &report);
        if progress.changed() || report.changed() {
            // How long the work the pass stored waited for it (a contribution frees its
            // worker's slot only once applied here).
            tracing::debug!(
                block = progress.block,
                task_events = progress.task_events,
                follow_us = followed.as_micros() as u64,
                drive_us = (started.elapsed() - followed).as_micros() as u64,
                "chain pass"
            );
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = shared.wake.notified() => {}
        }
    }
}

#[cfg(feature = "server")]
/// What a pass stored, whether it ended well or not; a failure is logged (`what` names the pass)
/// and retried by the next pass.
fn stored<T: std::fmt::Debug>(outcome: Result<T, PassFailed<T>>, what: &str) -> T {
    outcome.unwrap_or_else(|failed| {
        tracing::warn!(error = %failed.error, "{what} failed; retrying");
        failed.done
    })
}

#[cfg(feature = "server")]
/// Shows the tasks a follower pass stored as pool jobs and wakes the long polls they concern.
async fn after_pass(shared: &Shared, progress: &follower::Progress) {
    // A new deal's tasks are shown at once (not started), not only at their first event: a
    // requester sees the tasks that wait for a worker too.
    let mut shown = Vec::new();
    let mut uncounted = false;
    for deal in &progress.new_deals {
        match shared.store.tasks_of(*deal).await {
            Ok(tasks) => shown.extend(tasks.into_iter().map(|t| (t.task_id, t.deal_id, t.status))),
            Err(e) => {
                tracing::warn!(%deal, error = %e, "reading a new deal's tasks failed");
                uncounted = true;
            }
        }
    }
    let new_tasks = shown.len();
    shown.extend(progress.touched.iter().cloned());
    pool_work::mirror_deal_jobs(shared, &shown).await;
    wake_after_pass(shared, progress, new_tasks);
    if uncounted {
        // Tasks stored but not counted: every claim looks.
        shared.wakes.work_for_all();
    }
}

#[cfg(feature = "server")]
/// Wakes the long polls a follower pass may concern: as many claims as tasks it added or left
/// open (`new_tasks` tasks of new deals, and the touched tasks still open: a reopened task, a
/// contribution that split the vote), the `next` polls of the touched tasks; everyone after a
/// reorg.
fn wake_after_pass(shared: &Shared, progress: &follower::Progress, new_tasks: usize) {
    if progress.reorg {
        shared.wakes.work_for_all();
        shared.wakes.all_tasks_changed();
        return;
    }
    let open = progress
        .touched
        .iter()
        .filter(|(_, _, status)| matches!(status, db::TaskStatus::Unset | db::TaskStatus::Active))
        .count();
    if new_tasks + open > 0 {
        shared.wakes.work_for(new_tasks + open);
    }
    // A contribution on chain is what frees its worker's slot (a report is only a hint): the
    // contributors' own claims look again.
    for worker in &progress.contributors {
        shared.wakes.slots_freed(*worker);
    }
    shared
        .wakes
        .tasks_changed(progress.touched.iter().map(|(task, _, _)| *task));
}

#[cfg(feature = "server")]
/// Wakes the long polls a driver pass may concern: a claim per reopened task and per replicate
/// taken back, the `next` polls of every task it changed.
fn wake_after_drive(shared: &Shared, report: &driver::DriveReport) {
    let claimable = report.reopened.len() + report.released.len();
    if claimable > 0 {
        shared.wakes.work_for(claimable);
    }
    if report.changed() {
        let tasks = report
            .finalized
            .iter()
            .chain(&report.reopened)
            .chain(&report.given_up)
            .chain(report.released.iter().map(|(task, _)| task));
        shared.wakes.tasks_changed(tasks.copied());
    }
}

#[cfg(feature = "server")]
/// Most heartbeats written in one transaction: SQLite has one connection, which claims, reports
/// and logins wait for while a flush holds it, so 10,000 workers' heartbeats go in slices.
const HEARTBEAT_SLICE: usize = 1000;

#[cfg(feature = "server")]
/// Writes `heard` in transactions of [`HEARTBEAT_SLICE`], letting whatever waits for the
/// database in between; on a failure, the error and the heartbeats not written.
async fn flush_heartbeats<'a>(
    store: &Store,
    heard: &'a [(Address, u64)],
) -> Result<(), (SchedulerError, &'a [(Address, u64)])> {
    for (i, slice) in heard.chunks(HEARTBEAT_SLICE).enumerate() {
        if let Err(e) = store.record_heartbeats(slice).await {
            return Err((e, &heard[i * HEARTBEAT_SLICE..]));
        }
        tokio::task::yield_now().await;
    }
    Ok(())
}

#[cfg(feature = "server")]
/// Flushes the heartbeats heard since the last pass to the database, marks workers silent for
/// longer than the timeout as lost (their assigned replicates are released and waiting claims
/// woken to take them), and forgets expired sessions.
async fn watch_heartbeats(shared: Arc<Shared>) {
    let period = (shared.heartbeat_timeout / 4).max(Duration::from_millis(200));
    loop {
        tokio::time::sleep(period).await;
        let now = api::unix_now();
        let heard: Vec<(Address, u64)> = match shared.seen.lock() {
            Ok(mut seen) => std::mem::take(&mut *seen).into_iter().collect(),
            Err(_) => Vec::new(),
        };
        if let Err((e, unwritten)) = flush_heartbeats(&shared.store, &heard).await {
            tracing::warn!(error = %e, "recording heartbeats failed; retrying");
            if let Ok(mut seen) = shared.seen.lock() {
                for &(worker, at) in unwritten {
                    let last = seen.entry(worker).or_insert(at);
                    *last = (*last).max(at);
                }
            }
            continue;
        }
        let before = now.saturating_sub(shared.heartbeat_timeout.as_secs());
        match shared.store.mark_lost(before, now).await {
            Ok(lost) if !lost.is_empty() => {
                for worker in &lost {
                    tracing::warn!(%worker, "worker lost (no heartbeat): its assigned work is released");
                }
                pool_work::release_pool_jobs(&shared, &lost).await;
                for worker in &lost {
                    tee::give_up_lost_enclaves(&shared, *worker).await;
                }
                // Their work is claimable again (a claim that takes some hands the wake-up on).
                shared.wakes.work_for(lost.len());
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "checking heartbeats failed; retrying"),
        }
        if let Ok(mut sessions) = shared.sessions.write() {
            sessions.retain(|_, (_, expires)| *expires >= now);
        }
        shared.challenges.purge(now);
        if let Err(e) = shared.store.purge_expired(now).await {
            tracing::warn!(error = %e, "dropping expired sessions failed; retrying");
        }
    }
}
