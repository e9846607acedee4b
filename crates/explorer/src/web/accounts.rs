//! The pages of an account: a worker, an app, a dataset, a workerpool, a requester.

use super::*;

pub(super) async fn render_worker(
    state: &State,
    address: &str,
    q: &PageQuery,
) -> Result<Rendered, ExplorerError> {
    let address = match parse_address(address, "worker") {
        Ok(a) => a,
        Err(page) => return Ok(page),
    };
    let before = match q.before.as_deref().map(parse_before).transpose() {
        Ok(before) => before,
        Err(e) => {
            return Ok(Rendered::error(
                StatusCode::BAD_REQUEST,
                "That list key is not one the explorer made",
                &e.to_string(),
            ));
        }
    };
    // Counters kept at index time, a bounded series, one page by key: the page costs the same
    // for a worker of ten tasks and one of a hundred thousand.
    let counters = state
        .store
        .worker(&address)
        .await?
        .unwrap_or_else(|| WorkerRow {
            worker: address.clone(),
            ..WorkerRow::default()
        });
    let (won, lost) = (counters.won, counters.lost);
    let scores = state.store.scores(&address).await?;
    let contributions = state.store.contributions(&address, before).await?;
    let failures = state.store.worker_failures(&address, 0).await?;
    let member_events = state.store.membership(&address).await?;
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
                counters
                    .score
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "no change seen".into())
            ),
            ("Contributions", counters.contributions.to_string()),
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
        keyset_pager(
            &format!("/worker/{address}"),
            before.is_some(),
            contributions.next.as_deref()
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
            "worker": address, "counters": counters, "scores": scores, "won": won,
            "lost": lost, "stake": stake, "contributions": contributions, "failures": failures,
        }),
    ))
}

/// The page of an app, a dataset or a workerpool (`/{kind}/{address}`).
pub(super) async fn render_resource(
    state: &State,
    (kind, address): &(String, String),
    q: &PageQuery,
) -> Result<Rendered, ExplorerError> {
    let page = q.page();
    let (kind, column) = match kind.as_str() {
        "app" => ("app", DealColumn::App),
        "dataset" => ("dataset", DealColumn::Dataset),
        "workerpool" => ("workerpool", DealColumn::Workerpool),
        _ => return Ok(no_such_page()),
    };
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

pub(super) async fn render_requester(
    state: &State,
    address: &str,
    q: &PageQuery,
) -> Result<Rendered, ExplorerError> {
    let page = q.page();
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
