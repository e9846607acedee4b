//! Content-addressed storage: integrity on read, size limits, and the HTTP node.

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use decloud_storage::{BlobStore, ContentHash, ServerConfig, StorageError, serve};
use std::net::SocketAddr;

async fn start_server(store: BlobStore, config: ServerConfig) -> SocketAddr {
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        serve(store, config, "127.0.0.1:0".parse().unwrap(), |addr| {
            let _ = tx.send(addr);
        })
        .await
        .unwrap();
    });
    rx.await.unwrap()
}

#[tokio::test]
async fn local_round_trip_and_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::local(dir.path()).unwrap();
    let id = store.put(Bytes::from_static(b"hello")).await.unwrap();
    assert_eq!(id, ContentHash::of(b"hello"));
    assert!(
        dir.path().join(id.to_string()).is_file(),
        "a blob's name is its sha256"
    );
    assert_eq!(
        store.get(&id, 100).await.unwrap(),
        Bytes::from_static(b"hello")
    );
    assert_eq!(store.size(&id).await.unwrap(), 5);
    // Idempotent.
    assert_eq!(store.put(Bytes::from_static(b"hello")).await.unwrap(), id);
    let missing = ContentHash::of(b"missing");
    assert!(matches!(
        store.get(&missing, 100).await,
        Err(StorageError::NotFound(_))
    ));
    assert!(!store.contains(&missing).await.unwrap());
    // from_url with a plain path and with file://.
    let same = BlobStore::from_url(dir.path().to_str().unwrap()).unwrap();
    assert_eq!(
        same.get(&id, 100).await.unwrap(),
        Bytes::from_static(b"hello")
    );
    let url = format!("file://{}", dir.path().display());
    assert!(
        BlobStore::from_url(&url)
            .unwrap()
            .contains(&id)
            .await
            .unwrap()
    );
    assert!(matches!(
        BlobStore::from_url("ftp://x/y"),
        Err(StorageError::UnsupportedUrl(_))
    ));
}

#[tokio::test]
async fn a_tampered_blob_is_refused_on_read_naming_both_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::local(dir.path()).unwrap();
    let id = store
        .put(Bytes::from_static(b"the real content"))
        .await
        .unwrap();
    std::fs::write(dir.path().join(id.to_string()), b"the fake content").unwrap();
    let err = store.get(&id, 1000).await.unwrap_err();
    let actual = ContentHash::of(b"the fake content");
    match &err {
        StorageError::HashMismatch {
            expected,
            actual: got,
        } => {
            assert_eq!(*expected, id);
            assert_eq!(*got, actual);
        }
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&id.to_string()) && msg.contains(&actual.to_string()),
        "{msg}"
    );
    // Downloading to a file leaves nothing behind.
    let dest_dir = tempfile::tempdir().unwrap();
    let dest = dest_dir.path().join("app.wasm");
    assert!(store.get_to_file(&id, 1000, &dest).await.is_err());
    assert!(!dest.exists());
    assert_eq!(
        std::fs::read_dir(dest_dir.path()).unwrap().count(),
        0,
        "no temporary file left"
    );
}

