//! The pages of a deal and of a task (its timeline and replicates).

use super::*;

pub(super) async fn render_deal(
    state: &State,
    id: &str,
    q: &PageQuery,
) -> Result<Rendered, ExplorerError> {
    let page = q.page();
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

pub(super) async fn render_task(
    state: &State,
    id: &str,
    q: &PageQuery,
) -> Result<Rendered, ExplorerError> {
    let page = q.page();
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
    let mut marks: Vec<Mark> = events
        .rows
        .iter()
        .map(|e| {
            let who = e.account.as_deref().map(short).unwrap_or_default();
            Mark {
                at_ms: e.time * 1000,
                millis: 0,
                label: format!("{} {who}", e.kind),
                chain: true,
            }
        })
        .collect();
    for r in &replicates {
        let worker = short(&r.worker);
        let point = |at: u64, label: String| Mark {
            at_ms: at * 1000,
            millis: 0,
            label,
            chain: false,
        };
        marks.push(point(r.assigned_at, format!("assigned to {worker}")));
        let stages = r.stages.unwrap_or_default();
        for (name, stage) in stages.named() {
            if let Some(t) = stage {
                marks.push(Mark {
                    at_ms: t.started_ms,
                    millis: t.millis,
                    label: format!("{name} {worker} ({})", stage_text(t.millis, None, None)),
                    chain: false,
                });
            }
        }
        if r.updated_at != r.assigned_at {
            marks.push(point(r.updated_at, format!("{} {worker}", r.status)));
        }
    }
    marks.sort_by_key(|m| m.at_ms);
    let event_rows: Vec<Vec<String>> = events.rows.iter().map(|e| event_row(e, false)).collect();
    let replicate_rows: Vec<Vec<String>> = replicates
        .iter()
        .map(|r| {
            vec![
                link("worker", &r.worker),
                status(&r.status, None),
                time(r.assigned_at),
                time(r.updated_at),
                reported_stages(r),
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
         <h2>Off-chain trace (the scheduler's replicates)</h2>\
         <p class=\"muted\">Stage times, bytes and fuel are what the workers report: their \
         claims. The chain's events below are the truth.</p>{}\
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
                "Reported stages",
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

/// A replicate's stages as its worker reported them, one line each.
fn reported_stages(r: &ReplicateRow) -> String {
    let Some(stages) = r.stages else {
        return "<span class=\"muted\">none reported</span>".into();
    };
    stages
        .named()
        .iter()
        .filter_map(|(name, t)| {
            let t = (*t)?;
            Some(format!(
                "<span class=\"kv\" data-stage=\"{name}\">{name}: {} at {}</span>",
                esc(&stage_text(t.millis, t.bytes, t.fuel)),
                time(t.started_ms / 1000)
            ))
        })
        .collect::<Vec<_>>()
        .join("<br>")
}
