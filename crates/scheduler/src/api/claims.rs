//! Claims: a worker long-polls for replicates (or pool jobs) and reads back what it holds.

use super::*;

/// The session's worker as a claim needs it ([`crate::db::Store::claimant`]).
async fn claimant(state: &Shared, address: Address) -> Result<crate::db::Claimant, SchedulerError> {
    state.store.claimant(address).await?.ok_or_else(|| {
        SchedulerError::Unauthorized("the session's worker is not registered: log in again".into())
    })
}

pub(super) async fn claim(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    query: Result<Query<WaitQuery>, QueryRejection>,
) -> Result<Response, SchedulerError> {
    let query = SchedulerError::query(query)?;
    let worker = authenticate(&state, &headers).await?;
    limit(&state.claim_limiter, worker, "claims")?;
    let wait = Duration::from_secs(
        query
            .wait
            .unwrap_or(DEFAULT_CLAIM_WAIT_SECS)
            .min(MAX_CLAIM_WAIT_SECS),
    );
    let pool_jobs = query.pool_jobs;
    let max = query.max.unwrap_or(1).clamp(1, MAX_CAPACITY);
    let wakes = &state.wakes;
    let work = long_poll(
        wakes,
        wait,
        || wakes.claim(worker),
        |version| {
            let state = state.clone();
            async move {
                state.wakes.claim_attempted();
                let found = claim_replicates(&state, worker, version, max).await?;
                if let Attempt::Found(assignments) = found {
                    return Ok(Attempt::Found(
                        assignments
                            .into_iter()
                            .map(|a| Work::Replicate(Box::new(a)))
                            .collect::<Vec<_>>(),
                    ));
                }
                if pool_jobs {
                    // Paid deals first; the pool's own jobs when the worker has nothing of them.
                    if let Some(job) = crate::pool_work::take(&state, worker).await? {
                        return Ok(Attempt::Found(vec![job]));
                    }
                }
                Ok(match found {
                    Attempt::NotMine => Attempt::NotMine,
                    _ => Attempt::Nothing,
                })
            }
        },
    )
    .await?;
    let work = work.unwrap_or_default();
    if work.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    if query.max.is_some() {
        return Ok(Json(work).into_response());
    }
    Ok(match work.into_iter().next() {
        Some(Work::Replicate(assignment)) => Json(assignment).into_response(),
        Some(job) => Json(job).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// One attempt at up to `max` of the deals' replicates for `worker` at version `version` of
/// the changes: what it found, [`Attempt::Nothing`] when no task needs a replica at all, or
/// [`Attempt::NotMine`] when some does but this worker may not take it now.
async fn claim_replicates(
    state: &Arc<Shared>,
    worker: Address,
    version: u64,
    max: u64,
) -> Result<Attempt<Vec<Assignment>>, SchedulerError> {
    // A random-selection task this worker was drawn for comes first: the wave's window is short.
    if let Some(assignment) = crate::random::claim(state, worker).await? {
        return Ok(Attempt::Found(vec![assignment]));
    }
    // Then an audit it was drawn for: its window is one reference duration.
    if let Some(assignment) = crate::spot::claim(state, worker).await? {
        return Ok(Attempt::Found(vec![assignment]));
    }
    // Nothing for anyone at this version, until a held task opens to a backup.
    let idle = || {
        let now = unix_now();
        state.idle.holds(version, now) && now < state.backups_at.load(Ordering::Acquire)
    };
    if idle() {
        return Ok(Attempt::Nothing);
    }
    let serialized = state.assign_lock.lock().await;
    // Checked again under the lock: another claim may have found nothing at this
    // version while this one waited for it. (The reads below stay under the lock for that
    // reason: when a wake-up reaches thousands of idle workers at once, only the first claim
    // reads anything; read before the lock, every one of them did, and in one scale run at
    // 10,000 workers the burst took the quiet phase's claims p99 in the server to 343 ms.)
    if idle() {
        return Ok(Attempt::Nothing);
    }
    // Re-read the worker: its score and capacity may have changed.
    let mut claimant = claimant(state, worker).await?;
    if claimant.worker.status != crate::db::WorkerStatus::Active {
        // A lost worker back (after a partition, a restart) is heard from in memory only until
        // the next heartbeat flush; what it takes meanwhile would count for nobody and the same
        // task would go to another worker too. It is active before it holds anything.
        state.store.heartbeat(worker, unix_now()).await?;
        claimant = self::claimant(state, worker).await?;
    }
    let next_backup = |at: Option<u64>| {
        state
            .backups_at
            .store(at.unwrap_or(u64::MAX), Ordering::Release);
        state.wakes.backups_changed();
    };
    let placement = state.pool.deal_placement().await.map_err(|e| {
        SchedulerError::Config(format!("reading the pool's confinement records: {e}"))
    })?;
    let now = unix_now();
    let assigned = match assign::try_assign(&state.store, &claimant, &placement, now, max).await? {
        assign::Claim::Assigned(assigned) => assigned,
        assign::Claim::NoWork { backups_at } => {
            next_backup(backups_at);
            state.idle.mark(version, now);
            return Ok(Attempt::Nothing);
        }
        assign::Claim::NothingForThisWorker { backups_at } => {
            next_backup(backups_at);
            return Ok(Attempt::NotMine);
        }
        assign::Claim::Busy | assign::Claim::Paused(_) => return Ok(Attempt::NotMine),
    };
    // The replicates are durable: the next claim may look while these are signed.
    drop(serialized);
    Ok(Attempt::Found(
        assign::hand_out(&state.store, &state.signer, worker, assigned).await?,
    ))
}

pub(super) async fn my_replicates(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<Vec<Assignment>>, SchedulerError> {
    let worker = authenticate(&state, &headers).await?;
    let mut out = Vec::new();
    for r in state
        .store
        .replicates_of(worker, ReplicateStatus::Assigned)
        .await?
    {
        let Some(task) = state.store.task(r.task_id).await? else {
            continue;
        };
        if task.status.is_final() {
            continue;
        }
        let Some(deal) = state.store.deal(task.deal_id).await? else {
            continue;
        };
        out.push(assign::assignment(&state.store, &state.signer, &deal, &task, worker).await?);
    }
    Ok(Json(out))
}
