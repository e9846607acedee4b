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
        Self::start_with(devnet, decloud_market::MarketLimits::default()).await
    }

    /// [`IdleMarket::start`] with `limits` on what one client and one signer may publish.
    pub async fn start_with(
        devnet: &Devnet,
        limits: decloud_market::MarketLimits,
    ) -> Result<Self, FixtureError> {
        let dir = tempfile::tempdir().map_err(FixtureError::TempDir)?;
        let database_url = format!("sqlite://{}", dir.path().join("market.db").display());
        let market = decloud_market::start(MarketConfig {
            transport: decloud_service::transport::Transport::ephemeral(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.clone(),
            profile: devnet.profile().clone(),
            follow_interval: Duration::from_secs(3600),
            limits,
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

    /// Publishes `order` of `kind` (`app`, `dataset`, `workerpool`, `request`): the answer's
    /// status and JSON body.
    pub async fn publish(
        &self,
        kind: &str,
        order: &impl serde::Serialize,
    ) -> Result<(u16, serde_json::Value), FixtureError> {
        let (base, http) = self.http()?;
        let request = http
            .post(format!("{base}/v1/orders"))
            .json(&serde_json::json!({ "kind": kind, "order": order }));
        answer(request).await
    }

    /// `GET path` of the market's API (e.g. `/v1/orders/0x...`): the status and JSON body.
    pub async fn get(&self, path: &str) -> Result<(u16, serde_json::Value), FixtureError> {
        let (base, http) = self.http()?;
        answer(http.get(format!("{base}{path}"))).await
    }

    /// The market's URL without its pin, and a client pinned to its key.
    fn http(&self) -> Result<(String, reqwest::Client), FixtureError> {
        decloud_service::transport::api_client(&self.url())
            .map_err(|e| FixtureError::Transport(e.to_string()))
    }

    /// The market's URL without its pin, to append API paths to.
    pub fn base_url(&self) -> String {
        self.url().split('#').next().unwrap_or_default().to_owned()
    }

    /// An HTTP client that accepts only the market's key and names it in each request.
    pub fn http_client(&self) -> Result<reqwest::Client, FixtureError> {
        Ok(self.http()?.1)
    }

    /// Another handle on the market's order book, for following the chain by hand and reading
    /// what the API does not show.
    pub async fn book(&self) -> Result<OrderBook, FixtureError> {
        Ok(OrderBook::open(&self.database_url).await?)
    }
}

/// Sends `request`; the status and the JSON body of the answer.
async fn answer(
    request: reqwest::RequestBuilder,
) -> Result<(u16, serde_json::Value), FixtureError> {
    let response = request.send().await?;
    Ok((response.status().as_u16(), response.json().await?))
}
