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

use decloud_sql::{IN_LIST_MAX, placeholders};
use sqlx::AnyPool;

pub use changes::TaskChange;
pub use deals::DealRow;
pub use decloud_protocol::pool::{
    ReplicateInfo, ReplicateStatus, Resource, TaskInfo, TaskStatus, WorkerInfo, WorkerStatus,
};
pub use pauses::{MAX_PAUSE_SECS, pause_for};
pub use replicates::ReportWrite;
pub use sessions::NewLogin;
pub use tasks::TaskForWorker;
pub use workers::Claimant;

use crate::SchedulerError;

/// The scheduler's schema, version by version.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The scheduler's database.
#[derive(Clone, Debug)]
pub struct Store {
    /// The writer: transactions, and every statement that changes a row.
    pool: AnyPool,
    /// Reads outside a transaction (on SQLite, connections of their own: see
    /// [`decloud_sql::open_reads`]); they see every commit of `pool` made before they start.
    reads: AnyPool,
    /// The apps' and datasets' registrations read so far, by address: one is stored once and
    /// never changes, so every claim's assignment need not read it again.
    resources: Cache<alloy::primitives::Address, Resource>,
    /// The deals read so far, by id: a deal row never changes while stored (its id is the hash
    /// of its terms), so claims, reports and the follower need not read it again; forgetting
    /// or storing a deal drops its entry.
    deals: Cache<alloy::primitives::B256, DealRow>,
}

/// Rows kept in memory once read, shared by the store's clones.
type Cache<K, V> = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<K, V>>>;

/// The entries of `cache`; a poisoned map is still a correct cache (entries are whole rows).
fn entries<K, V>(
    cache: &Cache<K, V>,
) -> std::sync::MutexGuard<'_, std::collections::HashMap<K, V>> {
    cache.lock().unwrap_or_else(|e| e.into_inner())
}

decloud_sql::column_errors!(SchedulerError);

impl Store {
    /// Opens (creating if needed) the database at `url` — `sqlite://path/scheduler.db` or
    /// `postgres://...` — and brings it to the current schema.
    pub async fn open(url: &str) -> Result<Self, SchedulerError> {
        let pool = decloud_sql::open(url, &MIGRATOR).await?;
        let reads = decloud_sql::open_reads(url, &pool).await?;
        Ok(Self {
            reads,
            ..Self::on(pool)
        })
    }

    /// The store over an open pool, which also serves its reads.
    fn on(pool: AnyPool) -> Self {
        Self {
            reads: pool.clone(),
            pool,
            resources: Default::default(),
            deals: Default::default(),
        }
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

/// The rows `select` (a query ending in `WHERE <column>`) finds for each of `keys`, asked
/// [`IN_LIST_MAX`] keys at a time, read by `read`: one query where a loop would make one per
/// key, each waiting its turn for the database. `leading` values are bound first, as `$1`,
/// `$2`, … of `select`; the keys' placeholders follow them.
async fn select_in<T>(
    pool: &AnyPool,
    select: &str,
    leading: &[String],
    keys: &[impl ToString],
    read: impl Fn(&sqlx::any::AnyRow) -> Result<T, SchedulerError> + Copy,
) -> Result<Vec<T>, SchedulerError> {
    let mut found = Vec::new();
    for group in keys.chunks(IN_LIST_MAX) {
        // Only placeholders are spliced in; every value is bound.
        let sql = format!(
            "{select} IN ({})",
            placeholders(leading.len() + 1, group.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for value in leading {
            query = query.bind(value.clone());
        }
        for key in group {
            query = query.bind(key.to_string());
        }
        found.extend(decloud_sql::column::rows(query, read).all(pool).await?);
    }
    Ok(found)
}
