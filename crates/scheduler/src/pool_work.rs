//! The scheduler's side of the pool's jobs. The pool's own jobs (desktop-grid mode): a claim
//! may hand one out (`take`), and the worker holding it downloads its app and datum and
//! uploads its result here, with its scheduler session (the worker right: never list, insert or
//! delete, and only the job it holds); a worker lost or logged in anew gives its jobs back
//! (`release_pool_jobs`). The deals' tasks are shown as their requesters' jobs
//! (`mirror_deal_jobs`).
//!
//! | method | path | what |
//! |---|---|---|
//! | `GET` | `/v1/pool/work/{job}/app` | the app's module |
//! | `GET` | `/v1/pool/work/{job}/datum` | the job's datum |
//! | `POST` | `/v1/pool/work/{job}/result` | a [`JobOutcome`] |

use std::sync::Arc;

use alloy::primitives::Address;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use decloud_pool::PoolError;
use decloud_protocol::pool::{JobOutcome, Work};
use decloud_service::ApiError;

use crate::api::authenticate;
use crate::{SchedulerError, Shared};

/// Largest result a worker uploads for a pool job (base64 in JSON).
pub const MAX_RESULT_BODY_BYTES: usize = 64 * 1024 * 1024;

/// The pool's refusals as the scheduler's, with the same status.
pub(crate) fn refusal(e: PoolError) -> SchedulerError {
    match e.status() {
        StatusCode::FORBIDDEN => SchedulerError::Forbidden(e.to_string()),
        StatusCode::NOT_FOUND => SchedulerError::NotFound(e.to_string()),
        StatusCode::BAD_REQUEST => SchedulerError::BadRequest(e.to_string()),
        StatusCode::UNAUTHORIZED => SchedulerError::Unauthorized(e.to_string()),
        _ => SchedulerError::Corrupt(e.to_string()),
    }
}

/// A pool job `worker` may run under confinement, now marked as its.
pub(crate) async fn take(state: &Shared, worker: Address) -> Result<Option<Work>, SchedulerError> {
    let job = state.pool.take_job(worker).await.map_err(refusal)?;
    if let Some(job) = &job {
        tracing::info!(job = %job.job, %worker, "pool job handed out");
    }
    Ok(job.map(|pool_job| Work::PoolJob { pool_job }))
}

/// Wakes the waiting claims whenever a client submits a pool job.
pub(crate) async fn wake_on_submissions(state: Arc<Shared>) {
    let mut submitted = state.pool.submissions();
    while submitted.changed().await.is_ok() {
        // Only claims that take pool jobs can run it, and a claim without them would end a
        // handed-on wake-up: every claim looks.
        state.wakes.work_for_all();
    }
}

/// The worker-side routes.
pub(crate) fn routes(state: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/pool/work/{job}/app", get(app))
        .route("/v1/pool/work/{job}/datum", get(datum))
        .route("/v1/pool/work/{job}/result", post(result))
        .layer(DefaultBodyLimit::max(MAX_RESULT_BODY_BYTES))
        .with_state(state)
}

fn octets(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
}

async fn app(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(job): Path<String>,
) -> Result<Response, SchedulerError> {
    let worker = authenticate(&state, &headers).await?;
    Ok(octets(
        state.pool.job_app(worker, &job).await.map_err(refusal)?,
    ))
}

async fn datum(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(job): Path<String>,
) -> Result<Response, SchedulerError> {
    let worker = authenticate(&state, &headers).await?;
    Ok(octets(
        state.pool.job_datum(worker, &job).await.map_err(refusal)?,
    ))
}

async fn result(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(job): Path<String>,
    body: Result<Json<JobOutcome>, JsonRejection>,
) -> Result<StatusCode, SchedulerError> {
    let outcome = body.map(|Json(o)| o).map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            SchedulerError::TooLarge(MAX_RESULT_BODY_BYTES)
        } else {
            SchedulerError::BadRequest(format!("invalid request body: {}", e.body_text()))
        }
    })?;
    let worker = authenticate(&state, &headers).await?;
    state
        .pool
        .finish_job(worker, &job, outcome)
        .await
        .map_err(refusal)?;
    tracing::info!(%job, %worker, "pool job finished");
    Ok(StatusCode::NO_CONTENT)
}

/// Shows the deals' tasks an event touched as jobs of the pool API, owned by their deal's
/// requester (who reads them after a wallet login), with the status the chain gave them. A
/// failure is logged: the job's next event records it again.
pub(crate) async fn mirror_deal_jobs(
    shared: &Shared,
    touched: &[(
        alloy::primitives::B256,
        alloy::primitives::B256,
        crate::db::TaskStatus,
    )],
) {
    // One transaction for them all: the mirror is shown again at start (see
    // `catch_up_deal_jobs`), so it needs no commit of its own per task.
    let mut requesters = std::collections::HashMap::new();
    let mut rows = Vec::with_capacity(touched.len());
    for (task, deal, status) in touched {
        let requester = match requesters.get(deal) {
            Some(known) => *known,
            None => match shared.store.deal(*deal).await {
                Ok(Some(row)) => *requesters.entry(*deal).or_insert(row.deal.requester),
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "reading a deal for the pool API failed");
                    continue;
                }
            },
        };
        rows.push((task.to_string(), requester, status.as_str().to_owned()));
    }
    if let Err(e) = shared.pool.record_deal_tasks(&rows).await {
        tracing::warn!(tasks = rows.len(), error = %e, "showing deals' tasks as pool jobs failed");
    }
}

/// Puts the pool jobs `workers` hold back in the queue for another claim; a failure is logged
/// (the worker's next loss or login releases them again). Through the group commit: the
/// releases waiting together (a login storm's, the workers lost at one check) share its
/// statements.
pub(crate) async fn release_pool_jobs(shared: &Shared, workers: &[Address]) {
    let released = futures::future::join_all(
        workers
            .iter()
            .map(|worker| shared.pool_releases.commit(*worker)),
    )
    .await;
    let mut any = false;
    for (worker, outcome) in workers.iter().zip(released) {
        match outcome {
            Ok(0) => {}
            Ok(jobs) => {
                any = true;
                tracing::info!(%worker, jobs, "the worker's pool jobs are back in the queue");
            }
            Err(e) => {
                tracing::warn!(%worker, error = %e, "releasing a worker's pool jobs failed")
            }
        }
    }
    if any {
        // Only claims that take pool jobs can run them: every claim looks.
        shared.wakes.work_for_all();
    }
}

/// Shows every task the scheduler knows as a pool job, once at start: a task whose event was
/// followed but not mirrored (a stop between the two, a failed write) is caught up, so the
/// mirror has no gap after a restart.
pub(crate) async fn catch_up_deal_jobs(shared: &Shared) {
    match shared.store.all_task_statuses().await {
        Ok(tasks) => mirror_deal_jobs(shared, &tasks).await,
        Err(e) => tracing::warn!(error = %e, "reading the tasks to show as pool jobs failed"),
    }
}
