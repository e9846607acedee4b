//! Reports and next steps: a worker says what became of a replicate and long-polls for what to do next.

use super::*;

pub(super) async fn report(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(task_id): Path<String>,
    body: Result<Json<Report>, JsonRejection>,
) -> Result<Json<ReplicateInfo>, SchedulerError> {
    let task_id = parse_id(&task_id, "the task id")?;
    let mut report = SchedulerError::json_body(body)?;
    let worker = authenticate(&state, &headers).await?;
    report.reason = report
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| r.chars().take(MAX_REASON_CHARS).collect::<String>());
    if let Some(stages) = &report.stages
        && stages
            .named()
            .iter()
            .filter_map(|(_, t)| *t)
            .any(|t| t.millis > decloud_protocol::pool::Stages::MAX_MILLIS)
    {
        return Err(SchedulerError::BadRequest(
            "a stage's millis says it lasted over a year: report the milliseconds it took".into(),
        ));
    }
    match report.status {
        ReportStatus::Failed if report.reason.is_none() => {
            return Err(SchedulerError::BadRequest(
                "a failure needs a reason: say what went wrong".into(),
            ));
        }
        ReportStatus::Revealed => {
            let location = report
                .results_location
                .as_deref()
                .map(str::trim)
                .unwrap_or("");
            if location.is_empty() || location.len() > MAX_LOCATION_CHARS {
                return Err(SchedulerError::BadRequest(format!(
                    "a reveal needs the results location (a URL of at most {MAX_LOCATION_CHARS} characters): upload the result first"
                )));
            }
            if report
                .callback_data
                .as_ref()
                .is_some_and(|d| d.len() > MAX_CALLBACK_DATA_BYTES)
            {
                return Err(SchedulerError::TooLarge(MAX_CALLBACK_DATA_BYTES));
            }
        }
        _ => {}
    }
    // Committed (with the reports waiting at the same time) before the answer goes out.
    let changed = state
        .reports
        .commit(crate::db::ReportWrite {
            task_id,
            worker,
            report: report.clone(),
            now: unix_now(),
        })
        .await?;
    let mine = match changed {
        Some(mine) => mine,
        None => {
            // Why not: no replicate, or one in a state this report does not apply to.
            let mine = state
                .store
                .replicates(task_id)
                .await?
                .into_iter()
                .find(|r| r.worker == worker)
                .ok_or_else(|| {
                    SchedulerError::NotFound(format!(
                        "worker {} holds no replicate of task {task_id}: claim work first",
                        worker
                    ))
                })?;
            return Err(SchedulerError::BadRequest(format!(
                "the replicate is {}: it cannot be reported {} now",
                mine.status, report.status
            )));
        }
    };
    match report.status {
        ReportStatus::Failed => {
            tracing::info!(task = %task_id, worker = %worker, reason = mine.reason.as_deref().unwrap_or(""), "replicate failed");
            if let Some(task) = state.store.task(task_id).await?
                && let Some(deal) = state.store.deal(task.deal_id).await?
                && crate::tee::is_tee(&deal)
            {
                crate::tee::refuse_after_failure(
                    &state.store,
                    task_id,
                    worker,
                    mine.reason.as_deref().unwrap_or("no reason"),
                )
                .await?;
            }
            let (failures, credible) = state.store.failure_counts(task_id).await?;
            if credible >= MAX_FAILED_REPLICATES {
                let reason = format!(
                    "given up after {failures} workers failed ({credible} of them with on-chain history in this pool); the last said: {}",
                    mine.reason.as_deref().unwrap_or("no reason")
                );
                tracing::warn!(task = %task_id, "{reason}");
                state.store.give_up(task_id, &reason).await?;
            }
            // The task needs a replica again (or is given up): one claim looks, and hands the
            // wake-up on if it cannot take it.
            state.wakes.work_for(1);
            state.wakes.slots_freed(worker);
        }
        ReportStatus::Contributed | ReportStatus::Revealed => {
            tracing::debug!(task = %task_id, worker = %worker, status = %report.status, "replicate reported");
            // Only a hint: the stage changes when the follower sees the transaction, so read the
            // chain now rather than at the next tick.
            // The slot is freed when the follower applies the contribution (the replicate
            // stays assigned until then), and that pass wakes the worker's own claims: waking
            // them here would only find it still busy.
            state.wake.notify_one();
        }
    }
    state.wakes.tasks_changed([task_id]);
    Ok(Json(mine))
}

/// What a worker should do with each of the replicates it contributed to `task_ids`, in order.
/// The tasks and their replicates are read in two queries however many there are: a worker's
/// long poll asks again for all of them whenever one changes.
async fn decide_next(
    state: &Shared,
    task_ids: &[B256],
    worker: Address,
) -> Result<Vec<NextAction>, SchedulerError> {
    let mut actions: Vec<Option<NextAction>> = Vec::with_capacity(task_ids.len());
    // An auditor asks with its audit's id.
    for &task_id in task_ids {
        actions.push(crate::spot::next(state, task_id, worker).await?);
    }
    let replicated: Vec<B256> = task_ids
        .iter()
        .zip(&actions)
        .filter(|(_, audit)| audit.is_none())
        .map(|(task, _)| *task)
        .collect();
    let tasks = if replicated.is_empty() {
        Default::default()
    } else {
        state.store.tasks_for_worker(worker, &replicated).await?
    };
    let mut out = Vec::with_capacity(task_ids.len());
    for (&task_id, audit) in task_ids.iter().zip(actions) {
        let action = match audit {
            Some(action) => action,
            None => next_for(state, task_id, tasks.get(&task_id)).await?,
        };
        out.push(action);
    }
    Ok(out)
}

