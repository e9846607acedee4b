//! OpenID Connect ID tokens from issuers the pool trusts: the signature is checked against the
//! issuer's JWKS (fetched over HTTP, cached, fetched again for an unknown key id at most once a
//! minute), then `iss`, `aud`, `exp` and `nbf`. Only asymmetric algorithms are accepted (never
//! `none` nor a shared-secret HMAC).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::PoolError;

/// An issuer the pool trusts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcIssuer {
    /// Its `iss` (e.g. `https://accounts.example.com`).
    pub issuer: String,
    /// The `aud` its tokens must carry: the pool's client id at that issuer.
    pub audience: String,
    /// Where its keys are (its discovery document's `jwks_uri`); empty: read from the issuer's
    /// discovery document, `{issuer}/.well-known/openid-configuration`, whose `issuer` must be
    /// this one.
    #[serde(default)]
    pub jwks_url: String,
}

/// The claims the pool reads.
#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
}

/// How long fetched keys are used before they are fetched again.
const JWKS_TTL: Duration = Duration::from_secs(3600);
/// Shortest time between two fetches of one issuer's keys.
const MIN_REFETCH: Duration = Duration::from_secs(60);
/// Largest JWKS document read.
const MAX_JWKS_BYTES: u64 = 256 * 1024;
/// Seconds of clock difference tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;

/// Checks ID tokens for the configured issuers.
pub struct Verifier {
    issuers: Vec<OidcIssuer>,
    http: reqwest::Client,
    keys: Mutex<HashMap<String, (Instant, JwkSet)>>,
    allow_private: bool,
}

