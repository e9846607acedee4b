//! The storage node's OpenAPI description (`GET /openapi.json`) against what it really serves:
//! the routes agree both ways, and what the API fuzzer (`scripts/api-fuzz`) found is fixed.

use decloud_storage::{ServerConfig, StorageConfig, start};
use decloud_testkit::openapi::route_mismatches;

#[tokio::test]
async fn the_description_lists_exactly_the_routes_served() {
    let dir = tempfile::tempdir().unwrap();
    let storage = start(StorageConfig {
        location: dir.path().display().to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        server: ServerConfig::default(),
    })
    .await
    .unwrap();
    let base = storage.url().trim_end_matches("/blobs").to_owned();
    let mismatches = route_mismatches(&base, include_str!("../src/server.rs"))
        .await
        .unwrap();
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}
