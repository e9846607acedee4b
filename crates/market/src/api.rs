//! The market's HTTP JSON API (described in OpenAPI 3 at `GET /openapi.json`).
//!
//! | method | path | what |
//! |---|---|---|
//! | `POST` | `/v1/orders` | publish `{"kind": "app", "order": {...}}` |
//! | `GET` | `/v1/orders/{hash}` | one order |
//! | `POST` | `/v1/orders/{hash}/cancel` | withdraw it from the book, signed by its signer |
//! | `GET` | `/v1/orderbook/{kind}` | open orders, cheapest first, filtered and paged |
//! | `GET` | `/health` | liveness |

use std::sync::Arc;

use alloy::primitives::{Address, B256, Signature};
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use decloud_service::ApiError;
use decloud_service::limits::{RateLimiter, client_ip};
use serde::{Deserialize, Serialize};

use crate::check::{ChainChecker, parse_hash, unix_now};
use crate::db::MAX_PAGE_SIZE;
use crate::{BookEntry, BookQuery, MarketError, MarketLimits, OrderBook, OrderKind, OrderStatus};

/// Largest request body the market accepts (an order with long params fits many times over).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a signed cancellation stays valid at most, so a leaked one can't be replayed later.
pub const MAX_CANCEL_WINDOW_SECS: u64 = 600;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The order book.
    pub book: OrderBook,
    /// The chain checks.
    pub checker: Arc<ChainChecker>,
    /// What one client and one signer may publish.
    pub limits: Arc<Limiters>,
}

/// The [`MarketLimits`] of a running market, with their token buckets.
pub struct Limiters {
    limits: MarketLimits,
    per_client: RateLimiter,
    per_signer: RateLimiter,
}

impl Limiters {
    /// Buckets for `limits`.
    pub fn new(limits: MarketLimits) -> Self {
        Self {
            limits,
            per_client: RateLimiter::new(limits.per_client),
            per_signer: RateLimiter::new(limits.per_signer),
        }
    }
}

/// Takes one publication of `key` from `limiter`, or refuses it with a 429 saying how long to
/// wait.
fn take(
    limiter: &RateLimiter,
    key: impl std::hash::Hash,
    what: &'static str,
) -> Result<(), MarketError> {
    limiter
        .admit(key)
        .map_err(|retry_after| MarketError::TooManyRequests { what, retry_after })
}

/// A publish request.
#[derive(Debug, Deserialize, Serialize)]
pub struct PublishRequest {
    /// Which kind of order `order` is.
    pub kind: OrderKind,
    /// The signed order.
    pub order: serde_json::Value,
}

/// A signed request to withdraw an order from the book.
#[derive(Debug, Deserialize, Serialize)]
pub struct CancelRequest {
    /// Unix time after which this cancellation is refused (at most 10 minutes ahead).
    pub deadline: u64,
    /// EIP-191 signature by the order's signer over [`cancel_message`].
    pub signature: String,
}

/// The text an order's signer signs (EIP-191 personal message) to withdraw it from the book.
/// It names the market's chain and hub so that it can't be replayed on another deployment.
pub fn cancel_message(chain_id: u64, hub: Address, hash: B256, deadline: u64) -> String {
    format!("decloud market: withdraw order {hash} (chain {chain_id}, hub {hub}) until {deadline}")
}

/// The answer to a publish or a cancel.
#[derive(Debug, Deserialize, Serialize)]
pub struct Receipt {
    /// The order hash.
    pub hash: B256,
    /// Where the order stands now.
    pub status: OrderStatus,
    /// Tasks still available.
    pub remaining: u64,
    /// False when the book already had this order.
    pub created: bool,
}

/// A page of the order book.
#[derive(Debug, Deserialize, Serialize)]
pub struct BookPage {
    /// Which kind of orders.
    pub kind: OrderKind,
    /// The page number.
    pub page: u32,
    /// The orders, best price first.
    pub orders: Vec<BookEntry>,
}

