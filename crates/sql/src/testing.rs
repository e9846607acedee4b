//! Test support: every SQL test of a service runs once per backend, each run on a database of
//! its own that nothing else touches and that is removed at the end, so tests stay independent
//! and parallel (nextest runs each test in its own process).
//!
//! - SQLite: a file in a fresh temporary directory.
//! - Postgres, when [`POSTGRES_URL_VAR`] names a server: a new database with a random name,
//!   made with `CREATE DATABASE` on that server and dropped after the test, even a failed one.
//!
//! A test is an `async fn(&TestDb)`; [`test_on_every_backend!`](crate::test_on_every_backend)
//! turns it into one `#[tokio::test]` per backend, named `<test>::sqlite` and
//! `<test>::postgres`:
//!
//! ```ignore
//! async fn orders_survive_a_reopen(db: &TestDb) {
//!     let book = OrderBook::open(db.url()).await.unwrap();
//!     // ...
//! }
//! decloud_sql::test_on_every_backend!(orders_survive_a_reopen);
//! ```
//!
//! Without a server the Postgres runs say they were skipped and pass, unless
//! [`REQUIRE_POSTGRES_VAR`] is set (CI sets it): then they fail.
//!
//! This module needs nothing beyond what the crate already depends on, so services use it from
//! their tests without a feature that would build this crate twice.

use std::any::Any;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The environment variable naming the Postgres server the tests may create databases on, as a
/// URL of a database to connect to first (`postgres://postgres@127.0.0.1:5433/postgres`).
pub const POSTGRES_URL_VAR: &str = "DECLOUD_TEST_POSTGRES_URL";

/// The environment variable that, set to anything but empty or `0`, makes a Postgres run fail
/// instead of skipping when [`POSTGRES_URL_VAR`] is not set.
pub const REQUIRE_POSTGRES_VAR: &str = "DECLOUD_REQUIRE_POSTGRES";

/// A database engine the services run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite, the default.
    Sqlite,
    /// A Postgres server.
    Postgres,
}

/// A fresh, empty database for one test; see [`TestDb::create`].
#[derive(Debug)]
pub struct TestDb {
    backend: Backend,
    url: String,
    cleanup: Cleanup,
}

/// What removes a [`TestDb`].
#[derive(Debug)]
enum Cleanup {
    /// The temporary directory holding the SQLite file.
    Dir(PathBuf),
    /// The database `name`, dropped through a connection to `server`.
    Database { server: String, name: String },
}

/// A name no other test process picks: the process id, a counter and a random number.
fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut random = std::hash::RandomState::new().build_hasher();
    random.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("{prefix}_{}_{:016x}", std::process::id(), random.finish())
}

/// `url` naming the database `name` on the same server instead of the one it names.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[host_start..]
        .find('/')
        .map_or(base.len(), |i| host_start + i);
    format!("{}/{name}{query}", &base[..host_end])
}

/// Whether `var` is set to something that means yes.
fn flag(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| !v.is_empty() && v != "0")
}

impl TestDb {
    /// A fresh database on `backend`, or `None` when the machine offers no such backend (Postgres
    /// without [`POSTGRES_URL_VAR`]). Panics with the reason when the backend is offered but the
    /// database cannot be made: a test must not pass on a server it could not reach.
    pub async fn create(backend: Backend) -> Option<Self> {
        sqlx::any::install_default_drivers();
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(unique_name("decloud-test"));
                std::fs::create_dir(&dir)
                    .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
                Some(Self {
                    backend,
                    url: format!("sqlite://{}", dir.join("test.db").display()),
                    cleanup: Cleanup::Dir(dir),
                })
            }
            Backend::Postgres => {
                let server = match std::env::var(POSTGRES_URL_VAR) {
                    Ok(url) if !url.is_empty() => url,
                    _ => return None,
                };
                let name = unique_name("decloud_test");
                let mut admin = PgConnection::connect(&server).await.unwrap_or_else(|e| {
                    panic!(
                        "cannot reach the Postgres server of {POSTGRES_URL_VAR} ({}): {e}",
                        crate::redact(&server)
                    )
                });
                // `name` is made of [a-z0-9_] by `unique_name`: nothing to escape.
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
                admin.close().await.ok();
                Some(Self {
                    backend,
                    url: with_database(&server, &name),
                    cleanup: Cleanup::Database { server, name },
                })
            }
        }
    }

    /// The database's URL, to open it as a service does.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A pool on the database as it is, no migration run: to make a database the way an older
    /// release made it.
    pub async fn connect(&self) -> sqlx::AnyPool {
        let url = match self.backend {
            Backend::Sqlite => format!("{}?mode=rwc", self.url),
            Backend::Postgres => self.url.clone(),
        };
        sqlx::AnyPool::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test database: {e}"))
    }

    /// Which engine it is on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Removes the database: the SQLite directory, or the Postgres database (its connections
    /// still open are ended, so a test need not close its pools first).
    pub async fn remove(self) {
        match self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Database { server, name } => {
                let dropped = async {
                    let mut admin = PgConnection::connect(&server).await?;
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await?;
                    admin.close().await
                };
                if let Err(e) = dropped.await {
                    eprintln!("could not drop the test database {name}: {e}");
                }
            }
        }
    }
}

