//! The read API: the scheduler's identity, tasks, deals and workers, for anyone.

use super::*;

pub(super) async fn info(State(state): State<Arc<Shared>>) -> Json<Info> {
    let profile = state.client.profile();
    Json(Info {
        scheduler: state.signer.address(),
        workerpool: state.workerpool,
        chain_id: profile.chain_id,
        hub: profile.contracts.hub,
        heartbeat_timeout_secs: state.heartbeat_timeout.as_secs(),
    })
}

pub(super) async fn task(
    State(state): State<Arc<Shared>>,
    Path(task_id): Path<String>,
) -> Result<Json<TaskReport>, SchedulerError> {
    let task_id = parse_id(&task_id, "the task id")?;
    let task = state.store.task(task_id).await?.ok_or_else(|| {
        SchedulerError::NotFound(format!(
            "task {task_id} is not one of this workerpool's tasks (or its deal is not seen yet)"
        ))
    })?;
    let trust = state
        .store
        .deal(task.deal_id)
        .await?
        .map(|d| d.trust())
        .unwrap_or_default();
    let replicates = state.store.replicates(task_id).await?;
    let votes = assign::votes(&state.store, trust, &replicates, 0).await?;
    // A given-up task needs nobody: the scheduler hands it to no one (its reason says why).
    let needed = if matches!(task.status, TaskStatus::Unset | TaskStatus::Active)
        && task.given_up.is_none()
        && !has_consensus(&votes)
    {
        replicas_needed(&votes, weight_of(0))
    } else {
        0
    };
    Ok(Json(TaskReport {
        task,
        trust,
        replicas_needed: needed,
        replicates,
    }))
}

pub(super) async fn deal(
    State(state): State<Arc<Shared>>,
    Path(deal_id): Path<String>,
) -> Result<Json<DealReport>, SchedulerError> {
    let deal_id = parse_id(&deal_id, "the deal id")?;
    let deal = state.store.deal(deal_id).await?.ok_or_else(|| {
        SchedulerError::NotFound(format!(
            "deal {deal_id} is not one of this workerpool's deals (or not seen yet)"
        ))
    })?;
    Ok(Json(DealReport {
        deal_id,
        app: deal.deal.app,
        dataset: deal.deal.dataset,
        requester: deal.deal.requester,
        trust: deal.trust(),
        volume: deal.volume(),
        params: deal.params.clone(),
        block_number: deal.block_number,
        tasks: state.store.tasks_of(deal_id).await?,
    }))
}

pub(super) async fn workers(
    State(state): State<Arc<Shared>>,
) -> Result<Json<Vec<WorkerInfo>>, SchedulerError> {
    Ok(Json(state.store.workers().await?))
}
