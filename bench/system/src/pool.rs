//! A workerpool split over two processes, for the throughput benchmark: the scheduler and the
//! storage node in this process (as the testkit's pool sets them up, but with their files in a
//! directory of the benchmark's choice), the workers in a child process (this benchmark
//! executable again, `BENCH_ROLE=workers`), as on separate machines. The split tells the CPU
//! of the scheduler from the workers' and lets each configuration put the files on disk or in
//! memory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context as _, bail};
use decloud_chain::ChainProfile;
use decloud_chain::client::Client;
use decloud_scheduler::{RunningScheduler, SchedulerConfig};
use decloud_storage::{RunningStorage, StorageConfig};
use decloud_testkit::Devnet;
use decloud_testkit::pool::POOL_OWNER;
use decloud_worker::WorkerConfig;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _};

/// Price of the workerpool order, per task (the testkit's).
pub const PRICE: u64 = 1_000_000_000;

/// The scheduler and storage node of a benchmark pool.
pub struct BenchPool {
    /// The chain.
    pub profile: ChainProfile,
    /// The workerpool.
    pub workerpool: Address,
    /// `http://addr/blobs`.
    pub storage_url: String,
    /// The scheduler.
    pub scheduler: RunningScheduler,
    // Stops the storage node when the pool is dropped.
    _storage: RunningStorage,
}

impl BenchPool {
    /// Starts a storage node with its blobs under `dir`, registers a workerpool (owner: the
    /// testkit's pool owner), deposits the scheduler's stake money and starts the scheduler with
    /// its SQLite database under `dir`.
    pub async fn start(devnet: &Devnet, dir: &Path, follow: Duration) -> anyhow::Result<Self> {
        let storage = decloud_storage::start(StorageConfig {
            location: dir.join("blobs").display().to_string(),
            listen: ([127, 0, 0, 1], 0).into(),
            server: decloud_storage::ServerConfig::default(),
            transport: decloud_service::transport::Transport::ephemeral(),
        })
        .await
        .context("the storage node did not start")?;
        let profile = devnet.profile().clone();
        let owner = Client::connect(&profile, None, Some(devnet.signer(POOL_OWNER))).await?;
        let workerpool =
            decloud_chain::actions::register_workerpool(&owner, "bench pool", 30, 10).await?;
        decloud_chain::actions::deposit(&owner, U256::from(100_000) * U256::from(PRICE)).await?;
        let mut config = SchedulerConfig::new(
            profile.clone(),
            workerpool,
            devnet.signer(POOL_OWNER),
            &format!("sqlite://{}", dir.join("scheduler.db").display()),
        );
        config.follow_interval = follow;
        // All the workers log in and claim from this one address: the per-client limits (a
        // burst of challenges, claims per second) would refuse the bench's own workers.
        let unlimited = decloud_scheduler::limits::Rate {
            burst: 1_000_000,
            per_sec: 1_000_000.0,
        };
        config.rate_limits.challenges = unlimited;
        config.rate_limits.claims = unlimited;
        let scheduler = decloud_scheduler::start(config).await?;
        Ok(Self {
            profile,
            workerpool,
            storage_url: storage.url(),
            scheduler,
            _storage: storage,
        })
    }

    /// Uploads a module to the storage node and registers it as an app; returns its id.
    pub async fn deploy_app(&self, name: &str, wasm: &[u8]) -> anyhow::Result<Address> {
        Ok(
            decloud_testkit::pool::upload_app(&self.profile, &self.storage_url, name, wasm, None)
                .await?,
        )
    }
}

/// The workers' child process, running.
pub struct Workers {
    child: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
}

impl Workers {
    /// Starts `keys.len()` workers of `capacity` slots in a child process, with their data under
    /// `dir`, and waits until all of them logged in.
    pub async fn start(
        pool: &BenchPool,
        home: &Path,
        keys: &[PrivateKeySigner],
        capacity: u64,
        batch: usize,
        dir: &Path,
    ) -> anyhow::Result<Self> {
        // The scheduler serves only its pool's members: each worker stakes for its capacity.
        let owner = decloud_chain::accounts::dev_signer(POOL_OWNER);
        decloud_testkit::pool::make_members(
            &pool.profile,
            None,
            Some(&owner),
            pool.workerpool,
            keys,
            capacity,
        )
        .await?;
        let keys: Vec<String> = keys
            .iter()
            .map(|k| alloy::hex::encode(k.to_bytes()))
            .collect();
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .env("BENCH_ROLE", "workers")
            .env("BENCH_WORKERS_SCHEDULER", pool.scheduler.url())
            .env("BENCH_WORKERS_STORAGE", &pool.storage_url)
            .env("BENCH_WORKERS_HOME", home)
            .env("BENCH_WORKERS_CAPACITY", capacity.to_string())
            .env("BENCH_WORKERS_BATCH", batch.to_string())
            .env("BENCH_WORKERS_DIR", dir)
            .env("BENCH_WORKERS_KEYS", keys.join(","))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting the workers' process")?;
        let stdout = child.stdout.take().context("no stdout from the workers")?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        loop {
            match lines.next_line().await? {
                Some(line) if line.trim() == "READY" => break,
                Some(_) => continue,
                None => bail!("the workers' process ended before it was ready"),
            }
        }
        let stdin = child.stdin.take();
        Ok(Self { child, stdin })
    }

    /// The child's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops the workers (closes their process's stdin, then waits for it).
    pub async fn stop(mut self) {
        self.stdin.take();
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// The workers' process: starts the workers, says `READY`, runs until its stdin closes.
pub async fn workers_process() -> anyhow::Result<()> {
    let var = |name: &str| std::env::var(name).with_context(|| format!("{name} is not set"));
    let scheduler = var("BENCH_WORKERS_SCHEDULER")?;
    let storage = var("BENCH_WORKERS_STORAGE")?;
    let profile = ChainProfile::load(Path::new(&var("BENCH_WORKERS_HOME")?))?;
    let capacity: u64 = var("BENCH_WORKERS_CAPACITY")?.parse()?;
    let batch: usize = var("BENCH_WORKERS_BATCH")?.parse()?;
    let dir = PathBuf::from(var("BENCH_WORKERS_DIR")?);
    let mut running = Vec::new();
    for (i, key) in var("BENCH_WORKERS_KEYS")?.split(',').enumerate() {
        let signer: PrivateKeySigner = key.parse().context("a worker key")?;
        let mut config = WorkerConfig::new(
            &scheduler,
            profile.clone(),
            signer,
            dir.join(format!("worker-{i}")),
            &storage,
        );
        config.capacity = capacity;
        config.batching.max_tasks = batch;
        config.allow_private_hosts = true;
        // Enough for a thousand tasks' stakes: no deposit on the critical path (the testkit's).
        config.stake_reserve = U256::from(PRICE) * U256::from(300);
        config.claim_wait = Duration::from_secs(5);
        running.push(decloud_worker::start(config).await?);
    }
    println!("READY");
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    for w in running {
        w.stop().await;
    }
    Ok(())
}
