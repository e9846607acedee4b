//! `decloud node`: runs any set of decloud services in one process (storage, market, a
//! workerpool's scheduler, its workers), or each alone against remote peers by URL. The
//! services themselves are `decloud-local`'s [`Node`]; this command maps flags onto its
//! configuration.

use anyhow::{Context, bail};
use clap::Args;
use decloud_local::node::{DEFAULT_SCHEDULER_URL, DEFAULT_STORAGE_URL, Node, NodeConfig, Stopped};
use decloud_local::{LocalError, WorkersConfig};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::shared::{WalletOpts, stop_signals};

/// Arguments of `decloud node`.
#[derive(Args)]
#[command(after_help = "Examples:\n  \
    decloud node --storage --market                      # the shared services of a devnet\n  \
    decloud node --scheduler --workerpool 0x5f1c... --wallet pool --workers 3 --storage\n  \
    decloud node --workers 4 --scheduler-url https://pool.example:7800#sha256:9f86d0... --results-store s3://bucket/results\n  \
    decloud node --market --scheduler --workerpool 0x5f1c... --wallet pool --workers 2 --storage --explorer\n  \
    decloud node --beacon --beacon-threshold 3 --beacon-members 5   # a devnet randomness beacon\n  \
    decloud node --signer --devnet-member 0 --signer-listen 127.0.0.1:7950   # an oracle committee signer\n  \
    decloud node --relay --relay-signer http://127.0.0.1:7950 --relay-signer http://127.0.0.1:7951 --wallet relayer\n  \
    decloud node --scheduler --workerpool 0x5f1c... --wallet pool --workers 1 --tee sim --sms   # TEE tasks on a devnet\n  \
    decloud node --keeper --wallet keeper1 --sms-listen 0.0.0.0:7651 --public-url https://keeper1.example:7651   # one keeper of a k-of-n group, found on chain\n  \
    decloud node --sms --wallet sms1 --attester-stake 100DCT   # an SMS that registers its wallet as an attester\n  \
    decloud node --workers 1 --worker-wallet me --data 0x3f1c...=/data/prices.csv --scheduler-url URL   # a dataset owner's worker beside its data\n\n\
    Each worker of --workers N has its own key in $DECLOUD_HOME/workers/worker-<i>/worker.key, made\n\
    on first start; on a devnet they are given ether and tokens, elsewhere fund them yourself.\n\
    --worker-wallet NAME runs the one worker as that wallet instead.\n\n\
    Services speak TLS 1.3 with a key kept in $DECLOUD_HOME/tls/<service>.key and print their URL\n\
    with its fingerprint (https://127.0.0.1:7800#sha256:...): give clients and workers that URL,\n\
    they accept no other key. --insecure-http (devnets only) serves plain HTTP instead.\n\n\
    Runs until Ctrl-C or SIGTERM, either of which stops every service and exits 0. Every service\n\
    closes a connection that sends no complete request head for 30 s (new or idle), a body that\n\
    sends nothing for 30 s, and one whose client takes none of an answer for 60 s; it refuses\n\
    writes from web pages of other origins (403).")]
pub(crate) struct NodeArgs {
    /// Serve plain HTTP instead of TLS (devnets only): anyone on the path reads and changes
    /// what the services say. Without it each service keeps a key in $DECLOUD_HOME/tls/ and
    /// prints its URL with the key's fingerprint (https://...#sha256:...) for clients to pin.
    #[arg(long = "insecure-http")]
    insecure_http: bool,
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    market: MarketArgs,
    #[command(flatten)]
    scheduler: SchedulerArgs,
    #[command(flatten)]
    workers: WorkerArgs,
    #[command(flatten)]
    explorer: ExplorerArgs,
    #[command(flatten)]
    beacon: BeaconArgs,
    #[command(flatten)]
    sms: SmsArgs,
    #[command(flatten)]
    oracle: super::oracle_node::OracleArgs,
}

/// The secret management service's flags.
#[derive(Args)]
#[command(next_help_heading = "Secret management service")]
struct SmsArgs {
    /// Run the secret management service: it keeps dataset keys and secrets sealed, and
    /// releases them to attested TEE enclaves; it signs attestations with --wallet.
    #[arg(long)]
    sms: bool,
    /// Run the SMS as one keeper of a k-of-n group (implies --sms): it stores only its own
    /// share of each secret (owners split them with `--keepers URL,... --threshold K`), checks
    /// each share against the owner's commitments, and appraises every release on its own.
    /// Register its --wallet as an attester (`decloud attester register`) so the hub counts it.
    #[arg(long)]
    keeper: bool,
    /// Address the SMS listens on.
    #[arg(
        long = "sms-listen",
        default_value = "127.0.0.1:7650",
        value_name = "ADDR"
    )]
    sms_listen: SocketAddr,
    /// The SMS's database [default: sqlite under $DECLOUD_HOME/sms/]; or postgres://...
    #[arg(
        long = "sms-db",
        env = "DECLOUD_SMS_DB",
        value_name = "URL",
        hide_env_values = true
    )]
    sms_db: Option<String>,
    /// The TEE evidence the SMS appraises: sim (devnets only: a test PKI, protects nothing) or
    /// tdx (Intel's DCAP root) [default: sim on a devnet, tdx elsewhere].
    #[arg(long = "sms-tee", value_name = "sim|tdx")]
    sms_tee: Option<decloud_tee::TeeKind>,
    /// Register the SMS's --wallet as an attester at start, locking this stake (nano-units, or
    /// tokens with a DCT suffix; at least the hub's minimum), unless it is one already: its
    /// attestations count only then. `/health` says whether they count.
    #[arg(long = "attester-stake", value_name = "AMOUNT")]
    attester_stake: Option<String>,
    /// With --keeper: the https URL others reach this keeper at, published in the chain's keeper
    /// registry at start when it differs from the one there (a transaction), so that owners and
    /// TEE workers find it. Without a #sha256: pin, this node's own key's is added.
    #[arg(long = "public-url", value_name = "URL", requires = "keeper")]
    public_url: Option<String>,
}