/// What a worker should do with its replicate of task `task_id` (as read for it: `None` when
/// the task is not stored).
async fn next_for(
    state: &Shared,
    task_id: B256,
    read: Option<&crate::db::TaskForWorker>,
) -> Result<NextAction, SchedulerError> {
    let Some(crate::db::TaskForWorker { task, mine }) = read else {
        return Ok(NextAction::Done {
            reason: "the task is not this scheduler's (any more)".into(),
        });
    };
    let Some((mine_status, mine_result_hash)) = *mine else {
        return Ok(NextAction::Done {
            reason: "the worker holds no replicate of this task".into(),
        });
    };
    if task.status.is_final() {
        return Ok(NextAction::Done {
            reason: format!("the task is {}", task.status),
        });
    }
    match mine_status {
        ReplicateStatus::Revealed => {
            return Ok(NextAction::Done {
                reason: "revealed".into(),
            });
        }
        ReplicateStatus::Failed | ReplicateStatus::Rejected => {
            return Ok(NextAction::Done {
                reason: format!("the replicate is {mine_status}"),
            });
        }
        // A worker asks only after its contribution was mined: a replicate taken back from it
        // comes back as contributed when the follower sees the transaction.
        ReplicateStatus::Assigned | ReplicateStatus::Contributed | ReplicateStatus::Lost => {}
    }
    if task.status != TaskStatus::Revealing {
        return Ok(NextAction::Wait);
    }
    let (Some(consensus), Some(at)) = (task.consensus_hash, task.consensus_at) else {
        return Ok(NextAction::Wait);
    };
    match mine_result_hash {
        // The follower has not seen this worker's contribution yet.
        None => Ok(NextAction::Wait),
        Some(hash) if hash == consensus => {
            let deal = state.store.deal(task.deal_id).await?;
            // A spot-checked task's digest stays hidden until its audit can't copy it.
            if deal.as_ref().is_some_and(crate::spot::is_spot_checked)
                && !crate::spot::reveals_open(state, task_id).await
            {
                return Ok(NextAction::Wait);
            }
            let reference = deal.map_or(0, |d| d.reference_secs());
            Ok(NextAction::Reveal {
                deadline: at.saturating_add(
                    reference.saturating_mul(decloud_protocol::deadline::REVEAL_DEADLINE_RATIO),
                ),
            })
        }
        Some(_) => Ok(NextAction::Done {
            reason: "another result won the vote: this contribution's stake is lost".into(),
        }),
    }
}

pub(super) async fn next_action(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(task_id): Path<String>,
    query: Result<Query<WaitQuery>, QueryRejection>,
) -> Result<Json<NextAction>, SchedulerError> {
    let task_id = parse_id(&task_id, "the task id")?;
    let query = SchedulerError::query(query)?;
    let worker = authenticate(&state, &headers).await?;
    let wait = Duration::from_secs(query.wait.unwrap_or(0).min(MAX_CLAIM_WAIT_SECS));
    let wakes = &state.wakes;
    let action = long_poll(
        wakes,
        wait,
        || wakes.next(worker, &[task_id]),
        |_| {
            let state = state.clone();
            async move {
                let action = decide_next(&state, &[task_id], worker).await?.pop();
                Ok(match action {
                    None | Some(NextAction::Wait) => Attempt::Nothing,
                    Some(action) => Attempt::Found(action),
                })
            }
        },
    )
    .await?;
    Ok(Json(action.unwrap_or(NextAction::Wait)))
}

/// `POST /v1/next`: one long poll for the next step of several contributed replicates of the
/// worker (its reveals come in batches: one request instead of one per task). Answers as soon as
/// one of them has something to do, with every one that has; an empty list after the wait.
pub(super) async fn next_actions(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    query: Result<Query<WaitQuery>, QueryRejection>,
    body: Result<Json<NextRequest>, JsonRejection>,
) -> Result<Json<Vec<TaskAction>>, SchedulerError> {
    let query = SchedulerError::query(query)?;
    let request = SchedulerError::json_body(body)?;
    if request.tasks.len() > NextRequest::MAX_TASKS {
        return Err(SchedulerError::BadRequest(format!(
            "{} tasks in one request: ask for at most {} at once",
            request.tasks.len(),
            NextRequest::MAX_TASKS
        )));
    }
    let worker = authenticate(&state, &headers).await?;
    let wait = Duration::from_secs(query.wait.unwrap_or(0).min(MAX_CLAIM_WAIT_SECS));
    let tasks = Arc::new(request.tasks);
    let wakes = &state.wakes;
    let actions = long_poll(
        wakes,
        wait,
        || wakes.next(worker, &tasks),
        |_| {
            let (state, tasks) = (state.clone(), tasks.clone());
            async move {
                let decided = decide_next(&state, &tasks, worker).await?;
                let actions: Vec<TaskAction> = tasks
                    .iter()
                    .zip(decided)
                    .filter(|(_, action)| *action != NextAction::Wait)
                    .map(|(&task_id, action)| TaskAction { task_id, action })
                    .collect();
                Ok(if actions.is_empty() {
                    Attempt::Nothing
                } else {
                    Attempt::Found(actions)
                })
            }
        },
    )
    .await?;
    Ok(Json(actions.unwrap_or_default()))
}
