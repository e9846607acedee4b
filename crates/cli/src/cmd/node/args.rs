//! The flags of `decloud node`: one group per service, each under its own heading of `--help`,
//! and the parsers of the flags whose values have a shape of their own.

use clap::Args;
use std::net::SocketAddr;

use crate::cmd::shared::WalletOpts;

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
    pub(super) insecure_http: bool,
    #[command(flatten)]
    pub(super) storage: StorageArgs,
    #[command(flatten)]
    pub(super) market: MarketArgs,
    #[command(flatten)]
    pub(super) scheduler: SchedulerArgs,
    #[command(flatten)]
    pub(super) workers: WorkerArgs,
    #[command(flatten)]
    pub(super) explorer: ExplorerArgs,
    #[command(flatten)]
    pub(super) beacon: BeaconArgs,
    #[command(flatten)]
    pub(super) sms: SmsArgs,
    #[command(flatten)]
    pub(super) oracle: crate::cmd::oracle_node::OracleArgs,
}

/// The secret management service's flags.
#[derive(Args)]
#[command(next_help_heading = "Secret management service")]
pub(super) struct SmsArgs {
    /// Run the secret management service: it keeps dataset keys and secrets sealed, and
    /// releases them to attested TEE enclaves; it signs attestations with --wallet.
    #[arg(long)]
    pub(super) sms: bool,
    /// Run the SMS as one keeper of a k-of-n group (implies --sms): it stores only its own
    /// share of each secret (owners split them with `--keepers URL,... --threshold K`), checks
    /// each share against the owner's commitments, and appraises every release on its own.
    /// Register its --wallet as an attester (`decloud attester register`) so the hub counts it.
    #[arg(long)]
    pub(super) keeper: bool,
    /// Address the SMS listens on.
    #[arg(
        long = "sms-listen",
        default_value = "127.0.0.1:7650",
        value_name = "ADDR"
    )]
    pub(super) sms_listen: SocketAddr,
    /// The SMS's database [default: sqlite under $DECLOUD_HOME/sms/]; or postgres://...
    #[arg(
        long = "sms-db",
        env = "DECLOUD_SMS_DB",
        value_name = "URL",
        hide_env_values = true
    )]
    pub(super) sms_db: Option<String>,
    /// The TEE evidence the SMS appraises: sim (devnets only: a test PKI, protects nothing) or
    /// tdx (Intel's DCAP root) [default: sim on a devnet, tdx elsewhere].
    #[arg(long = "sms-tee", value_name = "sim|tdx")]
    pub(super) sms_tee: Option<decloud_tee::TeeKind>,
    /// Register the SMS's --wallet as an attester at start, locking this stake (nano-units, or
    /// tokens with a DCT suffix; at least the hub's minimum), unless it is one already: its
    /// attestations count only then. `/health` says whether they count.
    #[arg(long = "attester-stake", value_name = "AMOUNT")]
    pub(super) attester_stake: Option<String>,
    /// With --keeper: the https URL others reach this keeper at, published in the chain's keeper
    /// registry at start when it differs from the one there (a transaction), so that owners and
    /// TEE workers find it. Without a #sha256: pin, this node's own key's is added.
    #[arg(long = "public-url", value_name = "URL", requires = "keeper")]
    pub(super) public_url: Option<String>,
}

