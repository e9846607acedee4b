//! The SMS's HTTP JSON API.
//!
//! | method | path | what |
//! |---|---|---|
//! | `GET` | `/health` | liveness, the TEE backend, whether its attestations count, the deal follower's block and lag |
//! | `GET` | `/openapi.json` | the OpenAPI description of this API |
//! | `GET` | `/v1/info` | chain, hub, attester address, the X25519 key writes are sealed to |
//! | `GET` | `/v1/owners/{owner}/nonce` | the owner's last write nonce (the next is last + 1) |
//! | `POST` | `/v1/secrets` | a signed, sealed write ([`WriteRequest`]) |
//! | `GET` | `/v1/secrets/{kind}/{object}/{name}` | whether it exists, its version and hash |
//! | `POST` | `/v1/challenges` | a single-use release nonce |
//! | `POST` | `/v1/releases` | a TEE task's release ([`ReleaseRequest`]) |
//!
//! Rules (see `docs/confidential.md`): a write's signer owns its object on chain (EOA or
//! ERC-1271), its nonce is the owner's last + 1, its version is above the stored one, its
//! deadline is not past and at most an hour ahead, its value at most 64 KiB. A release needs the
//! deal's scheduler's authorization, an ACTIVE TEE task before its contribution deadline,
//! evidence that appraises with the app's measurement and binds the expected `report_data`,
//! an unused, unexpired nonce and no other enclave key released for the task. The release is
//! recorded before it is answered.

use std::sync::Arc;

use alloy::primitives::{Address, B256};
use alloy::signers::local::PrivateKeySigner;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use decloud_protocol::tee::{
    self, EnclaveAttested, MAX_SECRET_BYTES, MAX_WRITE_AHEAD_SECS, SecretKind,
};
use decloud_protocol::{Tag, TaskStatus, deadline::CONTRIBUTION_DEADLINE_RATIO};
use decloud_service::ApiError;
use decloud_tee::{
    Appraiser, DcapAppraiser, Measurement, Policy, ReportDataFields, TcbStatus, TeeKind,
};

use crate::seal::{self, NodeKey, RowId};
use crate::store::{SecretMeta, SecretStore, WriteOutcome};
use crate::wire::{
    Attestation, ChallengeAnswer, NonceInfo, PutSecretBody, ReleaseAnswer, ReleaseRequest,
    ReleasedSecret, SecretInfo, SmsInfo, WriteRequest,
};
use crate::{
    CHALLENGE_TTL_SECS, DATASET_KEY_NAME, MAX_NAME_LEN, PARAMS_SECRETS_FIELD,
    RESULT_RECIPIENT_NAME, SmsError, unix_now,
};

/// Largest request body: a 64 KiB secret sealed and hex-encoded, or a quote with collateral.
pub const MAX_BODY_BYTES: usize = 2 * MAX_SECRET_BYTES + 64 * 1024;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The tables.
    pub store: SecretStore,
    /// The node's sealing key.
    pub key: Arc<NodeKey>,
    /// The chain.
    pub chain: Arc<crate::chain::ChainReader>,
    /// The deals, as the chain follower stored them.
    pub deals: crate::follow::Deals,
    /// The node's wallet key, which signs `EnclaveAttested`.
    pub signer: Arc<PrivateKeySigner>,
    /// The appraiser of the configured backend.
    pub appraiser: Arc<DcapAppraiser>,
    /// The configured backend.
    pub tee: TeeKind,
    /// The `/health` line naming it.
    pub announcement: String,
    /// A keeper holds only its shares of k-of-n splits.
    pub keeper: bool,
}