/// The fields of an OpenID discovery document the pool reads.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl Verifier {
    /// A verifier of `issuers`' tokens. Their JWKS URLs must be `https://`, or `http://` on a
    /// loopback or private address when `allow_private` (a devnet, tests).
    pub fn new(issuers: Vec<OidcIssuer>, allow_private: bool) -> Result<Self, PoolError> {
        for i in &issuers {
            // Without a JWKS URL the keys are found through the issuer's own URL.
            let (what, at) = if i.jwks_url.is_empty() {
                ("issuer URL", &i.issuer)
            } else {
                ("JWKS URL", &i.jwks_url)
            };
            let url = reqwest::Url::parse(at).map_err(|_| {
                PoolError::Config(format!(
                    "{what} {at:?} of issuer {} is not a URL: copy its discovery document's jwks_uri, or give the issuer's https URL",
                    i.issuer
                ))
            })?;
            if url.scheme() != "https" && !allow_private {
                return Err(PoolError::Config(format!(
                    "{what} of issuer {} is not https: keys fetched in clear can be forged",
                    i.issuer
                )));
            }
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| PoolError::Config(format!("cannot build an HTTP client: {e}")))?;
        Ok(Self {
            issuers,
            http,
            keys: Mutex::new(HashMap::new()),
            allow_private,
        })
    }

    /// The `(issuer, subject)` of a valid ID token; a refusal says why without echoing the
    /// token.
    pub async fn verify(&self, token: &str) -> Result<(String, String), PoolError> {
        let refuse = |why: &str| PoolError::Unauthorized(format!("ID token refused: {why}"));
        let header = jsonwebtoken::decode_header(token).map_err(|_| refuse("not a JWT"))?;
        // The issuer is read before the signature is checked only to pick its keys; the
        // validation below checks it again.
        let unverified: Claims = {
            let payload = token.split('.').nth(1).ok_or_else(|| refuse("not a JWT"))?;
            use base64::Engine;
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .map_err(|_| refuse("not a JWT"))?;
            serde_json::from_slice(&bytes).map_err(|_| refuse("no iss or sub claim"))?
        };
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.issuer == unverified.iss)
            .ok_or_else(|| refuse("its issuer is not one this pool trusts"))?;
        if !matches!(
            header.alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
                | Algorithm::ES256
                | Algorithm::ES384
                | Algorithm::EdDSA
        ) {
            return Err(refuse("its algorithm is not an asymmetric signature"));
        }
        let kid = header.kid.clone().unwrap_or_default();
        let key = self.key(issuer, &kid).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&issuer.issuer]);
        validation.set_audience(&[&issuer.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            refuse(match e.kind() {
                ErrorKind::ExpiredSignature => "it has expired: log in at the issuer again",
                ErrorKind::ImmatureSignature => "it is not valid yet (nbf)",
                ErrorKind::InvalidIssuer => "wrong issuer",
                ErrorKind::InvalidAudience => "it is meant for another audience",
                ErrorKind::InvalidSignature => "its signature does not match the issuer's keys",
                ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
                _ => "it cannot be checked",
            })
        })?;
        Ok((data.claims.iss, data.claims.sub))
    }

    /// The key `kid` of `issuer`, from the cache or fetched.
    async fn key(&self, issuer: &OidcIssuer, kid: &str) -> Result<DecodingKey, PoolError> {
        let mut keys = self.keys.lock().await;
        let cached = keys.get(&issuer.issuer);
        let find = |set: &JwkSet| {
            if kid.is_empty() && set.keys.len() == 1 {
                set.keys.first().cloned()
            } else {
                set.find(kid).cloned()
            }
        };
        if let Some((at, set)) = cached
            && at.elapsed() < JWKS_TTL
            && let Some(jwk) = find(set)
        {
            return DecodingKey::from_jwk(&jwk)
                .map_err(|_| PoolError::Unauthorized("ID token refused: unusable key".into()));
        }
        if let Some((at, _)) = cached
            && at.elapsed() < MIN_REFETCH
        {
            return Err(PoolError::Unauthorized(
                "ID token refused: its key is not among the issuer's keys".into(),
            ));
        }
        let set = self.fetch(issuer).await?;
        let jwk = find(&set);
        keys.insert(issuer.issuer.clone(), (Instant::now(), set));
        let jwk = jwk.ok_or_else(|| {
            PoolError::Unauthorized(
                "ID token refused: its key is not among the issuer's keys".into(),
            )
        })?;
        DecodingKey::from_jwk(&jwk)
            .map_err(|_| PoolError::Unauthorized("ID token refused: unusable key".into()))
    }

    async fn fetch(&self, issuer: &OidcIssuer) -> Result<JwkSet, PoolError> {
        let jwks_url = if issuer.jwks_url.is_empty() {
            self.discover(issuer).await?
        } else {
            issuer.jwks_url.clone()
        };
        let failed = |why: String| {
            PoolError::Issuer(format!(
                "cannot fetch the keys of issuer {} from {jwks_url}: {why}; try again later",
                issuer.issuer
            ))
        };
        let body = self.get_document(&jwks_url).await.map_err(failed)?;
        serde_json::from_slice(&body).map_err(|_| failed("not a JWKS document".into()))
    }

    /// The `jwks_uri` of `issuer`'s discovery document, which must name the issuer itself (a
    /// document naming another issuer could hand out that issuer's keys as this one's).
    async fn discover(&self, issuer: &OidcIssuer) -> Result<String, PoolError> {
        let at = format!(
            "{}/.well-known/openid-configuration",
            issuer.issuer.trim_end_matches('/')
        );
        let failed = |why: String| {
            PoolError::Issuer(format!(
                "cannot read the discovery document of issuer {} at {at}: {why}",
                issuer.issuer
            ))
        };
        let body = self.get_document(&at).await.map_err(failed)?;
        let document: Discovery = serde_json::from_slice(&body)
            .map_err(|_| failed("not a discovery document (issuer, jwks_uri)".into()))?;
        if document.issuer != issuer.issuer {
            return Err(failed(format!(
                "it names issuer {:?}: configure the issuer exactly as its tokens' iss",
                document.issuer
            )));
        }
        match reqwest::Url::parse(&document.jwks_uri) {
            Ok(url) if url.scheme() == "https" || self.allow_private => Ok(document.jwks_uri),
            _ => Err(failed("its jwks_uri is not an https URL".into())),
        }
    }

    /// The body of a small JSON document at `url`; the error says why, without the URL.
    async fn get_document(&self, url: &str) -> Result<Vec<u8>, String> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        use decloud_service::transport::{BodyError, read_body_capped};
        read_body_capped(response, MAX_JWKS_BYTES)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge { .. } => "the document is too large".to_owned(),
                BodyError::Transfer(e) => e.without_url().to_string(),
            })
    }
}
