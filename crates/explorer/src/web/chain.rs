//! The pages of the chain's own records: the overview with its live feed, a transaction,
//! and the rows of events every page shares.

use super::*;

/// One row of an events table.
pub(super) fn event_row(e: &EventRow, show_task: bool) -> Vec<String> {
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

pub(super) const EVENT_HEADERS: [&str; 6] =
    ["Time", "Event", "Account", "Details", "Transaction", "Gas"];

pub(super) const FEED_HEADERS: [&str; 7] = [
    "Time",
    "Event",
    "Task or deal",
    "Account",
    "Details",
    "Transaction",
    "Gas",
];

pub(super) async fn render_overview(
    state: &State,
    q: &PageQuery,
) -> Result<Rendered, ExplorerError> {
    let page = q.page();
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

pub(super) async fn render_tx(
    state: &State,
    id: &str,
    _q: &PageQuery,
) -> Result<Rendered, ExplorerError> {
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
