//! A typed HTTP client of the market API (see [`crate::api`]), for the CLI and the services.
//!
//! ```no_run
//! # async fn f() -> Result<(), decloud_market::client::ClientError> {
//! use decloud_market::{BookQuery, OrderKind, client::MarketClient};
//! let market = MarketClient::new("http://127.0.0.1:7600")?;
//! let page = market.orderbook(OrderKind::Workerpool, &BookQuery::default()).await?;
//! println!("{} workerpool orders", page.orders.len());
//! # Ok(()) }
//! ```

use alloy::primitives::{Address, B256};
use alloy::signers::SignerSync;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{BookPage, CancelRequest, PublishRequest, Receipt, cancel_message};
use crate::{BookEntry, BookQuery, OrderKind};

/// Default address of a market started by `decloud node --market`.
pub const DEFAULT_MARKET_URL: &str = "http://127.0.0.1:7600";

/// How long a cancellation signed by [`MarketClient::withdraw`] stays valid.
pub const WITHDRAW_WINDOW_SECS: u64 = 120;

/// What can go wrong talking to a market. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The market URL is not an http(s) URL.
    #[error(
        "invalid market URL {0:?}: expected https://HOST:PORT#sha256:FINGERPRINT as the market printed it (or http://127.0.0.1:7600 on a devnet)"
    )]
    BadUrl(String),
    /// The market did not answer.
    #[error(
        "cannot reach the market at {url}: {reason}; check --market (or DECLOUD_MARKET), or start one with `decloud node --market`"
    )]
    Unreachable {
        /// The market's base URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The market refused the request; `message` is its explanation.
    #[error("the market refused: {message}")]
    Refused {
        /// HTTP status code.
        status: u16,
        /// The market's error message.
        message: String,
    },
    /// The market knows no order with this hash.
    #[error("the market has no order {0}: check the hash, or publish the order first")]
    NotFound(B256),
    /// The market answered something this client cannot read.
    #[error("unexpected answer from the market at {url}: {reason}; is it a decloud market?")]
    BadResponse {
        /// The market's base URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Signing the cancellation failed.
    #[error("cannot sign the cancellation: {0}")]
    Signing(String),
}

/// A client of one market.
#[derive(Clone, Debug)]
pub struct MarketClient {
    base: String,
    http: reqwest::Client,
}

impl MarketClient {
    /// A client of the market at `base_url`, a pinned URL (e.g.
    /// `https://10.0.0.5:7600#sha256:9f86...`; `http://127.0.0.1:7600` on a devnet).
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        use decloud_service::transport::{TransportError, api_client};
        let (base, http) = api_client(base_url).map_err(|e| match e {
            TransportError::Client(reason) => ClientError::Unreachable {
                url: base_url.to_string(),
                reason,
            },
            _ => ClientError::BadUrl(base_url.to_string()),
        })?;
        Ok(Self { base, http })
    }

    /// The market's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Publishes a signed order of `kind`.
    pub async fn publish<O: Serialize>(
        &self,
        kind: OrderKind,
        order: &O,
    ) -> Result<Receipt, ClientError> {
        let order = serde_json::to_value(order).map_err(|e| ClientError::BadResponse {
            url: self.base.clone(),
            reason: format!("the order does not serialize: {e}"),
        })?;
        let request = self
            .http
            .post(format!("{}/v1/orders", self.base))
            .json(&PublishRequest { kind, order });
        self.send(request, None).await
    }

    /// The order with this hash, as the market keeps it.
    pub async fn order(&self, hash: B256) -> Result<BookEntry, ClientError> {
        let request = self.http.get(format!("{}/v1/orders/{hash}", self.base));
        self.send(request, Some(hash)).await
    }

    /// One page of the order book of `kind`, cheapest first.
    pub async fn orderbook(
        &self,
        kind: OrderKind,
        query: &BookQuery,
    ) -> Result<BookPage, ClientError> {
        let request = self
            .http
            .get(format!("{}/v1/orderbook/{}", self.base, kind.as_str()))
            .query(query);
        self.send(request, None).await
    }

    /// Withdraws an order from the book, signing the cancellation with `signer` (the order's
    /// signer) for the market of `chain_id` and `hub`, valid [`WITHDRAW_WINDOW_SECS`] from
    /// `now` (unix seconds).
    pub async fn withdraw<S: SignerSync>(
        &self,
        hash: B256,
        signer: &S,
        chain_id: u64,
        hub: Address,
        now: u64,
    ) -> Result<Receipt, ClientError> {
        let deadline = now + WITHDRAW_WINDOW_SECS;
        let message = cancel_message(chain_id, hub, hash, deadline);
        let signature = signer
            .sign_message_sync(message.as_bytes())
            .map_err(|e| ClientError::Signing(e.to_string()))?;
        let request = self
            .http
            .post(format!("{}/v1/orders/{hash}/cancel", self.base))
            .json(&CancelRequest {
                deadline,
                signature: signature.to_string(),
            });
        self.send(request, Some(hash)).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        hash: Option<B256>,
    ) -> Result<T, ClientError> {
        let response = request.send().await.map_err(|e| ClientError::Unreachable {
            url: self.base.clone(),
            reason: decloud_service::transport::error_chain(&e.without_url()),
        })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| ClientError::Unreachable {
                url: self.base.clone(),
                reason: decloud_service::transport::error_chain(&e.without_url()),
            })?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| ClientError::BadResponse {
                url: self.base.clone(),
                reason: e.to_string(),
            });
        }
        if status == reqwest::StatusCode::NOT_FOUND
            && let Some(hash) = hash
        {
            return Err(ClientError::NotFound(hash));
        }
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| {
                let text = String::from_utf8_lossy(&body);
                let text = text.trim();
                if text.is_empty() {
                    format!("HTTP {status}")
                } else {
                    format!(
                        "HTTP {status}: {}",
                        text.chars().take(200).collect::<String>()
                    )
                }
            });
        Err(ClientError::Refused {
            status: status.as_u16(),
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(MarketClient::new("http://127.0.0.1:7600/").is_ok());
        assert_eq!(
            MarketClient::new("https://market.example/").unwrap().url(),
            "https://market.example"
        );
        assert!(matches!(
            MarketClient::new("127.0.0.1:7600"),
            Err(ClientError::BadUrl(_))
        ));
        assert!(matches!(
            MarketClient::new("http://"),
            Err(ClientError::BadUrl(_))
        ));
    }

    #[tokio::test]
    async fn an_unreachable_market_names_the_fix() {
        // Port 9 (discard) on localhost: nothing listens there in a test environment.
        let market = MarketClient::new("http://127.0.0.1:9").unwrap();
        let err = market
            .orderbook(OrderKind::App, &BookQuery::default())
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
        assert!(err.to_string().contains("decloud node --market"), "{err}");
    }
}