impl ApiError for SmsError {
    fn status(&self) -> StatusCode {
        match self {
            SmsError::BadRequest(_) => StatusCode::BAD_REQUEST,
            SmsError::Forbidden(_) => StatusCode::FORBIDDEN,
            SmsError::Conflict(_) => StatusCode::CONFLICT,
            SmsError::NotFound(_) => StatusCode::NOT_FOUND,
            SmsError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            SmsError::Chain(_) => StatusCode::BAD_GATEWAY,
            SmsError::Seal(seal::SealError::Open | seal::SealError::BadKey(_)) => {
                StatusCode::BAD_REQUEST
            }
            SmsError::Seal(_)
            | SmsError::Open(_)
            | SmsError::Database(_)
            | SmsError::Corrupt(_)
            | SmsError::Listen { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn bad_request(message: String) -> Self {
        SmsError::BadRequest(message)
    }

    fn too_large() -> Self {
        SmsError::TooLarge(MAX_BODY_BYTES)
    }
}

impl IntoResponse for SmsError {
    fn into_response(self) -> Response {
        self.response()
    }
}

/// The router of the SMS API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .route("/v1/info", get(info))
        .route("/v1/owners/{owner}/nonce", get(nonce))
        .route("/v1/secrets", post(write))
        .route("/v1/secrets/{kind}/{object}/{name}", get(show))
        .route("/v1/challenges", post(challenge))
        .route("/v1/releases", post(release))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The OpenAPI description of this API (what `scripts/api-fuzz` fuzzes).
async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
}

async fn health(State(state): State<AppState>) -> String {
    format!(
        "ok\n{}\n{}\n{}\n",
        state.announcement,
        attester_line(&state).await,
        state.deals.status().health_line()
    )
}

/// The `/health` line saying whether this node's attestations count at the hub: a node whose
/// wallet is not an active attester releases secrets, but no TEE task can be finalized with
/// its signature.
async fn attester_line(state: &AppState) -> String {
    let me = state.signer.address();
    match state.chain.attester_active(me).await {
        Ok(true) => format!("attester: {me} (registered: its attestations count)"),
        Ok(false) => format!(
            "attester: {me} NOT registered (its attestations do not count): run `decloud attester register --stake AMOUNT` with this wallet, or start with --attester-stake AMOUNT"
        ),
        Err(_) => format!("attester: {me} (unknown: the chain did not answer)"),
    }
}

async fn info(State(state): State<AppState>) -> Json<SmsInfo> {
    let profile = state.chain.profile();
    Json(SmsInfo {
        chain_id: profile.chain_id,
        hub: profile.contracts.hub,
        attester: state.signer.address(),
        hpke_public_key: hex::encode(state.key.hpke_public()),
        tee: state.tee,
        max_secret_bytes: MAX_SECRET_BYTES,
        keeper: state.keeper,
    })
}

fn parse_address(text: &str, what: &str) -> Result<Address, SmsError> {
    text.parse().map_err(|_| {
        SmsError::BadRequest(format!("{what} is not an address (0x and 40 hex digits)"))
    })
}

async fn nonce(
    State(state): State<AppState>,
    Path(owner): Path<String>,
) -> Result<Json<NonceInfo>, SmsError> {
    let owner = parse_address(&owner, "the owner")?;
    let last = state.store.last_nonce(owner).await?;
    Ok(Json(NonceInfo {
        owner,
        last_nonce: last,
        next_nonce: last + 1,
    }))
}

fn parse_kind(text: &str) -> Result<SecretKind, SmsError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|_| {
        SmsError::BadRequest(
            "unknown secret kind: use dataset-key, app-secret, requester-secret or result-recipient"
                .into(),
        )
    })
}

/// Checks a secret's name: 1 to 64 of `A-Z a-z 0-9 . _ -`.
pub fn check_name(name: &str) -> Result<(), SmsError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(SmsError::BadRequest(format!(
            "a secret name is 1 to {MAX_NAME_LEN} letters, digits, '.', '_' or '-'"
        )))
    }
}

