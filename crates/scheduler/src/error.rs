//! The scheduler's errors: each message says what went wrong and what to do.

/// What the scheduler can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The request is malformed or does not hold (bad id, bad body, stale challenge).
    #[error("{0}")]
    BadRequest(String),
    /// The caller is not logged in, or its session expired.
    #[error("{0}")]
    Unauthorized(String),
    /// The caller is logged in but may not do this (e.g. report on another worker's task).
    #[error("{0}")]
    Forbidden(String),
    /// The caller asked too often: it may try again after `retry_after` seconds.
    #[error("too many {what}: try again in {retry_after} s")]
    TooManyRequests {
        /// What was asked too often.
        what: &'static str,
        /// Seconds to wait (the `Retry-After` header).
        retry_after: u64,
    },
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request contradicts what is already fixed (a second enclave for a replicate).
    #[error("{0}")]
    Conflict(String),
    /// The request body is over the size limit.
    #[error("request body over {0} bytes: check what is being sent")]
    TooLarge(usize),
    /// The database could not be opened or brought to the current schema.
    #[error("scheduler database: {0}; check --scheduler-db")]
    Open(#[from] decloud_sql::SqlError),
    /// A query failed.
    #[error("scheduler database: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored row is unreadable.
    #[error(
        "scheduler database holds a corrupt row ({0}): restore it from a backup or delete the row"
    )]
    Corrupt(String),
    /// The chain could not be read or a transaction failed (described with what was being
    /// done).
    #[error("{0}")]
    Chain(String),
    /// A chain call failed.
    #[error("{0}")]
    ChainCall(#[from] decloud_chain::ChainError),
    /// The API's address cannot be listened on.
    #[error("cannot listen on {addr}: {source}; pass another listen address")]
    Listen {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why the system refused it.
        #[source]
        source: std::io::Error,
    },
    /// The scheduler is misconfigured (wrong key for the workerpool, address in use...).
    #[error("{0}")]
    Config(String),
    /// The scheduler is shutting down and took nothing: the caller sends the same request again
    /// (to the restarted scheduler).
    #[error("the scheduler is stopping: send it again")]
    Stopping,
}

/// A pass over the chain (the follower's, the driver's) that failed part way: `error` says why,
/// and `done` is what it had already stored. Those changes are durable, so the wake-ups they
/// call for are still owed: a caller that dropped them would leave claims waiting on work that
/// exists (the next pass does not see it as new).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct PassFailed<T: std::fmt::Debug> {
    /// What the pass stored before it failed.
    pub done: T,
    /// Why it stopped.
    pub error: SchedulerError,
}

impl<T: std::fmt::Debug> PassFailed<T> {
    /// How a pass that stored `done` as it went ended: `done` itself, or failed with `result`'s
    /// error and `done` as what it had stored.
    pub(crate) fn ended(done: T, result: Result<(), SchedulerError>) -> Result<T, Self> {
        match result {
            Ok(()) => Ok(done),
            Err(error) => Err(Self { done, error }),
        }
    }
}
