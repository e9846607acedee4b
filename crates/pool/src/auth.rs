//! Who is asking: sessions from the four kinds of credentials, and the checks every request
//! goes through (the right for the action, then the object's bits).

use axum::http::{HeaderMap, header};
use decloud_access::{Action, Perm, Right, relation_of};

use crate::store::{Caller, Meta};
use crate::wire::PoolSession;
use crate::{Credential, Pool, PoolError, random_hex, sha256_hex, unix_now, unix_now_ms};

/// The sha256 under which a session token is stored.
pub(crate) fn token_hash(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

impl Pool {
    /// The logged-in user of the request's bearer token: refused when there is none, when the
    /// session expired, or when the user is pending.
    pub async fn caller(&self, headers: &HeaderMap) -> Result<Caller, PoolError> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                PoolError::Unauthorized(
                    "missing `Authorization: Bearer <token>`: log in first (`decloud pool login`)"
                        .into(),
                )
            })?;
        let name = self
            .store()
            .session(&token_hash(token.trim()), unix_now())
            .await?
            .ok_or_else(|| {
                PoolError::Unauthorized("unknown or expired session: log in again".into())
            })?;
        let user = self.store().user(&name).await?.ok_or_else(|| {
            PoolError::Unauthorized(format!("user {name} no longer exists: log in again"))
        })?;
        if !user.active {
            return Err(PoolError::Pending(name));
        }
        Ok(Caller {
            groups: self.store().groups_of(&name).await?,
            name,
            right: user.right,
        })
    }

    /// A new session for `user`.
    pub(crate) async fn open_session(&self, user: &str) -> Result<PoolSession, PoolError> {
        let token = format!("dcp_{}", random_hex(32));
        let expires_at = unix_now() + self.inner.config.session_ttl.as_secs();
        self.store()
            .insert_session(&token_hash(&token), user, expires_at)
            .await?;
        Ok(PoolSession {
            token,
            user: user.to_owned(),
            expires_at,
        })
    }

    /// A login by password, throttled per login and per client.
    pub(crate) async fn login_password(
        &self,
        login: &str,
        password: &str,
        client: &str,
    ) -> Result<PoolSession, PoolError> {
        let (by_login, by_client) = (format!("login:{login}"), format!("client:{client}"));
        let keys = [by_login.as_str(), by_client.as_str()];
        self.inner
            .throttle
            .check(&keys, unix_now_ms())
            .map_err(|retry_after| PoolError::TooManyRequests {
                what: "failed password attempts",
                retry_after,
            })?;
        let user = self.store().user(login).await?;
        let hash = user.as_ref().and_then(|u| u.password_hash.clone());
        let login_owned = password.to_owned();
        // argon2 is slow on purpose: off the async threads.
        let ok = tokio::task::spawn_blocking(move || match hash {
            Some(hash) => crate::password::verify(&login_owned, &hash),
            None => {
                // The same work for an unknown login, so timing tells nothing.
                let _ = crate::password::verify(&login_owned, DUMMY_HASH);
                false
            }
        })
        .await
        .unwrap_or(false);
        if !ok {
            // Timed when the failure is known: argon2's own time must not eat into the delay.
            self.inner.throttle.failed(&keys, unix_now_ms());
            tracing::info!(login, client, "password login refused");
            return Err(PoolError::Unauthorized(
                "wrong login or password: check both (repeated failures slow down)".into(),
            ));
        }
        self.inner.throttle.succeeded(&keys);
        let user = user.expect("verified against its hash");
        if !user.active {
            return Err(PoolError::Pending(user.name));
        }
        self.open_session(&user.name).await
    }

    /// A login by an identity a credential proved (`wallet`, `x509`, `oidc`): its user, or a
    /// new one named after `name_hint`, pending unless the pool accepts new identities (a
    /// wallet's user is active at once, as a visitor: it can read what it owns, e.g. its deals'
    /// jobs).
    pub(crate) async fn login_identity(
        &self,
        kind: &str,
        subject: &str,
        name_hint: &str,
    ) -> Result<PoolSession, PoolError> {
        let name = match self.store().identity(kind, subject).await? {
            Some(name) => name,
            None => {
                let credential = match kind {
                    "wallet" => Credential::Wallet,
                    "x509" => Credential::Certificate,
                    _ => Credential::OpenId,
                };
                let (right, active) = credential
                    .new_identity(self.inner.config.auto_accept)
                    .unwrap_or((Right::None, false));
                let mut name = sanitize(name_hint);
                if kind != "wallet" && self.store().user(&name).await?.is_some() {
                    name = format!("{name}-{}", &sha256_hex(subject.as_bytes())[..8]);
                }
                self.store()
                    .create_identity(kind, subject, &name, right, active, unix_now())
                    .await?;
                tracing::info!(kind, user = %name, active, "new identity");
                self.store().identity(kind, subject).await?.unwrap_or(name)
            }
        };
        let user = self
            .store()
            .user(&name)
            .await?
            .ok_or_else(|| PoolError::Corrupt(format!("identity of missing user {name}")))?;
        if !user.active {
            return Err(PoolError::Pending(name));
        }
        self.open_session(&name).await
    }
}

