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
        .route("/v1/info", get(info))
        .route("/v1/login/challenge", get(challenge))
        .route("/v1/login", post(login))
        .route("/v1/heartbeat", post(heartbeat))
        .route("/v1/claim", post(claim))
        .route("/v1/replicates", get(my_replicates))
        .route("/v1/tasks/{taskid}", get(task))
        .route("/v1/tasks/{taskid}/report", post(report))
        .route("/v1/tasks/{taskid}/next", get(next_action))
        .route("/v1/next", post(next_actions))
        .route("/v1/tasks/{taskid}/enclave", post(enclave_authorization))
        .route("/v1/deals/{dealid}", get(deal))
        .route("/v1/workers", get(workers))
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
/// header (see [`server_timing`]).
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
        include_str!("openapi.json"),
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

/// The session's worker as a claim needs it ([`crate::db::Store::claimant`]).
async fn claimant(state: &Shared, address: Address) -> Result<crate::db::Claimant, SchedulerError> {
    state.store.claimant(address).await?.ok_or_else(|| {
        SchedulerError::Unauthorized("the session's worker is not registered: log in again".into())
    })
}

async fn info(State(state): State<Arc<Shared>>) -> Json<Info> {
    let profile = state.client.profile();
    Json(Info {
        scheduler: state.signer.address(),
        workerpool: state.workerpool,
        chain_id: profile.chain_id,
        hub: profile.contracts.hub,
        heartbeat_timeout_secs: state.heartbeat_timeout.as_secs(),
    })
}

async fn challenge(
    State(state): State<Arc<Shared>>,
    extensions: axum::http::Extensions,
) -> Result<Json<Challenge>, SchedulerError> {
    let client = decloud_service::limits::client_ip(&extensions);
    limit(&state.challenge_limiter, client, "login challenges")?;
    let now = unix_now();
    let nonce = random_hex(16);
    let deadline = now + CHALLENGE_TTL_SECS;
    state
        .challenges
        .insert(nonce.clone(), deadline, client, now)
        .map_err(|_| SchedulerError::TooManyRequests {
            what: "open login challenges from this address",
            retry_after: CHALLENGE_TTL_SECS,
        })?;
    let scheduler = state.signer.address();
    Ok(Json(Challenge {
        message: login_message(&nonce, scheduler, deadline),
        nonce,
        deadline,
        scheduler,
    }))
}

async fn login(
    State(state): State<Arc<Shared>>,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Json<Session>, SchedulerError> {
    let request = SchedulerError::json_body(body)?;
    if !(1..=MAX_CAPACITY).contains(&request.capacity) {
        return Err(SchedulerError::BadRequest(format!(
            "capacity {} is out of range: declare 1 to {MAX_CAPACITY} replicates at once",
            request.capacity
        )));
    }
    if request.nonce.len() > 64 || !request.nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SchedulerError::BadRequest(
            "malformed nonce: use the one GET /v1/login/challenge returned".into(),
        ));
    }
    let now = unix_now();
    let message = login_message(&request.nonce, state.signer.address(), request.deadline);
    let signer = request
        .signature
        .trim()
        .parse::<Signature>()
        .ok()
        .and_then(|s| s.recover_address_from_msg(message.as_bytes()).ok())
        .ok_or_else(|| {
            SchedulerError::BadRequest(
                "malformed login signature: sign the challenge's message (EIP-191) again".into(),
            )
        })?;
    if signer != request.worker {
        return Err(SchedulerError::Unauthorized(format!(
            "the login is signed by {signer}, not by the worker {}: sign with the worker's wallet",
            request.worker
        )));
    }
    // Membership and score first (read together: a login waits for one chain round trip, not
    // three in a row): if the chain does not answer or the worker is refused, the challenge
    // stays usable and nothing is stored.
    let score_call = state.client.hub();
    let score_call = score_call.scoreOf(request.worker);
    let (member_capacity, score) =
        tokio::try_join!(crate::members::check(&state, request.worker), async {
            score_call.call().await.map_err(|e| {
                SchedulerError::from(
                    state
                        .client
                        .contract_error("reading the worker's score", &e),
                )
            })
        })?;
    let capacity = request.capacity.min(member_capacity);
    let score = u64::try_from(score).unwrap_or(u64::MAX);
    if !state.challenges.take(&request.nonce, request.deadline, now) {
        return Err(SchedulerError::Unauthorized(
            "unknown, used or expired login challenge: get a new one from GET /v1/login/challenge"
                .into(),
        ));
    }
    let token = format!("dcs_{}", random_hex(32));
    let expires_at = now + state.session_ttl.as_secs();
    let hash = token_hash(&token);
    // Committed (with the logins waiting at the same time) before the answer goes out, so an
    // acknowledged session survives a restart.
    state
        .logins
        .commit(crate::db::NewLogin {
            now,
            worker: request.worker,
            capacity,
            score,
            token_hash: hash.clone(),
            expires_at,
            tee: request.tee,
        })
        .await?;
    if let Ok(mut sessions) = state.sessions.write() {
        sessions.insert(hash, (request.worker, expires_at));
    }
    // A worker logs in when it starts: a pool job it held before is no longer running there,
    // so it goes back to the queue (for this worker's next claim or another's). Off the
    // answer's path: the login is already durable.
    let releasing = state.clone();
    let worker = request.worker;
    tokio::spawn(async move { crate::release_pool_jobs(&releasing, &[worker]).await });
    // No claim is woken: a login adds capacity, not work.
    tracing::info!(worker = %request.worker, capacity, declared = request.capacity, score, tee = %request.tee, "worker logged in");
    Ok(Json(Session {
        token,
        worker: request.worker,
        expires_at,
    }))
}