/// The beacon's flags.
#[derive(Args)]
#[command(next_help_heading = "Randomness beacon")]
struct BeaconArgs {
    /// Run a devnet randomness beacon: a t-of-n group of test keys signing a round every period
    /// in drand's evmnet format, served as drand does (/info, /public/latest, /public/<round>).
    #[arg(long)]
    beacon: bool,
    /// Address the beacon listens on.
    #[arg(
        long = "beacon-listen",
        default_value = "127.0.0.1:7900",
        value_name = "ADDR"
    )]
    beacon_listen: SocketAddr,
    /// Partial signatures a round needs (t).
    #[arg(long = "beacon-threshold", default_value_t = 2, value_name = "T")]
    beacon_threshold: u32,
    /// Members of the group (n).
    #[arg(long = "beacon-members", default_value_t = 3, value_name = "N")]
    beacon_members: u32,
    /// Seconds between rounds.
    #[arg(long = "beacon-period", default_value_t = 3, value_name = "SECS")]
    beacon_period: u64,
    /// Unix time of round 1 [default: now].
    #[arg(long = "beacon-genesis", value_name = "UNIX_SECS")]
    beacon_genesis: Option<u64>,
    /// The seed the test keys derive from: anyone who knows it can sign rounds, so a devnet only.
    #[arg(
        long = "beacon-seed",
        default_value = "decloud devnet beacon",
        value_name = "TEXT"
    )]
    beacon_seed: String,
}

/// The explorer's flags.
#[derive(Args)]
#[command(next_help_heading = "Explorer")]
struct ExplorerArgs {
    /// Run the explorer: a web UI of every deal and task, on chain and off chain.
    #[arg(long)]
    explorer: bool,
    /// Address the explorer's web UI listens on.
    #[arg(
        long = "explorer-listen",
        default_value = "127.0.0.1:7900",
        value_name = "ADDR"
    )]
    explorer_listen: SocketAddr,
    /// The explorer's database [default: sqlite under $DECLOUD_HOME/explorer/]; or postgres://...
    #[arg(
        long = "explorer-db",
        env = "DECLOUD_EXPLORER_DB",
        value_name = "URL",
        hide_env_values = true
    )]
    explorer_db: Option<String>,
    /// A scheduler the explorer asks for its pool's off-chain trace (repeat for several pools)
    /// [default: the scheduler of this node or of its workers].
    #[arg(long = "explorer-scheduler", value_name = "URL")]
    explorer_scheduler: Vec<String>,
    /// The market whose open orders the explorer shows [default: this node's with --market].
    #[arg(long = "explorer-market", value_name = "URL")]
    explorer_market: Option<String>,
}

