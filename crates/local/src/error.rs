//! What can go wrong starting or driving services in one process.

use std::time::Duration;

use alloy::primitives::{Address, B256};

/// What can go wrong starting services, setting a pool up or driving it.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// A chain call failed.
    #[error(transparent)]
    Chain(#[from] decloud_chain::ChainError),
    /// The storage node failed, or an upload to it.
    #[error(transparent)]
    Storage(#[from] decloud_storage::StorageError),
    /// The market failed.
    #[error(transparent)]
    Market(#[from] decloud_market::MarketError),
    /// The secret management service failed.
    #[error(transparent)]
    Sms(#[from] decloud_sms::SmsError),
    /// The scheduler failed.
    #[error(transparent)]
    Scheduler(#[from] decloud_scheduler::SchedulerError),
    /// A service's TLS key could not be read or made.
    #[error("{0}")]
    Tls(String),
    /// The explorer failed.
    #[error(transparent)]
    Explorer(#[from] decloud_explorer::ExplorerError),
    /// The beacon failed to start.
    #[error(transparent)]
    Beacon(#[from] decloud_beacon::node::NodeError),
    /// A worker failed to start.
    #[error("cannot start worker {}: {source}", index + 1)]
    Worker {
        /// Its index in the node (from 0; messages count from 1, as `decloud node` does).
        index: usize,
        /// Why.
        #[source]
        source: decloud_worker::WorkerError,
    },
    /// An order could not be signed.
    #[error(transparent)]
    Protocol(#[from] decloud_protocol::ProtocolError),
    /// A local directory could not be created.
    #[error("cannot create the directory {path}: {source}")]
    Io {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An account of a node on a real chain has no ether for gas.
    #[error("account {0} has no ether to pay for gas: send it some before starting the node")]
    Unfunded(Address),
    /// A service needs another that is not running.
    #[error("{0}")]
    NotRunning(&'static str),
    /// The pool's registry snapshot did not become current in time (a random-selection deal
    /// needs one committed before it starts).
    #[error(
        "workerpool {0} has no current registry snapshot after {1:?}: is its scheduler running on a chain with the random-selection facet?"
    )]
    NoSnapshot(Address, Duration),
    /// A task was claimed (it failed) while waiting for it.
    #[error("task {0} failed (claimed)")]
    TaskFailed(B256),
    /// Tasks were still open when the wait ended.
    #[error("{} task(s) not completed after {timeout:?}: {open:?}", open.len())]
    NotCompleted {
        /// The tasks still open.
        open: Vec<B256>,
        /// How long the wait lasted.
        timeout: Duration,
    },
}