async fn show(
    State(state): State<AppState>,
    Path((kind, object, name)): Path<(String, String, String)>,
) -> Result<Json<SecretInfo>, SmsError> {
    let kind = parse_kind(&kind)?;
    let object = parse_address(&object, "the object")?;
    check_name(&name)?;
    let stored = state.store.get(kind, object, &name).await?;
    let meta = stored.map(|s| s.meta);
    Ok(Json(SecretInfo {
        exists: meta.is_some(),
        kind,
        object,
        name,
        owner: meta.as_ref().map(|m| m.owner),
        version: meta.as_ref().map(|m| m.version),
        ciphertext_hash: meta.as_ref().map(|m| m.ciphertext_hash),
        updated_at: meta.as_ref().map(|m| m.updated_at),
    }))
}

async fn write(
    State(state): State<AppState>,
    body: Result<Json<WriteRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<SecretInfo>), SmsError> {
    let request = SmsError::json_body(body)?;
    let put = &request.put;
    check_name(&put.name)?;
    let now = unix_now();
    if put.deadline < now {
        return Err(SmsError::BadRequest(format!(
            "the write's deadline {} has passed (now {now}): sign it again with a later deadline",
            put.deadline
        )));
    }
    if put.deadline > now + MAX_WRITE_AHEAD_SECS {
        return Err(SmsError::BadRequest(format!(
            "the write's deadline {} is more than {MAX_WRITE_AHEAD_SECS} s ahead: sign it again with a nearer one",
            put.deadline
        )));
    }
    if request.sealed.ciphertext.len() > MAX_SECRET_BYTES + 16 {
        return Err(too_big(request.sealed.ciphertext.len() - 16));
    }
    if request.sealed.hash() != put.ciphertext_hash {
        return Err(SmsError::BadRequest(
            "ciphertextHash is not the sha256 of the sealed value sent: the value was changed after signing".into(),
        ));
    }
    let domain = state.chain_domain();
    let typed = put.typed();
    let recovered = tee::signer_of("secret write", &typed, &domain, &request.signature).ok();
    if recovered != Some(put.owner) {
        let hash = tee::signing_hash(&typed, &domain);
        let wallet_ok = state.chain.is_contract(put.owner).await?
            && state
                .chain
                .wallet_accepts(put.owner, hash, &request.signature)
                .await?;
        if !wallet_ok {
            return Err(SmsError::Forbidden(format!(
                "the write is not signed by its owner {}: sign it with that account's key (or, for a contract wallet, a signature it accepts)",
                put.owner
            )));
        }
    }
    check_ownership(&state, put).await?;
    let value = state.key.open_write(
        &seal::write_info(domain.chain_id, put.owner),
        &request.sealed,
    )?;
    if value.len() > MAX_SECRET_BYTES {
        return Err(too_big(value.len()));
    }
    if put.kind == SecretKind::ResultRecipient
        && !std::str::from_utf8(&value).is_ok_and(|v| v.trim().starts_with("age1"))
    {
        return Err(SmsError::BadRequest(
            "a result recipient is an age public key (age1...): make one with `decloud result keygen`".into(),
        ));
    }
    if state.keeper && put.kind != SecretKind::ResultRecipient {
        check_share(&state, &value)?;
    }
    let meta = SecretMeta {
        kind: put.kind,
        object: put.object,
        name: put.name.clone(),
        owner: put.owner,
        version: put.version,
        ciphertext_hash: put.ciphertext_hash,
        updated_at: now,
    };
    let at_rest = state.key.seal_at_rest(&row_id(&meta), &value)?;
    match state.store.write(&meta, put.nonce, &at_rest).await? {
        WriteOutcome::Stored => {}
        WriteOutcome::BadNonce { expected } => {
            return Err(SmsError::Conflict(format!(
                "nonce {} is not {}'s next write nonce ({expected}): a replayed or out-of-order write; sign it again with nonce {expected}",
                put.nonce, put.owner
            )));
        }
        WriteOutcome::NotNewer { stored } => {
            return Err(SmsError::Conflict(format!(
                "version {} is not above the stored version {stored}: rolling a secret back is refused; write a version above {stored}",
                put.version
            )));
        }
    }
    tracing::info!(owner = %put.owner, kind = ?put.kind, object = %put.object, name = %put.name, version = put.version, "secret written");
    Ok((
        StatusCode::CREATED,
        Json(SecretInfo {
            exists: true,
            kind: meta.kind,
            object: meta.object,
            name: meta.name.clone(),
            owner: Some(meta.owner),
            version: Some(meta.version),
            ciphertext_hash: Some(meta.ciphertext_hash),
            updated_at: Some(meta.updated_at),
        }),
    ))
}