#[tokio::test]
async fn sizes_are_checked_before_download() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::local(dir.path()).unwrap();
    let id = store.put(Bytes::from(vec![7u8; 1000])).await.unwrap();
    match store.get(&id, 999).await {
        Err(StorageError::TooLarge {
            size: 1000,
            limit: 999,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    let dest = dir.path().join("copy");
    assert_eq!(store.get_to_file(&id, 1000, &dest).await.unwrap(), 1000);
    assert_eq!(std::fs::read(&dest).unwrap(), vec![7u8; 1000]);
    // put refuses an oversized blob before storing it.
    let small = BlobStore::local(dir.path())
        .unwrap()
        .with_max_blob_bytes(10);
    assert!(matches!(
        small.put(Bytes::from(vec![1u8; 11])).await,
        Err(StorageError::TooLarge { .. })
    ));
    assert!(!store.contains(&ContentHash::of(&[1u8; 11])).await.unwrap());
    // put_as refuses bytes that do not match their name.
    let wrong = store
        .put_as(&ContentHash::of(b"a"), Bytes::from_static(b"b"))
        .await;
    assert!(matches!(wrong, Err(StorageError::HashMismatch { .. })));
    assert!(!store.contains(&ContentHash::of(b"a")).await.unwrap());
}

#[tokio::test]
async fn the_http_node_serves_and_stores_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let local = BlobStore::local(dir.path()).unwrap();
    let addr = start_server(local.clone(), ServerConfig::default()).await;
    let remote = BlobStore::from_url(&format!("http://{addr}/blobs")).unwrap();
    let id = remote
        .put(Bytes::from_static(b"over the wire"))
        .await
        .unwrap();
    assert!(local.contains(&id).await.unwrap(), "stored on the node");
    assert_eq!(remote.size(&id).await.unwrap(), 13);
    assert_eq!(
        remote.get(&id, 100).await.unwrap(),
        Bytes::from_static(b"over the wire")
    );
    let missing = ContentHash::of(b"nope");
    assert!(matches!(
        remote.get(&missing, 100).await,
        Err(StorageError::NotFound(_))
    ));
    // A size limit smaller than the blob is enforced from HEAD, before the download.
    assert!(matches!(
        remote.get(&id, 5).await,
        Err(StorageError::TooLarge { .. })
    ));
}

#[tokio::test]
async fn an_oversized_upload_is_refused_before_it_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let local = BlobStore::local(dir.path()).unwrap();
    let config = ServerConfig {
        max_upload_bytes: 1024,
        ..ServerConfig::default()
    };
    let addr = start_server(local.clone(), config).await;
    let remote = BlobStore::from_url(&format!("http://{addr}/blobs")).unwrap();
    let big = Bytes::from(vec![9u8; 4096]);
    let err = remote.put(big.clone()).await.unwrap_err();
    assert!(err.to_string().contains("413"), "{err}");
    assert!(!local.contains(&ContentHash::of(&big)).await.unwrap());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written on the node"
    );
    // Under the limit is fine.
    remote.put(Bytes::from(vec![9u8; 1024])).await.unwrap();
}

#[tokio::test]
async fn a_lying_server_is_caught_by_the_client() {
    let real = b"the real bytes";
    let id = ContentHash::of(real);
    let app = Router::new().route(
        "/blobs/{hash}",
        get(|| async { "forged content" })
            .head(|| async { ([(axum::http::header::CONTENT_LENGTH, "14")], ()) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let remote = BlobStore::from_url(&format!("http://{addr}/blobs")).unwrap();
    match remote.get(&id, 100).await {
        Err(StorageError::HashMismatch { expected, actual }) => {
            assert_eq!(expected, id);
            assert_eq!(actual, ContentHash::of(b"forged content"));
        }
        other => panic!("{other:?}"),
    }
}

/// Durable before acknowledged: blobs the node acknowledged (a small one sent whole, and one
/// streamed in parts under no name, then renamed to its hash) are whole on the disk a power cut
/// right after the answers leaves (`decloud_testkit::power_cut`). Without the syncs of the
/// blob and of its directory the copy holds an empty file or none.
#[tokio::test]
async fn blobs_acknowledged_by_the_node_survive_a_power_cut() {
    use decloud_testkit::power_cut::Disk;
    let Some(disk) = Disk::create_or_skip().unwrap() else {
        return;
    };
    let blobs = disk.path().join("blobs");
    let addr = start_server(BlobStore::local(&blobs).unwrap(), ServerConfig::default()).await;
    let remote = BlobStore::from_url(&format!("http://{addr}/blobs")).unwrap();
    let small = Bytes::from_static(b"a result the worker reported");
    let large = Bytes::from(vec![7u8; 6 << 20]);
    let ids = [
        remote.put(small.clone()).await.unwrap(),
        remote.put(large.clone()).await.unwrap(),
    ];
    let client = reqwest::Client::new();
    let posted = client
        .post(format!("http://{addr}/blobs"))
        .body(b"posted without a name".to_vec())
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success(), "{}", posted.status());

    let cut = disk.after_power_cut().unwrap();
    let survived = BlobStore::local(cut.path().join("blobs")).unwrap();
    for (id, bytes) in ids.iter().zip([small, large]) {
        assert_eq!(
            survived.get(id, 8 << 20).await.unwrap(),
            bytes,
            "blob {id} was acknowledged but lost"
        );
    }
    let posted_id = ContentHash::of(b"posted without a name");
    assert_eq!(
        survived.get(&posted_id, 100).await.unwrap(),
        Bytes::from_static(b"posted without a name"),
        "the posted blob was acknowledged but lost"
    );
}
