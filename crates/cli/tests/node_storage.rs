//! `decloud node --storage`: a blob server that other machines upload to and download from.

use decloud_storage::{BlobStore, ContentHash, StorageError};
use decloud_testkit::fixtures::start_service;
use std::process::Command;

#[tokio::test(flavor = "multi_thread")]
async fn the_storage_node_stores_serves_and_limits_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = dir.path().join("blobs");
    let (node, url) = start_service(
        Command::new(env!("CARGO_BIN_EXE_decloud"))
            .args([
                "node",
                "--storage",
                "--listen",
                "127.0.0.1:0",
                "--storage-max-upload-mib",
                "1",
            ])
            .arg("--dir")
            .arg(&blobs)
            .env("DECLOUD_HOME", dir.path()),
    )
    .unwrap();
    // TLS by default: the node's URL pins its key, and the store client checks it.
    assert!(
        url.starts_with("https://127.0.0.1:") && url.contains("/blobs#sha256:"),
        "{url}"
    );

    let remote = BlobStore::from_url(&url).unwrap();
    let id = remote.put(&b"an app"[..]).await.unwrap();
    assert_eq!(id, ContentHash::of(b"an app"));
    assert!(blobs.join(id.to_string()).is_file());
    assert_eq!(&remote.get(&id, 100).await.unwrap()[..], b"an app");

    let big = vec![0u8; (1 << 20) + 1];
    let err = remote.put(big.clone()).await.unwrap_err();
    assert!(
        matches!(err, StorageError::Backend(_)) && err.to_string().contains("413"),
        "{err}"
    );
    assert!(!blobs.join(ContentHash::of(&big).to_string()).exists());
    drop(node);
}

#[test]
fn node_without_a_service_says_what_to_do() {
    let out = Command::new(env!("CARGO_BIN_EXE_decloud"))
        .arg("node")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("decloud node") && err.contains("--storage"),
        "{err}"
    );
}
