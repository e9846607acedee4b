//! The market service: an HTTP order book for decloud's signed orders.
//!
//! It refuses an order whose signature, owner, remaining volume or requester balance does not
//! hold, follows the chain to mark orders filled, cancelled or dead, and answers order-book
//! queries sorted by price with filters and paging. Orders live in SQL (embedded SQLite by
//! default, Postgres by URL) so a restart loses nothing.

pub mod db;

pub use db::{BookEntry, BookQuery, OrderBook, OrderKind, OrderStatus};

/// What the market can refuse or fail at; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    /// The request is malformed or the order does not hold.
    #[error("{0}")]
    BadRequest(String),
    /// No order has this hash.
    #[error("no order {0} in the book: check the hash, or publish the order first")]
    NotFound(String),
    /// The database failed.
    #[error("order book database: {0}")]
    Database(String),
    /// A stored row is unreadable.
    #[error("order book database holds a corrupt row ({0}): restore it from a backup or delete it")]
    Corrupt(String),
    /// The chain could not be asked.
    #[error("{0}")]
    Chain(String),
}

impl From<sqlx::Error> for MarketError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.to_string())
    }
}
