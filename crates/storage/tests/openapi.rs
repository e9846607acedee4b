//! The storage node's OpenAPI description (`GET /openapi.json`) against what it really serves:
//! the routes agree both ways, and what the API fuzzer (`scripts/api-fuzz`) found is fixed.

use decloud_storage::{ContentHash, RunningStorage, ServerConfig, StorageConfig, start};
use decloud_testkit::openapi::{description, route_mismatches};

async fn storage(dir: &tempfile::TempDir) -> RunningStorage {
    start(StorageConfig {
        transport: decloud_service::transport::Transport::InsecureHttp,
        location: dir.path().display().to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        server: ServerConfig::default(),
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_description_lists_exactly_the_routes_served() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage(&dir).await;
    let base = storage.url().trim_end_matches("/blobs").to_owned();
    let mismatches = route_mismatches(&base, include_str!("../src/server.rs"))
        .await
        .unwrap();
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

/// The fuzzer found an upload without a body stored (the empty blob) where the description
/// said a body was required: the description was wrong, an empty body is a blob like any other.
#[tokio::test]
async fn an_upload_without_a_body_stores_the_empty_blob_as_described() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage(&dir).await;
    let base = storage.url().trim_end_matches("/blobs").to_owned();
    let description = description(&base).await.unwrap();
    for (path, method) in [("/blobs", "post"), ("/blobs/{hash}", "put")] {
        let body = &description["paths"][path][method]["requestBody"];
        assert!(body.is_object(), "{method} {path}");
        assert_ne!(body["required"], true, "{method} {path}");
    }
    let empty = ContentHash::of(b"").to_string();
    let http = reqwest::Client::new();
    let posted = http.post(storage.url()).send().await.unwrap();
    assert_eq!(posted.status().as_u16(), 201);
    let stored: serde_json::Value = posted.json().await.unwrap();
    assert_eq!(stored, serde_json::json!({ "sha256": empty, "size": 0 }));
    let put = http
        .put(format!("{}/{empty}", storage.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 200, "already there");
}
