//! The worker agent (docs/design.md#worker): logs in to its pool's scheduler by wallet, claims
//! replicates (long-polling, never busy-polling), fetches the app and its data and checks their
//! checksums, runs the app in the deterministic sandbox of `decloud-runtime`, keeps and uploads
//! the result, stakes, contributes and reveals on chain with its own wallet, and reports every
//! step to the scheduler. It runs up to its declared capacity of replicates at once, and after a
//! restart resumes every job it had not finished (their state is saved under its data
//! directory at every step).
//!
//! ```no_run
//! # async fn f(profile: decloud_chain::ChainProfile, key: alloy::signers::local::PrivateKeySigner) -> Result<(), decloud_worker::WorkerError> {
//! use decloud_worker::{WorkerConfig, start};
//! let config = WorkerConfig::new(
//!     "http://127.0.0.1:7800",
//!     profile,
//!     key,
//!     "/var/lib/decloud/worker".into(),
//!     "http://127.0.0.1:7700/blobs",
//! );
//! let worker = start(config).await?;
//! worker.wait().await;
//! # Ok(()) }
//! ```

mod batch;
mod contribute;
mod error;
mod inputs;
mod job;
mod key_holders;
mod next;
pub mod policy;
pub mod pool_job;
mod release;
mod scratch;
pub mod state;
mod tee_job;
mod tee_secrets;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use decloud_chain::ChainProfile;
use decloud_chain::client::Client;
use decloud_protocol::pool::Work;
use decloud_runtime::{Runtime, RuntimeConfig};
use decloud_service::Tasks;
use decloud_storage::BlobStore;
use tokio::sync::{Mutex, Semaphore};

pub use batch::Batching;
/// The scheduler's client the worker talks through (it lives with the scheduler's API).
pub use decloud_scheduler::client::SchedulerClient;
pub use error::WorkerError;
use state::{Job, JobStore, Stage};
pub use tee_job::evidence_path;

/// How to run a worker.
#[derive(Clone)]
pub struct WorkerConfig {
    /// The scheduler's base URL.
    pub scheduler_url: String,
    /// The chain.
    pub profile: ChainProfile,
    /// An RPC URL overriding the profile's.
    pub rpc: Option<String>,
    /// The worker's wallet: it logs in, stakes, contributes and reveals with it.
    pub signer: PrivateKeySigner,
    /// Where the worker keeps its jobs, apps, compiled modules and results.
    pub data_dir: PathBuf,
    /// Where results are uploaded: a storage location (`http://host:7700/blobs`, `s3://...`,
    /// a directory).
    pub results_store: String,
    /// How many replicates it computes at once.
    pub capacity: u64,
    /// How long a claim waits for work.
    pub claim_wait: Duration,
    /// Largest app, dataset or input file downloaded.
    pub max_download_bytes: u64,
    /// Escrow balance the worker tops up to when it must deposit for a stake (saves a deposit
    /// per task); at least each task's stake is deposited anyway.
    pub stake_reserve: U256,
    /// Fetch from loopback, private networks and local paths (a development network); off by
    /// default (see [`policy`]).
    pub allow_private_hosts: bool,
    /// TEE tasks: the enclave's backend and the key holders; `None` (the default): the worker
    /// fails every TEE task it is handed.
    pub tee: Option<TeeConfig>,
    /// Local datasets this worker holds (`--data 0xDATASET=PATH`): their tasks read them from
    /// the path (checked against the registered checksum) and they are never downloaded.
    pub local_data: Vec<(Address, PathBuf)>,
    /// How contributions and reveals are batched into fewer transactions ([`Batching`]).
    pub batching: Batching,
}

/// The uri of a **local** dataset: registered with its checksum, never uploaded. Only its
/// owner's workers, which hold it at a local path (`decloud node --data 0xDATASET=PATH`), run
/// its tasks (docs/confidential.md, "Local datasets").
pub const LOCAL_DATASET_URI: &str = "local:";

/// How a worker runs TEE tasks (docs/confidential.md, "The TEE worker").
#[derive(Clone)]
pub struct TeeConfig {
    /// Produces the enclave's evidence: `decloud_tee::sim::SimAttester` on a devnet,
    /// `decloud_tee::tdx::TdxAttester` inside a TDX guest.
    pub attester: Arc<dyn decloud_tee::Attester>,
    /// The key holders (SMS nodes) asked for each release: at least the k a deal needs. Empty:
    /// the keepers drawn for each task's dataset, at the URLs they published on chain.
    pub sms_urls: Vec<String>,
}

