//! The pool's client API over HTTP, on every SQL backend: the four credentials (with a local
//! OpenID issuer and local certificate authorities of the test's own), rights, access bits,
//! confinement, and the worker's side of desktop-grid jobs.

use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use base64::Engine;
use decloud_pool::wire::*;
use decloud_pool::{OidcIssuer, Pool, PoolConfig};
use decloud_service::Service;
use decloud_service::tls::{TlsIdentity, client_config, client_config_with_certificate};
use decloud_sql::testing::TestDb;
use reqwest::StatusCode;
use serde_json::{Value, json};

const ADMIN_PASSWORD: &str = "admin password for tests";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A client of the API with an optional session.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
}

impl Api {
    fn new(url: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: url.to_owned(),
            token: None,
        }
    }

    fn with(&self, session: &PoolSession) -> Self {
        Self {
            token: Some(session.token.clone()),
            ..self.clone()
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let value =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(B64.encode(&bytes)));
        (status, value, headers)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, v, _) = self.send(reqwest::Method::GET, path, None).await;
        (s, v)
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, v, _) = self.send(reqwest::Method::POST, path, Some(body)).await;
        (s, v)
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        let (s, v, _) = self.send(reqwest::Method::DELETE, path, None).await;
        (s, v)
    }

    async fn login(&self, login: &str, password: &str) -> Self {
        let (status, body) = self
            .post(
                "/v1/pool/login/password",
                json!({"login": login, "password": password}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        self.with(&serde_json::from_value(body).unwrap())
    }
}

fn error(body: &Value) -> String {
    body["error"].as_str().unwrap_or_default().to_owned()
}

async fn start(db: &TestDb, issuers: Vec<OidcIssuer>) -> (Pool, Service, Api) {
    let mut config = PoolConfig::new(db.url());
    config.admin_password = Some(ADMIN_PASSWORD.into());
    config.issuers = issuers;
    config.allow_private_issuers = true;
    let pool = Pool::open(config).await.unwrap();
    let service = Service::serve(
        ([127, 0, 0, 1], 0).into(),
        decloud_pool::api::router(pool.clone()),
    )
    .await
    .unwrap();
    let api = Api::new(&service.url());
    (pool, service, api)
}

/// A tiny valid wasm module (the magic and version): the API checks the header only.
const MODULE: &[u8] = b"\0asm\x01\0\0\0";

async fn passwords_are_argon2_and_bad_ones_slow_down(db: &TestDb) {
    let (_pool, _service, api) = start(db, vec![]).await;
    let admin = api.login("admin", ADMIN_PASSWORD).await;
    let (status, body) = admin
        .post(
            "/v1/pool/users",
            json!({"name": "ann", "password": "ann's password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["right"], "standard");
    // An unknown login and a wrong password are refused alike.
    let (status, body) = api
        .post(
            "/v1/pool/login/password",
            json!({"login": "nobody", "password": "whatever123"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    for _ in 0..2 {
        let (status, body) = api
            .post(
                "/v1/pool/login/password",
                json!({"login": "ann", "password": "wrong password"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(!error(&body).contains("ann's password"), "no secret echoed");
    }
    // The client has failed three times: even the right password now waits.
    let (status, body, headers) = api
        .send(
            reqwest::Method::POST,
            "/v1/pool/login/password",
            Some(json!({"login": "ann", "password": "ann's password"})),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "Retry-After {retry}");
    assert!(error(&body).contains("failed password attempts"), "{body}");
    // Unauthenticated and junk tokens are refused.
    assert_eq!(api.get("/v1/pool/me").await.0, StatusCode::UNAUTHORIZED);
    let junk = Api {
        token: Some("dcp_junk".into()),
        ..api.clone()
    };
    assert_eq!(junk.get("/v1/pool/me").await.0, StatusCode::UNAUTHORIZED);
}

/// Sets up admin, ann (standard, in group lab), bob (standard), vic (visitor).
async fn users(api: &Api) -> (Api, Api, Api, Api) {
    let admin = api.login("admin", ADMIN_PASSWORD).await;
    for (name, right) in [("ann", "standard"), ("bob", "standard"), ("vic", "visitor")] {
        let (status, body) = admin
            .post(
                "/v1/pool/users",
                json!({"name": name, "right": right, "password": format!("{name} password")}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = admin.post("/v1/pool/groups", json!({"name": "lab"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = admin
        .post("/v1/pool/groups/lab/members", json!({"user": "ann"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A member nobody added is the request's fault (400), not a missing group (404).
    let (status, body) = admin
        .post("/v1/pool/groups/lab/members", json!({"user": "nobody"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error(&body).contains("decloud pool user add"), "{body}");
    let (_, groups) = admin.get("/v1/pool/groups").await;
    let lab = groups
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == "lab"))
        .unwrap_or_else(|| panic!("group lab listed: {groups}"));
    assert_eq!(
        lab["members"],
        json!(["admin", "ann"]),
        "nothing changed: {lab}"
    );
    (
        admin,
        api.login("ann", "ann password").await,
        api.login("bob", "bob password").await,
        api.login("vic", "vic password").await,
    )
}

async fn rights_bits_and_confinement_are_checked_on_every_request(db: &TestDb) {
    let (pool, _service, api) = start(db, vec![]).await;
    let (admin, ann, bob, vic) = users(&api).await;
    // Rights first: a standard user adds no users, a visitor inserts nothing.
    let (status, body) = ann.post("/v1/pool/users", json!({"name": "eve"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(error(&body).contains("insert-user"), "{body}");
    let (status, _) = vic
        .post(
            "/v1/pool/apps",
            json!({"name": "x", "module": B64.encode(MODULE)}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // ann's private app: bob neither sees nor submits it.
    let (status, app) = ann
        .post(
            "/v1/pool/apps",
            json!({"name": "mine", "module": B64.encode(MODULE)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{app}");
    assert_eq!(app["mode"], "700");
    let app_id = app["id"].as_str().unwrap().to_owned();
    let (_, listed) = bob.get("/v1/pool/apps").await;
    assert_eq!(listed.as_array().unwrap().len(), 0, "{listed}");
    let (status, _) = bob.get(&format!("/v1/pool/apps/{app_id}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = bob.post("/v1/pool/jobs", json!({"app": app_id})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // The owner may narrow its bits but not widen them (with a right that changes access);
    // an administrator widens.
    let chmod = format!("/v1/pool/apps/{app_id}/chmod");
    let (status, body) = ann.post(&chmod, json!({"mode": "500"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        error(&body).contains("change-access"),
        "a standard user: {body}"
    );
    let (status, body) = ann
        .post("/v1/pool/users/ann/right", json!({"right": "advanced"}))
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "nobody raises their own right: {body}"
    );
    let (status, body) = admin
        .post("/v1/pool/users/ann/right", json!({"right": "advanced"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["right"], "advanced");
    let (status, body) = ann.post(&chmod, json!({"mode": "755"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        error(&body).contains("only an administrator may widen"),
        "{body}"
    );
    assert_eq!(
        ann.post(&chmod, json!({"mode": "500"})).await.0,
        StatusCode::OK
    );
    admin
        .post("/v1/pool/users/bob/right", json!({"right": "advanced"}))
        .await;
    let (status, body) = bob.post(&chmod, json!({"mode": "000"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(error(&body).contains("owner"), "not bob's: {body}");
    let (status, body) = ann.post(&chmod, json!({"mode": "7x0"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        admin.post(&chmod, json!({"mode": "755"})).await.0,
        StatusCode::OK
    );
    // Widened bits let bob see it; confinement still keeps a private app to its owner.
    assert_eq!(
        bob.get(&format!("/v1/pool/apps/{app_id}")).await.0,
        StatusCode::OK
    );
    let (status, body) = bob.post("/v1/pool/jobs", json!({"app": app_id})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(error(&body).contains("private"), "{body}");
    // A certificate stored as data is private and never goes to a job.
    let (status, cert) = ann
        .post("/v1/pool/data", json!({"name": "me.pem", "certificate": true, "confinement": "public", "content": B64.encode(b"-----BEGIN CERTIFICATE-----")}))
        .await;
    assert_eq!(status, StatusCode::OK, "{cert}");
    assert_eq!(cert["confinement"], "private");
    let cert_id = cert["id"].as_str().unwrap();
    assert_eq!(
        bob.get(&format!("/v1/pool/data/{cert_id}/content")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ann.get(&format!("/v1/pool/data/{cert_id}/content")).await.0,
        StatusCode::OK
    );
    let (status, body) = ann
        .post("/v1/pool/jobs", json!({"app": app_id, "datum": cert_id}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(error(&body).contains("certificate"), "{body}");
    // A group app is for the group's members.
    let (status, lab_app) = ann
        .post("/v1/pool/apps", json!({"name": "shared", "confinement": "group", "group": "lab", "module": B64.encode(MODULE)}))
        .await;
    assert_eq!(status, StatusCode::OK, "{lab_app}");
    let (status, body) = bob.post("/v1/pool/apps", json!({"name": "x", "confinement": "group", "group": "lab", "module": B64.encode(MODULE)})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not a member: {body}");

    // Jobs: ann's private job goes to ann's private worker only, never to a public one.
    let public_worker = PrivateKeySigner::random().address();
    let anns_worker = PrivateKeySigner::random().address();
    let (status, body) = ann
        .post(
            "/v1/pool/workers",
            json!({"address": anns_worker, "owner": "ann", "confinement": "private"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "declaring workers is an administrator's: {body}"
    );
    let (status, body) = admin
        .post(
            "/v1/pool/workers",
            json!({"address": anns_worker, "owner": "ann", "confinement": "private"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, job) = ann
        .post("/v1/pool/jobs", json!({"app": app_id, "args": "a b"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    let job_id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(job["status"], "pending");
    // A job that exists but has no result yet is a conflict with its state, not a 404.
    let (status, pending) = ann.get(&format!("/v1/pool/jobs/{job_id}/result")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{pending}");
    assert!(
        pending["error"].as_str().unwrap().contains("(pending)"),
        "{pending}"
    );
    assert_eq!(
        pool.take_job(public_worker).await.unwrap(),
        None,
        "a public worker gets no private work"
    );
    let order = pool
        .take_job(anns_worker)
        .await
        .unwrap()
        .expect("ann's worker gets it");
    assert_eq!(order.job, job_id);
    assert_eq!(order.args, "a b");
    assert_eq!(
        pool.take_job(anns_worker).await.unwrap(),
        None,
        "handed out once"
    );
    // The worker right: only the job it holds.
    assert!(pool.job_app(public_worker, &job_id).await.is_err());
    assert_eq!(pool.job_app(anns_worker, &job_id).await.unwrap(), MODULE);
    let outcome = |bytes: &[u8]| JobOutcome::Completed {
        result: B64.encode(bytes),
    };
    let refused = pool
        .finish_job(public_worker, &job_id, outcome(b"forged"))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("holds no running job"),
        "{refused}"
    );
    pool.finish_job(anns_worker, &job_id, outcome(b"the result"))
        .await
        .unwrap();
    assert!(
        pool.finish_job(anns_worker, &job_id, outcome(b"again"))
            .await
            .is_err(),
        "once"
    );
    // The owner reads its job and its result; nobody else does.
    let (status, shown) = ann.get(&format!("/v1/pool/jobs/{job_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["status"], "completed");
    assert_eq!(shown["worker"], anns_worker.to_string());
    let (status, result) = ann.get(&format!("/v1/pool/jobs/{job_id}/result")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(B64.decode(result.as_str().unwrap()).unwrap(), b"the result");
    assert_eq!(
        bob.get(&format!("/v1/pool/jobs/{job_id}/result")).await.0,
        StatusCode::FORBIDDEN
    );
    let (_, bobs) = bob.get("/v1/pool/jobs").await;
    assert_eq!(bobs.as_array().unwrap().len(), 0);
}

async fn a_requester_reads_its_deals_jobs_after_a_wallet_login(db: &TestDb) {
    let (pool, _service, api) = start(db, vec![]).await;
    let requester = PrivateKeySigner::random();
    let task = format!("0x{}", "ab".repeat(32));
    pool.record_deal_task(&task, requester.address(), "active")
        .await
        .unwrap();
    let login = |signer: PrivateKeySigner, claimed: alloy::primitives::Address| {
        let api = api.clone();
        async move {
            let (_, challenge) = api.get("/v1/pool/login/challenge").await;
            let message = challenge["message"].as_str().unwrap();
            let signature = signer.sign_message_sync(message.as_bytes()).unwrap();
            api.post(
                "/v1/pool/login/wallet",
                json!({"address": claimed, "nonce": challenge["nonce"], "deadline": challenge["deadline"], "signature": signature.to_string()}),
            )
            .await
        }
    };
    // A signature by another wallet is refused.
    let (status, body) = login(PrivateKeySigner::random(), requester.address()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, session) = login(requester.clone(), requester.address()).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    let me = api.with(&serde_json::from_value(session).unwrap());
    let (_, jobs) = me.get("/v1/pool/jobs").await;
    assert_eq!(jobs[0]["id"], task.as_str(), "{jobs}");
    assert_eq!(jobs[0]["origin"], "deal");
    // Several at once, one task twice: its last status wins.
    let second = format!("0x{}", "cd".repeat(32));
    let who = requester.address();
    pool.record_deal_tasks(&[
        (task.clone(), who, "revealing".into()),
        (second.clone(), who, "active".into()),
        (task.clone(), who, "completed".into()),
    ])
    .await
    .unwrap();
    let (_, jobs) = me.get("/v1/pool/jobs").await;
    let status_of = |id: &str| {
        jobs.as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == id)
            .map(|j| j["status"].clone())
    };
    assert_eq!(jobs.as_array().unwrap().len(), 2, "{jobs}");
    assert_eq!(status_of(&task), Some(json!("completed")), "{jobs}");
    assert_eq!(status_of(&second), Some(json!("active")), "{jobs}");
    // Someone else's wallet sees nothing of it.
    let other = PrivateKeySigner::random();
    let (_, session) = login(other.clone(), other.address()).await;
    let other = api.with(&serde_json::from_value(session).unwrap());
    assert_eq!(
        other.get(&format!("/v1/pool/jobs/{task}")).await.0,
        StatusCode::FORBIDDEN
    );
}

/// A local OpenID issuer: an ES256 key made here, its JWKS served over HTTP.
struct Issuer {
    key: rcgen::KeyPair,
    url: String,
    _service: Service,
}

fn jwk(key: &rcgen::KeyPair, kid: &str) -> Value {
    let raw = key.public_key_raw();
    json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
           "x": B64URL.encode(&raw[1..33]), "y": B64URL.encode(&raw[33..65])})
}

impl Issuer {
    async fn start() -> Self {
        Self::start_naming(None).await
    }

    /// An issuer whose discovery document names `named` as the issuer (itself when `None`).
    async fn start_naming(named: Option<&'static str>) -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let jwks = json!({"keys": [jwk(&key, "k1")]});
        // The discovery document names the service's own URL, known once it listens.
        let own_url = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
        let discovery_url = own_url.clone();
        let router = axum::Router::new()
            .route(
                "/jwks",
                axum::routing::get(move || {
                    let jwks = jwks.clone();
                    async move { axum::Json(jwks) }
                }),
            )
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(move || {
                    let url = discovery_url.get().cloned().unwrap_or_default();
                    let issuer = named.map_or_else(|| url.clone(), str::to_owned);
                    async move {
                        axum::Json(json!({"issuer": issuer, "jwks_uri": format!("{url}/jwks")}))
                    }
                }),
            );
        let service = Service::serve(([127, 0, 0, 1], 0).into(), router)
            .await
            .unwrap();
        own_url.set(service.url()).unwrap();
        Self {
            key,
            url: service.url(),
            _service: service,
        }
    }

    /// The issuer as trusted by its URL alone: its keys are found through discovery.
    fn discovered(&self) -> OidcIssuer {
        OidcIssuer {
            jwks_url: String::new(),
            ..self.trusted()
        }
    }

    fn trusted(&self) -> OidcIssuer {
        OidcIssuer {
            issuer: self.url.clone(),
            audience: "decloud-pool".into(),
            jwks_url: format!("{}/jwks", self.url),
        }
    }

    fn token(&self, key: &rcgen::KeyPair, claims: Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("k1".into());
        jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_ec_der(&key.serialize_der()),
        )
        .unwrap()
    }
}

async fn an_issuer_trusted_by_its_url_alone_is_found_through_discovery(db: &TestDb) {
    let issuer = Issuer::start().await;
    let liar = Issuer::start_naming(Some("https://accounts.example.com")).await;
    let (_pool, _service, api) = start(db, vec![issuer.discovered(), liar.discovered()]).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = |iss: &str| json!({"iss": iss, "aud": "decloud-pool", "sub": "erin", "exp": now + 600, "iat": now - 10});
    // The signature checks out against the keys discovery found: the identity is new, so pending.
    let (status, body) = api
        .post(
            "/v1/pool/login/oidc",
            json!({"id_token": issuer.token(&issuer.key, claims(&issuer.url))}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(error(&body).contains("pending"), "{body}");
    // A discovery document naming another issuer is not believed: no keys, no login.
    let (status, body) = api
        .post(
            "/v1/pool/login/oidc",
            json!({"id_token": liar.token(&liar.key, claims(&liar.url))}),
        )
        .await;
    assert_ne!(status, StatusCode::OK, "{body}");
    assert_ne!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(error(&body).contains("names issuer"), "{body}");
}

async fn openid_tokens_are_checked_and_new_identities_wait_for_validation(db: &TestDb) {
    let issuer = Issuer::start().await;
    let (_pool, _service, api) = start(db, vec![issuer.trusted()]).await;
    let admin = api.login("admin", ADMIN_PASSWORD).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = |iss: &str, aud: &str, exp: u64| json!({"iss": iss, "aud": aud, "sub": "dora", "exp": exp, "nbf": now - 10, "iat": now - 10});
    let good = claims(&issuer.url, "decloud-pool", now + 600);
    let login = |token: String| {
        let api = api.clone();
        async move {
            api.post("/v1/pool/login/oidc", json!({"id_token": token}))
                .await
        }
    };
    for (token, why) in [
        (issuer.token(&issuer.key, claims(&issuer.url, "decloud-pool", now - 3600)), "expired"),
        (issuer.token(&rcgen::KeyPair::generate().unwrap(), good.clone()), "signature"),
        (issuer.token(&issuer.key, claims("https://evil.example", "decloud-pool", now + 600)), "issuer"),
        (issuer.token(&issuer.key, claims(&issuer.url, "another-app", now + 600)), "audience"),
        (issuer.token(&issuer.key, json!({"iss": issuer.url, "aud": "decloud-pool", "sub": "dora", "exp": now + 600, "nbf": now + 3600})), "not valid yet"),
        ("not.a.jwt".to_owned(), "not a JWT"),
    ] {
        let (status, body) = login(token.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {body}");
        assert!(error(&body).contains(why), "{why}: {body}");
        assert!(!error(&body).contains(&token), "the token is not echoed");
    }
    // A valid token of a new identity: pending until an administrator validates it.
    let (status, body) = login(issuer.token(&issuer.key, good.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(error(&body).contains("pending"), "{body}");
    let (_, users) = admin.get("/v1/pool/users").await;
    let dora = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["status"] == "pending")
        .expect("a pending user");
    let name = dora["name"].as_str().unwrap().to_owned();
    assert!(
        dora["identities"][0].as_str().unwrap().starts_with("oidc:"),
        "{dora}"
    );
    let (status, _) = login(issuer.token(&issuer.key, good.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "still pending");
    assert_eq!(
        admin
            .post(&format!("/v1/pool/users/{name}/validate"), json!({}))
            .await
            .0,
        StatusCode::OK
    );
    let (status, session) = login(issuer.token(&issuer.key, good)).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    let dora = api.with(&serde_json::from_value(session).unwrap());
    let (status, me) = dora.get("/v1/pool/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["name"], name.as_str());
    let (status, _) = dora
        .post(
            "/v1/pool/apps",
            json!({"name": "d", "module": B64.encode(MODULE)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a validated standard user acts");
}

/// A certificate authority made by the test, and a client certificate it signs.
fn authority(
    name: &str,
) -> (
    rcgen::CertificateParams,
    rcgen::KeyPair,
    rustls::pki_types::CertificateDer<'static>,
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

fn client_certificate(
    ca: &(
        rcgen::CertificateParams,
        rcgen::KeyPair,
        rustls::pki_types::CertificateDer<'static>,
    ),
    cn: &str,
) -> (Vec<rustls::pki_types::CertificateDer<'static>>, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let issuer = rcgen::Issuer::from_params(&ca.0, &ca.1);
    let cert = params.signed_by(&key, &issuer).unwrap();
    (vec![cert.der().clone()], key.serialize_der())
}

async fn client_certificates_from_trusted_authorities_only(db: &TestDb) {
    let mut config = PoolConfig::new(db.url());
    config.admin_password = Some(ADMIN_PASSWORD.into());
    let pool = Pool::open(config).await.unwrap();
    let trusted = authority("Pool CA");
    let stranger = authority("Another CA");
    let identity = TlsIdentity::generate().unwrap();
    let service = Service::serve_mtls(
        ([127, 0, 0, 1], 0).into(),
        decloud_pool::api::router(pool),
        decloud_service::Limits::default(),
        &identity,
        std::slice::from_ref(&trusted.2),
    )
    .await
    .unwrap();
    let with_cert = |chain, key| Api {
        http: reqwest::Client::builder()
            .tls_backend_preconfigured(
                client_config_with_certificate(identity.fingerprint(), chain, key).unwrap(),
            )
            .default_headers(names_the_key(&identity))
            .build()
            .unwrap(),
        url: service.url(),
        token: None,
    };
    // Without a certificate the API works (password logins), but no certificate login.
    let plain = Api {
        http: reqwest::Client::builder()
            .tls_backend_preconfigured(client_config(identity.fingerprint()))
            .default_headers(names_the_key(&identity))
            .build()
            .unwrap(),
        url: service.url(),
        token: None,
    };
    let (status, body) = plain.post("/v1/pool/login/certificate", json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let admin = plain.login("admin", ADMIN_PASSWORD).await;
    // A certificate of an untrusted CA: the handshake itself fails.
    let (chain, key) = client_certificate(&stranger, "mallory");
    let refused = with_cert(chain, key)
        .http
        .post(format!("{}/v1/pool/login/certificate", service.url()))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "an untrusted CA's certificate is refused: {refused:?}"
    );
    // A trusted one: a pending identity, then a session once validated.
    let (chain, key) = client_certificate(&trusted, "carol");
    let carol = with_cert(chain, key);
    let (status, body) = carol.post("/v1/pool/login/certificate", json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        error(&body).contains("carol") && error(&body).contains("pending"),
        "{body}"
    );
    assert_eq!(
        admin
            .post("/v1/pool/users/carol/validate", json!({}))
            .await
            .0,
        StatusCode::OK
    );
    let (status, session) = carol.post("/v1/pool/login/certificate", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    let carol = carol.with(&serde_json::from_value(session).unwrap());
    let (_, me) = carol.get("/v1/pool/me").await;
    assert!(
        me["identities"][0].as_str().unwrap().contains("CN=carol"),
        "{me}"
    );
}

/// Deleting: the delete right, then only the owner or an administrator; never an app or a
/// datum a job not yet ended needs, a running job, or a deal's task.
async fn owners_and_administrators_delete_what_no_work_needs(db: &TestDb) {
    let (pool, _service, api) = start(db, vec![]).await;
    let (admin, ann, bob, vic) = users(&api).await;
    let (status, app) = ann
        .post(
            "/v1/pool/apps",
            json!({"name": "app", "confinement": "public", "module": B64.encode(MODULE)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{app}");
    let app = format!("/v1/pool/apps/{}", app["id"].as_str().unwrap());
    let (status, datum) = ann
        .post(
            "/v1/pool/data",
            json!({"name": "in.txt", "confinement": "public", "content": B64.encode(b"input")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{datum}");
    let datum_id = datum["id"].as_str().unwrap().to_owned();
    let datum = format!("/v1/pool/data/{datum_id}");
    let app_id = app.rsplit('/').next().unwrap().to_owned();
    let (status, job) = ann
        .post("/v1/pool/jobs", json!({"app": app_id, "datum": datum_id}))
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    let job_id = job["id"].as_str().unwrap().to_owned();
    let job = format!("/v1/pool/jobs/{job_id}");

    // Who: a visitor lacks the right; another standard user is not the owner.
    let (status, body) = vic.delete(&app).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(error(&body).contains("delete"), "{body}");
    let (status, body) = bob.delete(&app).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(error(&body).contains("owner"), "{body}");
    // What: the pending job needs the app and the datum.
    for path in [&app, &datum] {
        let (status, body) = ann.delete(path).await;
        assert_eq!(status, StatusCode::CONFLICT, "{path}: {body}");
        assert!(error(&body).contains("not yet ended"), "{body}");
    }
    // A running job stays; an ended one goes.
    let worker = alloy::primitives::Address::repeat_byte(7);
    let taken = pool.take_job(worker).await.unwrap().unwrap();
    assert_eq!(taken.job, job_id);
    let (status, body) = ann.delete(&job).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(error(&body).contains("running"), "{body}");
    pool.finish_job(
        worker,
        &job_id,
        decloud_pool::wire::JobOutcome::Failed {
            reason: "test".into(),
        },
    )
    .await
    .unwrap();
    let (status, body) = ann.delete(&job).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"id": job_id, "deleted": true}));
    assert_eq!(ann.get(&job).await.0, StatusCode::NOT_FOUND);
    // Now nothing needs them: the owner deletes the app, an administrator the datum.
    assert_eq!(ann.delete(&app).await.0, StatusCode::OK);
    assert_eq!(admin.delete(&datum).await.0, StatusCode::OK);
    for path in [&app, &datum] {
        assert_eq!(ann.get(path).await.0, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(ann.delete(path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    // A deal's task is the chain's: not even an administrator deletes it.
    let task = format!("0x{}", "ab".repeat(32));
    pool.record_deal_task(&task, alloy::primitives::Address::repeat_byte(9), "active")
        .await
        .unwrap();
    let (status, body) = admin.delete(&format!("/v1/pool/jobs/{task}")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(error(&body).contains("deal"), "{body}");
}

decloud_sql::test_on_every_backend!(
    multi_thread: passwords_are_argon2_and_bad_ones_slow_down,
    owners_and_administrators_delete_what_no_work_needs,
    rights_bits_and_confinement_are_checked_on_every_request,
    a_requester_reads_its_deals_jobs_after_a_wallet_login,
    openid_tokens_are_checked_and_new_identities_wait_for_validation,
    an_issuer_trusted_by_its_url_alone_is_found_through_discovery,
    client_certificates_from_trusted_authorities_only,
);

/// The header in which a pinned client names the key it expects (a TLS service requires it).
fn names_the_key(identity: &decloud_service::tls::TlsIdentity) -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        decloud_service::transport::PIN_HEADER,
        identity.fingerprint().to_string().parse().unwrap(),
    );
    headers
}
