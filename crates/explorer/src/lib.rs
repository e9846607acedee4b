//! The decloud explorer: every deal and task traced on chain and off chain, in a web page.
//!
//! - [`index`]: follows the hub's and the registries' events with the one chain follower of
//!   `decloud-chain` into SQL (SQLite by default, Postgres by URL), with the cursor stored in
//!   the same database, so a restart resumes where it stopped and a reorg undoes the orphaned
//!   blocks' rows;
//! - [`trace`]: pulls each workerpool's off-chain trace (every replicate's stage, worker and
//!   failure reason) from its scheduler's public status API;
//! - [`web`]: the web UI, HTML rendered on the server with a JSON twin of every page
//!   (`?format=json`), and live updates by server-sent events (`GET /events`).
//!
//! ```no_run
//! # async fn f(profile: decloud_chain::ChainProfile) -> Result<(), decloud_explorer::ExplorerError> {
//! let config = decloud_explorer::ExplorerConfig::new(profile, "sqlite:///tmp/explorer.db");
//! let explorer = decloud_explorer::start(config).await?;
//! println!("explorer on {}", explorer.url());
//! # Ok(()) }
//! ```

pub mod index;
mod page;
pub mod store;
pub mod trace;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use decloud_chain::ChainProfile;
use decloud_service::Service;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

pub use store::Store;

/// What can go wrong running the explorer; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ExplorerError {
    /// The database could not be opened or brought to the current schema.
    #[error("explorer database: {0}")]
    Open(#[from] decloud_sql::SqlError),
    /// A query failed.
    #[error("explorer database: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored row is unreadable.
    #[error(
        "explorer database holds a corrupt row ({0}): delete the database, the explorer indexes the chain again"
    )]
    Corrupt(String),
    /// A value from the caller does not fit.
    #[error("{0}")]
    BadRequest(String),
    /// The chain could not be read (the next pass retries from the stored cursor).
    #[error("reading the chain: {0}")]
    Chain(String),
    /// Following the hub's events failed (the next pass retries from the stored cursor).
    #[error("following the hub's events: {0}")]
    Follow(#[from] decloud_chain::follower::FollowerError),
    /// The web UI's address cannot be listened on.
    #[error("cannot listen on {addr}: {source}; pass another --listen address")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why the system refused it.
        #[source]
        source: std::io::Error,
    },
}

decloud_sql::column_errors!(ExplorerError);

/// How to run the explorer.
#[derive(Clone, Debug)]
pub struct ExplorerConfig {
    /// Address of the web UI (port 0 picks a free one).
    pub listen: SocketAddr,
    /// `sqlite://path` (created if missing) or `postgres://...`.
    pub database_url: String,
    /// The chain to index.
    pub profile: ChainProfile,
    /// The schedulers asked for the off-chain trace of their workerpool's tasks (each one's
    /// `/v1/info` says which workerpool it schedules).
    pub schedulers: Vec<String>,
    /// The market whose open orders the order book page shows, if any.
    pub market: Option<String>,
    /// How often the indexer asks the chain for new blocks.
    pub poll_interval: Duration,
    /// How often the schedulers are asked for the trace of unfinished tasks.
    pub trace_interval: Duration,
}

impl ExplorerConfig {
    /// An explorer of `profile`'s chain into `database_url`, on a free loopback port, with no
    /// scheduler and no market.
    pub fn new(profile: ChainProfile, database_url: &str) -> Self {
        Self {
            listen: ([127, 0, 0, 1], 0).into(),
            database_url: database_url.to_owned(),
            profile,
            schedulers: Vec::new(),
            market: None,
            poll_interval: Duration::from_millis(200),
            trace_interval: Duration::from_secs(1),
        }
    }
}

/// What changed in one indexing step or trace pull: the ids and addresses it touched, which
/// the pages showing them refresh on (sent to browsers as server-sent events).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    /// The last block indexed.
    pub block: u64,
    /// Task ids, deal ids and addresses touched (lowercase `0x…`).
    pub ids: Vec<String>,
    /// A short line for the live feed of the overview.
    pub summary: Vec<String>,
}

/// A running explorer: the web UI, the indexer and the trace puller. Dropping it stops them.
pub struct RunningExplorer {
    service: Service,
    store: Store,
}

impl RunningExplorer {
    /// Where the web UI listens.
    pub fn addr(&self) -> SocketAddr {
        self.service.addr()
    }

    /// The web UI's base URL, e.g. `http://127.0.0.1:7900`.
    pub fn url(&self) -> String {
        self.service.url()
    }

    /// The explorer's database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stops the server and the loops and waits until they are gone.
    pub async fn stop(self) {
        self.service.stop().await;
    }

    /// Waits until the server stops (it runs until the process ends or this value is dropped).
    pub async fn wait(self) {
        if let Err(e) = self.service.wait().await {
            tracing::error!(error = %e, "explorer server stopped");
        }
    }
}

/// Opens the database, starts the indexer and the trace puller, and serves the web UI.
pub async fn start(config: ExplorerConfig) -> Result<RunningExplorer, ExplorerError> {
    let store = Store::open(&config.database_url).await?;
    let (updates, _) = broadcast::channel(256);
    let schedulers = trace::Schedulers::new(config.schedulers.clone())?;
    // The market's URL without its pin, and a client pinned to its key.
    let (market, http) = match &config.market {
        Some(url) => {
            let (base, http) = trace::http_client(url)?;
            (Some(base), http)
        }
        None => (None, trace::http_client("http://127.0.0.1")?.1),
    };
    let state = Arc::new(web::State {
        store: store.clone(),
        updates: updates.clone(),
        market,
        http,
        profile: config.profile.clone(),
    });
    let mut service = Service::serve(config.listen, web::router(state))
        .await
        .map_err(|source| ExplorerError::Listen {
            addr: config.listen,
            source,
        })?;
    let indexer = index::Indexer::new(&config.profile, store.clone(), updates.clone())?;
    service.spawn(indexer.run(config.poll_interval));
    service.spawn(trace::run(
        store.clone(),
        schedulers,
        updates,
        config.trace_interval,
    ));
    tracing::info!(addr = %service.addr(), "explorer listening");
    Ok(RunningExplorer { service, store })
}
