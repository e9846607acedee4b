//! Certificate authorities made by a test, and the client certificates they sign (mutual TLS
//! logins to a pool).

use decloud_service::tls::CertificateDer;

/// A certificate authority of the test's own.
pub struct Authority {
    params: rcgen::CertificateParams,
    key: rcgen::KeyPair,
    der: CertificateDer<'static>,
}

/// A client certificate and its key, as DER and as the PEM files a user holds.
pub struct ClientCertificate {
    /// The certificate (DER).
    pub der: CertificateDer<'static>,
    /// Its PKCS#8 private key (DER).
    pub key_der: Vec<u8>,
    /// The certificate (PEM).
    pub pem: String,
    /// Its PKCS#8 private key (PEM).
    pub key_pem: String,
}

impl Authority {
    /// A new self-signed CA named `name`.
    pub fn new(name: &str) -> Self {
        let key = rcgen::KeyPair::generate().expect("a key pair");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let der = params
            .self_signed(&key)
            .expect("a CA certificate")
            .der()
            .clone();
        Self { params, key, der }
    }

    /// Its certificate (what a pool's trust list holds).
    pub fn certificate(&self) -> CertificateDer<'static> {
        self.der.clone()
    }

    /// A client certificate for common name `cn`, signed by this CA.
    pub fn client(&self, cn: &str) -> ClientCertificate {
        let key = rcgen::KeyPair::generate().expect("a key pair");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let issuer = rcgen::Issuer::from_params(&self.params, &self.key);
        let cert = params
            .signed_by(&key, &issuer)
            .expect("a client certificate");
        ClientCertificate {
            der: cert.der().clone(),
            key_der: key.serialize_der(),
            pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}
