//! TLS 1.3 for the services without a certificate authority: a service keeps one key pair
//! (created at its first start, in a file only its user reads), presents a self-signed
//! certificate for it, and is known by the **fingerprint of its public key** (SHA-256 of the
//! SubjectPublicKeyInfo). Clients pin that fingerprint and refuse any other key, whoever signed
//! it; the names in the certificate do not matter.
//!
//! ```no_run
//! # fn f() -> Result<(), decloud_service::tls::TlsError> {
//! use decloud_service::tls::{TlsIdentity, client_config};
//! let identity = TlsIdentity::load_or_create(std::path::Path::new("/var/lib/decloud/tls.key"))?;
//! println!("pin this key: {}", identity.fingerprint());
//! let http = reqwest::Client::builder()
//!     .tls_backend_preconfigured(client_config(identity.fingerprint()))
//!     .build();
//! # Ok(()) }
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

/// A DER certificate (client CAs, chains): rustls's type, so that callers need no rustls.
pub use rustls::pki_types::CertificateDer;

/// The certificates of the PEM file at `path` (a trust list of client CAs): at least one.
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    let bytes = std::fs::read(path).map_err(|source| TlsError::Io {
        path: path.to_owned(),
        source,
    })?;
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| TlsError::BadCertificates(path.to_owned()))?;
    if certificates.is_empty() {
        return Err(TlsError::BadCertificates(path.to_owned()));
    }
    Ok(certificates)
}

/// The PKCS#8 DER of the first private key in the PEM file at `path` (a client certificate's
/// key, for [`client_config_with_certificate`]).
pub fn load_private_key(path: &Path) -> Result<Vec<u8>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    let bytes = std::fs::read(path).map_err(|source| TlsError::Io {
        path: path.to_owned(),
        source,
    })?;
    PrivatePkcs8KeyDer::from_pem_slice(&bytes)
        .map(|key| key.secret_pkcs8_der().to_vec())
        .map_err(|_| TlsError::BadPrivateKey(path.to_owned()))
}

/// What went wrong with a service's key or its TLS setup.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The key file could not be read or written.
    #[error("TLS key {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The key file holds no key this service can use.
    #[error(
        "TLS key {0} is not a PKCS#8 PEM private key: move it away to create a new one (its fingerprint changes: clients must pin the new one)"
    )]
    BadKey(PathBuf),
    /// A file that holds no PEM certificate.
    #[error(
        "{0} holds no PEM certificate: give the CA's certificate (-----BEGIN CERTIFICATE-----)"
    )]
    BadCertificates(PathBuf),
    /// A client's key file that holds no PKCS#8 PEM private key.
    #[error(
        "{0} holds no PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----): convert it with `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8`"
    )]
    BadPrivateKey(PathBuf),
    /// A fingerprint that is not 64 hex digits.
    #[error(
        "TLS fingerprint {0:?} is not 64 hex digits (optionally after `sha256:`): copy it as the service printed it"
    )]
    BadFingerprint(String),
    /// The certificate or the TLS configuration could not be made.
    #[error("cannot set up TLS: {0}")]
    Setup(String),
}

/// The SHA-256 of a public key's SubjectPublicKeyInfo: what clients pin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER-encoded SubjectPublicKeyInfo.
    pub fn of_spki(spki_der: &[u8]) -> Self {
        Fingerprint(Sha256::digest(spki_der).into())
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = TlsError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let digits = text.trim().strip_prefix("sha256:").unwrap_or(text.trim());
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(digits, &mut bytes)
            .map_err(|_| TlsError::BadFingerprint(text.to_owned()))?;
        Ok(Fingerprint(bytes))
    }
}

