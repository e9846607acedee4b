use std::path::PathBuf;

/// Everything that can go wrong talking to a chain or managing the devnet. Each message says
/// what to do next.
///
/// The fields of a variant are what its message shows, so they carry no doc of their own.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The RPC endpoint did not answer.
    #[error(
        "cannot reach the chain at {url}: {reason}; check --rpc, or start a local chain with `decloud devnet up`"
    )]
    Unreachable { url: String, reason: String },
    /// The RPC URL is not a URL.
    #[error("invalid RPC URL {url:?}: expected something like http://127.0.0.1:8545")]
    BadRpcUrl { url: String },
    /// The TCP port anvil should listen on is taken.
    #[error(
        "port {port} is already in use: pass --port with a free port, or stop whatever listens there"
    )]
    PortInUse { port: u16 },
    /// No anvil binary could be found.
    #[error(
        "anvil not found (looked in {searched}): run scripts/bootstrap, or set DECLOUD_ANVIL to the anvil binary"
    )]
    AnvilNotFound { searched: String },
    /// anvil started but exited or never answered.
    #[error("anvil did not start: {reason} (log: {log})")]
    AnvilFailed { reason: String, log: String },
    /// A devnet started by decloud is already running.
    #[error(
        "a devnet is already running (pid {pid}, {rpc_url}); use it, or stop it with `decloud devnet down`"
    )]
    AlreadyRunning { pid: u32, rpc_url: String },
    /// No chain profile exists yet.
    #[error("no chain profile at {}: start a local chain with `decloud devnet up` or write one for your chain", path.display())]
    NoProfile { path: PathBuf },
    /// The chain profile exists but cannot be read.
    #[error("the chain profile {} is unreadable: {reason}; delete it and run `decloud devnet up` again", path.display())]
    BadProfile { path: PathBuf, reason: String },
    /// Reading or writing a local file failed.
    #[error(transparent)]
    Io(#[from] FileError),
    /// A raw key file cannot be read, parsed or created (the reason never holds the key).
    #[error("the key file {}: {reason}", path.display())]
    KeyFile { path: PathBuf, reason: String },
    /// A deployment or funding transaction failed.
    #[error("{what} failed: {reason}")]
    Transaction { what: String, reason: String },
    /// A contract refused a call or transaction; `reason` is the decoded custom error.
    #[error("{what} refused: {reason}")]
    Reverted { what: String, reason: String },
    /// The RPC endpoint serves another chain than the profile names.
    #[error(
        "{url} serves chain {actual}, but the chain profile is for chain {expected}: check --rpc, or run `decloud devnet up` again"
    )]
    WrongChain {
        url: String,
        expected: u64,
        actual: u64,
    },
    /// A transaction was sent but never mined, even after rebroadcasting or replacing it.
    #[error(
        "{what}: transaction {hash} (nonce {nonce}) was not mined after {attempts} rounds of waiting; it may still be: check it on the chain before sending again, or raise the profile's max_fee_gwei"
    )]
    NotMined {
        what: String,
        hash: String,
        attempts: u32,
        nonce: u64,
    },
    /// A transaction ran out of gas (it was mined, reverted, and changed nothing).
    #[error(
        "{what} failed: transaction {hash} ran out of gas at its limit of {limit}; send it again"
    )]
    OutOfGas {
        what: String,
        hash: String,
        limit: u64,
    },
}

impl ChainError {
    /// Whether trying again later may succeed: the node could not be reached, or a transaction
    /// was not mined in time (it may still be). A revert or a refusal is not.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ChainError::Unreachable { .. } | ChainError::NotMined { .. }
        )
    }
}

/// A local file or directory that could not be read, written or created: what was being done,
/// to which path, and the system's reason. Chain and wallet errors both carry it.
#[derive(Debug, thiserror::Error)]
#[error("{action} {}: {source}", path.display())]
pub struct FileError {
    /// What was being done, e.g. "cannot read".
    pub action: &'static str,
    /// The file or directory.
    pub path: PathBuf,
    /// The system's reason.
    #[source]
    pub source: std::io::Error,
}

impl FileError {
    /// `action` on `path` failed with `source`.
    pub fn new(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self {
            action,
            path: path.into(),
            source,
        }
    }
}

impl ChainError {
    /// `action` on the local file `path` failed with `source`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io(FileError::new(action, path, source))
    }

    pub(crate) fn tx(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::Transaction {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}