impl ExplorerArgs {
    /// The explorer's configuration, if it runs.
    fn config(
        &self,
        home: &Path,
        profile: &decloud_chain::ChainProfile,
    ) -> anyhow::Result<Option<decloud_explorer::ExplorerConfig>> {
        if !self.explorer {
            return Ok(None);
        }
        let database_url = match &self.explorer_db {
            Some(url) => url.clone(),
            None => sqlite_under(home, "explorer", "explorer.db")?,
        };
        let mut config = decloud_explorer::ExplorerConfig::new(profile.clone(), &database_url);
        config.listen = self.explorer_listen;
        config.schedulers = self.explorer_scheduler.clone();
        config.market = given(&self.explorer_market);
        Ok(Some(config))
    }
}

/// The storage service's flags.
#[derive(Args)]
#[command(next_help_heading = "Storage service")]
struct StorageArgs {
    /// Run the storage service: a content-addressed blob server for apps, datasets and results.
    #[arg(long)]
    storage: bool,
    /// Address the storage service listens on.
    #[arg(
        long = "storage-listen",
        alias = "listen",
        default_value = "127.0.0.1:7700",
        value_name = "ADDR"
    )]
    storage_listen: SocketAddr,
    /// Where the storage service keeps blobs [default: $DECLOUD_HOME/blobs]; also s3://bucket/prefix.
    #[arg(long = "storage-dir", alias = "dir", value_name = "DIR|URL")]
    storage_dir: Option<String>,
    /// Largest upload the storage service accepts, in MiB. Uploads and downloads stream: the
    /// node's memory does not grow with a blob's size.
    #[arg(
        long = "storage-max-upload-mib",
        default_value_t = 256,
        value_name = "MIB"
    )]
    storage_max_upload_mib: u64,
}

/// The market's flags.
#[derive(Args)]
#[command(next_help_heading = "Market")]
struct MarketArgs {
    /// Run the market: the order book of signed orders, following the chain of the profile.
    #[arg(long)]
    market: bool,
    /// Address the market listens on.
    #[arg(
        long = "market-listen",
        default_value = "127.0.0.1:7600",
        value_name = "ADDR"
    )]
    market_listen: SocketAddr,
    /// The market's database [default: sqlite under $DECLOUD_HOME/market/]; or postgres://...
    #[arg(
        long = "market-db",
        env = "DECLOUD_MARKET_DB",
        value_name = "URL",
        hide_env_values = true
    )]
    market_db: Option<String>,
    /// Seconds between two reads of new blocks by the market.
    #[arg(long = "market-follow-secs", default_value_t = 2, value_name = "SECS")]
    market_follow_secs: u64,
}

/// The scheduler's flags.
#[derive(Args)]
#[command(next_help_heading = "Scheduler")]
struct SchedulerArgs {
    /// Run the scheduler of --workerpool, signing with its owner's wallet (--wallet).
    #[arg(long)]
    scheduler: bool,
    /// The workerpool the scheduler runs (`decloud workerpool deploy` prints it); with
    /// --workers and an unpinned https --scheduler-url, the pool whose scheduler key (published
    /// on chain) the workers pin.
    #[arg(long, value_name = "ADDRESS")]
    workerpool: Option<alloy::primitives::Address>,
    #[command(flatten)]
    wallet: WalletOpts,
    /// Address the scheduler listens on.
    #[arg(
        long = "scheduler-listen",
        default_value = "127.0.0.1:7800",
        value_name = "ADDR"
    )]
    scheduler_listen: SocketAddr,
    /// The scheduler's database [default: sqlite under $DECLOUD_HOME/scheduler/]; or postgres://...
    #[arg(
        long = "scheduler-db",
        env = "DECLOUD_SCHEDULER_DB",
        value_name = "URL",
        hide_env_values = true
    )]
    scheduler_db: Option<String>,
    /// Milliseconds between two reads of new blocks by the scheduler.
    #[arg(long = "scheduler-follow-ms", default_value_t = 500, value_name = "MS")]
    scheduler_follow_ms: u64,
    /// The randomness beacon's HTTP API (drand's shape) the scheduler fetches the rounds of its
    /// random-selection deals from when nobody submitted them (with --beacon: this node's).
    #[arg(long = "scheduler-beacon-url", value_name = "URL")]
    scheduler_beacon_url: Option<String>,
    /// A PEM file of certificate authorities whose client certificates the pool API accepts
    /// (mutual TLS; repeat for several). New identities from them wait for an administrator.
    #[arg(long = "pool-client-ca", value_name = "PEM")]
    pool_client_ca: Vec<std::path::PathBuf>,
    /// A file holding the password of the pool API's administrator `admin`, created at the
    /// first start with it (a later start leaves an existing `admin` as it is). Without it the
    /// pool has no administrator.
    #[arg(
        long = "pool-admin-password-file",
        env = "DECLOUD_POOL_ADMIN_PASSWORD_FILE",
        value_name = "FILE"
    )]
    pool_admin_password_file: Option<std::path::PathBuf>,
    /// An OpenID Connect issuer whose ID tokens log in to the pool API, and the audience (the
    /// pool's client id there) they must carry: `ISSUER_URL=AUDIENCE` (repeatable). Its keys
    /// are found through its discovery document.
    #[arg(long = "pool-oidc", value_name = "ISSUER=AUDIENCE", value_parser = parse_oidc_issuer)]
    pool_oidc: Vec<decloud_pool::OidcIssuer>,
    /// Accept new identities from certificates and ID tokens at once (as standard users)
    /// instead of keeping them pending until an administrator validates them.
    #[arg(long = "pool-auto-accept")]
    pool_auto_accept: bool,
    /// Seconds of silence after which the scheduler gives a worker's work to others.
    #[arg(
        long = "heartbeat-timeout-secs",
        default_value_t = 60,
        value_name = "SECS"
    )]
    heartbeat_timeout_secs: u64,
}

