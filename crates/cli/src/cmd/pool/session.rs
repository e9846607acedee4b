//! Logging in to the pool: the password, OpenID Connect, wallet and client-certificate logins
//! that open a session, and reading the secrets they need.

use std::path::Path;

use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, bail};
use decloud_pool::wire::{OidcLogin, PasswordLogin, PoolSession, WalletLogin};

use super::api::Api;

/// The environment variable holding a password (the login's, or a new user's).
const PASSWORD_ENV: &str = "DECLOUD_POOL_PASSWORD";

pub(super) fn read_password(file: Option<&Path>, prompt: &str) -> anyhow::Result<Option<String>> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading the password file {}", file.display()))?;
        return Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()));
    }
    if let Ok(p) = std::env::var(PASSWORD_ENV)
        && !p.is_empty()
    {
        return Ok(Some(p));
    }
    if prompt.is_empty() || !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Ok(None);
    }
    Ok(Some(
        rpassword::prompt_password(prompt).context("reading the password")?,
    ))
}

/// A secret read from `file` (`-`: standard input), trimmed; refused when empty.
fn read_secret_file(file: &Path, what: &str) -> anyhow::Result<String> {
    let text = if file == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .with_context(|| format!("reading {what} from standard input"))?;
        text
    } else {
        std::fs::read_to_string(file)
            .with_context(|| format!("reading {what} from {}", file.display()))?
    };
    let text = text.trim().to_owned();
    if text.is_empty() {
        bail!("{what} is empty: pass a file that holds it");
    }
    Ok(text)
}

/// An OpenID Connect login with the ID token held in `file` (`-`: standard input).
pub(super) async fn login_oidc(api: &Api, file: &Path) -> anyhow::Result<PoolSession> {
    let id_token = read_secret_file(file, "the ID token")?;
    api.post("/v1/pool/login/oidc", &OidcLogin { id_token })
        .await
}

/// A password login as `user`, the password from `password_file`, else DECLOUD_POOL_PASSWORD,
/// else a prompt.
pub(super) async fn login_password(
    api: &Api,
    user: String,
    password_file: Option<&Path>,
) -> anyhow::Result<PoolSession> {
    let password = read_password(password_file, "password: ")?
        .with_context(|| format!("no password: pass --password-file or set {PASSWORD_ENV}"))?;
    api.post(
        "/v1/pool/login/password",
        &PasswordLogin {
            login: user,
            password,
        },
    )
    .await
}

/// A wallet login: `signer` signs the pool's single-use challenge. The message signed is made
/// here from the challenge's parts, never taken as the scheduler sent it, so a scheduler cannot
/// get the wallet to sign any other text.
pub(super) async fn login_wallet(
    api: &Api,
    signer: &PrivateKeySigner,
) -> anyhow::Result<PoolSession> {
    let challenge: decloud_protocol::pool::Challenge = api.get("/v1/pool/login/challenge").await?;
    if challenge.nonce.is_empty()
        || challenge.nonce.len() > 64
        || !challenge.nonce.bytes().all(|b| b.is_ascii_hexdigit())
    {
        bail!("the scheduler's login challenge is malformed: check --scheduler");
    }
    let message = decloud_protocol::pool::login_message(
        &challenge.nonce,
        challenge.scheduler,
        challenge.deadline,
    );
    let signature = signer
        .sign_message_sync(message.as_bytes())
        .context("signing the login challenge")?;
    api.post(
        "/v1/pool/login/wallet",
        &WalletLogin {
            address: signer.address(),
            nonce: challenge.nonce,
            deadline: challenge.deadline,
            signature: signature.to_string(),
        },
    )
    .await
}

/// A client-certificate login: mutual TLS to the pinned scheduler, presenting `cert` (PEM
/// chain) with its PKCS#8 `key`.
pub(super) async fn login_certificate(
    api: &Api,
    pinned: &decloud_service::transport::PinnedUrl,
    cert: &Path,
    key: &Path,
) -> anyhow::Result<PoolSession> {
    let chain = decloud_service::tls::load_certificates(cert)?;
    let key = decloud_service::tls::load_private_key(key)?;
    let api = Api {
        http: decloud_service::transport::http_client_with_certificate(
            pinned,
            reqwest::Client::builder(),
            chain,
            key,
        )?,
        url: api.url.clone(),
        token: None,
    };
    api.post("/v1/pool/login/certificate", &serde_json::json!({}))
        .await
        .map_err(|e| {
            // A certificate of a CA the pool does not trust fails the handshake itself: say so
            // rather than leave the reader with a TLS alert.
            if e.to_string().starts_with("cannot reach the scheduler") {
                anyhow::anyhow!(
                    "{e} (a scheduler refuses the handshake of a certificate whose CA is not in its pool's trust list)"
                )
            } else {
                e
            }
        })
}