/// The beacon's flags.
#[derive(Args)]
#[command(next_help_heading = "Randomness beacon")]
pub(super) struct BeaconArgs {
    /// Run a devnet randomness beacon: a t-of-n group of test keys signing a round every period
    /// in drand's evmnet format, served as drand does (/info, /public/latest, /public/<round>).
    #[arg(long)]
    pub(super) beacon: bool,
    /// Address the beacon listens on.
    #[arg(
        long = "beacon-listen",
        default_value = "127.0.0.1:7900",
        value_name = "ADDR"
    )]
    pub(super) beacon_listen: SocketAddr,
    /// Partial signatures a round needs (t).
    #[arg(long = "beacon-threshold", default_value_t = 2, value_name = "T")]
    pub(super) beacon_threshold: u32,
    /// Members of the group (n).
    #[arg(long = "beacon-members", default_value_t = 3, value_name = "N")]
    pub(super) beacon_members: u32,
    /// Seconds between rounds.
    #[arg(long = "beacon-period", default_value_t = 3, value_name = "SECS")]
    pub(super) beacon_period: u64,
    /// Unix time of round 1 [default: now].
    #[arg(long = "beacon-genesis", value_name = "UNIX_SECS")]
    pub(super) beacon_genesis: Option<u64>,
    /// The seed the test keys derive from: anyone who knows it can sign rounds, so a devnet only.
    #[arg(
        long = "beacon-seed",
        default_value = "decloud devnet beacon",
        value_name = "TEXT"
    )]
    pub(super) beacon_seed: String,
}

/// The explorer's flags.
#[derive(Args)]
#[command(next_help_heading = "Explorer")]
pub(super) struct ExplorerArgs {
    /// Run the explorer: a web UI of every deal and task, on chain and off chain.
    #[arg(long)]
    pub(super) explorer: bool,
    /// Address the explorer's web UI listens on.
    #[arg(
        long = "explorer-listen",
        default_value = "127.0.0.1:7900",
        value_name = "ADDR"
    )]
    pub(super) explorer_listen: SocketAddr,
    /// The explorer's database [default: sqlite under $DECLOUD_HOME/explorer/]; or postgres://...
    #[arg(
        long = "explorer-db",
        env = "DECLOUD_EXPLORER_DB",
        value_name = "URL",
        hide_env_values = true
    )]
    pub(super) explorer_db: Option<String>,
    /// A scheduler the explorer asks for its pool's off-chain trace (repeat for several pools)
    /// [default: the scheduler of this node or of its workers].
    #[arg(long = "explorer-scheduler", value_name = "URL")]
    pub(super) explorer_scheduler: Vec<String>,
    /// The market whose open orders the explorer shows [default: this node's with --market].
    #[arg(long = "explorer-market", value_name = "URL")]
    pub(super) explorer_market: Option<String>,
}

/// The storage service's flags.
#[derive(Args)]
#[command(next_help_heading = "Storage service")]
pub(super) struct StorageArgs {
    /// Run the storage service: a content-addressed blob server for apps, datasets and results.
    #[arg(long)]
    pub(super) storage: bool,
    /// Address the storage service listens on.
    #[arg(
        long = "storage-listen",
        alias = "listen",
        default_value = "127.0.0.1:7700",
        value_name = "ADDR"
    )]
    pub(super) storage_listen: SocketAddr,
    /// Where the storage service keeps blobs [default: $DECLOUD_HOME/blobs]; also s3://bucket/prefix.
    #[arg(long = "storage-dir", alias = "dir", value_name = "DIR|URL")]
    pub(super) storage_dir: Option<String>,
    /// Largest upload the storage service accepts, in MiB. Uploads and downloads stream: the
    /// node's memory does not grow with a blob's size.
    #[arg(
        long = "storage-max-upload-mib",
        default_value_t = 256,
        value_name = "MIB"
    )]
    pub(super) storage_max_upload_mib: u64,
}

/// The market's flags.
#[derive(Args)]
#[command(next_help_heading = "Market")]
pub(super) struct MarketArgs {
    /// Run the market: the order book of signed orders, following the chain of the profile.
    #[arg(long)]
    pub(super) market: bool,
    /// Address the market listens on.
    #[arg(
        long = "market-listen",
        default_value = "127.0.0.1:7600",
        value_name = "ADDR"
    )]
    pub(super) market_listen: SocketAddr,
    /// The market's database [default: sqlite under $DECLOUD_HOME/market/]; or postgres://...
    #[arg(
        long = "market-db",
        env = "DECLOUD_MARKET_DB",
        value_name = "URL",
        hide_env_values = true
    )]
    pub(super) market_db: Option<String>,
    /// Seconds between two reads of new blocks by the market.
    #[arg(long = "market-follow-secs", default_value_t = 2, value_name = "SECS")]
    pub(super) market_follow_secs: u64,
}