/// The workers' flags.
#[derive(Args)]
#[command(next_help_heading = "Workers")]
struct WorkerArgs {
    /// Run this many workers, each with its own wallet.
    #[arg(long, default_value_t = 0, value_name = "N")]
    workers: usize,
    /// The scheduler the workers work for, with its key's fingerprint
    /// (https://HOST:PORT#sha256:...) [default: this node's with --scheduler, else the one on
    /// 127.0.0.1:7800 of this $DECLOUD_HOME].
    #[arg(long = "scheduler-url", env = "DECLOUD_SCHEDULER", value_name = "URL")]
    scheduler_url: Option<String>,
    /// Where the workers upload results [default: this node's storage with --storage, else
    /// the one on 127.0.0.1:7700 of this $DECLOUD_HOME]; also s3://bucket/prefix.
    #[arg(
        long = "results-store",
        env = "DECLOUD_RESULTS_STORE",
        value_name = "URL"
    )]
    results_store: Option<String>,
    /// Replicates each worker runs at once.
    #[arg(long = "worker-capacity", default_value_t = 1, value_name = "N")]
    worker_capacity: u64,
    /// Most results a worker puts in one transaction (`contributeAndRevealBatch` at trust 1,
    /// `contributeBatch` and `revealBatch` for replicas); 1 sends each on its own. Only a worker
    /// with several slots fills a batch.
    #[arg(long = "worker-batch", default_value_t = 32, value_name = "N")]
    worker_batch: usize,
    /// Longest a finished result (or a reveal) waits for others before its batch is sent.
    #[arg(long = "worker-batch-ms", default_value_t = 50, value_name = "MS")]
    worker_batch_ms: u64,
    /// Escrow balance each worker keeps deposited for its stakes (topped up from its wallet at
    /// start and whenever a stake needs more): nano-units, or tokens with a DCT suffix.
    #[arg(long = "worker-stake", default_value = "10 DCT", value_name = "AMOUNT")]
    worker_stake: String,
    /// Let workers fetch apps, datasets and inputs from loopback and private addresses and local
    /// paths [default: only on the devnet].
    #[arg(long = "allow-private-hosts")]
    allow_private_hosts: Option<bool>,
    /// Run TEE tasks in enclaves of this backend: sim (devnet only: a simulated TDX under a
    /// test PKI, protects nothing) or tdx (inside an Intel TDX guest). Without it the workers
    /// fail every TEE task they are handed.
    #[arg(long = "tee", value_name = "sim|tdx")]
    tee: Option<decloud_tee::TeeKind>,
    /// A key holder (SMS) the workers' TEE tasks ask for their secrets, with its fingerprint;
    /// repeat it once per key holder (a deal needing k attestations needs k of them)
    /// [default: this node's SMS with --sms].
    #[arg(long = "sms-url", value_name = "URL")]
    sms_urls: Vec<String>,
    /// A local dataset these workers hold (`decloud dataset deploy --local PATH` registered
    /// it): its tasks read it from PATH, checked against its checksum, and it is never
    /// uploaded. Repeat it per dataset. Confine the dataset to these workers in the pool
    /// (private, owner = you) so no other worker is handed its tasks.
    #[arg(long = "data", value_name = "0xDATASET=PATH", value_parser = parse_local_data)]
    local_data: Vec<(alloy::primitives::Address, std::path::PathBuf)>,
    /// Run the worker as this wallet (name in $DECLOUD_HOME/wallets, or a keystore path; its
    /// password as for --wallet) instead of with a key of its own under $DECLOUD_HOME/workers/:
    /// a dataset owner's worker beside its local data (--data) works as the owner, the address
    /// the pool declares private to the owner and the one paid. Only with --workers 1.
    #[arg(long = "worker-wallet", value_name = "NAME|PATH")]
    worker_wallet: Option<String>,
}

