//! The secret management service (SMS): it holds dataset keys, app secrets, named requester
//! secrets and beneficiaries' result recipients, sealed at rest with the node's key, and
//! releases them to a TEE task's enclave only after appraising its evidence. See
//! `docs/confidential.md` for the API, the write and release rules and the formats.
//!
//! - [`seal`]: how values travel (HPKE to the SMS or to an enclave) and rest (ChaCha20-Poly1305).
//! - [`store`]: the SQL tables (SQLite by default, Postgres by URL).
//! - [`chain`]: what the SMS reads on chain (owners, ERC-1271 wallets, tasks, apps).
//! - [`follow`]: the deals, followed from the hub's `DealCreated` events into the store.
//! - [`api`]: the HTTP API and its rules; [`client`]: the same API from the client's side.

pub mod api;
pub mod chain;
pub mod client;
pub mod follow;
pub mod keepers;
pub mod seal;
pub mod store;
pub mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use alloy::signers::local::PrivateKeySigner;
use decloud_chain::ChainProfile;
use decloud_service::Service;
use decloud_tee::TeeKind;

pub use client::SmsClient;
pub use seal::{NodeKey, SealError, Sealed};
pub use store::SecretStore;
pub use wire::{ChallengeAnswer, ReleaseAnswer, ReleaseRequest, SecretInfo, SmsInfo, WriteRequest};

/// Name a deal's request params use to list the requester's secrets it needs:
/// `{"secrets": ["NAME", ...]}`.
pub const PARAMS_SECRETS_FIELD: &str = "secrets";
/// Name of a dataset's key among its secrets (kind `dataset-key`).
pub const DATASET_KEY_NAME: &str = "key";
/// Name of a beneficiary's result recipient (kind `result-recipient`).
pub const RESULT_RECIPIENT_NAME: &str = "result";
/// How long a release challenge stays valid, in seconds.
pub const CHALLENGE_TTL_SECS: u64 = 60;
/// Longest secret name.
pub const MAX_NAME_LEN: usize = 64;

/// What the SMS can refuse or fail at; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The request is malformed or breaks a write rule.
    #[error("{0}")]
    BadRequest(String),
    /// The signer may not do this (not the owner, or a release rule does not hold).
    #[error("{0}")]
    Forbidden(String),
    /// The write or release conflicts with what is stored (a replayed nonce, a rolled-back
    /// version, a second enclave key for a task).
    #[error("{0}")]
    Conflict(String),
    /// Nothing is stored under this name.
    #[error("{0}")]
    NotFound(String),
    /// The request body is over the size limit.
    #[error("request body over {0} bytes: a secret is at most 64 KiB")]
    TooLarge(usize),
    /// The chain answered with an error, or not at all.
    #[error("{0}")]
    Chain(String),
    /// The database could not be opened or brought to the current schema.
    #[error("secret database: {0}")]
    Open(#[from] decloud_sql::SqlError),
    /// A query failed.
    #[error("secret database: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored row is unreadable.
    #[error("secret database holds a corrupt row ({0}): restore it from a backup")]
    Corrupt(String),
    /// Sealing or opening failed.
    #[error("{0}")]
    Seal(#[from] SealError),
    /// The API's address cannot be listened on.
    #[error("cannot listen on {addr}: {source}; pass another --sms-listen address")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why the system refused it.
        #[source]
        source: std::io::Error,
    },
}

decloud_sql::column_errors!(SmsError);

/// How to run the SMS.
#[derive(Clone, Debug)]
pub struct SmsConfig {
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// `sqlite://path` (created if missing) or `postgres://...`.
    pub database_url: String,
    /// The chain whose owners, deals and tasks the SMS reads.
    pub profile: ChainProfile,
    /// The node's wallet key: it signs `EnclaveAttested` (the hub counts registered attesters).
    pub signer: PrivateKeySigner,
    /// The file of the node's sealing key (0600, made when missing), beside its TLS key.
    pub key_path: PathBuf,
    /// The TEE backend whose evidence this SMS appraises.
    pub tee: TeeKind,
    /// TLS with the SMS's key, or plain HTTP on a devnet.
    pub transport: decloud_service::transport::Transport,
    /// Run as one keeper of a group (`decloud node --keeper`): every secret but a result
    /// recipient must be this keeper's share of a k-of-n split, consistent with its
    /// commitments; a whole secret is refused.
    pub keeper: bool,
}

/// A running SMS. Dropping it stops the server.
pub struct RunningSms {
    service: Service,
    /// Stops following the chain when the SMS goes.
    _follower: follow::FollowerTask,
    announcement: String,
}

impl RunningSms {
    /// Where the API listens.
    pub fn addr(&self) -> SocketAddr {
        self.service.addr()
    }

    /// URL of the API with the fingerprint of the SMS's TLS key, as clients are given it.
    pub fn url(&self) -> String {
        self.service.pinned_url().to_string()
    }

    /// The TEE line of `/health` (e.g. `tee: sim (devnet only)`).
    pub fn announcement(&self) -> &str {
        &self.announcement
    }

    /// Stops the server and waits until it is gone.
    pub async fn stop(self) {
        self.service.stop().await;
    }

    /// Waits until the server stops.
    pub async fn wait(self) {
        if let Err(e) = self.service.wait().await {
            tracing::error!(error = %e, "sms server stopped");
        }
    }
}

/// The `/health` line naming the TEE backend.
pub fn tee_announcement(tee: TeeKind) -> String {
    match tee {
        TeeKind::Sim => "tee: sim (devnet only: test PKI, protects nothing)".to_owned(),
        TeeKind::Tdx => "tee: tdx (Intel DCAP root)".to_owned(),
    }
}

/// Opens the database and the node key, checks the backend is allowed on this chain, and
/// starts serving.
pub async fn start(config: SmsConfig) -> Result<RunningSms, SmsError> {
    let chain_id = config.profile.chain_id;
    config
        .transport
        .check_allowed(chain_id, chain_id == decloud_chain::anvil::DEVNET_CHAIN_ID)
        .map_err(|e| SmsError::BadRequest(e.to_string()))?;
    let appraiser = decloud_tee::DcapAppraiser::for_kind(config.tee, chain_id)
        .map_err(|e| SmsError::BadRequest(e.to_string()))?;
    let store = SecretStore::open(&config.database_url).await?;
    let key = NodeKey::load_or_create(&config.key_path)?;
    let chain = chain::ChainReader::new(&config.profile)?;
    let (deals, follower) = follow::Deals::spawn(&config.profile, store.clone())?;
    let announcement = tee_announcement(config.tee);
    let state = api::AppState {
        store,
        key: Arc::new(key),
        chain: Arc::new(chain),
        deals,
        signer: Arc::new(config.signer),
        appraiser: Arc::new(appraiser),
        tee: config.tee,
        announcement: announcement.clone(),
        keeper: config.keeper,
    };
    let service = Service::serve_on(
        config.listen,
        api::router(state),
        decloud_service::Limits::default(),
        &config.transport,
    )
    .await
    .map_err(|source| SmsError::Listen {
        addr: config.listen,
        source,
    })?;
    tracing::info!(url = %service.pinned_url(), tee = %announcement, keeper = config.keeper, "sms listening");
    Ok(RunningSms {
        service,
        _follower: follower,
        announcement,
    })
}

/// Seconds since the epoch.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
