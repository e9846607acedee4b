//! How a service is reached: over TLS 1.3 with a key its clients pin, or (on a devnet, when
//! asked) over plain HTTP; and how a client names the key it expects.
//!
//! A **pinned URL** carries the fingerprint of the service's key in its fragment:
//! `https://10.0.0.5:7800#sha256:9f86d0...`. The fragment never leaves the client (HTTP does
//! not send it), the fingerprint is public anyway, and one string is all a profile, a flag or
//! an on-chain record needs to hold. Every client of a decloud service builds its HTTP client
//! with [`http_client`], which pins that key and names it in each request's
//! [`PIN_HEADER`]; a TLS service answers nothing but `/health` to a request that does not name
//! its key, so a client that forgot to pin is told so rather than silently trusting whatever
//! answered.
//!
//! ```
//! use decloud_service::transport::PinnedUrl;
//! let url: PinnedUrl = "https://127.0.0.1:7800#sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//!     .parse()
//!     .unwrap();
//! assert_eq!(url.base(), "https://127.0.0.1:7800");
//! assert!(url.pin().is_some());
//! assert_eq!(url.join("/v1/info"), "https://127.0.0.1:7800/v1/info");
//! ```

use std::sync::Arc;

use crate::tls::{Fingerprint, TlsError, TlsIdentity, client_config};

/// The request header in which a client names the fingerprint of the key it pinned.
pub const PIN_HEADER: &str = "decloud-pin";

/// How a service talks to its clients.
#[derive(Clone, Debug)]
pub enum Transport {
    /// TLS 1.3 with this identity; clients pin its fingerprint.
    Tls(Arc<TlsIdentity>),
    /// Plain HTTP. Only for a devnet, and only when the operator asks for it
    /// (`--insecure-http`): anyone on the path reads and changes everything.
    InsecureHttp,
}

impl Transport {
    /// TLS with a fresh in-memory key (tests and throwaway services).
    pub fn ephemeral() -> Self {
        // Generating a P-256 key fails only when the system has no randomness at all.
        Self::Tls(Arc::new(
            TlsIdentity::generate().expect("the system's random generator works"),
        ))
    }

    /// TLS with the key kept at `path` (created at the first start, then the same forever).
    pub fn with_key_file(path: &std::path::Path) -> Result<Self, TlsError> {
        Ok(Self::Tls(Arc::new(TlsIdentity::load_or_create(path)?)))
    }

    /// The fingerprint clients pin, when the service speaks TLS.
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        match self {
            Self::Tls(identity) => Some(identity.fingerprint()),
            Self::InsecureHttp => None,
        }
    }

    /// Refuses plain HTTP on a chain that is not a devnet (`is_devnet` says which it is).
    pub fn check_allowed(&self, chain_id: u64, is_devnet: bool) -> Result<(), TransportError> {
        match self {
            Self::InsecureHttp if !is_devnet => Err(TransportError::InsecureOffDevnet(chain_id)),
            _ => Ok(()),
        }
    }
}

/// What is wrong with a service URL or a transport.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Not an `http://` or `https://` URL.
    #[error(
        "{0:?} is not a service URL: expected https://HOST:PORT#sha256:FINGERPRINT (or http://HOST:PORT on a devnet)"
    )]
    NotHttp(String),
    /// A pin on an `http://` URL: plain HTTP has no key to pin.
    #[error(
        "{0:?} pins a key but speaks plain HTTP: use https:// (the service speaks TLS unless started with --insecure-http)"
    )]
    PinOnPlainHttp(String),
    /// The fragment is not a fingerprint.
    #[error(transparent)]
    BadPin(#[from] TlsError),
    /// Plain HTTP asked for on a chain that is not a devnet.
    #[error(
        "plain HTTP (--insecure-http) is for devnets only and chain {0} is not one: drop the flag, the services then speak TLS"
    )]
    InsecureOffDevnet(u64),
    /// A client certificate offered to a service whose key is not pinned.
    #[error(
        "{0:?} pins no key: a client certificate goes only to a pinned service (https://HOST:PORT#sha256:FINGERPRINT)"
    )]
    Unpinned(String),
    /// The HTTP client could not be built.
    #[error("cannot build an HTTP client: {0}")]
    Client(String),
}

