//! The web UI: HTML rendered on the server, a JSON twin of every page (`?format=json`), and
//! live updates by server-sent events.
//!
//! | path | page |
//! |---|---|
//! | `/` | overview: totals, tasks certified and gas per minute, live feed |
//! | `/deal/{id}` | a deal, its tasks and events |
//! | `/task/{id}` | a task: timeline of on-chain events and the off-chain replicates |
//! | `/worker/{address}` | score history, stake, tasks won and lost, failures |
//! | `/app/{address}`, `/dataset/{address}`, `/workerpool/{address}` | a resource and its deals |
//! | `/requester/{address}` | a requester's deals |
//! | `/tx/{hash}` | the events of a transaction |
//! | `/orders` | the market's open orders (when the explorer knows a market) |
//! | `/search?q=` | any id, address or transaction: redirects to its page |
//! | `/events` | server-sent events: one JSON [`Update`] per change |
//!
//! Lists take `?page=N` (from 0); a worker's contributions are paged by key instead
//! (`?before=BLOCK-LOGINDEX`, the last row shown), so a deep page costs what the first one does.
//! A request with `X-Partial: 1` gets only the page's main part (what the live refresh swaps in).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, B256};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State as AxumState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use decloud_chain::ChainProfile;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::page::{
    Mark, esc, facts, full_id, keyset_pager, layout, link, notice, pager, score_chart, short,
    sparkline, stage_text, status, table, time, timeline,
};
use crate::store::{
    DealColumn, EventColumn, EventRow, ReplicateRow, WorkerRow, addr, hash, parse_before,
};
use crate::{ExplorerError, Store, Update};

mod accounts;
mod chain;
mod orders;
mod task;

use accounts::{render_requester, render_resource, render_worker};
use chain::{EVENT_HEADERS, FEED_HEADERS, event_row, render_overview, render_tx};
use orders::render_orders;
use task::{render_deal, render_task};

/// What the handlers share.
pub struct State {
    /// The database.
    pub store: Store,
    /// Changes announced by the indexer and the trace puller.
    pub updates: broadcast::Sender<Update>,
    /// The market whose book `/orders` shows.
    pub market: Option<String>,
    /// Client of the market.
    pub http: reqwest::Client,
    /// The chain indexed.
    pub profile: ChainProfile,
}

type Shared = Arc<State>;

/// The query every page takes.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    /// `json` for the page's JSON twin.
    format: Option<String>,
    /// Page of the page's main list, from 0.
    page: Option<u64>,
    /// The search text (`/search`).
    q: Option<String>,
    /// The key lists paged by key start before (a worker's contributions).
    before: Option<String>,
}

impl PageQuery {
    /// The page asked for, from 0.
    fn page(&self) -> u64 {
        self.page.unwrap_or(0)
    }
}

/// The explorer's router.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/deal/{id}", get(deal))
        .route("/task/{id}", get(task))
        .route("/worker/{address}", get(worker))
        // `app`, `dataset` and `workerpool` (the static routes above and below win)
        .route("/{kind}/{address}", get(resource))
        .route("/requester/{address}", get(requester))
        .route("/tx/{hash}", get(transaction))
        .route("/orders", get(orders))
        .route("/search", get(search))
        .route("/events", get(events))
        .route("/health", get(|| async { "ok" }))
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
        .fallback(not_found_route)
        .with_state(state)
}

/// What a page handler produces: an HTML page (title, watched ids, body) and its JSON twin.
struct Rendered {
    code: StatusCode,
    title: String,
    watch: String,
    body: String,
    json: Value,
}

impl Rendered {
    fn ok(title: impl Into<String>, watch: impl Into<String>, body: String, json: Value) -> Self {
        Self {
            code: StatusCode::OK,
            title: title.into(),
            watch: watch.into(),
            body,
            json,
        }
    }

    fn error(code: StatusCode, title: &str, what_to_do: &str) -> Self {
        Self {
            code,
            title: title.to_owned(),
            watch: String::new(),
            body: notice(title, what_to_do),
            json: json!({ "error": format!("{title}: {what_to_do}") }),
        }
    }

    fn respond(self, query: &PageQuery, headers: &HeaderMap) -> Response {
        if query.format.as_deref() == Some("json") {
            return (self.code, Json(self.json)).into_response();
        }
        let html = if headers.get("x-partial").is_some() {
            self.body
        } else {
            layout(&self.title, &self.watch, &self.body)
        };
        (
            self.code,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            html,
        )
            .into_response()
    }
}

fn internal(e: ExplorerError) -> Rendered {
    tracing::warn!(error = %e, "explorer page failed");
    Rendered::error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The explorer could not read its database",
        &format!("{e}. Try again; if it persists, see the explorer's log."),
    )
}