/// Parses `0xDATASET=PATH` (the file must exist).
fn parse_local_data(
    text: &str,
) -> Result<(alloy::primitives::Address, std::path::PathBuf), String> {
    let (address, path) = text
        .split_once('=')
        .ok_or("expected 0xDATASET=PATH, e.g. --data 0x5f1c...=/data/prices.csv")?;
    let address = address
        .parse()
        .map_err(|_| format!("{address} is not a dataset address (0x and 40 hex digits)"))?;
    let path = std::path::PathBuf::from(path);
    if !path.is_file() {
        return Err(format!(
            "{} is not a file: give the dataset's local path",
            path.display()
        ));
    }
    Ok((address, path))
}

/// Logs of the services on stderr (`RUST_LOG` overrides the level).
pub(crate) fn init_logs(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub(crate) fn sqlite_under(home: &Path, dir: &str, file: &str) -> anyhow::Result<String> {
    let dir = home.join(dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(format!("sqlite://{}", dir.join(file).display()))
}

/// A URL flag, unless empty.
fn given(url: &Option<String>) -> Option<String> {
    url.clone().filter(|u| !u.trim().is_empty())
}

/// Runs `decloud node`: starts the chosen services and serves until stopped by Ctrl-C or
/// SIGTERM, either of which stops every service and exits 0.
pub(crate) async fn run(args: NodeArgs, home: &Path) -> anyhow::Result<()> {
    let NodeArgs {
        insecure_http,
        storage,
        market,
        scheduler,
        workers,
        explorer,
        beacon,
        sms,
        oracle,
    } = args;
    if oracle.any() {
        if storage.storage
            || market.market
            || scheduler.scheduler
            || workers.workers > 0
            || explorer.explorer
            || beacon.beacon
            || sms.sms
        {
            bail!(
                "run --signer and --relay in a `decloud node` of their own, without other services"
            );
        }
        init_logs("info");
        return super::oracle_node::run(oracle, &scheduler.wallet, home).await;
    }
    if !storage.storage
        && !market.market
        && !scheduler.scheduler
        && workers.workers == 0
        && !explorer.explorer
        && !beacon.beacon
        && !sms.sms
        && !sms.keeper
    {
        bail!(
            "choose at least one service to run, e.g. `decloud node --market --storage` or `decloud node --scheduler --workerpool <address> --workers 3`"
        );
    }
    init_logs("info");
    let stop = stop_signals();
    let needs_chain = market.market
        || scheduler.scheduler
        || workers.workers > 0
        || explorer.explorer
        || sms.sms
        || sms.keeper;
    let profile = if needs_chain || insecure_http {
        Some(decloud_chain::ChainProfile::load(home)?)
    } else {
        None
    };
    if let Some(profile) = profile.as_ref().filter(|_| insecure_http) {
        decloud_service::transport::Transport::InsecureHttp
            .check_allowed(profile.chain_id, profile.is_devnet())?;
    }
    let transport = |service| decloud_local::node::node_transport(home, service, insecure_http);
    let local_url =
        |service, default| decloud_local::node::local_service_url(home, service, default);

    let mut config = NodeConfig::default();
    let storage_location = storage
        .storage_dir
        .clone()
        .unwrap_or_else(|| home.join("blobs").display().to_string());
    if storage.storage {
        config.storage = Some(decloud_storage::StorageConfig {
            location: storage_location.clone(),
            listen: storage.storage_listen,
            server: decloud_storage::ServerConfig {
                max_upload_bytes: storage.storage_max_upload_mib.saturating_mul(1 << 20),
                ..decloud_storage::ServerConfig::default()
            },
            transport: transport("storage")?,
        });
    }
    if let (Some(profile), true) = (&profile, market.market) {
        let database_url = match &market.market_db {
            Some(url) => url.clone(),
            None => sqlite_under(home, "market", "orders.db")?,
        };
        config.market = Some(decloud_market::MarketConfig {
            listen: market.market_listen,
            database_url,
            profile: profile.clone(),
            follow_interval: Duration::from_secs(market.market_follow_secs.max(1)),
            limits: decloud_market::MarketLimits::default(),
            transport: transport("market")?,
        });
    }
    if let (Some(profile), true) = (&profile, sms.sms || sms.keeper) {
        let database_url = match &sms.sms_db {
            Some(url) => url.clone(),
            None => sqlite_under(home, "sms", "secrets.db")?,
        };
        let devnet = decloud_protocol::is_devnet_chain_id(profile.chain_id);
        if let Some(stake) = &sms.attester_stake {
            register_attester(profile, scheduler.wallet.unlock(home)?, stake).await?;
        }
        if let Some(url) = &sms.public_url {
            super::keeper::check_public_url(url, insecure_http)?;
        }
        config.sms = Some(decloud_sms::SmsConfig {
            listen: sms.sms_listen,
            database_url,
            profile: profile.clone(),
            signer: scheduler.wallet.unlock(home)?,
            key_path: decloud_local::node::tls_key_path(home, "sms-seal"),
            tee: sms.sms_tee.unwrap_or(if devnet {
                decloud_tee::TeeKind::Sim
            } else {
                decloud_tee::TeeKind::Tdx
            }),
            transport: transport("sms")?,
            keeper: sms.keeper,
        });
    }
    let mut workerpool = None;
    if let (Some(profile), true) = (&profile, scheduler.scheduler) {
        let pool = scheduler.workerpool.context(
            "--scheduler needs --workerpool <address> (`decloud workerpool list --mine` shows yours)",
        )?;
        let signer = scheduler.wallet.unlock(home)?;
        let database_url = match &scheduler.scheduler_db {
            Some(url) => url.clone(),
            None => sqlite_under(home, "scheduler", &format!("{pool}.db"))?,
        };
        let mut c =
            decloud_scheduler::SchedulerConfig::new(profile.clone(), pool, signer, &database_url);
        c.listen = scheduler.scheduler_listen;
        c.follow_interval = Duration::from_millis(scheduler.scheduler_follow_ms.max(50));
        c.beacon_url = scheduler.scheduler_beacon_url.clone();
        c.heartbeat_timeout = Duration::from_secs(scheduler.heartbeat_timeout_secs.max(3));
        c.transport = transport("scheduler")?;
        for path in &scheduler.pool_client_ca {
            c.client_cas
                .extend(decloud_service::tls::load_certificates(path)?);
        }
        c.pool.issuers = scheduler.pool_oidc.clone();
        c.pool.auto_accept = scheduler.pool_auto_accept;
        // A devnet's issuer may be a local test one; elsewhere only public https issuers.
        c.pool.allow_private_issuers = profile.is_devnet();
        if let Some(path) = &scheduler.pool_admin_password_file {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!(
                    "reading the pool administrator's password from {}",
                    path.display()
                )
            })?;
            let password = text.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                bail!(
                    "{} is empty: write the pool administrator's password in it",
                    path.display()
                );
            }
            c.pool.admin_password = Some(password.to_owned());
        }
        config.scheduler = Some(c);
        workerpool = Some(pool);
    }
    if let Some(profile) = profile.as_ref().filter(|_| workers.workers > 0) {
        let identities = match &workers.worker_wallet {
            Some(wallet) => {
                if workers.workers != 1 {
                    bail!(
                        "--worker-wallet runs one worker as that wallet: use it with --workers 1"
                    );
                }
                let signer = WalletOpts {
                    wallet: wallet.clone(),
                    password_file: scheduler.wallet.password_file.clone(),
                }
                .unlock(home)?;
                // Its own data directory: a worker-<i> directory belongs to that worker's key.
                let data_dir = home
                    .join("workers")
                    .join(format!("wallet-{}", signer.address()));
                vec![decloud_local::node::WorkerIdentity { signer, data_dir }]
            }
            None => decloud_local::node::home_workers(home, profile, workers.workers).await?,
        };
        let mut set = WorkersConfig::new(profile.clone(), identities);
        set.scheduler_url = match given(&workers.scheduler_url) {
            Some(url) => Some(pin_from_chain(profile, &url, scheduler.workerpool).await?),
            None => (!scheduler.scheduler).then(|| local_url("scheduler", DEFAULT_SCHEDULER_URL)),
        };
        set.results_store = given(&workers.results_store)
            .or_else(|| (!storage.storage).then(|| local_url("storage", DEFAULT_STORAGE_URL)));
        set.capacity = workers.worker_capacity.max(1);
        set.batching = decloud_worker::Batching {
            max_tasks: workers.worker_batch.max(1),
            max_wait: std::time::Duration::from_millis(workers.worker_batch_ms),
        };
        set.stake_reserve = decloud_protocol::parse_amount(&workers.worker_stake)
            .context("--worker-stake is an amount, e.g. \"10 DCT\" or 2.5DCT")?;
        set.allow_private_hosts = workers.allow_private_hosts.unwrap_or(profile.is_devnet());
        set.tee = workers.tee;
        set.sms_urls = workers.sms_urls.clone();
        set.local_data = workers.local_data.clone();
        if set.tee.is_some()
            && set.sms_urls.is_empty()
            && !sms.sms
            && !sms.keeper
            && profile.contracts.keeper_registry.is_zero()
        {
            bail!(
                "--tee needs a key holder: add --sms to run one here, or --sms-url URL (once per SMS); this chain's profile names no keeper registry to find keepers in"
            );
        }
        config.workers = Some(set);
    }
    if let Some(profile) = &profile {
        config.explorer = explorer.config(home, profile)?;
    }

    if beacon.beacon {
        config.beacon = Some(decloud_beacon::node::BeaconConfig {
            listen: beacon.beacon_listen,
            seed: beacon.beacon_seed.clone(),
            threshold: beacon.beacon_threshold,
            members: beacon.beacon_members,
            genesis: beacon.beacon_genesis,
            period: beacon.beacon_period,
        });
    }

    let node = Node::start(config).await.map_err(explain)?;
    if let Some(b) = node.beacon() {
        let info = b.info();
        println!(
            "beacon: a {}-of-{} group, a round every {} s from {}, on {} (key {})",
            beacon.beacon_threshold,
            beacon.beacon_members,
            info.period,
            info.genesis_time,
            b.url(),
            info.public_key
        );
    }
    if let Some(s) = node.storage() {
        println!("storage: serving {storage_location} on {}", s.url());
    }
    if let Some(m) = node.market() {
        println!("market: serving the order book on {}", m.url());
    }
    if let Some(s) = node.sms() {
        let role = if sms.keeper {
            "keeper (holds only its shares)"
        } else {
            "sms"
        };
        println!(
            "{role}: {}, serving secrets on {}",
            s.announcement(),
            s.url()
        );
        if let (Some(url), Some(profile)) = (&sms.public_url, &profile) {
            let signer = scheduler.wallet.unlock(home)?;
            let line = super::keeper::publish_at_start(profile, signer, url, &s.url()).await?;
            println!("{role}: {line}");
        }
    }
    if let (Some(s), Some(pool)) = (node.scheduler(), workerpool) {
        println!(
            "scheduler: workerpool {pool}, workers log in at {}",
            s.url()
        );
    }
    if let Some(e) = node.explorer() {
        println!("explorer: open {} in a browser", e.url());
    }
    let workers_url = node.workers_scheduler_url().unwrap_or_default();
    for i in 0..node.worker_count() {
        if let Some(w) = node.worker(i) {
            println!(
                "worker {}: {} working for {workers_url}",
                i + 1,
                w.address()
            );
        }
    }

    tokio::select! {
        stopped = node.wait() => match stopped {
            Stopped::Storage(r) => {
                r?;
                bail!("the storage service stopped")
            }
            Stopped::Market => bail!("the market stopped"),
            Stopped::Sms => bail!("the secret management service stopped"),
            Stopped::Scheduler => bail!("the scheduler stopped"),
            Stopped::Explorer => bail!("the explorer stopped"),
            Stopped::Beacon(r) => {
                r?;
                bail!("the beacon stopped")
            }
        },
        signal = stop => {
            // select! has dropped `node.wait()`, and the node with it, before this branch runs:
            // the listeners are closed, the workers stopped before their scheduler and storage,
            // and the databases closed.
            println!("node: stopped on {signal}");
            Ok(())
        }
    }
}