impl ApiError for MarketError {
    fn status(&self) -> StatusCode {
        match self {
            MarketError::BadRequest(_) => StatusCode::BAD_REQUEST,
            MarketError::NotFound(_) => StatusCode::NOT_FOUND,
            MarketError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            MarketError::TooManyRequests { .. } | MarketError::BookFull(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            MarketError::Chain(_) | MarketError::Follow(_) => StatusCode::BAD_GATEWAY,
            MarketError::ChainDown(_) => StatusCode::SERVICE_UNAVAILABLE,
            MarketError::Open(_)
            | MarketError::Listen { .. }
            | MarketError::Database(_)
            | MarketError::Lost(_)
            | MarketError::Corrupt(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn bad_request(message: String) -> Self {
        MarketError::BadRequest(message)
    }

    fn too_large() -> Self {
        MarketError::TooLarge(MAX_BODY_BYTES)
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            MarketError::TooManyRequests { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

impl IntoResponse for MarketError {
    fn into_response(self) -> Response {
        self.response()
    }
}

/// The router of the market API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/openapi.json", get(openapi))
        .route("/v1/orders", post(publish))
        .route("/v1/orders/{hash}", get(show))
        .route("/v1/orders/{hash}/cancel", post(cancel))
        .route("/v1/orderbook/{kind}", get(orderbook))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
}

async fn publish(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    body: Result<Json<PublishRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Receipt>), MarketError> {
    let limits = &state.limits;
    take(
        &limits.per_client,
        client_ip(&extensions),
        "publications from this address",
    )?;
    let request = MarketError::json_body(body)?;
    let now = unix_now();
    let checked = state
        .checker
        .check(request.kind, &request.order, now)
        .await?;
    let entry = checked.entry;
    take(
        &limits.per_signer,
        entry.signer,
        "publications by this signer",
    )?;
    // Book space: a copy of an order already in the book takes none.
    if state.book.get(entry.hash).await?.is_none() {
        let open = state.book.open_count(entry.signer).await?;
        if open >= limits.limits.max_open_per_signer {
            return Err(MarketError::BookFull(format!(
                "{} has {open} open orders, the most one signer may have in this book: cancel some first",
                entry.signer
            )));
        }
        if checked.unfunded && open >= limits.limits.max_open_unfunded {
            return Err(MarketError::BookFull(format!(
                "{} has {open} open orders and nothing in the escrow, the most an empty account may have in this book: deposit with `decloud account deposit`, or cancel some first",
                entry.signer
            )));
        }
    }
    // Durable before acknowledged: the insert commits before the answer goes out.
    let created = state.book.insert(&entry, now).await?;
    let stored =
        state.book.get(entry.hash).await?.ok_or_else(|| {
            MarketError::Lost("the order vanished right after it was stored".into())
        })?;
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        code,
        Json(Receipt {
            hash: stored.hash,
            status: stored.status,
            remaining: stored.remaining,
            created,
        }),
    ))
}

async fn show(
    State(state): State<AppState>,
    Path(hash): Path<String>,
) -> Result<Json<BookEntry>, MarketError> {
    let hash = parse_hash(&hash)?;
    state
        .book
        .get(hash)
        .await?
        .map(Json)
        .ok_or_else(|| MarketError::NotFound(hash.to_string()))
}

async fn orderbook(
    State(state): State<AppState>,
    Path(kind): Path<String>,
    query: Result<Query<BookQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<BookPage>, MarketError> {
    let kind: OrderKind = kind.parse()?;
    let query = MarketError::query(query)?;
    if let Some(size) = query.page_size.filter(|s| !(1..=MAX_PAGE_SIZE).contains(s)) {
        return Err(MarketError::BadRequest(format!(
            "page_size {size} is out of range: ask for 1 to {MAX_PAGE_SIZE} orders per page"
        )));
    }
    let orders = state.book.query(kind, &query, unix_now()).await?;
    Ok(Json(BookPage {
        kind,
        page: query.page,
        orders,
    }))
}

async fn cancel(
    State(state): State<AppState>,
    Path(hash): Path<String>,
    body: Result<Json<CancelRequest>, JsonRejection>,
) -> Result<Json<Receipt>, MarketError> {
    let hash = parse_hash(&hash)?;
    let request = MarketError::json_body(body)?;
    let now = unix_now();
    if request.deadline < now || request.deadline > now + MAX_CANCEL_WINDOW_SECS {
        return Err(MarketError::BadRequest(format!(
            "the cancellation's deadline {} is not within the next {MAX_CANCEL_WINDOW_SECS} s (now {now}): sign it again",
            request.deadline
        )));
    }
    let entry = state
        .book
        .get(hash)
        .await?
        .ok_or_else(|| MarketError::NotFound(hash.to_string()))?;
    let profile = state.checker.profile();
    let message = cancel_message(
        profile.chain_id,
        profile.contracts.hub,
        hash,
        request.deadline,
    );
    let signature: Signature = request.signature.parse().map_err(|_| {
        MarketError::BadRequest("malformed cancellation signature: sign it again".into())
    })?;
    let signer = signature
        .recover_address_from_msg(message.as_bytes())
        .map_err(|_| {
            MarketError::BadRequest("malformed cancellation signature: sign it again".into())
        })?;
    if signer != entry.signer {
        return Err(MarketError::BadRequest(format!(
            "the cancellation is signed by {signer}, but only the order's signer {} may withdraw it",
            entry.signer
        )));
    }
    state
        .book
        .update(hash, entry.remaining, OrderStatus::Cancelled)
        .await?;
    Ok(Json(Receipt {
        hash,
        status: OrderStatus::Cancelled,
        remaining: entry.remaining,
        created: false,
    }))
}
