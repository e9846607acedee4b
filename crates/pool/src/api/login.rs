//! Logging in: a password, a wallet-signed challenge, a TLS client certificate or an
//! OpenID Connect ID token, each answered with a session.

use axum::extract::State;
use axum::{Extension, Json};
use decloud_service::ApiError;
use decloud_service::tls::ClientCertificate;

use super::{Body, CHALLENGE_TTL_SECS};
use crate::auth::certificate_identity;
use crate::wire::*;
use crate::{Pool, PoolError, random_hex, unix_now};

fn client_of(extensions: &axum::http::Extensions) -> String {
    decloud_service::limits::client_ip(extensions)
        .map(|ip| ip.to_string())
        .unwrap_or_default()
}

pub(super) async fn login_password(
    State(pool): State<Pool>,
    extensions: axum::http::Extensions,
    body: Body<PasswordLogin>,
) -> Result<Json<PoolSession>, PoolError> {
    let body = PoolError::json_body(body)?;
    let client = client_of(&extensions);
    Ok(Json(
        pool.login_password(&body.login, &body.password, &client)
            .await?,
    ))
}

pub(super) async fn challenge(
    State(pool): State<Pool>,
) -> Result<Json<decloud_protocol::pool::Challenge>, PoolError> {
    let nonce = random_hex(16);
    let deadline = unix_now() + CHALLENGE_TTL_SECS;
    pool.store().insert_challenge(&nonce, deadline).await?;
    let scheduler = pool.inner.config.scheduler;
    Ok(Json(decloud_protocol::pool::Challenge {
        message: decloud_protocol::pool::login_message(&nonce, scheduler, deadline),
        nonce,
        deadline,
        scheduler,
    }))
}

pub(super) async fn login_wallet(
    State(pool): State<Pool>,
    body: Body<WalletLogin>,
) -> Result<Json<PoolSession>, PoolError> {
    let body = PoolError::json_body(body)?;
    if body.nonce.len() > 64 || !body.nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(PoolError::BadRequest(
            "malformed nonce: use the one GET /v1/pool/login/challenge returned".into(),
        ));
    }
    let message = decloud_protocol::pool::login_message(
        &body.nonce,
        pool.inner.config.scheduler,
        body.deadline,
    );
    let signer = body
        .signature
        .trim()
        .parse::<alloy::primitives::Signature>()
        .ok()
        .and_then(|s| s.recover_address_from_msg(message.as_bytes()).ok())
        .ok_or_else(|| {
            PoolError::BadRequest(
                "malformed signature: sign the challenge's message (EIP-191)".into(),
            )
        })?;
    if signer != body.address {
        return Err(PoolError::Unauthorized(format!(
            "the login is signed by {signer}, not by {}: sign with that wallet",
            body.address
        )));
    }
    if !pool
        .store()
        .take_challenge(&body.nonce, body.deadline, unix_now())
        .await?
    {
        return Err(PoolError::Unauthorized(
            "unknown, used or expired challenge: get a new one".into(),
        ));
    }
    let name = body.address.to_string();
    Ok(Json(pool.login_identity("wallet", &name, &name).await?))
}

pub(super) async fn login_certificate(
    State(pool): State<Pool>,
    certificate: Option<Extension<ClientCertificate>>,
) -> Result<Json<PoolSession>, PoolError> {
    let Some(Extension(chain)) = certificate else {
        return Err(PoolError::Unauthorized(
            "no client certificate: connect over TLS with a certificate from a CA this pool trusts"
                .into(),
        ));
    };
    let (subject, cn) = certificate_identity(&chain)?;
    Ok(Json(pool.login_identity("x509", &subject, &cn).await?))
}

pub(super) async fn login_oidc(
    State(pool): State<Pool>,
    body: Body<OidcLogin>,
) -> Result<Json<PoolSession>, PoolError> {
    let body = PoolError::json_body(body)?;
    let (issuer, subject) = pool.inner.issuers.verify(body.id_token.trim()).await?;
    let host = reqwest::Url::parse(&issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    Ok(Json(
        pool.login_identity(
            "oidc",
            &format!("{issuer}|{subject}"),
            &format!("{subject}@{host}"),
        )
        .await?,
    ))
}
