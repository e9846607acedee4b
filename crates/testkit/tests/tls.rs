//! The pool's transport: the scheduler speaks TLS 1.3 with a key it publishes on chain, and its
//! workers and clients talk to that key only — not to another self-signed certificate on the
//! same address, not over plain HTTP.

use std::time::Duration;

use alloy::signers::local::PrivateKeySigner;
use axum::Router;
use axum::routing::get;
use decloud_chain::client::Client;
use decloud_scheduler::client::SchedulerClient;
use decloud_service::tls::{CertificateDer, TlsIdentity};
use decloud_service::transport::PinnedUrl;
use decloud_service::{Limits, Service};
use decloud_testkit::Devnet;
use decloud_testkit::pool::{Pool, PoolOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_trust_the_scheduler_key_published_on_chain_and_no_other() {
    let devnet = Devnet::start().await.unwrap();
    let options = PoolOptions {
        workers: 0,
        ..PoolOptions::default()
    };
    let mut pool = Pool::start(&devnet, options).await.unwrap();
    let url = pool.scheduler_url().unwrap();
    let pinned: PinnedUrl = url.parse().unwrap();
    assert!(pinned.base().starts_with("https://"), "{url}");
    let pin = pinned.pin().expect("the scheduler's URL pins its key");

    // The scheduler published the same key with its workerpool when it started.
    let reader = Client::connect(devnet.profile(), None, None).await.unwrap();
    let published = decloud_chain::actions::scheduler_key(&reader, pool.workerpool)
        .await
        .unwrap()
        .expect("a key on chain");
    assert_eq!(
        published.0, pin.0,
        "the chain holds the key the scheduler presents"
    );

    // A worker pinned to it talks to it.
    let worker = SchedulerClient::new(&url, PrivateKeySigner::random(), 1).unwrap();
    assert_eq!(worker.info().await.unwrap().workerpool, pool.workerpool);

    // Plain HTTP to the scheduler's port gets no answer.
    let plain = format!("http://{}", pool.scheduler().unwrap().addr());
    let plain_worker = SchedulerClient::new(&plain, PrivateKeySigner::random(), 1).unwrap();
    let refused = plain_worker.info().await.unwrap_err().to_string();
    assert!(
        refused.contains("cannot talk to the scheduler"),
        "{refused}"
    );

    // The scheduler goes away and an impostor with its own self-signed certificate takes its
    // address, answering like a scheduler would.
    let addr = pool.scheduler().unwrap().addr();
    pool.kill_scheduler().await;
    let info = serde_json::json!({
        "scheduler": PrivateKeySigner::random().address(),
        "workerpool": pool.workerpool,
        "chain_id": devnet.profile().chain_id,
        "hub": devnet.profile().contracts.hub,
        "heartbeat_timeout_secs": 60,
    });
    let router = Router::new().route(
        "/v1/info",
        get(move || {
            let info = info.clone();
            async move { axum::Json(info) }
        }),
    );
    let impostor = TlsIdentity::generate().unwrap();
    let _impostor = bind_retrying(addr, router, &impostor).await;
    // The worker's pooled connection to the stopped scheduler may still be handed out once and
    // fail as "connection closed"; what matters is what the worker says on a fresh handshake,
    // which is the one the impostor answers.
    let refused = refusal_on_fresh_handshake(&worker).await;
    assert!(
        refused.contains("not the pinned"),
        "the worker names the key it refused: {refused}"
    );
    assert!(
        refused.contains(&impostor.fingerprint().to_string()),
        "{refused}"
    );
    // A worker that pins the impostor's key reaches it: the refusal above is the pin's doing.
    let fooled_url = PinnedUrl::new(pinned.base(), Some(impostor.fingerprint())).to_string();
    let fooled = SchedulerClient::new(&fooled_url, PrivateKeySigner::random(), 1).unwrap();
    assert_eq!(fooled.info().await.unwrap().workerpool, pool.workerpool);
}

/// The worker's error once its request reaches a new TLS handshake (a connection pooled from the
/// stopped scheduler fails first, with a reset rather than a refused key).
async fn refusal_on_fresh_handshake(worker: &SchedulerClient) -> String {
    let mut last = String::new();
    for _ in 0..5 {
        last = worker.info().await.unwrap_err().to_string();
        if !last.contains("connection closed") && !last.contains("connection reset") {
            return last;
        }
    }
    last
}

/// Serves `router` with `identity` on `addr`, which the stopped scheduler may hold for a moment.
async fn bind_retrying(
    addr: std::net::SocketAddr,
    router: Router,
    identity: &TlsIdentity,
) -> Service {
    for _ in 0..100 {
        match Service::serve_tls(addr, router.clone(), Limits::default(), identity).await {
            Ok(service) => return service,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    panic!("{addr} stayed taken after the scheduler stopped");
}

/// A certificate authority made for the test: its parameters, key and certificate.
fn authority(
    name: &str,
) -> (
    rcgen::CertificateParams,
    rcgen::KeyPair,
    CertificateDer<'static>,
) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    (params, key, cert.der().clone())
}

/// A client for the scheduler at `url` presenting a certificate for `cn` signed by `ca`.
fn with_certificate(
    url: &PinnedUrl,
    ca: &(
        rcgen::CertificateParams,
        rcgen::KeyPair,
        CertificateDer<'static>,
    ),
    cn: &str,
) -> reqwest::Client {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params
        .signed_by(&key, &rcgen::Issuer::from_params(&ca.0, &ca.1))
        .unwrap();
    let pin = url.pin().unwrap();
    let config = decloud_service::tls::client_config_with_certificate(
        pin,
        vec![cert.der().clone()],
        key.serialize_der(),
    )
    .unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        decloud_service::transport::PIN_HEADER,
        pin.to_string().parse().unwrap(),
    );
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .default_headers(headers)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_given_client_authorities_takes_their_certificates_only() {
    let devnet = Devnet::start().await.unwrap();
    let trusted = authority("Pool CA");
    let stranger = authority("Another CA");
    let options = PoolOptions {
        workers: 0,
        client_cas: vec![trusted.2.clone()],
        ..PoolOptions::default()
    };
    let pool = Pool::start(&devnet, options).await.unwrap();
    let url: PinnedUrl = pool.scheduler_url().unwrap().parse().unwrap();

    // Workers present no certificate and are served as before.
    let worker = SchedulerClient::new(&url.to_string(), PrivateKeySigner::random(), 1).unwrap();
    assert_eq!(worker.info().await.unwrap().workerpool, pool.workerpool);

    // A certificate of the pool's authority: a new identity, pending until validated.
    let carol = with_certificate(&url, &trusted, "carol");
    let answer = carol
        .post(url.join("/v1/pool/login/certificate"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 403);
    let body = answer.text().await.unwrap();
    assert!(body.contains("carol") && body.contains("pending"), "{body}");

    // Another authority's certificate: the handshake itself fails.
    let mallory = with_certificate(&url, &stranger, "mallory");
    let refused = mallory
        .post(url.join("/v1/pool/login/certificate"))
        .json(&serde_json::json!({}))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "an unknown authority's certificate: {refused:?}"
    );
}
