//! TLS with a pinned key: a client that pins the service's fingerprint talks to it; a client
//! that pins another key, or speaks plain HTTP, gets nothing; the key survives a restart and
//! is readable by its user only.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use decloud_service::tls::{Fingerprint, TlsIdentity, client_config};
use decloud_service::{Limits, Service};

async fn serve(identity: &TlsIdentity) -> Service {
    let router = Router::new().route("/health", get(|| async { "ok" }));
    Service::serve_tls(
        ([127, 0, 0, 1], 0).into(),
        router,
        Limits::default(),
        identity,
    )
    .await
    .unwrap()
}

fn pinned(pin: Fingerprint) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(client_config(pin))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The whole chain of an error, one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

#[tokio::test]
async fn a_client_reaches_the_service_whose_key_it_pins_and_no_other() {
    let identity = TlsIdentity::generate().unwrap();
    let service = serve(&identity).await;
    assert!(service.url().starts_with("https://"), "{}", service.url());
    let url = format!("{}/health", service.url());

    let answer = pinned(identity.fingerprint())
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "ok");

    // Another key on the same address (an impostor with its own self-signed certificate).
    let impostor = TlsIdentity::generate().unwrap();
    let refused = pinned(impostor.fingerprint())
        .get(&url)
        .send()
        .await
        .unwrap_err();
    let why = chain(&refused);
    assert!(why.contains("not the pinned"), "{why}");
    assert!(
        why.contains(&identity.fingerprint().to_string()),
        "names the key it saw: {why}"
    );

    // Plain HTTP to the TLS port: no answer.
    let plain = format!("http://{}/health", service.addr());
    let outcome = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .get(&plain)
        .send()
        .await;
    assert!(outcome.is_err(), "plain HTTP was answered: {outcome:?}");
    // A client trusting the system's authorities refuses the self-signed certificate.
    assert!(reqwest::get(&url).await.is_err());
}

#[tokio::test]
async fn the_key_is_kept_private_and_the_same_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tls/scheduler.key");
    let first = TlsIdentity::load_or_create(&path).unwrap();
    let again = TlsIdentity::load_or_create(&path).unwrap();
    assert_eq!(first.fingerprint(), again.fingerprint());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");
    }
    assert!(!format!("{first:?}").contains("PRIVATE"), "no key in Debug");

    std::fs::write(&path, "not a key").unwrap();
    let e = TlsIdentity::load_or_create(&path).unwrap_err().to_string();
    assert!(e.contains("move it away"), "{e}");

    // Fingerprints read back as printed, with or without the prefix; junk is refused.
    let text = first.fingerprint().to_string();
    assert_eq!(text.parse::<Fingerprint>().unwrap(), first.fingerprint());
    assert_eq!(
        text.trim_start_matches("sha256:")
            .parse::<Fingerprint>()
            .unwrap(),
        first.fingerprint()
    );
    let e = "sha256:abc".parse::<Fingerprint>().unwrap_err().to_string();
    assert!(e.contains("64 hex digits"), "{e}");
}

