//! The scheduler's storage: workers and their sessions, deals and their tasks, the replicates
//! handed to workers, the app/dataset locations read from the registries' events, and the chain
//! follower's cursor, one file per aggregate, all methods of one [`Store`]. The same SQL runs on
//! SQLite (embedded, the default) and Postgres (by URL); the schema is versioned by the
//! migrations in `crates/scheduler/migrations`.
//!
//! Every write commits before the caller acknowledges anything, so a restart loses nothing.

mod changes;
mod cursor;
mod deals;
mod members;
mod pauses;
mod replicates;
mod sessions;
mod tasks;
mod workers;

use sqlx::AnyPool;

pub use changes::TaskChange;
pub use deals::DealRow;
pub use decloud_protocol::pool::{
    ReplicateInfo, ReplicateStatus, Resource, TaskInfo, TaskStatus, WorkerInfo, WorkerStatus,
};
pub use pauses::{MAX_PAUSE_SECS, pause_for};
pub use replicates::ReportWrite;
pub use sessions::NewLogin;

use crate::SchedulerError;

/// The scheduler's schema, version by version.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The scheduler's database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
}

decloud_sql::column_errors!(SchedulerError);

impl Store {
    /// Opens (creating if needed) the database at `url` — `sqlite://path/scheduler.db` or
    /// `postgres://...` — and brings it to the current schema.
    pub async fn open(url: &str) -> Result<Self, SchedulerError> {
        Ok(Self {
            pool: decloud_sql::open(url, &MIGRATOR).await?,
        })
    }
}

#[cfg(test)]
impl Store {
    /// The connection pool, for tests that look under the store.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod truth_tests;