macro_rules! page {
    ($name:ident, $render:ident) => {
        async fn $name(
            AxumState(state): AxumState<Shared>,
            query: Result<Query<PageQuery>, QueryRejection>,
            headers: HeaderMap,
        ) -> Response {
            let query = match query {
                Ok(q) => q.0,
                Err(e) => return bad_query(e, &headers),
            };
            let rendered = $render(&state, &query).await.unwrap_or_else(internal);
            rendered.respond(&query, &headers)
        }
    };
    ($name:ident, $render:ident, $arg:ty) => {
        async fn $name(
            AxumState(state): AxumState<Shared>,
            Path(arg): Path<$arg>,
            query: Result<Query<PageQuery>, QueryRejection>,
            headers: HeaderMap,
        ) -> Response {
            let query = match query {
                Ok(q) => q.0,
                Err(e) => return bad_query(e, &headers),
            };
            let rendered = $render(&state, &arg, &query).await.unwrap_or_else(internal);
            rendered.respond(&query, &headers)
        }
    };
}

page!(deal, render_deal, String);
page!(task, render_task, String);
page!(worker, render_worker, String);
page!(resource, render_resource, (String, String));
page!(requester, render_requester, String);
page!(transaction, render_tx, String);

page!(overview, render_overview);
page!(orders, render_orders);

fn bad_query(e: QueryRejection, headers: &HeaderMap) -> Response {
    Rendered::error(
        StatusCode::BAD_REQUEST,
        "That address has a query the explorer cannot read",
        &format!(
            "{}. Pages take ?page=N (a number from 0) and ?format=json.",
            e.body_text()
        ),
    )
    .respond(&PageQuery::default(), headers)
}

fn no_such_page() -> Rendered {
    Rendered::error(
        StatusCode::NOT_FOUND,
        "No such page",
        "Start from the overview, or search for a task, deal, transaction or address.",
    )
}

async fn not_found_route(headers: HeaderMap) -> Response {
    no_such_page().respond(&PageQuery::default(), &headers)
}

async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        crate::page::CSS,
    )
}

async fn js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        crate::page::JS,
    )
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// `text` as a 32-byte id in stored form, or the page saying what is wrong with it.
fn parse_id(text: &str, what: &str) -> Result<String, Rendered> {
    text.trim().parse::<B256>().map(hash).map_err(|_| {
        Rendered::error(
            StatusCode::BAD_REQUEST,
            &format!("That is not a {what} id"),
            &format!(
                "A {what} id is 0x and 64 hex digits; copy it from a deal page, or search for it."
            ),
        )
    })
}

/// `text` as an address in stored form, or the page saying what is wrong with it.
fn parse_address(text: &str, what: &str) -> Result<String, Rendered> {
    text.trim().parse::<Address>().map(addr).map_err(|_| {
        Rendered::error(
            StatusCode::BAD_REQUEST,
            &format!("That is not a {what} address"),
            "An address is 0x and 40 hex digits; search for it to find its page.",
        )
    })
}

fn not_indexed(what: &str, id: &str, block: u64) -> Rendered {
    Rendered::error(
        StatusCode::NOT_FOUND,
        &format!("No {what} {} indexed", short(id)),
        &format!(
            "The explorer has indexed the chain up to block {block}. Check the id, or wait a few \
             seconds if it was just created: this page updates by itself."
        ),
    )
}

async fn search(
    AxumState(state): AxumState<Shared>,
    query: Result<Query<PageQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let query = match query {
        Ok(q) => q.0,
        Err(e) => return bad_query(e, &headers),
    };
    let text = query.q.clone().unwrap_or_default();
    let text = text.trim();
    let normalized = if let Ok(h) = text.parse::<B256>() {
        Some(hash(h))
    } else {
        text.parse::<Address>().ok().map(addr)
    };
    let Some(id) = normalized else {
        return Rendered::error(
            StatusCode::BAD_REQUEST,
            "Nothing to search for",
            "Paste a task id, deal id or transaction hash (0x and 64 hex digits) or an address \
             (0x and 40 hex digits).",
        )
        .respond(&query, &headers);
    };
    match state.store.resolve(&id).await {
        Ok(Some(path)) => {
            if query.format.as_deref() == Some("json") {
                Json(json!({ "path": path })).into_response()
            } else {
                Redirect::to(&path).into_response()
            }
        }
        Ok(None) => {
            let block = state.store.totals().await.map(|t| t.block).unwrap_or(0);
            Rendered::error(
                StatusCode::NOT_FOUND,
                &format!("Nothing indexed is {}", short(&id)),
                &format!(
                    "No task, deal, transaction, app, dataset, workerpool, worker or requester \
                     with this id appears in the blocks indexed so far (up to block {block}). \
                     Check the id; a brand-new one shows up within a block."
                ),
            )
            .respond(&query, &headers)
        }
        Err(e) => internal(e).respond(&query, &headers),
    }
}

/// Server-sent events: every [`Update`] as one JSON `data:` line, a comment every 15 s.
async fn events(AxumState(state): AxumState<Shared>) -> impl IntoResponse {
    let rx = state.updates.subscribe();
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(update) => Event::default()
                .json_data(&update)
                .unwrap_or_else(|_| Event::default().data("{}")),
            // A slow reader missed updates: tell it everything changed.
            Err(broadcast::error::RecvError::Lagged(_)) => {
                Event::default().data(r#"{"block":0,"ids":["*"],"summary":[]}"#)
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok::<Event, Infallible>(event), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
