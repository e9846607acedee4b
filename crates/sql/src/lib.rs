//! The SQL plumbing decloud's services share: a database is named by a URL,
//! `sqlite://path` (embedded, created if missing) or `postgres://...`, opened as one
//! [`AnyPool`] so the same queries run on both, and brought to the service's schema by its
//! versioned migrations (`sqlx::migrate!`), which record what they applied.
//!
//! A service embeds its migrations with `static MIGRATOR: Migrator =
//! sqlx::migrate!("./migrations");` (the directory beside its `Cargo.toml`) and opens with them:
//!
//! ```no_run
//! # async fn f(migrator: &sqlx::migrate::Migrator) -> Result<(), decloud_sql::SqlError> {
//! let pool = decloud_sql::open("sqlite:///var/lib/decloud/x.db", migrator).await?;
//! # drop(pool); Ok(()) }
//! ```
//!
//! Rows are read and values bound through [`column`](mod@column), so every service stores ids, addresses
//! and numbers the same way and reports a corrupt row the same way.

pub mod column;
pub mod state;
pub mod testing;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{AnyPool, Row};

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The server or file could not be reached or created.
    #[error("cannot open {url}: {source}")]
    Open {
        /// The database URL, its password hidden.
        url: String,
        /// What the driver said.
        #[source]
        source: sqlx::Error,
    },
    /// A connection setting could not be applied.
    #[error("cannot set up {url}: {source}")]
    Setup {
        /// The database URL, its password hidden.
        url: String,
        /// What the driver said.
        #[source]
        source: sqlx::Error,
    },
    /// The schema could not be brought to the version this program expects (e.g. the database
    /// was written by a newer version, or a migration failed half-way).
    #[error("cannot migrate {url} to the current schema: {source}")]
    Migrate {
        /// The database URL, its password hidden.
        url: String,
        /// What the migrator said.
        #[source]
        source: MigrateError,
    },
}

/// Whether `url` names an embedded SQLite database.
pub fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// `url` without its password, for logs and error messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Opens the database at `url` and applies the migrations of `migrator` it has not recorded
/// yet. A SQLite file is created if missing and put in WAL mode; it gets one connection (SQLite
/// has one writer anyway, and one connection never waits on its own lock), Postgres eight.
pub async fn open(url: &str, migrator: &Migrator) -> Result<AnyPool, SqlError> {
    sqlx::any::install_default_drivers();
    let sqlite = is_sqlite(url);
    let url = if sqlite && !url.contains('?') {
        format!("{url}?mode=rwc")
    } else {
        url.to_owned()
    };
    let pool = AnyPoolOptions::new()
        .max_connections(if sqlite { 1 } else { 8 })
        .connect(&url)
        .await
        .map_err(|source| SqlError::Open {
            url: redact(&url),
            source,
        })?;
    if sqlite {
        // Readers don't wait for the writer, and a commit costs one sync of the log.
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&pool)
            .await
            .map_err(|source| SqlError::Setup {
                url: redact(&url),
                source,
            })?;
    }
    migrator
        .run(&pool)
        .await
        .map_err(|source| SqlError::Migrate {
            url: redact(&url),
            source,
        })?;
    Ok(pool)
}

/// How many read-only connections [`open_reads`] gives a SQLite file.
pub const SQLITE_READERS: u32 = 2;

/// A pool for reads beside `writer` (the pool [`open`] returned for `url`): on a SQLite file,
/// [`SQLITE_READERS`] connections of their own that refuse writes (`PRAGMA query_only`), so a
/// read does not queue behind the one writer connection's commits (each a sync of the log);
/// in WAL mode a read sees every transaction committed before it began. Postgres (whose pool
/// already has several connections) and an in-memory SQLite database (private to its
/// connection) read through `writer` itself.
pub async fn open_reads(url: &str, writer: &AnyPool) -> Result<AnyPool, SqlError> {
    if !is_sqlite(url) || url.contains(":memory:") || url.contains("mode=memory") {
        return Ok(writer.clone());
    }
    AnyPoolOptions::new()
        .max_connections(SQLITE_READERS)
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::query("PRAGMA query_only = ON")
                    .execute(&mut *conn)
                    .await
                    .map(|_| ())
            })
        })
        .connect(url)
        .await
        .map_err(|source| SqlError::Open {
            url: redact(url),
            source,
        })
}

