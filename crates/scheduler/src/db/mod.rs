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
mod replicates;
mod sessions;
mod tasks;
mod workers;

use std::str::FromStr;

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

pub use changes::TaskChange;
pub use deals::DealRow;
pub use decloud_protocol::pool::{ReplicateStatus, Resource, TaskStatus, WorkerStatus};
pub use replicates::ReplicateRow;
pub use tasks::TaskRow;
pub use workers::WorkerRow;

use crate::SchedulerError;

/// The scheduler's schema, version by version.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The scheduler's database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
}

fn parse<T: FromStr>(row: &AnyRow, column: &str) -> Result<T, SchedulerError> {
    let text: String = row.try_get(column)?;
    text.parse()
        .map_err(|_| SchedulerError::Corrupt(format!("{column} = {text:?}")))
}

fn parse_opt<T: FromStr>(row: &AnyRow, column: &str) -> Result<Option<T>, SchedulerError> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| {
        t.parse()
            .map_err(|_| SchedulerError::Corrupt(format!("{column} = {t:?}")))
    })
    .transpose()
}

fn int(row: &AnyRow, column: &str) -> Result<u64, SchedulerError> {
    let v: i64 = row.try_get(column)?;
    u64::try_from(v).map_err(|_| SchedulerError::Corrupt(format!("{column} = {v}")))
}

fn int_opt(row: &AnyRow, column: &str) -> Result<Option<u64>, SchedulerError> {
    let v: Option<i64> = row.try_get(column)?;
    v.map(|v| u64::try_from(v).map_err(|_| SchedulerError::Corrupt(format!("{column} = {v}"))))
        .transpose()
}

/// `value` as a SQL BIGINT; values beyond `i64::MAX` are refused.
pub(crate) fn sql_int(value: u64, what: &str) -> Result<i64, SchedulerError> {
    i64::try_from(value).map_err(|_| {
        SchedulerError::BadRequest(format!(
            "{what} {value} is too large (at most {})",
            i64::MAX
        ))
    })
}

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
mod tests;