/// Runs `test` on a fresh database on `backend` and removes the database afterwards, whether
/// the test passed or panicked (the panic is then resumed). On a backend the machine does not
/// offer it says so on stderr and returns, or panics when [`REQUIRE_POSTGRES_VAR`] is set.
pub async fn run<F: AsyncFnOnce(&TestDb)>(backend: Backend, test: F) {
    let Some(db) = TestDb::create(backend).await else {
        assert!(
            !flag(REQUIRE_POSTGRES_VAR),
            "{REQUIRE_POSTGRES_VAR} is set but {POSTGRES_URL_VAR} is not: \
             start a server (scripts/test does) or unset {REQUIRE_POSTGRES_VAR}"
        );
        eprintln!("skipped on {backend:?}: set {POSTGRES_URL_VAR} to run it (scripts/test does)");
        return;
    };
    let outcome = CatchUnwind(Box::pin(test(&db))).await;
    db.remove().await;
    if let Err(panic) = outcome {
        resume_unwind(panic);
    }
}

/// A future that turns a panic while polling `0` into an `Err`, so that the database is removed
/// before the panic goes on.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// Makes each named `async fn(&TestDb)` a test on every backend: a module of the function's
/// name with one `#[tokio::test]` per backend (`sqlite`, `postgres`) that runs it through
/// [`run`](crate::testing::run). `multi_thread: name, ...` runs them on tokio's multi-thread
/// runtime (two workers), for tests that run services beside them. The caller's crate needs
/// `tokio` with its `macros` feature (a dev-dependency).
#[macro_export]
macro_rules! test_on_every_backend {
    (multi_thread: $($test:ident),+ $(,)?) => {$(
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::testing::run($crate::testing::Backend::Sqlite, super::$test).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::testing::run($crate::testing::Backend::Postgres, super::$test).await
            }
        }
    )+};
    ($($test:ident),+ $(,)?) => {$(
        mod $test {
            #[tokio::test]
            async fn sqlite() {
                $crate::testing::run($crate::testing::Backend::Sqlite, super::$test).await
            }

            #[tokio::test]
            async fn postgres() {
                $crate::testing::run($crate::testing::Backend::Postgres, super::$test).await
            }
        }
    )+};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(
            with_database("postgres://u@127.0.0.1:5433/postgres", "t1"),
            "postgres://u@127.0.0.1:5433/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t1"),
            "postgres://u:p@h/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:1", "t1"), "postgres://h:1/t1");
    }

    #[test]
    fn names_are_unique_and_safe_to_write_unquoted() {
        let (a, b) = (unique_name("decloud_test"), unique_name("decloud_test"));
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
    }

    /// Whether the database a test had still exists.
    async fn exists(backend: Backend, url: &str) -> bool {
        match backend {
            Backend::Sqlite => {
                let file = url.strip_prefix("sqlite://").unwrap();
                std::path::Path::new(file).parent().unwrap().exists()
            }
            Backend::Postgres => {
                let server = std::env::var(POSTGRES_URL_VAR).unwrap();
                let name = url.rsplit('/').next().unwrap();
                let mut admin = PgConnection::connect(&server).await.unwrap();
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM pg_database WHERE datname = $1")
                    .bind(name)
                    .fetch_one(&mut admin)
                    .await
                    .unwrap()
                    == 1
            }
        }
    }

    /// The database a test gets is empty and its own, and gone once the test is over, passed or
    /// failed.
    async fn a_database_is_fresh_and_removed_after_the_test(db: &TestDb) {
        let backend = db.backend();
        let migrator = sqlx::migrate::Migrator::DEFAULT;
        let pool = crate::open(db.url(), &migrator).await.unwrap();
        assert_eq!(crate::schema_version(&pool).await.unwrap(), None, "empty");
        assert!(exists(backend, db.url()).await);

        let mut passed = String::new();
        run(backend, async |db: &TestDb| passed = db.url().to_owned()).await;
        assert_ne!(passed, db.url(), "a database per test");
        assert!(!exists(backend, &passed).await, "removed after a pass");

        let mut failed = String::new();
        let panicked = CatchUnwind(Box::pin(run(backend, async |db: &TestDb| {
            failed = db.url().to_owned();
            // An open pool does not keep it alive.
            let _pool = crate::open(db.url(), &migrator).await.unwrap();
            panic!("the test fails");
        })))
        .await;
        assert!(panicked.is_err(), "the panic goes on");
        assert!(!failed.is_empty());
        assert!(!exists(backend, &failed).await, "removed after a failure");
    }

    crate::test_on_every_backend!(a_database_is_fresh_and_removed_after_the_test);
}