/// `url` as given when it pins a key or speaks plain HTTP; an unpinned `https://` URL pinned to
/// the key `workerpool`'s owner published on chain.
async fn pin_from_chain(
    profile: &decloud_chain::ChainProfile,
    url: &str,
    workerpool: Option<alloy::primitives::Address>,
) -> anyhow::Result<String> {
    let pinned: decloud_service::transport::PinnedUrl = url.parse()?;
    if pinned.pin().is_some() || !pinned.base().starts_with("https://") {
        return Ok(url.to_owned());
    }
    let pool = workerpool.with_context(|| {
        format!(
            "--scheduler-url {url} pins no key: append #sha256:<fingerprint> as the scheduler printed it, or pass --workerpool <address> to read the key its owner published on chain"
        )
    })?;
    let client = decloud_chain::client::Client::connect(profile, None, None).await?;
    let key = decloud_chain::actions::scheduler_key(&client, pool)
        .await?
        .with_context(|| {
            format!(
                "workerpool {pool} has published no scheduler key on chain (its scheduler publishes it when it starts over TLS): append #sha256:<fingerprint> to --scheduler-url"
            )
        })?;
    let fingerprint = decloud_service::tls::Fingerprint(key.0);
    Ok(decloud_service::transport::PinnedUrl::new(pinned.base(), Some(fingerprint)).to_string())
}

