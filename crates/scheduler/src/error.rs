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
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request body is over the size limit.
    #[error("request body over {0} bytes: check what is being sent")]
    TooLarge(usize),
    /// The database failed.
    #[error("scheduler database: {0}")]
    Database(String),
    /// A stored row is unreadable.
    #[error(
        "scheduler database holds a corrupt row ({0}): restore it from a backup or delete the row"
    )]
    Corrupt(String),
    /// The chain could not be read or a transaction failed.
    #[error("{0}")]
    Chain(String),
    /// The scheduler is misconfigured (wrong key for the workerpool, address in use...).
    #[error("{0}")]
    Config(String),
}

impl From<sqlx::Error> for SchedulerError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.to_string())
    }
}

impl From<decloud_chain::ChainError> for SchedulerError {
    fn from(e: decloud_chain::ChainError) -> Self {
        Self::Chain(e.to_string())
    }
}