async fn heartbeat(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<Heartbeat>, SchedulerError> {
    let worker = authenticate(&state, &headers).await?;
    Ok(Json(Heartbeat {
        worker,
        heartbeat_timeout_secs: state.heartbeat_timeout.as_secs(),
    }))
}

async fn claim(
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

async fn my_replicates(
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

async fn report(
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

async fn next_action(
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
async fn next_actions(
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

/// The body of `POST /v1/tasks/{taskid}/enclave`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnclaveRequest {
    /// The address of the enclave's result key E.
    enclave: Address,
}

/// The authorization of the session's worker on its own replicate of a TEE task, bound to the
/// enclave key E it names. E is fixed at the first call: asking again with the same E answers
/// the same authorization (a retried request), another E is refused, so one replicate never
/// holds two enclaves (a key holder releases a task's secrets to one enclave only).
async fn enclave_authorization(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(task_id): Path<String>,
    body: Result<Json<EnclaveRequest>, JsonRejection>,
) -> Result<Json<decloud_protocol::pool::Authorization>, SchedulerError> {
    let task_id = parse_id(&task_id, "the task id")?;
    let request = SchedulerError::json_body(body)?;
    let worker = authenticate(&state, &headers).await?;
    if request.enclave == Address::ZERO {
        return Err(SchedulerError::BadRequest(
            "the enclave address is zero: send the address of the enclave's result key".into(),
        ));
    }
    let task = state.store.task(task_id).await?.ok_or_else(|| {
        SchedulerError::NotFound(format!(
            "task {task_id} is not one of this workerpool's tasks (or its deal is not seen yet)"
        ))
    })?;
    let deal = state.store.deal(task.deal_id).await?.ok_or_else(|| {
        SchedulerError::NotFound(format!("the deal of task {task_id} is not seen yet"))
    })?;
    let tee = decloud_protocol::Tag::TEE.0;
    if deal.deal.tag & tee != tee {
        return Err(SchedulerError::Forbidden(format!(
            "task {task_id} is not a TEE task: its authorization came with the assignment"
        )));
    }
    let bound = state
        .store
        .bind_enclave(task_id, worker, request.enclave)
        .await?;
    match bound {
        None => Err(SchedulerError::Forbidden(format!(
            "worker {worker} holds no assigned replicate of task {task_id}: claim work first"
        ))),
        Some(e) if e != request.enclave => Err(SchedulerError::Conflict(format!(
            "the replicate of task {task_id} is already bound to enclave {e}: one enclave per replicate"
        ))),
        Some(enclave) => {
            start_task(&state, &deal, task.index, task_id).await?;
            let sign = decloud_protocol::result::sign_authorization(
                &state.signer,
                worker,
                task_id,
                enclave,
            )
            .map_err(|e| SchedulerError::Config(format!("cannot sign an authorization: {e}")))?;
            tracing::info!(task = %task_id, worker = %worker, %enclave, "enclave authorized");
            Ok(Json(decloud_protocol::pool::Authorization {
                worker,
                task_id,
                enclave,
                sign,
            }))
        }
    }
}

/// Initializes a TEE task that is not started on chain yet: a key holder releases secrets only
/// to an ACTIVE task, and the hub's lazy initialization (by the first contribution) comes too
/// late for that. Only the scheduler may initialize before the final deadline, so it does it
/// here, once per task (a second call finds it active).
async fn start_task(
    state: &Shared,
    deal: &crate::db::DealRow,
    index: u64,
    task_id: B256,
) -> Result<(), SchedulerError> {
    let client = &state.client;
    let hub = client.hub();
    let view = client.read("reading the task", hub.task(task_id)).await?;
    if view.status != 0 {
        return Ok(());
    }
    let call = hub.initialize((&deal.deal).into(), alloy::primitives::U256::from(index));
    if let Err(e) = client
        .send("initializing the TEE task", call.into_transaction_request())
        .await
    {
        // Another request may have initialized it meanwhile.
        let view = client.read("reading the task", hub.task(task_id)).await?;
        if view.status == 0 {
            return Err(SchedulerError::Chain(format!(
                "cannot initialize TEE task {task_id} on chain: {e}; ask again"
            )));
        }
    }
    tracing::info!(task = %task_id, "TEE task initialized for its enclave's release");
    Ok(())
}

async fn task(
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

async fn deal(
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

async fn workers(
    State(state): State<Arc<Shared>>,
) -> Result<Json<Vec<WorkerInfo>>, SchedulerError> {
    Ok(Json(state.store.workers().await?))
}