/// A keeper stores a secret only as its own share of a k-of-n split, consistent with the
/// owner's Feldman commitments: it never holds a whole key, and a share meant for another
/// keeper (which would give it two) is refused.
fn check_share(state: &AppState, value: &[u8]) -> Result<(), SmsError> {
    let share = crate::keepers::Share::decode(value).map_err(|_| {
        SmsError::BadRequest(
            "this SMS is a keeper and holds only shares: split the secret among the keepers with --keepers URL,URL,... --threshold K".into(),
        )
    })?;
    let me = state.signer.address();
    if share.keeper != me {
        return Err(SmsError::Forbidden(format!(
            "share {} is for keeper {}, not this keeper {me}: send each keeper its own share",
            share.index, share.keeper
        )));
    }
    share
        .verify()
        .map_err(|e| SmsError::BadRequest(format!("{e}; nothing was stored")))?;
    Ok(())
}

fn too_big(len: usize) -> SmsError {
    SmsError::BadRequest(format!(
        "the secret is {len} bytes, over the limit of {MAX_SECRET_BYTES}: store a key to the data, not the data"
    ))
}

fn row_id(meta: &SecretMeta) -> RowId<'_> {
    RowId {
        owner: meta.owner,
        kind: meta.kind,
        object: meta.object,
        name: &meta.name,
        version: meta.version,
    }
}

async fn check_ownership(state: &AppState, put: &PutSecretBody) -> Result<(), SmsError> {
    let owner = match put.kind {
        SecretKind::RequesterSecret | SecretKind::ResultRecipient => put.object,
        SecretKind::DatasetKey => state.chain.dataset_owner(put.object).await?,
        SecretKind::AppSecret => state.chain.app_owner(put.object).await?,
    };
    if owner == Address::ZERO {
        return Err(SmsError::Forbidden(format!(
            "{} is not a registered {}: register it first",
            put.object,
            if put.kind == SecretKind::DatasetKey {
                "dataset"
            } else {
                "app"
            }
        )));
    }
    if owner != put.owner {
        return Err(SmsError::Forbidden(if put.kind.object_is_owner() {
            format!(
                "a {} hangs on its owner's own address: object must be {}",
                kind_name(put.kind),
                put.owner
            )
        } else {
            format!(
                "{} is owned by {owner}, not by the signer {}: only the owner writes its secrets",
                put.object, put.owner
            )
        }));
    }
    Ok(())
}

fn kind_name(kind: SecretKind) -> &'static str {
    match kind {
        SecretKind::DatasetKey => "dataset key",
        SecretKind::AppSecret => "app secret",
        SecretKind::RequesterSecret => "requester secret",
        SecretKind::ResultRecipient => "result recipient",
    }
}

impl AppState {
    fn chain_domain(&self) -> decloud_protocol::order::Domain {
        let p = self.chain.profile();
        decloud_protocol::order::Domain::new(p.chain_id, p.contracts.hub)
    }
}

/// A release nonce: made with the node key and recorded only when a release uses it, so that
/// handing one out costs no write (a keeper answers one per task on its critical path).
async fn challenge(State(state): State<AppState>) -> Result<Json<ChallengeAnswer>, SmsError> {
    let expires_at = unix_now() + CHALLENGE_TTL_SECS;
    let nonce = state.key.challenge(expires_at)?;
    Ok(Json(ChallengeAnswer { nonce, expires_at }))
}