/// Names the flag that fixes a service that cannot listen.
fn explain(e: LocalError) -> anyhow::Error {
    match e {
        LocalError::Storage(e @ decloud_storage::StorageError::Listen { .. }) => {
            anyhow::Error::new(e)
                .context("the storage service cannot start: pass another --storage-listen")
        }
        LocalError::Beacon(e @ decloud_beacon::node::NodeError::Listen { .. }) => {
            anyhow::Error::new(e).context("the beacon cannot start: pass another --beacon-listen")
        }
        e => e.into(),
    }
}

/// `ISSUER_URL=AUDIENCE` (split at the last `=`) as a pool's OpenID issuer.
fn parse_oidc_issuer(text: &str) -> Result<decloud_pool::OidcIssuer, String> {
    let (issuer, audience) = text.rsplit_once('=').ok_or_else(|| {
        format!(
            "{text:?}: expected ISSUER_URL=AUDIENCE, e.g. https://accounts.example.com=decloud-pool"
        )
    })?;
    let url =
        reqwest::Url::parse(issuer).map_err(|e| format!("{issuer:?} is not an issuer URL: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") || audience.trim().is_empty() {
        return Err(format!(
            "{text:?}: expected ISSUER_URL=AUDIENCE with an http(s) issuer and a non-empty audience"
        ));
    }
    Ok(decloud_pool::OidcIssuer {
        issuer: issuer.to_owned(),
        audience: audience.trim().to_owned(),
        jwks_url: String::new(),
    })
}

/// Registers `signer` as an attester with `stake` unless its attestations count already; a
/// registration that does not count (leaving, slashed, under the minimum) is an error to fix
/// by hand, not something to paper over at start.
async fn register_attester(
    profile: &decloud_chain::ChainProfile,
    signer: alloy::signers::local::PrivateKeySigner,
    stake: &str,
) -> anyhow::Result<()> {
    use decloud_chain::attesters;
    let stake = decloud_protocol::parse_amount(stake)?;
    let me = signer.address();
    let client = decloud_chain::client::Client::connect(profile, None, Some(signer)).await?;
    let record = attesters::attester(&client, me).await?;
    if record.active {
        // A log line, not stdout: the node's first line on stdout is its services' URLs.
        tracing::info!(attester = %me, stake = %decloud_protocol::format_amount(record.stake), "sms: a registered attester already");
        return Ok(());
    }
    if record.registered_at != 0 || record.slashed {
        bail!(
            "the SMS's wallet {me} is registered but its attestations do not count (leaving, slashed or under the minimum stake): see `decloud attester show --wallet ...`"
        );
    }
    let min = attesters::min_stake(&client).await?;
    if stake < min {
        bail!(
            "--attester-stake {} is below the attesters' minimum {}: give {} or more",
            decloud_protocol::format_amount(stake),
            decloud_protocol::format_amount(min),
            decloud_protocol::format_amount(min)
        );
    }
    attesters::register(&client, stake).await?;
    tracing::info!(attester = %me, stake = %decloud_protocol::format_amount(stake), "sms: registered as an attester");
    Ok(())
}

#[cfg(test)]
mod oidc_flag_tests {
    use super::parse_oidc_issuer;

    #[test]
    fn an_issuer_and_its_audience_parse_and_bad_ones_say_what_is_expected() {
        let i = parse_oidc_issuer("https://accounts.example.com=decloud-pool").unwrap();
        assert_eq!(i.issuer, "https://accounts.example.com");
        assert_eq!(i.audience, "decloud-pool");
        assert!(i.jwks_url.is_empty(), "keys come from discovery");
        for bad in [
            "https://accounts.example.com",
            "https://a.example=",
            "not a url=x",
            "ftp://x=y",
        ] {
            let err = parse_oidc_issuer(bad).unwrap_err();
            assert!(
                err.contains("ISSUER") || err.contains("issuer URL"),
                "{bad}: {err}"
            );
        }
    }
}
