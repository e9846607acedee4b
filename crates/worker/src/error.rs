//! The worker's errors. Messages say what went wrong and, where it helps, what to do.

use std::path::PathBuf;

/// What can go wrong in the worker.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The worker was set up wrongly (bad URL, unusable directory...).
    #[error("{0}")]
    Config(String),
    /// The scheduler could not be reached, refused a request or answered something unreadable.
    #[error(transparent)]
    Scheduler(#[from] decloud_scheduler::client::ClientError),
    /// A chain call failed.
    #[error(transparent)]
    Chain(#[from] decloud_chain::ChainError),
    /// A download or upload failed.
    #[error(transparent)]
    Storage(#[from] decloud_storage::StorageError),
    /// The sandbox failed on the host side.
    #[error(transparent)]
    Runtime(#[from] decloud_runtime::RuntimeError),
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A job file under the worker's data directory is unreadable.
    #[error("the job file {path} is unreadable ({reason}): move it away to drop the job")]
    CorruptJob {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl WorkerError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        WorkerError::Io {
            path: path.into(),
            source,
        }
    }
}
