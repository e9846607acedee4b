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
//! Lists take `?page=N` (from 0). A request with `X-Partial: 1` gets only the page's main part
//! (what the live refresh swaps in).

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
    esc, facts, full_id, layout, link, notice, pager, score_chart, short, sparkline, status, table,
    time, timeline,
};
use crate::store::{DealColumn, EventColumn, EventRow, addr, hash};
use crate::{ExplorerError, Store, Update};

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
}

/// The explorer's router.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/deal/{id}", get(deal))
        .route("/task/{id}", get(task))
        .route("/worker/{address}", get(worker))
        .route("/app/{address}", get(app))
        .route("/dataset/{address}", get(dataset))
        .route("/workerpool/{address}", get(workerpool))
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
            let rendered = $render(&state, &arg, query.page.unwrap_or(0))
                .await
                .unwrap_or_else(internal);
            rendered.respond(&query, &headers)
        }
    };
}

page!(deal, render_deal, String);
page!(task, render_task, String);
page!(worker, render_worker, String);
page!(app, render_app, String);
page!(dataset, render_dataset, String);
page!(workerpool, render_workerpool, String);
page!(requester, render_requester, String);
page!(transaction, render_tx, String);

async fn overview(
    AxumState(state): AxumState<Shared>,
    query: Result<Query<PageQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let query = match query {
        Ok(q) => q.0,
        Err(e) => return bad_query(e, &headers),
    };
    render_overview(&state, query.page.unwrap_or(0))
        .await
        .unwrap_or_else(internal)
        .respond(&query, &headers)
}

async fn orders(
    AxumState(state): AxumState<Shared>,
    query: Result<Query<PageQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let query = match query {
        Ok(q) => q.0,
        Err(e) => return bad_query(e, &headers),
    };
    render_orders(&state, query.page.unwrap_or(0))
        .await
        .respond(&query, &headers)
}

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

async fn not_found_route(headers: HeaderMap) -> Response {
    Rendered::error(
        StatusCode::NOT_FOUND,
        "No such page",
        "Start from the overview, or search for a task, deal, transaction or address.",
    )
    .respond(&PageQuery::default(), &headers)
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

/// One row of an events table.
fn event_row(e: &EventRow, show_task: bool) -> Vec<String> {
    let who = e
        .account
        .as_deref()
        .map(|a| link(account_kind(&e.kind), a))
        .unwrap_or_default();
    let mut row = vec![time(e.time), format!("<strong>{}</strong>", esc(&e.kind))];
    if show_task {
        row.push(match (&e.task_id, &e.deal_id) {
            (Some(t), _) => link("task", t),
            (None, Some(d)) => link("deal", d),
            _ => String::new(),
        });
    }
    row.push(who);
    row.push(detail(&e.detail));
    row.push(format!(
        "{} <span class=\"muted\">block {}</span>",
        link("tx", &e.tx),
        e.block
    ));
    row.push(e.gas.map(|g| g.to_string()).unwrap_or_default());
    row
}

/// Which page an account named by an event has.
fn account_kind(kind: &str) -> &'static str {
    match kind {
        "DealCreated" | "Deposit" | "Withdraw" | "OrderPresigned" | "OrderClosed" => "requester",
        "AppRegistered" | "DatasetRegistered" | "WorkerpoolRegistered" => "requester",
        _ => "worker",
    }
}