impl std::fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("scheduler_url", &self.scheduler_url)
            .field("worker", &self.signer.address())
            .field("data_dir", &self.data_dir)
            .field("results_store", &self.results_store)
            .field("capacity", &self.capacity)
            .field("batching", &self.batching)
            .field("allow_private_hosts", &self.allow_private_hosts)
            .field("tee", &self.tee.as_ref().map(|t| t.attester.kind()))
            .finish_non_exhaustive()
    }
}

impl WorkerConfig {
    /// A configuration with the defaults: one replicate at a time, claims waiting 25 s,
    /// downloads up to 1 GiB, no stake reserve, public hosts only.
    pub fn new(
        scheduler_url: &str,
        profile: ChainProfile,
        signer: PrivateKeySigner,
        data_dir: PathBuf,
        results_store: &str,
    ) -> Self {
        Self {
            scheduler_url: scheduler_url.to_owned(),
            profile,
            rpc: None,
            signer,
            data_dir,
            results_store: results_store.to_owned(),
            capacity: 1,
            claim_wait: Duration::from_secs(25),
            max_download_bytes: 1 << 30,
            stake_reserve: U256::ZERO,
            allow_private_hosts: false,
            tee: None,
            local_data: Vec::new(),
            batching: Batching::default(),
        }
    }
}

/// What every job of a worker shares.
pub(crate) struct Context {
    config: WorkerConfig,
    address: Address,
    scheduler: SchedulerClient,
    chain: Client,
    runtime: Arc<Runtime>,
    jobs: JobStore,
    /// The directories computations work in, reused.
    scratch: scratch::Scratch,
    results: BlobStore,
    /// The TEE backend and key holders, when the worker runs TEE tasks.
    tee: Option<tee_job::TeeSetup>,
    /// A lower bound of the worker's free escrow balance (`None` until read), behind the lock
    /// that makes deposits one at a time.
    stake_free: Mutex<Option<U256>>,
    /// Where contributions and reveals wait for their batch transaction.
    batcher: batch::Batcher,
    /// Jobs whose contribution is on chain and that wait for the scheduler's word to reveal (or
    /// prepare their reveal): the batcher sends the reveals it holds as soon as there are none.
    awaiting_reveal: std::sync::atomic::AtomicUsize,
    /// Where contributed replicates wait for the scheduler's word, all in one long poll.
    next_watch: next::NextWatch,
    /// The worker's slots of capacity: a job holds one from its claim until its contribution
    /// is on chain, and the claim loop holds the free ones while it asks for work for them.
    slots: Arc<Semaphore>,
    /// How many free slots the claim loop holds while it asks for work.
    claiming: std::sync::atomic::AtomicUsize,
}