/// Most values one `IN` list binds: well under SQLite's (32,766) and Postgres's (65,535) limits
/// on a statement's bound values, so a list of keys is sent this many at a time.
pub const IN_LIST_MAX: usize = 500;

/// `count` numbered placeholders from `$first` on, comma-separated (an `IN` list's): the only
/// text a caller splices into a statement, every value staying bound.
pub fn placeholders(first: usize, count: usize) -> String {
    let list: Vec<String> = (first..first + count).map(|i| format!("${i}")).collect();
    list.join(", ")
}

/// The latest schema version the database records as applied (`None` before any migration).
pub async fn schema_version(pool: &AnyPool) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query("SELECT MAX(version) AS v FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await?;
    row.try_get("v")
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use sqlx::migrate::Migration;

    use super::*;

    fn migrator() -> Migrator {
        let migration = Migration::new(
            1,
            Cow::Borrowed("initial"),
            sqlx::migrate::MigrationType::Simple,
            sqlx::SqlStr::from_static("CREATE TABLE IF NOT EXISTS t (x BIGINT NOT NULL)"),
            false,
        );
        Migrator {
            migrations: Cow::Owned(vec![migration]),
            ..Migrator::DEFAULT
        }
    }

    #[test]
    fn placeholders_number_from_the_first_given() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
        assert_eq!(placeholders(1, 1), "$1");
        assert_eq!(placeholders(1, 0), "");
    }

    #[test]
    fn redact_hides_passwords() {
        assert_eq!(
            redact("postgres://me:secret@db/market"),
            "postgres://***@db/market"
        );
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }

    /// Migrations run once on every backend; a SQLite file is created, in WAL mode.
    async fn creates_the_database_and_migrates_once(db: &testing::TestDb) {
        let url = db.url();
        let migrator = migrator();
        let pool = open(url, &migrator).await.unwrap();
        if db.backend() == testing::Backend::Sqlite {
            let mode: String = sqlx::query("PRAGMA journal_mode")
                .fetch_one(&pool)
                .await
                .unwrap()
                .try_get(0)
                .unwrap();
            assert_eq!(mode, "wal");
        }
        assert_eq!(schema_version(&pool).await.unwrap(), Some(1));
        // Were the migration run again, the dropped table would come back.
        sqlx::query("DROP TABLE t").execute(&pool).await.unwrap();
        pool.close().await;
        let pool = open(url, &migrator).await.unwrap();
        assert_eq!(schema_version(&pool).await.unwrap(), Some(1));
        assert!(
            sqlx::query("SELECT x FROM t")
                .fetch_all(&pool)
                .await
                .is_err()
        );
    }

    crate::test_on_every_backend!(creates_the_database_and_migrates_once);

    /// The read pool sees what the writer committed, and refuses to write.
    async fn reads_see_commits_and_refuse_writes(db: &testing::TestDb) {
        let url = db.url();
        let pool = open(url, &migrator()).await.unwrap();
        let reads = open_reads(url, &pool).await.unwrap();
        sqlx::query("INSERT INTO t (x) VALUES (7)")
            .execute(&pool)
            .await
            .unwrap();
        let x: i64 = sqlx::query("SELECT x FROM t")
            .fetch_one(&reads)
            .await
            .unwrap()
            .try_get("x")
            .unwrap();
        assert_eq!(x, 7, "a committed row is read at once");
        if db.backend() == testing::Backend::Sqlite {
            let write = sqlx::query("INSERT INTO t (x) VALUES (8)")
                .execute(&reads)
                .await;
            assert!(write.is_err(), "the read pool wrote: {write:?}");
            let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM t")
                .fetch_one(&pool)
                .await
                .unwrap()
                .try_get("n")
                .unwrap();
            assert_eq!(n, 1);
        }
    }

    crate::test_on_every_backend!(reads_see_commits_and_refuse_writes);
}