/// A user name from a credential's subject: letters, digits and `.-_@:` only.
fn sanitize(hint: &str) -> String {
    let name: String = hint
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || ".-_@:".contains(*c))
        .take(64)
        .collect();
    if name.is_empty() { "user".into() } else { name }
}

/// A valid argon2id hash of a random password, verified against when the login is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$5p8Y0Dq9v0jPZcXrO4tVnDZWWNgk1O5a3PqzJmUo6bA";

/// Refuses `action` unless `caller`'s right allows it (rights × action, the first check).
pub(crate) fn allow(caller: &Caller, action: Action) -> Result<(), PoolError> {
    // A caller is active: `Pool::caller` refuses pending users.
    if crate::may_act(true, caller.right, action) {
        Ok(())
    } else {
        Err(PoolError::Forbidden(format!(
            "your right ({}) does not allow {}: ask an administrator (`decloud pool user set-right`)",
            caller.right.as_str(),
            action.as_str()
        )))
    }
}

/// Whether `caller` may `perm` an object of `meta` by its bits (an administrator always).
pub(crate) fn bits_allow(caller: &Caller, meta: &Meta, perm: Perm) -> bool {
    let relation = relation_of(
        &caller.name,
        &caller.groups,
        caller.right.is_administrator(),
        &meta.owner,
        meta.group.as_ref(),
    );
    meta.mode.allows(relation, perm)
}

/// Refuses unless the bits let `caller` `perm` the object (the second check).
pub(crate) fn bits(caller: &Caller, meta: &Meta, perm: Perm, what: &str) -> Result<(), PoolError> {
    if bits_allow(caller, meta, perm) {
        Ok(())
    } else {
        Err(PoolError::Forbidden(format!(
            "the access bits of {what} ({}, owner {}) do not let you {}: ask its owner",
            meta.mode.symbolic(),
            meta.owner,
            match perm {
                Perm::Read => "read it",
                Perm::Write => "change it",
                Perm::Execute => "use it",
            }
        )))
    }
}

/// The identity and a user-name hint of a verified client certificate chain: its subject and
/// issuer names, and its common name.
pub(crate) fn certificate_identity(
    chain: &decloud_service::tls::ClientCertificate,
) -> Result<(String, String), PoolError> {
    let der = chain.0.first().ok_or_else(|| {
        PoolError::Unauthorized("no client certificate: connect with one (mutual TLS)".into())
    })?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).map_err(|_| {
        PoolError::Unauthorized("unreadable client certificate: present an X.509 one".into())
    })?;
    let subject = cert.subject().to_string();
    let issuer = cert.issuer().to_string();
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or("user")
        .to_owned();
    Ok((format!("{subject} (issuer {issuer})"), cn))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_dummy_hash_is_a_readable_argon2id_hash() {
        assert!(argon2::password_hash::PasswordHash::new(super::DUMMY_HASH).is_ok());
        assert!(!crate::password::verify("anything", super::DUMMY_HASH));
    }
}