fn tcb_code(status: TcbStatus) -> u8 {
    match status {
        TcbStatus::UpToDate => tee::tcb_status::UP_TO_DATE,
        TcbStatus::SWHardeningNeeded => tee::tcb_status::SW_HARDENING_NEEDED,
        TcbStatus::ConfigurationNeeded | TcbStatus::ConfigurationAndSWHardeningNeeded => {
            tee::tcb_status::CONFIGURATION_NEEDED
        }
        _ => tee::tcb_status::OUT_OF_DATE,
    }
}

/// The requester secrets a deal's params name: `{"secrets": ["NAME", ...]}`.
pub fn named_secrets(params: &str) -> Result<Vec<String>, SmsError> {
    if params.trim().is_empty() {
        return Ok(Vec::new());
    }
    let value: serde_json::Value = serde_json::from_str(params).map_err(|_| {
        SmsError::Forbidden("the deal's params are not JSON: no secret can be named".into())
    })?;
    let Some(list) = value.get(PARAMS_SECRETS_FIELD) else {
        return Ok(Vec::new());
    };
    let names: Vec<String> = serde_json::from_value(list.clone()).map_err(|_| {
        SmsError::Forbidden(format!(
            "the deal's params field {PARAMS_SECRETS_FIELD:?} is not a list of names"
        ))
    })?;
    for name in &names {
        check_name(name)?;
    }
    Ok(names)
}

/// Where a release's time went, in µs per stage (logged with it: measured, not guessed).
struct Laps {
    last: std::time::Instant,
    laps: Vec<(&'static str, u128)>,
}

impl Laps {
    fn new() -> Self {
        Self {
            last: std::time::Instant::now(),
            laps: Vec::new(),
        }
    }

    fn lap(&mut self, stage: &'static str) {
        let now = std::time::Instant::now();
        self.laps
            .push((stage, now.duration_since(self.last).as_micros()));
        self.last = now;
    }
}

impl std::fmt::Display for Laps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (stage, us)) in self.laps.iter().enumerate() {
            write!(f, "{}{stage}:{us}", if i == 0 { "" } else { "," })?;
        }
        Ok(())
    }
}