#[tokio::test]
async fn a_request_must_name_the_key_its_client_pinned() {
    use decloud_service::transport::{PinnedUrl, http_client};
    let identity = TlsIdentity::generate().unwrap();
    let router = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/v1/info", get(|| async { "info" }));
    let service = Service::serve_tls(
        ([127, 0, 0, 1], 0).into(),
        router,
        Limits::default(),
        &identity,
    )
    .await
    .unwrap();
    let url = service.pinned_url();
    assert_eq!(url.pin(), Some(identity.fingerprint()));
    // The URL as a person copies it parses back to the same thing.
    let url: PinnedUrl = url.to_string().parse().unwrap();

    let client = http_client(&url, reqwest::Client::builder()).unwrap();
    let info = client.get(url.join("/v1/info")).send().await.unwrap();
    assert_eq!(info.status(), 200);
    assert_eq!(info.text().await.unwrap(), "info");

    // Same key pinned in TLS but not named in the request: told to pin, nothing served.
    let silent = pinned(identity.fingerprint());
    let refused = silent.get(url.join("/v1/info")).send().await.unwrap();
    assert_eq!(refused.status(), 421);
    let body = refused.text().await.unwrap();
    assert!(body.contains("pin this service's key"), "{body}");
    assert!(
        !body.contains(&hex_of(&identity)),
        "the answer must not hand out the key: {body}"
    );
    // Health needs no pin (monitoring).
    let health = silent.get(url.join("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

fn hex_of(identity: &TlsIdentity) -> String {
    identity
        .fingerprint()
        .to_string()
        .trim_start_matches("sha256:")
        .to_owned()
}

/// Prints the CPU one TLS handshake costs (client and server together, both in this process)
/// and requests per second over kept-alive connections with and without TLS. A measurement,
/// not a test: `cargo nextest run --workspace --run-ignored only -E 'test(measure_tls)'
/// --no-capture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run it on its own with --no-capture"]
async fn measure_tls_cost() {
    use decloud_service::transport::{PinnedUrl, Transport, http_client};
    const HANDSHAKES: usize = 300;
    const REQUESTS: usize = 5_000;
    let router = || Router::new().route("/v1/ping", get(|| async { "pong" }));
    let tls = Transport::ephemeral();
    let secure = Service::serve_on(
        ([127, 0, 0, 1], 0).into(),
        router(),
        Limits::default(),
        &tls,
    )
    .await
    .unwrap();
    let plain = Service::serve_on(
        ([127, 0, 0, 1], 0).into(),
        router(),
        Limits::default(),
        &Transport::InsecureHttp,
    )
    .await
    .unwrap();
    let secure_url: PinnedUrl = secure.pinned_url();
    let plain_url: PinnedUrl = plain.pinned_url();

    // One new connection per request: a handshake each time (no session resumption).
    let handshakes = |url: PinnedUrl| async move {
        // No idle connection is kept: every request opens (and for TLS, handshakes) anew.
        let client =
            http_client(&url, reqwest::Client::builder().pool_max_idle_per_host(0)).unwrap();
        let cpu = decloud_service::process_cpu_time().as_secs_f64();
        let started = std::time::Instant::now();
        for _ in 0..HANDSHAKES {
            let answer = client.get(url.join("/v1/ping")).send().await.unwrap();
            assert_eq!(answer.status(), 200);
        }
        (
            decloud_service::process_cpu_time().as_secs_f64() - cpu,
            started.elapsed().as_secs_f64(),
        )
    };
    let (tls_cpu, _) = handshakes(secure_url.clone()).await;
    let (plain_cpu, _) = handshakes(plain_url.clone()).await;
    println!(
        "new connection + 1 request: {:.2} ms CPU over TLS, {:.2} ms over plain HTTP: a handshake costs {:.2} ms CPU (client and server)",
        tls_cpu * 1e3 / HANDSHAKES as f64,
        plain_cpu * 1e3 / HANDSHAKES as f64,
        (tls_cpu - plain_cpu) * 1e3 / HANDSHAKES as f64
    );

    // Kept-alive connections, 16 requests in flight.
    let throughput = |url: PinnedUrl| async move {
        let client = http_client(&url, reqwest::Client::builder()).unwrap();
        let started = std::time::Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let (client, url) = (client.clone(), url.clone());
            tasks.spawn(async move {
                for _ in 0..REQUESTS / 16 {
                    let answer = client.get(url.join("/v1/ping")).send().await.unwrap();
                    assert_eq!(answer.status(), 200);
                    let _ = answer.bytes().await;
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        (REQUESTS / 16 * 16) as f64 / started.elapsed().as_secs_f64()
    };
    let tls_rps = throughput(secure_url).await;
    let plain_rps = throughput(plain_url).await;
    println!(
        "kept-alive requests/s: {tls_rps:.0} over TLS, {plain_rps:.0} over plain HTTP (ratio {:.2})",
        tls_rps / plain_rps
    );
}

#[test]
fn a_trust_list_is_read_from_pem_and_a_file_without_one_is_refused() {
    use decloud_service::tls::load_certificates;
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["ca".to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let good = dir.path().join("ca.pem");
    std::fs::write(&good, cert.pem()).unwrap();
    let loaded = load_certificates(&good).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].as_ref(), cert.der().as_ref());

    let bad = dir.path().join("key.pem");
    std::fs::write(&bad, key.serialize_pem()).unwrap();
    let e = load_certificates(&bad).unwrap_err().to_string();
    assert!(e.contains("holds no PEM certificate"), "{e}");
    let missing = load_certificates(&dir.path().join("none.pem")).unwrap_err();
    assert!(missing.to_string().contains("none.pem"), "{missing}");
}
