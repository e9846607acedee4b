//! Logging in: the challenge a worker signs, the session it gets, and its heartbeats.

use super::*;

pub(super) async fn challenge(
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

pub(super) async fn login(
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
    tokio::spawn(async move { crate::pool_work::release_pool_jobs(&releasing, &[worker]).await });
    // No claim is woken: a login adds capacity, not work.
    tracing::info!(worker = %request.worker, capacity, declared = request.capacity, score, tee = %request.tee, "worker logged in");
    Ok(Json(Session {
        token,
        worker: request.worker,
        expires_at,
    }))
}

pub(super) async fn heartbeat(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<Heartbeat>, SchedulerError> {
    let worker = authenticate(&state, &headers).await?;
    Ok(Json(Heartbeat {
        worker,
        heartbeat_timeout_secs: state.heartbeat_timeout.as_secs(),
    }))
}