/// A service URL with, for TLS, the fingerprint of the key the service must present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinnedUrl {
    base: String,
    pin: Option<Fingerprint>,
}

impl PinnedUrl {
    /// `base` (`https://host:port[/path]`, no trailing slash) pinned to `pin`.
    pub fn new(base: &str, pin: Option<Fingerprint>) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            pin,
        }
    }

    /// The URL without its pin: what goes on the wire.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The key the service must present, if pinned.
    pub fn pin(&self) -> Option<Fingerprint> {
        self.pin
    }

    /// `path` (starting with `/`) under the base URL.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The same URL with `path` appended to its base and the pin kept.
    pub fn with_path(&self, path: &str) -> Self {
        Self {
            base: self.join(path),
            pin: self.pin,
        }
    }
}

impl std::fmt::Display for PinnedUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pin {
            Some(pin) => write!(f, "{}#{pin}", self.base),
            None => f.write_str(&self.base),
        }
    }
}

impl std::str::FromStr for PinnedUrl {
    type Err = TransportError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (base, pin) = match text.split_once('#') {
            Some((base, pin)) => (base, Some(pin.parse::<Fingerprint>()?)),
            None => (text, None),
        };
        let scheme = base.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("https") => {}
            Some("http") if pin.is_some() => {
                return Err(TransportError::PinOnPlainHttp(text.to_owned()));
            }
            Some("http") => {}
            _ => return Err(TransportError::NotHttp(text.to_owned())),
        }
        if base.len() <= "https://".len() {
            return Err(TransportError::NotHttp(text.to_owned()));
        }
        Ok(Self::new(base, pin))
    }
}

/// An HTTP client for the service at `url`, from `builder` (timeouts and the like): for a
/// pinned URL, TLS 1.3 that accepts only the pinned key and names it in every request; for an
/// unpinned `https://` URL, the usual certificate-authority check; plain HTTP otherwise.
pub fn http_client(
    url: &PinnedUrl,
    builder: reqwest::ClientBuilder,
) -> Result<reqwest::Client, TransportError> {
    let builder = match url.pin() {
        Some(pin) => {
            let mut headers = reqwest::header::HeaderMap::new();
            let value = reqwest::header::HeaderValue::from_str(&pin.to_string())
                .map_err(|e| TransportError::Client(e.to_string()))?;
            headers.insert(PIN_HEADER, value);
            builder
                .tls_backend_preconfigured(client_config(pin))
                .default_headers(headers)
        }
        None => builder,
    };
    builder
        .build()
        .map_err(|e| TransportError::Client(e.to_string()))
}

/// [`http_client`] that also presents a client certificate (mutual TLS): `chain` (the
/// client's certificate first) and its PKCS#8 `key`. Only to a pinned URL: the certificate
/// identifies its holder, so it goes to no server but the one whose key the client pinned.
pub fn http_client_with_certificate(
    url: &PinnedUrl,
    builder: reqwest::ClientBuilder,
    chain: Vec<crate::tls::CertificateDer<'static>>,
    key_pkcs8: Vec<u8>,
) -> Result<reqwest::Client, TransportError> {
    let pin = url
        .pin()
        .ok_or_else(|| TransportError::Unpinned(url.base().to_owned()))?;
    let config = crate::tls::client_config_with_certificate(pin, chain, key_pkcs8)?;
    let mut headers = reqwest::header::HeaderMap::new();
    let value = reqwest::header::HeaderValue::from_str(&pin.to_string())
        .map_err(|e| TransportError::Client(e.to_string()))?;
    headers.insert(PIN_HEADER, value);
    builder
        .tls_backend_preconfigured(config)
        .default_headers(headers)
        .build()
        .map_err(|e| TransportError::Client(e.to_string()))
}