/// The scheduler's flags.
#[derive(Args)]
#[command(next_help_heading = "Scheduler")]
pub(super) struct SchedulerArgs {
    /// Run the scheduler of --workerpool, signing with its owner's wallet (--wallet).
    #[arg(long)]
    pub(super) scheduler: bool,
    /// The workerpool the scheduler runs (`decloud workerpool deploy` prints it); with
    /// --workers and an unpinned https --scheduler-url, the pool whose scheduler key (published
    /// on chain) the workers pin.
    #[arg(long, value_name = "ADDRESS")]
    pub(super) workerpool: Option<alloy::primitives::Address>,
    #[command(flatten)]
    pub(super) wallet: WalletOpts,
    /// Address the scheduler listens on.
    #[arg(
        long = "scheduler-listen",
        default_value = "127.0.0.1:7800",
        value_name = "ADDR"
    )]
    pub(super) scheduler_listen: SocketAddr,
    /// The scheduler's database [default: sqlite under $DECLOUD_HOME/scheduler/]; or postgres://...
    #[arg(
        long = "scheduler-db",
        env = "DECLOUD_SCHEDULER_DB",
        value_name = "URL",
        hide_env_values = true
    )]
    pub(super) scheduler_db: Option<String>,
    /// Milliseconds between two reads of new blocks by the scheduler.
    #[arg(long = "scheduler-follow-ms", default_value_t = 500, value_name = "MS")]
    pub(super) scheduler_follow_ms: u64,
    /// The randomness beacon's HTTP API (drand's shape) the scheduler fetches the rounds of its
    /// random-selection deals from when nobody submitted them (with --beacon: this node's).
    #[arg(long = "scheduler-beacon-url", value_name = "URL")]
    pub(super) scheduler_beacon_url: Option<String>,
    /// A PEM file of certificate authorities whose client certificates the pool API accepts
    /// (mutual TLS; repeat for several). New identities from them wait for an administrator.
    #[arg(long = "pool-client-ca", value_name = "PEM")]
    pub(super) pool_client_ca: Vec<std::path::PathBuf>,
    /// A file holding the password of the pool API's administrator `admin`, created at the
    /// first start with it (a later start leaves an existing `admin` as it is). Without it the
    /// pool has no administrator.
    #[arg(
        long = "pool-admin-password-file",
        env = "DECLOUD_POOL_ADMIN_PASSWORD_FILE",
        value_name = "FILE"
    )]
    pub(super) pool_admin_password_file: Option<std::path::PathBuf>,
    /// An OpenID Connect issuer whose ID tokens log in to the pool API, and the audience (the
    /// pool's client id there) they must carry: `ISSUER_URL=AUDIENCE` (repeatable). Its keys
    /// are found through its discovery document.
    #[arg(long = "pool-oidc", value_name = "ISSUER=AUDIENCE", value_parser = parse_oidc_issuer)]
    pub(super) pool_oidc: Vec<decloud_pool::OidcIssuer>,
    /// Accept new identities from certificates and ID tokens at once (as standard users)
    /// instead of keeping them pending until an administrator validates them.
    #[arg(long = "pool-auto-accept")]
    pub(super) pool_auto_accept: bool,
    /// Seconds of silence after which the scheduler gives a worker's work to others.
    #[arg(
        long = "heartbeat-timeout-secs",
        default_value_t = 60,
        value_name = "SECS"
    )]
    pub(super) heartbeat_timeout_secs: u64,
}

