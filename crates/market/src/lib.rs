//! The market service: an HTTP order book for decloud's signed orders.
//!
//! It refuses an order whose signature, owner, remaining volume or requester balance does not
//! hold, follows the chain to mark orders filled, cancelled or dead, and answers order-book
//! queries sorted by price with filters and paging. Orders live in SQL (embedded SQLite by
//! default, Postgres by URL) so a restart loses nothing.

pub mod check;
pub mod client;
pub mod db;

pub use db::{BookEntry, BookQuery, MAX_ORDER_LIFETIME_SECS, OrderBook, OrderKind, OrderStatus};

/// What the market can refuse or fail at; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    /// The request is malformed or the order does not hold.
    #[error("{0}")]
    BadRequest(String),
    /// The request body is over the size limit.
    #[error("request body over {0} bytes: orders are far smaller; check what is being sent")]
    TooLarge(usize),
    /// No order has this hash.
    #[error("no order {0} in the book: check the hash, or publish the order first")]
    NotFound(String),
    /// The database could not be opened or brought to the current schema.
    #[error("order book database: {0}")]
    Open(#[from] decloud_sql::SqlError),
    /// A query failed.
    #[error("order book database: {0}")]
    Database(#[from] sqlx::Error),
    /// The database did not keep what it was just given.
    #[error("order book database: {0}")]
    Lost(String),
    /// A stored row is unreadable.
    #[error("order book database holds a corrupt row ({0}): restore it from a backup or delete it")]
    Corrupt(String),
    /// The API's address cannot be listened on.
    #[error("cannot listen on {addr}: {source}; pass another --market-listen address")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why the system refused it.
        #[source]
        source: std::io::Error,
    },
    /// The chain answered with an error.
    #[error("{0}")]
    Chain(String),
    /// The client or the signer asked too often: it may try again after `retry_after` seconds.
    #[error("too many {what}: try again in {retry_after} s")]
    TooManyRequests {
        /// What was asked too often.
        what: &'static str,
        /// Seconds to wait (the `Retry-After` header).
        retry_after: u64,
    },
    /// The signer holds all the book space it may: the message says how to get more.
    #[error("{0}")]
    BookFull(String),
    /// The chain does not answer at all: nothing can be checked, so nothing is stored. The URL
    /// is only the RPC endpoint's origin (an API key in its path or user part stays private).
    #[error(
        "the chain at {0} does not answer: the market cannot check orders until it is back; try again later (nothing was stored)"
    )]
    ChainDown(String),
    /// Following the hub's events failed (the next pass retries from the stored cursor).
    #[error("following the hub's events: {0}")]
    Follow(#[source] decloud_chain::follower::FollowerError),
}

pub mod api;
pub mod follower;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use decloud_chain::ChainProfile;
use decloud_service::Service;
use decloud_service::limits::Rate;

/// How to run the market service.
#[derive(Clone, Debug)]
pub struct MarketConfig {
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// `sqlite://path` (created if missing) or `postgres://...`.
    pub database_url: String,
    /// The chain whose orders the market keeps.
    pub profile: ChainProfile,
    /// How often the follower reads new blocks.
    pub follow_interval: Duration,
    /// What one client and one signer may publish.
    pub limits: MarketLimits,
    /// TLS with the market's key, or plain HTTP on a devnet.
    pub transport: decloud_service::transport::Transport,
}

/// Bounds on what one client and one signer may take of the book: publishing rates, and book
/// space, which an identity that costs nothing gets little of.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MarketLimits {
    /// Publications per client address (its IP), checked before anything is read.
    pub per_client: Rate,
    /// Publications per signer, checked once the signature is.
    pub per_signer: Rate,
    /// Open orders one signer may have in the book.
    pub max_open_per_signer: u64,
    /// Open request orders a requester with nothing in the escrow may have in the book (a
    /// request at price 0 from an empty account costs nothing to sign).
    pub max_open_unfunded: u64,
}

impl Default for MarketLimits {
    fn default() -> Self {
        Self {
            per_client: Rate {
                burst: 100,
                per_sec: 20.0,
            },
            per_signer: Rate {
                burst: 30,
                per_sec: 5.0,
            },
            max_open_per_signer: 1_000,
            max_open_unfunded: 16,
        }
    }
}

/// A running market: its HTTP server and chain follower. Dropping it stops both.
pub struct RunningMarket {
    service: Service,
}

impl RunningMarket {
    /// Where the API listens.
    pub fn addr(&self) -> SocketAddr {
        self.service.addr()
    }

    /// URL of the API with the fingerprint of the market's key, as clients are given it,
    /// e.g. `https://127.0.0.1:8090#sha256:9f86...` (`http://...` over plain HTTP).
    pub fn url(&self) -> String {
        self.service.pinned_url().to_string()
    }

    /// Stops the server and the follower and waits until they are gone.
    pub async fn stop(self) {
        self.service.stop().await;
    }

    /// Waits until the server stops (it runs until the process ends or this value is dropped).
    pub async fn wait(self) {
        if let Err(e) = self.service.wait().await {
            tracing::error!(error = %e, "market server stopped");
        }
    }
}

/// Opens the book, binds the listener and starts serving and following the chain.
pub async fn start(config: MarketConfig) -> Result<RunningMarket, MarketError> {
    let chain_id = config.profile.chain_id;
    config
        .transport
        .check_allowed(chain_id, config.profile.is_devnet())
        .map_err(|e| MarketError::BadRequest(e.to_string()))?;
    let book = OrderBook::open(&config.database_url).await?;
    let checker = check::ChainChecker::new(config.profile)?;
    let state = api::AppState {
        book: book.clone(),
        checker: Arc::new(checker.clone()),
        limits: Arc::new(api::Limiters::new(config.limits)),
    };
    let mut service = Service::serve_on(
        config.listen,
        api::router(state),
        decloud_service::Limits::default(),
        &config.transport,
    )
    .await
    .map_err(|source| MarketError::Listen {
        addr: config.listen,
        source,
    })?;
    service.spawn(follower::follow(book, checker, config.follow_interval));
    tracing::info!(url = %service.pinned_url(), "market listening");
    Ok(RunningMarket { service })
}