impl Context {
    /// How many jobs hold a slot now (not counting the free slots a claim holds).
    fn slots_held(&self) -> usize {
        self.capacity_slots()
            .saturating_sub(self.slots.available_permits())
            .saturating_sub(self.claiming.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// The worker's capacity as a number of slots.
    fn capacity_slots(&self) -> usize {
        slots_of(self.config.capacity)
    }
}

/// A capacity (replicates at once) as a number of slots.
fn slots_of(capacity: u64) -> usize {
    usize::try_from(capacity).unwrap_or(usize::MAX)
}

/// A running worker. Dropping it stops its loops (jobs in flight resume at the next start).
pub struct RunningWorker {
    address: Address,
    tasks: Tasks,
}

impl RunningWorker {
    /// The worker's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Stops the worker now, as a crash would (its saved jobs resume at the next start).
    pub async fn stop(self) {
        self.tasks.stop().await;
    }

    /// Runs until the process ends.
    pub async fn wait(self) {
        self.tasks.wait().await;
    }
}

/// Connects to the chain and the scheduler (checking they agree), logs in, resumes the saved
/// jobs and starts claiming work.
pub async fn start(config: WorkerConfig) -> Result<RunningWorker, WorkerError> {
    if config.capacity == 0 {
        return Err(WorkerError::Config(
            "a worker's capacity must be at least 1 replicate".into(),
        ));
    }
    let address = config.signer.address();
    let chain = Client::connect(
        &config.profile,
        config.rpc.as_deref(),
        Some(config.signer.clone()),
    )
    .await?;
    // The backend is announced at login so that the scheduler hands TEE tasks only to workers
    // that run enclaves (a hint: the key holders' appraisal is the check).
    let announced = match config.tee.as_ref().map(|t| t.attester.kind()) {
        None => decloud_protocol::pool::TeeBackend::None,
        Some(decloud_tee::TeeKind::Sim) => decloud_protocol::pool::TeeBackend::Sim,
        Some(decloud_tee::TeeKind::Tdx) => decloud_protocol::pool::TeeBackend::Tdx,
    };
    let scheduler = SchedulerClient::new(
        &config.scheduler_url,
        config.signer.clone(),
        config.capacity,
    )?
    .with_tee(announced);
    let info = scheduler.info().await?;
    if info.chain_id != config.profile.chain_id || info.hub != config.profile.contracts.hub {
        return Err(WorkerError::Config(format!(
            "the scheduler at {} runs on chain {} (hub {}), not on this profile's chain {} (hub {}): check the scheduler URL",
            scheduler.url(),
            info.chain_id,
            info.hub,
            config.profile.chain_id,
            config.profile.contracts.hub
        )));
    }
    scheduler.login().await?;
    std::fs::create_dir_all(&config.data_dir).map_err(|e| WorkerError::io(&config.data_dir, e))?;
    let jobs = JobStore::open(&config.data_dir)?;
    let work = config.data_dir.join("work");
    let scratch = scratch::Scratch::open(work.clone()).map_err(|e| WorkerError::io(&work, e))?;
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(config.data_dir.join("modules")),
        ..RuntimeConfig::default()
    })?;
    let results = BlobStore::from_url(&config.results_store)?;
    let tee = match &config.tee {
        Some(t) => Some(tee_setup(t, &config.profile).await?),
        None => None,
    };
    let heartbeat_every = Duration::from_secs(info.heartbeat_timeout_secs.max(3)) / 3;
    let (batcher, batched) = batch::Batcher::new();
    let (next_watch, watched) = next::NextWatch::new();
    let slots = slots_of(config.capacity);
    let ctx = Arc::new(Context {
        batcher,
        address,
        scheduler,
        chain,
        runtime: Arc::new(runtime),
        jobs,
        scratch,
        results,
        stake_free: Mutex::new(None),
        tee,
        config,
        awaiting_reveal: std::sync::atomic::AtomicUsize::new(0),
        next_watch,
        slots: Arc::new(Semaphore::new(slots)),
        claiming: std::sync::atomic::AtomicUsize::new(0),
    });
    // Stake money ready before the first task: deposits are off the critical path.
    if let Err(job::Failure { reason, .. }) = contribute::top_up(&ctx).await {
        tracing::warn!(%reason, "cannot deposit the stake reserve; deposits will be made per task");
    }
    let tee_line = ctx.tee.as_ref().map_or_else(
        || "none (TEE tasks refused)".to_owned(),
        |t| t.attester.announcement(),
    );
    tracing::info!(worker = %address, scheduler = %ctx.scheduler.url(), capacity = ctx.config.capacity, tee = %tee_line, "worker started");
    let mut tasks = Tasks::new();
    tasks.spawn(heartbeat_loop(ctx.clone(), heartbeat_every));
    tasks.spawn(batch::run(ctx.clone(), batched));
    tasks.spawn(next::run(ctx.clone(), watched));
    tasks.spawn(work_loop(ctx));
    Ok(RunningWorker { address, tasks })
}

/// Connects to the key holders and checks that they serve this chain and hub.
async fn tee_setup(
    config: &TeeConfig,
    profile: &ChainProfile,
) -> Result<tee_job::TeeSetup, WorkerError> {
    if config.sms_urls.is_empty() {
        if profile.contracts.keeper_registry.is_zero() {
            return Err(WorkerError::Config(
                "a TEE worker needs key holders: pass --sms-url URL (once per SMS); this chain's profile names no keeper registry to find them in".into(),
            ));
        }
        return Ok(tee_job::TeeSetup {
            attester: config.attester.clone(),
            key_holders: crate::key_holders::KeyHolders::discovered(),
            standings: Default::default(),
        });
    }
    let mut key_holders = Vec::new();
    for url in &config.sms_urls {
        let sms =
            decloud_sms::SmsClient::new(url).map_err(|e| WorkerError::Config(e.to_string()))?;
        let info = sms
            .info()
            .await
            .map_err(|e| WorkerError::Config(e.to_string()))?;
        if info.chain_id != profile.chain_id || info.hub != profile.contracts.hub {
            return Err(WorkerError::Config(format!(
                "the SMS at {} serves chain {} (hub {}), not this worker's chain {} (hub {}): check --sms",
                sms.url(),
                info.chain_id,
                info.hub,
                profile.chain_id,
                profile.contracts.hub
            )));
        }
        if info.tee != config.attester.kind() {
            return Err(WorkerError::Config(format!(
                "the SMS at {} appraises {} evidence and this worker's enclave is {}: start the worker with --tee {}",
                sms.url(),
                info.tee,
                config.attester.kind(),
                info.tee
            )));
        }
        key_holders.push(sms);
    }
    let key_holders = crate::key_holders::KeyHolders::fixed(key_holders);
    Ok(tee_job::TeeSetup {
        attester: config.attester.clone(),
        key_holders,
        standings: Default::default(),
    })
}

