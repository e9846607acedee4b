//! The SMS's HTTP JSON API.
//!
//! | method | path | what |
//! |---|---|---|
//! | `GET` | `/health` | liveness, the TEE backend, whether its attestations count, the deal follower's block and lag |
//! | `GET` | `/openapi.json` | the OpenAPI description of this API |
//! | `GET` | `/v1/info` | chain, hub, attester address, the X25519 key writes are sealed to |
//! | `GET` | `/v1/owners/{owner}/nonce` | the owner's last write nonce (the next is last + 1) |
//! | `POST` | `/v1/secrets` | a signed, sealed write ([`WriteRequest`](crate::wire::WriteRequest)) |
//! | `GET` | `/v1/secrets/{kind}/{object}/{name}` | whether it exists, its version and hash |
//! | `POST` | `/v1/challenges` | a single-use release nonce |
//! | `POST` | `/v1/releases` | a TEE task's release ([`ReleaseRequest`](crate::wire::ReleaseRequest)) |
//!
//! Rules (see `docs/confidential.md`): a write's signer owns its object on chain (EOA or
//! ERC-1271), its nonce is the owner's last + 1, its version is above the stored one, its
//! deadline is not past and at most an hour ahead, its value at most 64 KiB. A release needs the
//! deal's scheduler's authorization, an ACTIVE TEE task before its contribution deadline,
//! evidence that appraises with the app's measurement and binds the expected `report_data`,
//! an unused, unexpired nonce and no other enclave key released for the task. The release is
//! recorded before it is answered.

mod release;
mod secrets;

use std::sync::Arc;

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use decloud_protocol::tee::MAX_SECRET_BYTES;
use decloud_service::ApiError;
use decloud_tee::{DcapAppraiser, TeeKind};

use crate::SmsError;
use crate::seal::{self, NodeKey, RowId};
use crate::store::{SecretMeta, SecretStore};
use crate::wire::SmsInfo;

use release::{challenge, release};
use secrets::{nonce, show, write};

pub use release::named_secrets;
pub use secrets::check_name;

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
        include_str!("../openapi.json"),
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

pub(super) fn parse_address(text: &str, what: &str) -> Result<Address, SmsError> {
    text.parse().map_err(|_| {
        SmsError::BadRequest(format!("{what} is not an address (0x and 40 hex digits)"))
    })
}

pub(super) fn row_id(meta: &SecretMeta) -> RowId<'_> {
    RowId {
        owner: meta.owner,
        kind: meta.kind,
        object: meta.object,
        name: &meta.name,
        version: meta.version,
    }
}

impl AppState {
    /// The EIP-712 domain of this node's chain and hub, which signed writes and
    /// `EnclaveAttested` name.
    pub(super) fn chain_domain(&self) -> decloud_protocol::order::Domain {
        let p = self.chain.profile();
        decloud_protocol::order::Domain::new(p.chain_id, p.contracts.hub)
    }
}