async fn release(
    State(state): State<AppState>,
    body: Result<Json<ReleaseRequest>, JsonRejection>,
) -> Result<Json<ReleaseAnswer>, SmsError> {
    let started = std::time::Instant::now();
    let r = SmsError::json_body(body)?;
    let chain_id = state.chain.profile().chain_id;
    let task_id = decloud_protocol::task_id(r.deal_id, r.index);
    let h: [u8; 32] = hex::decode(r.hpke_public_key.trim_start_matches("0x"))
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| SmsError::BadRequest("hpke_public_key must be 32 bytes of hex".into()))?;
    let now = unix_now();
    let mut laps = Laps::new();
    // Whether it is used is decided by the commit, in the transaction that records it.
    let Some(expires_at) = state.key.challenge_expiry(&r.nonce) else {
        return Err(SmsError::Forbidden(
            "unknown nonce: take one from POST /v1/challenges and bind it into report_data".into(),
        ));
    };
    if expires_at < now {
        return Err(SmsError::Forbidden(format!(
            "the nonce expired at {expires_at} (now {now}): take a fresh one from POST /v1/challenges"
        )));
    }
    let deal = state.deals.deal(r.deal_id).await?;
    laps.lap("store");
    let volume = u64::try_from(deal.deal.volume).unwrap_or(u64::MAX);
    if r.index >= volume {
        return Err(SmsError::Forbidden(format!(
            "the deal has {volume} tasks: index {} is not one",
            r.index
        )));
    }
    let authorizer = decloud_protocol::result::authorization_signer(
        &r.authorization,
        r.worker,
        task_id,
        r.enclave,
    )
    .map_err(|e| SmsError::Forbidden(format!("the authorization does not verify: {e}")))?;
    if authorizer != deal.deal.scheduler {
        return Err(SmsError::Forbidden(format!(
            "the authorization is signed by {authorizer}, not by the deal's scheduler {}: ask the scheduler for one",
            deal.deal.scheduler
        )));
    }
    if deal.deal.tag & Tag::TEE.0 != Tag::TEE.0 {
        return Err(SmsError::Forbidden(
            "the deal has no TEE tag: its secrets are released only to TEE tasks".into(),
        ));
    }
    // A random-selection deal's results count only from drawn workers (`contributeDrawn`), and
    // the drawn path takes no TEE deal: an enclave the scheduler authorized for it would be the
    // scheduler's pick, which is what the requester's random tag forbids.
    if deal.deal.tag & Tag::RANDOM.0 == Tag::RANDOM.0 {
        return Err(SmsError::Forbidden(
            "the deal selects its workers at random (tag bit 1): its workers are drawn, not authorized by the scheduler, and drawn workers run no TEE tasks, so its secrets go to no enclave; ask for a TEE deal without random selection".into(),
        ));
    }
    laps.lap("checks");
    // The chain reads at once: each is a round trip to the node, none depends on another.
    let keeper_draw = async {
        if state.keeper && deal.deal.dataset != Address::ZERO {
            state
                .chain
                .keeper_of_epoch(deal.deal.dataset, state.signer.address())
                .await
        } else {
            Ok(None)
        }
    };
    let (keeper_draw, task, chain_now, (app_checksum, mrenclave)) = tokio::try_join!(
        keeper_draw,
        state.chain.task(task_id),
        state.chain.now(),
        state.chain.app_code(deal.deal.app),
    )?;
    laps.lap("chain");
    // A dataset with a keeper group is served by the keepers of the current epoch's draw only: the
    // hub would not count this keeper's attestation, and its share is of a past split.
    if let Some((epoch, false)) = keeper_draw {
        return Err(SmsError::Forbidden(format!(
            "this keeper ({}) is not drawn for dataset {} in keeper epoch {epoch}: the dataset's owner re-splits its key to the epoch's keepers (`decloud dataset reshare`)",
            state.signer.address(),
            deal.deal.dataset
        )));
    }
    if task.status != TaskStatus::Active.as_u8() {
        let name = TaskStatus::from_u8(task.status)
            .map(|s| s.name())
            .unwrap_or("UNKNOWN");
        return Err(SmsError::Forbidden(format!(
            "task {task_id} is {name}, not ACTIVE: secrets are released only to a running task"
        )));
    }
    let reference = u64::try_from(deal.deal.workClockTimeRef).unwrap_or(u64::MAX);
    let deadline = task
        .initTime
        .to::<u64>()
        .saturating_add(CONTRIBUTION_DEADLINE_RATIO.saturating_mul(reference));
    if chain_now >= deadline {
        return Err(SmsError::Forbidden(format!(
            "task {task_id} is past its contribution deadline ({deadline}): nothing is released"
        )));
    }
    if mrenclave == B256::ZERO {
        return Err(SmsError::Forbidden(
            "the deal's app names no runner measurement (mrenclave): it is not a TEE app".into(),
        ));
    }
    if r.evidence.kind != state.tee {
        return Err(SmsError::Forbidden(format!(
            "this SMS appraises {} evidence, not {}",
            state.tee, r.evidence.kind
        )));
    }
    let fields = ReportDataFields {
        chain_id,
        task_id,
        app_checksum,
        enclave: r.enclave,
        hpke_public_key: h,
        nonce: r.nonce.0,
    };
    let policy = Policy::strict(Measurement(mrenclave.0));
    let appraisal = state
        .appraiser
        .appraise(&r.evidence, &fields.report_data(), &policy, now)
        .map_err(|e| SmsError::Forbidden(format!("the evidence does not appraise: {e}")))?;
    laps.lap("appraise");
    // One enclave per task: checked when the release is committed, in the same transaction
    // that uses the nonce (a read here would cost a query and decide nothing).

    // What the deal uses, sealed to H before anything is recorded.
    let mut secrets = Vec::new();
    let mut add = |purpose: String, stored: &crate::store::StoredSecret| -> Result<(), SmsError> {
        let value = state
            .key
            .open_at_rest(&row_id(&stored.meta), &stored.sealed)?;
        let sealed = seal::seal(&h, &seal::release_info(&purpose, chain_id, task_id), &value)?;
        secrets.push(ReleasedSecret {
            purpose,
            version: stored.meta.version,
            sealed,
        });
        Ok(())
    };
    let dataset =
        (deal.deal.dataset != Address::ZERO && !r.local_dataset).then_some(deal.deal.dataset);
    let names = named_secrets(&deal.params)?;
    let mut named: Vec<(SecretKind, Address, &str)> = names
        .iter()
        .map(|n| (SecretKind::RequesterSecret, deal.deal.requester, n.as_str()))
        .collect();
    named.push((
        SecretKind::ResultRecipient,
        deal.deal.beneficiary,
        RESULT_RECIPIENT_NAME,
    ));
    if let Some(dataset) = dataset {
        named.push((SecretKind::DatasetKey, dataset, DATASET_KEY_NAME));
    }
    let mut stored = state
        .store
        .get_many(&named, &[(SecretKind::AppSecret, deal.deal.app)])
        .await?;
    stored.sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
    let find = |kind: SecretKind, object: Address, name: &str| {
        stored
            .iter()
            .find(|s| s.meta.kind == kind && s.meta.object == object && s.meta.name == name)
    };
    if let Some(dataset) = dataset {
        let key = find(SecretKind::DatasetKey, dataset, DATASET_KEY_NAME).ok_or_else(|| {
            SmsError::Forbidden(format!(
                "the dataset {dataset} has no key in this SMS: its owner must push it"
            ))
        })?;
        add("dataset-key".into(), key)?;
    }
    for app_secret in stored
        .iter()
        .filter(|s| s.meta.kind == SecretKind::AppSecret && s.meta.object == deal.deal.app)
    {
        add(format!("app-secret:{}", app_secret.meta.name), app_secret)?;
    }
    for name in &names {
        let secret = find(SecretKind::RequesterSecret, deal.deal.requester, name).ok_or_else(|| {
            SmsError::Forbidden(format!(
                "the deal names the requester's secret {name:?}, which this SMS does not hold: push it with `decloud secret push {name}`"
            ))
        })?;
        add(format!("requester-secret:{name}"), secret)?;
    }
    if let Some(recipient) = find(
        SecretKind::ResultRecipient,
        deal.deal.beneficiary,
        RESULT_RECIPIENT_NAME,
    ) {
        add("result-recipient".into(), recipient)?;
    }

    laps.lap("secrets");
    let attestation = EnclaveAttested {
        taskId: task_id,
        enclave: r.enclave,
        measurement: mrenclave,
        tcbStatus: tcb_code(appraisal.tcb_status),
        expiry: deadline,
        // what was appraised, so that anyone holding it can challenge this statement on chain
        evidenceHash: tee::evidence_hash(&r.evidence.quote, &h, &r.nonce.0),
    };
    let signature = tee::sign(&attestation, &state.chain_domain(), state.signer.as_ref())
        .map_err(|e| SmsError::BadRequest(e.to_string()))?;
    laps.lap("sign");

    // Durable before acknowledged: the nonce is used and the task bound to this enclave first.
    if let Err(reason) = state
        .store
        .commit_release(r.nonce, expires_at, task_id, r.enclave, now)
        .await?
    {
        return Err(SmsError::Conflict(reason));
    }
    laps.lap("commit");
    tracing::info!(
        task = %task_id,
        enclave = %r.enclave,
        secrets = secrets.len(),
        ms = started.elapsed().as_millis() as u64,
        laps = %laps,
        "released"
    );
    Ok(Json(ReleaseAnswer {
        task_id,
        secrets,
        attestation: Attestation {
            task_id,
            enclave: r.enclave,
            measurement: mrenclave,
            tcb_status: attestation.tcbStatus,
            expiry: deadline,
            evidence_hash: attestation.evidenceHash,
            signer: state.signer.address(),
            signature,
        },
    }))
}
