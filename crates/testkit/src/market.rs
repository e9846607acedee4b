//! A market for tests of orders: in this process, on a devnet, with a database of its own.

use std::net::SocketAddr;
use std::time::Duration;

use decloud_market::{MarketConfig, OrderBook, RunningMarket};
use tempfile::TempDir;

use crate::Devnet;
use crate::fixtures::FixtureError;

/// A market whose follower waits an hour between passes: its book changes only through its API
/// and through the passes a test runs by hand (`decloud_market::follower::follow_once` on
/// [`IdleMarket::book`]), so what a test sees of it is deterministic. Stops when dropped.
pub struct IdleMarket {
    market: RunningMarket,
    database_url: String,
    // After the market, which keeps its database open.
    _dir: TempDir,
}

impl IdleMarket {
    /// Starts a market of `devnet`'s orders on a free port.
    pub async fn start(devnet: &Devnet) -> Result<Self, FixtureError> {
        let dir = tempfile::tempdir().map_err(FixtureError::TempDir)?;
        let database_url = format!("sqlite://{}", dir.path().join("market.db").display());
        let market = decloud_market::start(MarketConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.clone(),
            profile: devnet.profile().clone(),
            follow_interval: Duration::from_secs(3600),
        })
        .await?;
        Ok(Self {
            market,
            database_url,
            _dir: dir,
        })
    }

    /// The market's base URL.
    pub fn url(&self) -> String {
        self.market.url()
    }

    /// Another handle on the market's order book, for following the chain by hand and reading
    /// what the API does not show.
    pub async fn book(&self) -> Result<OrderBook, FixtureError> {
        Ok(OrderBook::open(&self.database_url).await?)
    }
}
