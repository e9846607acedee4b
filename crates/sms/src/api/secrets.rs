//! Writing a secret (signed, sealed, owned on chain) and reading what is stored of it.

use alloy::primitives::Address;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use decloud_protocol::tee::{self, MAX_SECRET_BYTES, MAX_WRITE_AHEAD_SECS, SecretKind};
use decloud_service::ApiError;

use crate::seal;
use crate::store::{SecretMeta, WriteOutcome};
use crate::wire::{NonceInfo, PutSecretBody, SecretInfo, WriteRequest};
use crate::{MAX_NAME_LEN, SmsError, unix_now};

use super::{AppState, parse_address, row_id};

pub(super) async fn nonce(
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

pub(super) async fn show(
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

pub(super) async fn write(
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