/// The workers' flags.
#[derive(Args)]
#[command(next_help_heading = "Workers")]
pub(super) struct WorkerArgs {
    /// Run this many workers, each with its own wallet.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub(super) workers: usize,
    /// The scheduler the workers work for, with its key's fingerprint
    /// (https://HOST:PORT#sha256:...) [default: this node's with --scheduler, else the one on
    /// 127.0.0.1:7800 of this $DECLOUD_HOME].
    #[arg(long = "scheduler-url", env = "DECLOUD_SCHEDULER", value_name = "URL")]
    pub(super) scheduler_url: Option<String>,
    /// Where the workers upload results [default: this node's storage with --storage, else
    /// the one on 127.0.0.1:7700 of this $DECLOUD_HOME]; also s3://bucket/prefix.
    #[arg(
        long = "results-store",
        env = "DECLOUD_RESULTS_STORE",
        value_name = "URL"
    )]
    pub(super) results_store: Option<String>,
    /// Replicates each worker runs at once.
    #[arg(long = "worker-capacity", default_value_t = 1, value_name = "N")]
    pub(super) worker_capacity: u64,
    /// Most results a worker puts in one transaction (`contributeAndRevealBatch` at trust 1,
    /// `contributeBatch` and `revealBatch` for replicas); 1 sends each on its own. Only a worker
    /// with several slots fills a batch.
    #[arg(long = "worker-batch", default_value_t = 32, value_name = "N")]
    pub(super) worker_batch: usize,
    /// Longest a finished result (or a reveal) waits for others before its batch is sent.
    #[arg(long = "worker-batch-ms", default_value_t = 50, value_name = "MS")]
    pub(super) worker_batch_ms: u64,
    /// Escrow balance each worker keeps deposited for its stakes (topped up from its wallet at
    /// start and whenever a stake needs more): nano-units, or tokens with a DCT suffix.
    #[arg(long = "worker-stake", default_value = "10 DCT", value_name = "AMOUNT")]
    pub(super) worker_stake: String,
    /// Let workers fetch apps, datasets and inputs from loopback and private addresses and local
    /// paths [default: only on the devnet].
    #[arg(long = "allow-private-hosts")]
    pub(super) allow_private_hosts: Option<bool>,
    /// Run TEE tasks in enclaves of this backend: sim (devnet only: a simulated TDX under a
    /// test PKI, protects nothing) or tdx (inside an Intel TDX guest). Without it the workers
    /// fail every TEE task they are handed.
    #[arg(long = "tee", value_name = "sim|tdx")]
    pub(super) tee: Option<decloud_tee::TeeKind>,
    /// A key holder (SMS) the workers' TEE tasks ask for their secrets, with its fingerprint;
    /// repeat it once per key holder (a deal needing k attestations needs k of them)
    /// [default: this node's SMS with --sms].
    #[arg(long = "sms-url", value_name = "URL")]
    pub(super) sms_urls: Vec<String>,
    /// A local dataset these workers hold (`decloud dataset deploy --local PATH` registered
    /// it): its tasks read it from PATH, checked against its checksum, and it is never
    /// uploaded. Repeat it per dataset. Confine the dataset to these workers in the pool
    /// (private, owner = you) so no other worker is handed its tasks.
    #[arg(long = "data", value_name = "0xDATASET=PATH", value_parser = parse_local_data)]
    pub(super) local_data: Vec<(alloy::primitives::Address, std::path::PathBuf)>,
    /// Run the worker as this wallet (name in $DECLOUD_HOME/wallets, or a keystore path; its
    /// password as for --wallet) instead of with a key of its own under $DECLOUD_HOME/workers/:
    /// a dataset owner's worker beside its local data (--data) works as the owner, the address
    /// the pool declares private to the owner and the one paid. Only with --workers 1.
    #[arg(long = "worker-wallet", value_name = "NAME|PATH")]
    pub(super) worker_wallet: Option<String>,
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