/// An event's fields, escaped.
fn detail(detail: &Value) -> String {
    let Some(map) = detail.as_object() else {
        return String::new();
    };
    map.iter()
        .map(|(k, v)| {
            let text = v
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string());
            let shown = if text.starts_with("0x") && text.len() > 20 {
                format!(
                    "<code title=\"{0}\">{1}</code>",
                    esc(&text),
                    esc(&short(&text))
                )
            } else {
                esc(&text)
            };
            format!("<span class=\"kv\">{}: {shown}</span>", esc(k))
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

const EVENT_HEADERS: [&str; 6] = ["Time", "Event", "Account", "Details", "Transaction", "Gas"];
const FEED_HEADERS: [&str; 7] = [
    "Time",
    "Event",
    "Task or deal",
    "Account",
    "Details",
    "Transaction",
    "Gas",
];

async fn render_overview(state: &State, page: u64) -> Result<Rendered, ExplorerError> {
    let totals = state.store.totals().await?;
    let now = unix_now();
    let (per_minute, gas) = state.store.per_minute(now, 60).await?;
    let feed = state.store.feed(page).await?;
    let rows: Vec<Vec<String>> = feed.rows.iter().map(|e| event_row(e, true)).collect();
    let body = format!(
        "<h1>decloud explorer</h1>\
         <div class=\"cards\">\
         <div class=\"card\">Tasks<b id=\"total-tasks\">{tasks}</b>{completed} completed, {failed} failed</div>\
         <div class=\"card\">Deals<b>{deals}</b>indexed up to block {block}</div>\
         <div class=\"card\">Tasks certified per minute<b>{last_tasks}</b>{spark_tasks}last hour</div>\
         <div class=\"card\">Gas per minute<b>{last_gas}</b>{spark_gas}last hour</div>\
         </div>\
         <p><a href=\"/orders\">Open orders in the market's book</a></p>\
         <h2>Live feed</h2>{table}{pager}",
        tasks = totals.tasks,
        completed = totals.completed,
        failed = totals.failed,
        deals = totals.deals,
        block = totals.block,
        last_tasks = per_minute.last().copied().unwrap_or(0),
        last_gas = gas.last().copied().unwrap_or(0),
        spark_tasks = sparkline(&per_minute, "tasks certified per minute, last hour"),
        spark_gas = sparkline(&gas, "gas per minute, last hour"),
        table = crate::page::table(
            "Latest deals and task events",
            &FEED_HEADERS,
            &rows,
            "Nothing indexed yet. Match a deal (decloud run, or decloud demo) and it appears \
             here within a block."
        ),
        pager = pager("/", "page", page, feed.more),
    );
    Ok(Rendered::ok(
        "Overview",
        "*",
        body,
        json!({ "totals": totals, "tasks_per_minute": per_minute, "gas_per_minute": gas, "feed": feed }),
    ))
}

async fn render_deal(state: &State, id: &str, page: u64) -> Result<Rendered, ExplorerError> {
    let id = match parse_id(id, "deal") {
        Ok(id) => id,
        Err(page) => return Ok(page),
    };
    let Some(deal) = state.store.deal(&id).await? else {
        return Ok(not_indexed("deal", &id, state.store.totals().await?.block));
    };
    let tasks = state.store.deal_tasks(&id, page).await?;
    let events = state.store.events_of(EventColumn::Deal, &id, 0).await?;
    let task_rows: Vec<Vec<String>> = tasks
        .rows
        .iter()
        .map(|t| {
            vec![
                t.index.to_string(),
                link("task", &t.task_id),
                status(&t.status, None),
                time(t.time),
                t.final_time.map(time).unwrap_or_default(),
            ]
        })
        .collect();
    let event_rows: Vec<Vec<String>> = events.rows.iter().map(|e| event_row(e, true)).collect();
    let none = "0x0000000000000000000000000000000000000000";
    let body = format!(
        "<h1>Deal {}</h1>{}<h2>Tasks ({} of {} initialized)</h2>{}{}<h2>Events</h2>{}",
        esc(&short(&id)),
        facts(&[
            ("Deal", full_id(&id)),
            ("App", link("app", &deal.app)),
            (
                "Dataset",
                if deal.dataset == none {
                    "none".into()
                } else {
                    link("dataset", &deal.dataset)
                }
            ),
            ("Workerpool", link("workerpool", &deal.workerpool)),
            ("Requester", link("requester", &deal.requester)),
            ("Beneficiary", link("requester", &deal.beneficiary)),
            (
                "Callback",
                if deal.callback == none {
                    "none".into()
                } else {
                    format!("<code>{}</code>", esc(&deal.callback))
                }
            ),
            ("Category", deal.category.to_string()),
            ("Trust", deal.trust.to_string()),
            ("Volume", deal.volume.to_string()),
            (
                "Prices per task",
                format!(
                    "app {}, dataset {}, workerpool {}",
                    esc(&deal.app_price),
                    esc(&deal.dataset_price),
                    esc(&deal.workerpool_price)
                )
            ),
            ("Params", format!("<code>{}</code>", esc(&deal.params))),
            (
                "Matched",
                format!("{} in {}", time(deal.time), link("tx", &deal.tx))
            ),
        ]),
        tasks.rows.len() + (page * crate::store::PAGE_SIZE) as usize,
        deal.volume,
        table(
            "Tasks of the deal",
            &["#", "Task", "Status", "Initialized", "Ended"],
            &task_rows,
            "No task initialized yet: the workerpool's scheduler initializes them when it sees \
             the deal (within a few blocks if it runs)."
        ),
        pager(&format!("/deal/{id}"), "page", page, tasks.more),
        table(
            "Events of the deal",
            &FEED_HEADERS,
            &event_rows,
            "No events."
        ),
    );
    let mut watch = vec![id.clone()];
    watch.extend(tasks.rows.iter().map(|t| t.task_id.clone()));
    Ok(Rendered::ok(
        format!("Deal {}", short(&id)),
        watch.join(" "),
        body,
        json!({ "deal": deal, "tasks": tasks, "events": events }),
    ))
}

async fn render_task(state: &State, id: &str, page: u64) -> Result<Rendered, ExplorerError> {
    let id = match parse_id(id, "task") {
        Ok(id) => id,
        Err(page) => return Ok(page),
    };
    let Some(task) = state.store.task(&id).await? else {
        return Ok(not_indexed("task", &id, state.store.totals().await?.block));
    };
    let deal = state.store.deal(&task.deal_id).await?;
    let events = state.store.events_of(EventColumn::Task, &id, page).await?;
    let replicates = state.store.replicates(&id).await?;
    let mut marks: Vec<(u64, String, bool)> = events
        .rows
        .iter()
        .map(|e| {
            let who = e.account.as_deref().map(short).unwrap_or_default();
            (e.time, format!("{} {who}", e.kind), true)
        })
        .collect();
    for r in &replicates {
        marks.push((
            r.assigned_at,
            format!("assigned to {}", short(&r.worker)),
            false,
        ));
        if r.updated_at != r.assigned_at {
            marks.push((
                r.updated_at,
                format!("{} {}", r.status, short(&r.worker)),
                false,
            ));
        }
    }
    marks.sort_by_key(|m| m.0);
    let event_rows: Vec<Vec<String>> = events.rows.iter().map(|e| event_row(e, false)).collect();
    let replicate_rows: Vec<Vec<String>> = replicates
        .iter()
        .map(|r| {
            vec![
                link("worker", &r.worker),
                status(&r.status, None),
                time(r.assigned_at),
                time(r.updated_at),
                r.result_hash
                    .as_deref()
                    .map(|h| format!("<code title=\"{0}\">{1}</code>", esc(h), esc(&short(h))))
                    .unwrap_or_default(),
                r.weight.map(|w| w.to_string()).unwrap_or_default(),
                r.reason
                    .as_deref()
                    .map(|s| format!("<span class=\"reason\">{}</span>", esc(s)))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let gas: u64 = {
        let mut seen = std::collections::BTreeSet::new();
        events
            .rows
            .iter()
            .filter(|e| seen.insert(e.tx.clone()))
            .filter_map(|e| e.gas)
            .sum()
    };
    let mut items = vec![
        ("Task", full_id(&id)),
        ("Status", status(&task.status, Some("task-status"))),
        (
            "Deal",
            format!("{} (task #{})", link("deal", &task.deal_id), task.index),
        ),
        ("Workerpool", link("workerpool", &task.workerpool)),
    ];
    if let Some(d) = &deal {
        items.push(("App", link("app", &d.app)));
        items.push(("Requester", link("requester", &d.requester)));
        items.push(("Trust", d.trust.to_string()));
    }
    items.push(("Initialized", time(task.time)));
    if let Some(t) = task.final_time {
        items.push((
            "Ended",
            format!(
                "{} ({} s after its start)",
                time(t),
                t.saturating_sub(task.time)
            ),
        ));
    }
    if let Some(h) = &task.consensus_hash {
        items.push(("Consensus result hash", format!("<code>{}</code>", esc(h))));
    }
    if let Some(loc) = &task.results_location {
        items.push((
            "Result",
            format!("<code class=\"full\">{}</code>", esc(loc)),
        ));
    }
    items.push(("Gas spent on its events", gas.to_string()));
    let body = format!(
        "<h1>Task {}</h1>{}<h2>Timeline</h2>{}\
         <h2>Off-chain trace (the scheduler's replicates)</h2>{}\
         <h2>On-chain events</h2>{}{}",
        esc(&short(&id)),
        facts(&items),
        timeline(&marks),
        table(
            "Replicates",
            &[
                "Worker",
                "Stage",
                "Assigned",
                "Last change",
                "Result hash",
                "Weight",
                "Reason"
            ],
            &replicate_rows,
            "No replicate known: the workerpool's scheduler has not handed the task out yet, or \
             the explorer was not given its URL (decloud explorer --scheduler URL)."
        ),
        table(
            "Events of the task",
            &EVENT_HEADERS,
            &event_rows,
            "No events."
        ),
        pager(&format!("/task/{id}"), "page", page, events.more),
    );
    Ok(Rendered::ok(
        format!("Task {}", short(&id)),
        id.clone(),
        body,
        json!({ "task": task, "deal": deal, "events": events, "replicates": replicates, "gas": gas }),
    ))
}

async fn render_worker(state: &State, address: &str, page: u64) -> Result<Rendered, ExplorerError> {
    let address = match parse_address(address, "worker") {
        Ok(a) => a,
        Err(page) => return Ok(page),
    };
    let scores = state.store.scores(&address).await?;
    let (won, lost) = state.store.won_lost(&address).await?;
    let contributions = state.store.contributions(&address, page).await?;
    let failures = state.store.worker_failures(&address, 0).await?;
    let membership = state
        .store
        .recent_events_of(EventColumn::Account, &address, 0)
        .await?;
    let member_events: Vec<&EventRow> = membership
        .rows
        .iter()
        .filter(|e| e.kind.starts_with("Worker"))
        .collect();
    let stake = member_events
        .iter()
        .find(|e| matches!(e.kind.as_str(), "WorkerJoined" | "WorkerLeft"))
        .map(|e| {
            if e.kind == "WorkerLeft" {
                "0 (left its pool)".to_owned()
            } else {
                esc(e.detail["stake"].as_str().unwrap_or("0"))
            }
        })
        .unwrap_or_else(|| "none seen (admitted without a stake, or not a member)".into());
    let rows: Vec<Vec<String>> = contributions
        .rows
        .iter()
        .map(|c| {
            let outcome = match (c.status.as_str(), c.revealed) {
                ("COMPLETED", true) => "won",
                ("COMPLETED" | "FAILED", false) => "lost",
                (_, true) => "revealed",
                _ => "pending",
            };
            vec![
                link("task", &c.task_id),
                status(&c.status, None),
                time(c.time),
                esc(outcome),
            ]
        })
        .collect();
    let failure_rows: Vec<Vec<String>> = failures
        .rows
        .iter()
        .map(|r| {
            vec![
                link("task", &r.task_id),
                status(&r.status, None),
                time(r.updated_at),
                r.reason
                    .as_deref()
                    .map(|s| format!("<span class=\"reason\">{}</span>", esc(s)))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let member_rows: Vec<Vec<String>> = member_events.iter().map(|e| event_row(e, false)).collect();
    let points: Vec<(u64, u64)> = scores.iter().map(|p| (p.block, p.score)).collect();
    let body = format!(
        "<h1>Worker {}</h1>{}<h2>Score history</h2>{}<h2>Contributions</h2>{}{}\
         <h2>Failed and lost replicates (off-chain)</h2>{}<h2>Pool membership</h2>{}",
        esc(&short(&address)),
        facts(&[
            ("Worker", full_id(&address)),
            (
                "Score",
                scores
                    .last()
                    .map(|p| p.score.to_string())
                    .unwrap_or_else(|| "no change seen".into())
            ),
            ("Tasks won", won.to_string()),
            ("Tasks lost", lost.to_string()),
            ("Stake in its pool", stake.clone()),
        ]),
        score_chart(&points),
        table(
            "Contributions",
            &["Task", "Task status", "Contributed", "Outcome"],
            &rows,
            "No contribution yet: once this worker contributes to a task it is listed here."
        ),
        pager(
            &format!("/worker/{address}"),
            "page",
            page,
            contributions.more
        ),
        table(
            "Failures",
            &["Task", "Stage", "When", "Reason"],
            &failure_rows,
            "No failed replicate reported by a scheduler the explorer knows."
        ),
        table(
            "Membership",
            &EVENT_HEADERS,
            &member_rows,
            "No pool membership event."
        ),
    );
    Ok(Rendered::ok(
        format!("Worker {}", short(&address)),
        address.clone(),
        body,
        json!({
            "worker": address, "scores": scores, "won": won, "lost": lost, "stake": stake,
            "contributions": contributions, "failures": failures,
        }),
    ))
}

async fn render_resource(
    state: &State,
    kind: &str,
    column: DealColumn,
    address: &str,
    page: u64,
) -> Result<Rendered, ExplorerError> {
    let address = match parse_address(address, kind) {
        Ok(a) => a,
        Err(page) => return Ok(page),
    };
    let resource = state.store.resource(&address).await?;
    let deals = state.store.deals_by(column, &address, page).await?;
    if resource.is_none() && deals.rows.is_empty() {
        return Ok(not_indexed(
            kind,
            &address,
            state.store.totals().await?.block,
        ));
    }
    let mut items = vec![(
        match kind {
            "app" => "App",
            "dataset" => "Dataset",
            _ => "Workerpool",
        },
        full_id(&address),
    )];
    if let Some(r) = &resource {
        items.push((
            if kind == "workerpool" {
                "Description"
            } else {
                "Name"
            },
            esc(&r.name),
        ));
        items.push((
            if kind == "workerpool" {
                "Owner (scheduler)"
            } else {
                "Owner"
            },
            link("requester", &r.owner),
        ));
        if !r.uri.is_empty() {
            items.push(("URI", format!("<code>{}</code>", esc(&r.uri))));
        }
        if !r.checksum.is_empty() {
            items.push(("Checksum", format!("<code>{}</code>", esc(&r.checksum))));
        }
        items.push((
            "Registered",
            format!("{} in {}", time(r.time), link("tx", &r.tx)),
        ));
    }
    let deal_rows: Vec<Vec<String>> = deals
        .rows
        .iter()
        .map(|d| {
            vec![
                link("deal", &d.deal_id),
                link("requester", &d.requester),
                link("workerpool", &d.workerpool),
                d.volume.to_string(),
                d.trust.to_string(),
                time(d.time),
            ]
        })
        .collect();
    let mut body = format!(
        "<h1>{} {}</h1>{}",
        esc(kind),
        esc(&short(&address)),
        facts(&items)
    );
    let mut json =
        json!({ "kind": kind, "address": address, "resource": resource, "deals": deals });
    if kind == "workerpool" {
        let (per_minute, _) = state.store.per_minute(unix_now(), 60).await?;
        let tasks = state.store.pool_tasks(&address, 0).await?;
        let task_rows: Vec<Vec<String>> = tasks
            .rows
            .iter()
            .map(|t| {
                vec![
                    link("task", &t.task_id),
                    status(&t.status, None),
                    time(t.time),
                ]
            })
            .collect();
        let members = state
            .store
            .recent_events_of(EventColumn::Workerpool, &address, 0)
            .await?;
        let member_rows: Vec<Vec<String>> = members
            .rows
            .iter()
            .filter(|e| e.kind.starts_with("Worker"))
            .map(|e| event_row(e, false))
            .collect();
        body.push_str(&format!(
            "<h2>Throughput</h2><figure>{}<figcaption>Tasks certified per minute over the last \
             hour (all pools).</figcaption></figure><h2>Latest tasks</h2>{}<h2>Members</h2>{}",
            sparkline(&per_minute, "tasks certified per minute, last hour"),
            table(
                "Latest tasks",
                &["Task", "Status", "Initialized"],
                &task_rows,
                "No task yet."
            ),
            table(
                "Membership events",
                &EVENT_HEADERS,
                &member_rows,
                "No worker joined this pool on chain yet."
            ),
        ));
        json["tasks"] = json!(tasks);
    }
    body.push_str(&format!(
        "<h2>Deals</h2>{}{}",
        table(
            "Deals",
            &[
                "Deal",
                "Requester",
                "Workerpool",
                "Tasks",
                "Trust",
                "Matched"
            ],
            &deal_rows,
            "No deal yet: publish an order for it and match it (decloud run)."
        ),
        pager(&format!("/{kind}/{address}"), "page", page, deals.more)
    ));
    Ok(Rendered::ok(
        format!("{kind} {}", short(&address)),
        address.clone(),
        body,
        json,
    ))
}

async fn render_app(state: &State, address: &str, page: u64) -> Result<Rendered, ExplorerError> {
    render_resource(state, "app", DealColumn::App, address, page).await
}

async fn render_dataset(
    state: &State,
    address: &str,
    page: u64,
) -> Result<Rendered, ExplorerError> {
    render_resource(state, "dataset", DealColumn::Dataset, address, page).await
}

async fn render_workerpool(
    state: &State,
    address: &str,
    page: u64,
) -> Result<Rendered, ExplorerError> {
    render_resource(state, "workerpool", DealColumn::Workerpool, address, page).await
}

async fn render_requester(
    state: &State,
    address: &str,
    page: u64,
) -> Result<Rendered, ExplorerError> {
    let address = match parse_address(address, "requester") {
        Ok(a) => a,
        Err(page) => return Ok(page),
    };
    let deals = state
        .store
        .deals_by(DealColumn::Requester, &address, page)
        .await?;
    let events = state
        .store
        .recent_events_of(EventColumn::Account, &address, 0)
        .await?;
    let deal_rows: Vec<Vec<String>> = deals
        .rows
        .iter()
        .map(|d| {
            vec![
                link("deal", &d.deal_id),
                link("app", &d.app),
                link("workerpool", &d.workerpool),
                d.volume.to_string(),
                time(d.time),
            ]
        })
        .collect();
    let event_rows: Vec<Vec<String>> = events.rows.iter().map(|e| event_row(e, true)).collect();
    let body = format!(
        "<h1>Account {}</h1>{}<h2>Deals requested</h2>{}{}<h2>Latest events naming it</h2>{}",
        esc(&short(&address)),
        facts(&[("Account", full_id(&address))]),
        table(
            "Deals",
            &["Deal", "App", "Workerpool", "Tasks", "Matched"],
            &deal_rows,
            "No deal requested by this account."
        ),
        pager(&format!("/requester/{address}"), "page", page, deals.more),
        table(
            "Events",
            &FEED_HEADERS,
            &event_rows,
            "No event names this account."
        ),
    );
    Ok(Rendered::ok(
        format!("Account {}", short(&address)),
        address.clone(),
        body,
        json!({ "account": address, "deals": deals, "events": events }),
    ))
}

async fn render_tx(state: &State, id: &str, _page: u64) -> Result<Rendered, ExplorerError> {
    let id = match parse_id(id, "transaction") {
        Ok(id) => id,
        Err(page) => return Ok(page),
    };
    let events = state.store.tx_events(&id).await?;
    if events.is_empty() {
        return Ok(not_indexed(
            "transaction",
            &id,
            state.store.totals().await?.block,
        ));
    }
    let first = &events[0];
    let rows: Vec<Vec<String>> = events.iter().map(|e| event_row(e, true)).collect();
    let body = format!(
        "<h1>Transaction {}</h1>{}<h2>Events</h2>{}",
        esc(&short(&id)),
        facts(&[
            ("Transaction", full_id(&id)),
            ("Block", first.block.to_string()),
            ("Time", time(first.time)),
            (
                "Sender",
                first
                    .sender
                    .as_deref()
                    .map(|s| link("requester", s))
                    .unwrap_or_default()
            ),
            (
                "Gas used",
                first
                    .gas
                    .map(|g| g.to_string())
                    .unwrap_or_else(|| "unknown".into())
            ),
        ]),
        table(
            "Events of the transaction",
            &FEED_HEADERS,
            &rows,
            "No events."
        ),
    );
    Ok(Rendered::ok(
        format!("Transaction {}", short(&id)),
        "",
        body,
        json!({ "tx": id, "events": events }),
    ))
}

/// One order of the market's book, as much of it as the page shows.
#[derive(Debug, Deserialize, serde::Serialize)]
struct Order {
    hash: String,
    resource: String,
    signer: String,
    price: u64,
    volume: u64,
    remaining: u64,
}

#[derive(Debug, Deserialize)]
struct BookPage {
    orders: Vec<Order>,
}

async fn render_orders(state: &State, page: u64) -> Rendered {
    let Some(market) = &state.market else {
        return Rendered::error(
            StatusCode::OK,
            "No market known",
            "This explorer was started without a market: start it with --market URL (decloud \
             node --explorer uses the node's own market) to see the open orders here.",
        );
    };
    let mut body = String::from("<h1>Order book</h1>");
    let mut json = json!({});
    for kind in ["app", "dataset", "workerpool", "request"] {
        let url = format!(
            "{}/v1/orderbook/{kind}?page={page}&page_size=25",
            market.trim_end_matches('/')
        );
        let answer = async {
            state
                .http
                .get(&url)
                .send()
                .await?
                .error_for_status()?
                .json::<BookPage>()
                .await
        };
        match answer.await {
            Ok(book) => {
                let resource_kind = if kind == "request" { "app" } else { kind };
                let rows: Vec<Vec<String>> = book
                    .orders
                    .iter()
                    .map(|o| {
                        vec![
                            format!(
                                "<code title=\"{0}\">{1}</code>",
                                esc(&o.hash),
                                esc(&short(&o.hash))
                            ),
                            link(resource_kind, &o.resource),
                            link("requester", &o.signer),
                            o.price.to_string(),
                            format!("{} of {}", o.remaining, o.volume),
                        ]
                    })
                    .collect();
                let more = rows.len() >= 25;
                body.push_str(&format!(
                    "<h2>{} orders</h2>{}",
                    esc(kind),
                    table(
                        kind,
                        &[
                            "Order",
                            if kind == "request" { "App" } else { "Resource" },
                            "Signer",
                            "Price",
                            "Remaining"
                        ],
                        &rows,
                        "No open order of this kind."
                    )
                ));
                if more || page > 0 {
                    body.push_str(&pager("/orders", "page", page, more));
                }
                json[kind] = json!(book.orders);
            }
            Err(_) => {
                body.push_str(&format!(
                    "<h2>{} orders</h2><p class=\"notice\">The market did not answer: check that \
                     it runs at the URL the explorer was given.</p>",
                    esc(kind)
                ));
                json[kind] = json!(null);
            }
        }
    }
    Rendered::ok("Order book", "", body, json)
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