/// How long a client of a request/response API waits for a connection.
pub const API_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long a client of a request/response API waits for a whole request (long polls set
/// their own).
pub const API_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A client of the request/response API at `url` (a pinned URL as a service prints it, or plain
/// `http://` on a devnet), with [`API_CONNECT_TIMEOUT`] and [`API_REQUEST_TIMEOUT`]: the URL
/// without its pin (to append paths to) and the client.
pub fn api_client(url: &str) -> Result<(String, reqwest::Client), TransportError> {
    let pinned: PinnedUrl = url.parse()?;
    let builder = reqwest::Client::builder()
        .connect_timeout(API_CONNECT_TIMEOUT)
        .timeout(API_REQUEST_TIMEOUT);
    let client = http_client(&pinned, builder)?;
    Ok((pinned.base().to_owned(), client))
}

/// Why a response body was not read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is longer than the reader allows.
    #[error("the body is over {limit} bytes")]
    TooLarge {
        /// The most bytes the reader allows.
        limit: u64,
    },
    /// The transfer failed.
    #[error(transparent)]
    Transfer(#[from] reqwest::Error),
}

/// `response`'s body, refused as soon as it passes `max_bytes` (before any of it is read when
/// the server announces a longer one): a peer cannot make the reader hold more than that.
pub async fn read_body_capped(
    mut response: reqwest::Response,
    max_bytes: u64,
) -> Result<Vec<u8>, BodyError> {
    let too_large = BodyError::TooLarge { limit: max_bytes };
    if response.content_length().is_some_and(|n| n > max_bytes) {
        return Err(too_large);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if (body.len() + chunk.len()) as u64 > max_bytes {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `error` and its causes on one line: reqwest says "error sending request" and leaves the
/// reason (a refused connection, a TLS key that is not the pinned one) to its causes.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = c.source();
    }
    text.replace('\n', " ")
}

/// Answers 421 to a request that does not name `pin` in [`PIN_HEADER`], except `GET /health`
/// (monitoring needs no pin). The answer does not say which key the service has: a client
/// learns it from its operator or the chain, not from the service it is meant to check.
pub(crate) async fn require_pin(
    pin: Fingerprint,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let named = request
        .headers()
        .get(PIN_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<Fingerprint>().ok());
    let health = request.method() == axum::http::Method::GET && request.uri().path() == "/health";
    if named == Some(pin) || health {
        return next.run(request).await;
    }
    let error = if named.is_some() {
        "this service's key is not the one you pinned: check the fingerprint in the URL (#sha256:...) against the one the operator published or the chain holds"
    } else {
        "pin this service's key: give its URL as https://HOST:PORT#sha256:FINGERPRINT (the fingerprint the service printed at start, or the one registered on chain)"
    };
    (
        axum::http::StatusCode::MISDIRECTED_REQUEST,
        axum::Json(serde_json::json!({ "error": error })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIN: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn a_pinned_url_round_trips_and_keeps_its_pin_under_a_path() {
        let url: PinnedUrl = format!("https://h:1/#{PIN}").parse().unwrap();
        assert_eq!(url.base(), "https://h:1");
        assert_eq!(url.to_string(), format!("https://h:1#{PIN}"));
        let blobs = url.with_path("/blobs");
        assert_eq!(blobs.to_string(), format!("https://h:1/blobs#{PIN}"));
        assert_eq!(blobs.to_string().parse::<PinnedUrl>().unwrap(), blobs);
    }

    #[test]
    fn bad_urls_say_what_to_write() {
        let pinned_plain = format!("http://h:1#{PIN}")
            .parse::<PinnedUrl>()
            .unwrap_err();
        assert!(matches!(pinned_plain, TransportError::PinOnPlainHttp(_)));
        let bad_pin = "https://h:1#sha256:abc".parse::<PinnedUrl>().unwrap_err();
        assert!(bad_pin.to_string().contains("64 hex digits"), "{bad_pin}");
        for text in ["ftp://h", "h:1", "https://", ""] {
            let e = text.parse::<PinnedUrl>().unwrap_err();
            assert!(matches!(e, TransportError::NotHttp(_)), "{text}: {e}");
        }
        assert!("http://127.0.0.1:7800".parse::<PinnedUrl>().is_ok());
    }

    #[test]
    fn plain_http_is_for_devnets_only() {
        assert!(Transport::InsecureHttp.check_allowed(31337, true).is_ok());
        let e = Transport::InsecureHttp.check_allowed(1, false).unwrap_err();
        assert!(e.to_string().contains("devnets only"), "{e}");
        assert!(Transport::ephemeral().check_allowed(1, false).is_ok());
    }
}
