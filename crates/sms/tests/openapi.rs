//! The SMS's OpenAPI description (`GET /openapi.json`, what `scripts/api-fuzz` fuzzes) against
//! what it really serves: the routes agree both ways, and its answers match their schemas.

use alloy::signers::local::PrivateKeySigner;
use decloud_sms::{SmsClient, SmsConfig};
use decloud_tee::TeeKind;
use decloud_testkit::Devnet;
use decloud_testkit::openapi::{description, route_mismatches};

#[tokio::test(flavor = "multi_thread")]
async fn the_description_lists_exactly_the_routes_served() {
    let devnet = Devnet::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sms = decloud_sms::start(SmsConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        database_url: format!("sqlite://{}", dir.path().join("sms.db").display()),
        profile: devnet.profile().clone(),
        signer: PrivateKeySigner::random(),
        key_path: dir.path().join("tls/sms-seal.key"),
        tee: TeeKind::Sim,
        keeper: false,
        transport: decloud_service::transport::Transport::InsecureHttp,
    })
    .await
    .unwrap();
    let base = sms.url();
    let mismatches = route_mismatches(&base, include_str!("../src/api/mod.rs"))
        .await
        .unwrap();
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    // What the client reads is what the description says is there.
    let described = description(&base).await.unwrap();
    let info = SmsClient::new(&base).unwrap().info().await.unwrap();
    let info = serde_json::to_value(info).unwrap();
    for field in described["components"]["schemas"]["SmsInfo"]["required"]
        .as_array()
        .unwrap()
    {
        let field = field.as_str().unwrap();
        assert!(info.get(field).is_some(), "/v1/info lacks {field}: {info}");
    }
    // A fresh node's wallet is not an attester, and /health says so.
    let (base, http) = decloud_service::transport::api_client(&base).unwrap();
    let health = http
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(health.contains("NOT registered"), "{health}");
}
