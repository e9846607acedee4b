//! The scheduler's HTTP JSON API, for its workers and for the pool's clients.
//!
//! | method | path | auth | what |
//! |---|---|---|---|
//! | `GET` | `/health` | | liveness |
//! | `GET` | `/openapi.json` | | this API described in OpenAPI 3 |
//! | `GET` | `/v1/info` | | the scheduler's address, workerpool, chain |
//! | `GET` | `/v1/login/challenge` | | a single-use nonce and the [`login_message`] to sign |
//! | `POST` | `/v1/login` | | `{worker, nonce, deadline, signature, capacity}` → a session token |
//! | `POST` | `/v1/heartbeat` | worker | "still alive" |
//! | `POST` | `/v1/claim?wait=SECS[&max=N]` | worker | long-poll for a replicate: `200` + [`Assignment`] (with `max`: an array of up to N), or `204` |
//! | `GET` | `/v1/replicates` | worker | the worker's assigned replicates (to resume after a restart) |
//! | `POST` | `/v1/tasks/{taskid}/report` | worker | a [`Report`]: `contributed`, `revealed` (with the results location) or `failed` (with a reason) |
//! | `GET` | `/v1/tasks/{taskid}/next?wait=SECS` | worker | long-poll for what to do after contributing: a [`NextAction`] |
//! | `POST` | `/v1/next?wait=SECS` | worker | the same for several tasks at once ([`NextRequest`]): the [`TaskAction`]s of those with something to do |
//! | `GET` | `/v1/tasks/{taskid}` | | a task and every replicate's off-chain stage and failure reason |
//! | `GET` | `/v1/deals/{dealid}` | | a deal and its tasks |
//! | `GET` | `/v1/workers` | | registered workers |
//! | | `/v1/pool/work/...` | worker | a pool job's app, datum and result ([`crate::pool_work`]) |
//! | | `/v1/pool/...` | pool user | the pool's own client API (`decloud_pool::api`) |
//!
//! The request and answer types are [`decloud_protocol::pool`]'s. Workers authenticate with
//! `Authorization: Bearer <token>`; the scheduler stores only the token's sha256. Errors are
//! `{"error": "..."}` with a 4xx/5xx status.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, B256, Signature};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use decloud_service::ApiError;
use rand_08::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use decloud_protocol::pool::{
    Assignment, Challenge, Heartbeat, Info, LoginRequest, NextAction, NextRequest, ReplicateInfo,
    Report, ReportStatus, Session, TaskAction, Work, WorkerInfo, login_message,
};
/// The read API's bodies, defined with the other wire types (clients name them from here too).
pub use decloud_protocol::pool::{DealReport, TaskReport};

use crate::assign;
use crate::db::{ReplicateStatus, TaskStatus};
use crate::policy::{has_consensus, replicas_needed, weight_of};
use crate::wake::{Attempt, WAITED, long_poll};
use crate::{SchedulerError, Shared};

mod claims;
mod enclave;
mod login;
mod reports;
mod views;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// How long a login challenge may be answered.
pub const CHALLENGE_TTL_SECS: u64 = 300;
/// Longest a claim waits for work.
pub const MAX_CLAIM_WAIT_SECS: u64 = 60;
/// How long a claim waits when the worker names no `wait`.
pub const DEFAULT_CLAIM_WAIT_SECS: u64 = 25;
/// Most replicates a worker may declare it runs at once.
pub const MAX_CAPACITY: u64 = 256;
/// Longest failure reason kept (longer ones are cut).
pub const MAX_REASON_CHARS: usize = 1000;
/// Longest results location accepted.
pub const MAX_LOCATION_CHARS: usize = 2048;
/// Largest callback data accepted (the runtime's default cap).
pub const MAX_CALLBACK_DATA_BYTES: usize = 64 * 1024;
/// After this many failed replicates from distinct workers with on-chain history (a score, or
/// a contribution in this pool) a task is no longer handed out (it is most likely the task's
/// fault: a wrong checksum, an unreachable input, an app that runs past its time). Failures
/// from workers without history only free their slot: identities are free, and three of them
/// must not be able to make the pool give a task up.
pub const MAX_FAILED_REPLICATES: u64 = 3;

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The sha256 (hex) under which a session token is stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand_08::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// Query of the long-polling endpoints (`/v1/claim`, `/v1/tasks/{taskid}/next`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct WaitQuery {
    /// Seconds to wait (at most [`MAX_CLAIM_WAIT_SECS`]).
    pub wait: Option<u64>,
    /// A claim that may also hand out a job of the pool's own client API (the answer is then
    /// a [`decloud_protocol::pool::Work`]).
    #[serde(default)]
    pub pool_jobs: bool,
    /// A claim of up to this many replicates at once (a worker asks for its free slots;
    /// they are written in one commit): the answer is then a JSON array of
    /// [`decloud_protocol::pool::Work`]. Without it, one, sent bare.
    pub max: Option<u64>,
}

