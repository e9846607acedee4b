//! The worker's side of the pool's own jobs (desktop-grid mode): a claim may hand one out
//! ([`take`]), and the worker holding it downloads its app and datum and uploads its result
//! here, with its scheduler session (the worker right: never list, insert or delete, and only
//! the job it holds).
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
fn refusal(e: PoolError) -> SchedulerError {
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