/// A service's TLS identity: its key pair and the self-signed certificate it presents.
pub struct TlsIdentity {
    key_der: Vec<u8>,
    cert_der: Vec<u8>,
    fingerprint: Fingerprint,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("TlsIdentity")
            .field("fingerprint", &self.fingerprint.to_string())
            .finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// The identity whose key is at `path`: read if the file exists, otherwise a new key pair
    /// written there first (readable by this user only), so the fingerprint stays the same
    /// from one start to the next.
    pub fn load_or_create(path: &Path) -> Result<Self, TlsError> {
        let io = |source| TlsError::Io {
            path: path.to_owned(),
            source,
        };
        let key = match std::fs::read_to_string(path) {
            Ok(pem) => {
                rcgen::KeyPair::from_pem(&pem).map_err(|_| TlsError::BadKey(path.to_owned()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = new_key()?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                let mut file = std::fs::OpenOptions::new();
                file.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
                let mut file = file.open(path).map_err(io)?;
                file.write_all(key.serialize_pem().as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(io)?;
                key
            }
            Err(e) => return Err(io(e)),
        };
        Self::from_key(key)
    }

    /// A new identity held in memory only (tests, throwaway services).
    pub fn generate() -> Result<Self, TlsError> {
        Self::from_key(new_key()?)
    }

    fn from_key(key: rcgen::KeyPair) -> Result<Self, TlsError> {
        let setup = |e: rcgen::Error| TlsError::Setup(e.to_string());
        let params = rcgen::CertificateParams::new(vec!["decloud".to_owned()]).map_err(setup)?;
        let cert = params.self_signed(&key).map_err(setup)?;
        Ok(Self {
            fingerprint: Fingerprint::of_spki(&rcgen::PublicKeyData::subject_public_key_info(&key)),
            key_der: key.serialize_der(),
            cert_der: cert.der().to_vec(),
        })
    }

    /// What clients pin.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The server side: TLS 1.3 only, this certificate, HTTP/1.1.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        self.server_config_with_clients(&[])
    }

    /// [`TlsIdentity::server_config`] that also asks clients for a certificate (mutual TLS):
    /// a client may present none, but one it presents must chain to one of `client_cas`
    /// (DER certificates of the CAs the pool trusts), or the handshake fails. With no CA it
    /// asks for none. The verified chain reaches handlers as a [`ClientCertificate`].
    pub fn server_config_with_clients(
        &self,
        client_cas: &[CertificateDer<'static>],
    ) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError::Setup(e.to_string()))?;
        let builder = if client_cas.is_empty() {
            builder.with_no_client_auth()
        } else {
            let mut roots = rustls::RootCertStore::empty();
            for ca in client_cas {
                roots.add(ca.clone()).map_err(|e| {
                    TlsError::Setup(format!("a trusted client CA is not usable: {e}"))
                })?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| TlsError::Setup(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        };
        let mut config = builder
            .with_single_cert(
                vec![CertificateDer::from(self.cert_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
            )
            .map_err(|e| TlsError::Setup(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn new_key() -> Result<rcgen::KeyPair, TlsError> {
    rcgen::KeyPair::generate().map_err(|e| TlsError::Setup(e.to_string()))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The client side for a service known by `pin`: TLS 1.3 only, and the server must present a
/// certificate for exactly that public key (no certificate authority, no name check). Give it
/// to `reqwest::ClientBuilder::tls_backend_preconfigured`.
pub fn client_config(pin: Fingerprint) -> rustls::ClientConfig {
    let provider = provider();
    let algorithms = provider.signature_verification_algorithms;
    rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("the provider supports TLS 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedKey { pin, algorithms }))
        .with_no_client_auth()
}

/// [`client_config`] that also presents a client certificate (mutual TLS): `chain` (the
/// client's certificate first, DER) and its PKCS#8 `key`.
pub fn client_config_with_certificate(
    pin: Fingerprint,
    chain: Vec<CertificateDer<'static>>,
    key_pkcs8: Vec<u8>,
) -> Result<rustls::ClientConfig, TlsError> {
    let provider = provider();
    let algorithms = provider.signature_verification_algorithms;
    rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedKey { pin, algorithms }))
        .with_client_auth_cert(
            chain,
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8)),
        )
        .map_err(|e| TlsError::Setup(format!("unusable client certificate or key: {e}")))
}

/// The certificate chain a client presented over mutual TLS (its own first), already verified
/// against the server's trusted CAs: handlers find it as a request extension
/// (`Option<axum::Extension<ClientCertificate>>`).
#[derive(Clone, Debug)]
pub struct ClientCertificate(pub Arc<Vec<CertificateDer<'static>>>);

/// Accepts a server certificate iff its public key has the pinned fingerprint; checks the
/// handshake's signatures with that key as usual.
#[derive(Debug)]
struct PinnedKey {
    pin: Fingerprint,
    algorithms: WebPkiSupportedAlgorithms,
}

/// The server presented another key than the pinned one. (rustls shows it with `Debug`, so
/// that prints the sentence too.)
#[derive(thiserror::Error)]
#[error(
    "the server's key has fingerprint {found}, not the pinned {pinned}: it is not the service you pinned (or its key changed)"
)]
struct PinMismatch {
    found: Fingerprint,
    pinned: Fingerprint,
}

impl std::fmt::Debug for PinMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl ServerCertVerifier for PinnedKey {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = webpki::EndEntityCert::try_from(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        let found = Fingerprint::of_spki(cert.subject_public_key_info().as_ref());
        if found == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(PinMismatch {
                    found,
                    pinned: self.pin,
                }))),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