async fn heartbeat_loop(ctx: Arc<Context>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = ctx.scheduler.heartbeat().await {
            tracing::warn!(error = %e, "heartbeat failed");
        }
    }
}

/// Resumes saved jobs, then claims work whenever a slot of capacity is free.
async fn work_loop(ctx: Arc<Context>) {
    let slots = ctx.slots.clone();
    let mut jobs = tokio::task::JoinSet::new();
    match ctx.jobs.load_all() {
        Ok(saved) => {
            for job in saved {
                tracing::info!(task = %job.assignment.task_id, "resuming a job");
                let permit = match job.stage {
                    Stage::Contributed(_) => None,
                    _ => slots.clone().acquire_owned().await.ok(),
                };
                jobs.spawn(job::run(ctx.clone(), job, permit, true));
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot read the saved jobs; they are not resumed"),
    }
    let mut delay = Duration::from_millis(500);
    let mut first = true;
    loop {
        while jobs.try_join_next().is_some() {}
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        // Every slot free now is claimed for at once: the scheduler assigns them together, in
        // one commit.
        let mut permits = vec![permit];
        while let Ok(more) = slots.clone().try_acquire_owned() {
            permits.push(more);
        }
        ctx.claiming
            .store(permits.len(), std::sync::atomic::Ordering::Relaxed);
        // After a restart, the scheduler may hold assignments the worker never saved.
        let claimed = if first {
            match ctx.scheduler.replicates().await {
                Ok(list) => list
                    .into_iter()
                    .find(|a| !ctx.jobs.contains(a.record_id()))
                    .map(|a| Ok(vec![Work::Replicate(Box::new(a))])),
                Err(e) => Some(Err(e)),
            }
        } else {
            None
        };
        let claimed = match claimed {
            Some(result) => result,
            None => {
                first = false;
                let free = u64::try_from(permits.len()).unwrap_or(1);
                ctx.scheduler.claim_works(ctx.config.claim_wait, free).await
            }
        };
        // The slots claimed for go to jobs, the others back (counted as held until then: a
        // batch waits a moment longer, never closes early).
        ctx.claiming.store(0, std::sync::atomic::Ordering::Relaxed);
        match claimed {
            Ok(works) => {
                if !works.is_empty() {
                    delay = Duration::from_millis(500);
                }
                for work in works {
                    // The scheduler hands out at most one replicate per free slot asked for.
                    let Some(permit) = permits.pop() else {
                        tracing::warn!(
                            "the scheduler sent more work than free slots; the rest is left to it"
                        );
                        break;
                    };
                    match work {
                        Work::PoolJob { pool_job } => {
                            tracing::info!(job = %pool_job.job, "pool job claimed");
                            jobs.spawn(pool_job::run(ctx.clone(), pool_job, permit));
                        }
                        Work::Replicate(assignment) => {
                            if ctx.jobs.contains(assignment.record_id()) {
                                continue;
                            }
                            let job = Job {
                                assignment: *assignment,
                                stage: Stage::Claimed,
                            };
                            if let Err(e) = ctx.jobs.hold(&job) {
                                tracing::error!(error = %e, "cannot save a claimed job; not running it");
                                continue;
                            }
                            tracing::info!(task = %job.assignment.task_id, "replicate claimed");
                            jobs.spawn(job::run(ctx.clone(), job, Some(permit), false));
                        }
                    }
                }
            }
            Err(e) => {
                drop(permits);
                if let Some(wait) = e.retry_after() {
                    // Asked to slow down: exactly as long as the scheduler said.
                    tracing::info!(error = %e, wait_secs = wait.as_secs(), "claiming later");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                tracing::warn!(error = %e, "claiming work failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}