impl ApiError for SchedulerError {
    fn status(&self) -> StatusCode {
        match self {
            SchedulerError::BadRequest(_) => StatusCode::BAD_REQUEST,
            SchedulerError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            SchedulerError::Forbidden(_) => StatusCode::FORBIDDEN,
            SchedulerError::NotFound(_) => StatusCode::NOT_FOUND,
            SchedulerError::Conflict(_) => StatusCode::CONFLICT,
            SchedulerError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            SchedulerError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            SchedulerError::Chain(_) | SchedulerError::ChainCall(_) => StatusCode::BAD_GATEWAY,
            SchedulerError::Stopping => StatusCode::SERVICE_UNAVAILABLE,
            SchedulerError::Open(_)
            | SchedulerError::Database(_)
            | SchedulerError::Corrupt(_)
            | SchedulerError::Listen { .. }
            | SchedulerError::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn bad_request(message: String) -> Self {
        SchedulerError::BadRequest(message)
    }

    fn too_large() -> Self {
        SchedulerError::TooLarge(MAX_BODY_BYTES)
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            SchedulerError::TooManyRequests { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

impl IntoResponse for SchedulerError {
    fn into_response(self) -> Response {
        self.response()
    }
}

/// Takes one request of `key` from `limiter`, or refuses it with a 429 saying how long to wait.
fn limit(
    limiter: &crate::limits::RateLimiter,
    key: impl std::hash::Hash,
    what: &'static str,
) -> Result<(), SchedulerError> {
    limiter
        .admit(key)
        .map_err(|retry_after| SchedulerError::TooManyRequests { what, retry_after })
}

fn parse_id(text: &str, what: &str) -> Result<B256, SchedulerError> {
    text.parse().map_err(|_| {
        SchedulerError::BadRequest(format!("{what} must be 0x and 64 hex digits: check the id"))
    })
}

/// The router of the scheduler API.
pub(crate) fn router(state: Arc<Shared>) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/openapi.json", get(openapi))
        .route("/v1/info", get(views::info))
        .route("/v1/login/challenge", get(login::challenge))
        .route("/v1/login", post(login::login))
        .route("/v1/heartbeat", post(login::heartbeat))
        .route("/v1/claim", post(claims::claim))
        .route("/v1/replicates", get(claims::my_replicates))
        .route("/v1/tasks/{taskid}", get(views::task))
        .route("/v1/tasks/{taskid}/report", post(reports::report))
        .route("/v1/tasks/{taskid}/next", get(reports::next_action))
        .route("/v1/next", post(reports::next_actions))
        .route(
            "/v1/tasks/{taskid}/enclave",
            post(enclave::enclave_authorization),
        )
        .route("/v1/deals/{dealid}", get(views::deal))
        .route("/v1/workers", get(views::workers))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(server_timing))
        .with_state(state.clone())
        .merge(crate::pool_work::routes(state.clone()))
        .merge(decloud_pool::api::router(state.pool.clone()))
}

/// The response header that carries the scheduler's own handling time.
pub const SERVER_TIMING: &str = "server-timing";

/// Adds `Server-Timing: app;dur=MS` (W3C Server Timing) to every answer: the time from the
/// request reaching the router to its answer, less what a long poll spent waiting for work.
/// It is the scheduler's own handling (authentication, the assignment attempts, the commit,
/// queueing for the assignment lock and the database); what a client measures adds the
/// network and its own scheduling.
async fn server_timing(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let started = std::time::Instant::now();
    let (mut response, waited) = WAITED
        .scope(std::cell::Cell::new(Duration::ZERO), async {
            let response = next.run(request).await;
            (response, WAITED.with(std::cell::Cell::get))
        })
        .await;
    let busy = started.elapsed().saturating_sub(waited);
    if let Ok(value) =
        axum::http::HeaderValue::from_str(&format!("app;dur={:.3}", busy.as_secs_f64() * 1000.0))
    {
        response.headers_mut().insert(SERVER_TIMING, value);
    }
    response
}

/// The scheduler's own handling time of an answer, from its `Server-Timing: app;dur=MS`
/// header (see `server_timing`).
pub fn handling_time(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(SERVER_TIMING)?.to_str().ok()?;
    let millis: f64 = value
        .split(';')
        .find_map(|part| part.trim().strip_prefix("dur="))?
        .parse()
        .ok()?;
    (millis.is_finite() && millis >= 0.0).then(|| Duration::from_secs_f64(millis / 1000.0))
}

async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../openapi.json"),
    )
}

/// The worker of the request's bearer token; every authenticated call counts as a heartbeat.
pub(crate) async fn authenticate(
    state: &Shared,
    headers: &HeaderMap,
) -> Result<Address, SchedulerError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            SchedulerError::Unauthorized(
                "missing `Authorization: Bearer <token>`: log in with POST /v1/login".into(),
            )
        })?;
    let now = unix_now();
    let hash = token_hash(token.trim());
    let cached = state
        .sessions
        .read()
        .ok()
        .and_then(|sessions| sessions.get(&hash).copied());
    let worker = match cached {
        Some((worker, expires)) if expires >= now => worker,
        _ => {
            let (worker, expires) = state.store.session(&hash, now).await?.ok_or_else(|| {
                SchedulerError::Unauthorized(
                    "unknown or expired session token: log in again with POST /v1/login".into(),
                )
            })?;
            if let Ok(mut sessions) = state.sessions.write() {
                sessions.insert(hash, (worker, expires));
            }
            worker
        }
    };
    state.heard_from(worker, now);
    Ok(worker)
}
