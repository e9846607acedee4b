//! App bundles end to end on a real devnet (issue 15): a bundle's parts and manifest in the
//! pool's storage, the manifest's sha256 registered as the app's checksum; a worker downloads
//! the parts from beside the manifest, lays the files out at /app, runs the module with the
//! bundle's arguments, and two apps sharing one module share one downloaded copy.

use std::time::Duration;

use alloy::primitives::B256;
use decloud_protocol::bundle::{Bundle, BundleFile, Part};
use decloud_scheduler::db::ReplicateStatus;
use decloud_storage::BlobStore;
use decloud_testkit::pool::{DealRequest, Pool, PoolOptions};
use decloud_testkit::{Devnet, fixtures};

/// Puts `greeting`'s module and a file in the pool's storage, then the manifest of a bundle
/// whose arguments start with `first`; registers it; returns the app id.
async fn deploy_bundle(
    pool: &Pool,
    name: &str,
    first: &str,
) -> (alloy::primitives::Address, Bundle) {
    let module = fixtures::example_app("greeting").unwrap();
    let note = format!("the {name} bundle\n").into_bytes();
    let store = BlobStore::from_url(&pool.storage_url).unwrap();
    store.put(module.clone()).await.unwrap();
    store.put(note.clone()).await.unwrap();
    let bundle = Bundle {
        module: Part::of(&module),
        args: vec![first.to_string()],
        env: [("GREETING_STYLE".to_string(), "plain".to_string())].into(),
        files: vec![BundleFile {
            path: "notes/readme.txt".into(),
            part: Part::of(&note),
        }],
    };
    let manifest = bundle.encode().unwrap();
    let app = pool.deploy_app(name, &manifest).await.unwrap();
    (app, bundle)
}

async fn result_text(pool: &Pool, task: B256) -> String {
    let chain = decloud_chain::client::Client::connect(&pool.profile, None, None)
        .await
        .unwrap();
    let finalized =
        fixtures::hub_events::<decloud_chain::contracts::IHub::TaskFinalize>(&chain, task)
            .await
            .unwrap();
    let location = String::from_utf8(finalized[0].resultsLocation.to_vec()).unwrap();
    let archive = fixtures::download(&location, 1 << 20).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    decloud_storage::results::unpack(&archive, dir.path(), 1 << 20).unwrap();
    std::fs::read_to_string(dir.path().join("result.txt")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bundle_runs_with_its_arguments_and_apps_share_its_module() {
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(&devnet, PoolOptions::default()).await.unwrap();
    let (first, bundle) = deploy_bundle(&pool, "bundled-a", "bundled").await;
    let (second, _) = deploy_bundle(&pool, "bundled-b", "shared").await;

    for (app, want) in [
        (first, "Hello, bundled Alice!\n"),
        (second, "Hello, shared Alice!\n"),
    ] {
        let task = pool
            .deal(&DealRequest::new(app).args("Alice"))
            .await
            .unwrap()
            .task_ids()[0];
        pool.wait_completed(&[task], Duration::from_secs(120))
            .await
            .unwrap();
        assert_eq!(result_text(&pool, task).await, want);
    }

    // The worker keeps the module once, by its sha256, for both apps, and lays each bundle's
    // files out once.
    let worker = pool.worker_dir(0);
    let module_blob = worker
        .join("blobs")
        .join(decloud_storage::ContentHash(bundle.module.sha256.0).to_string());
    assert!(module_blob.is_file(), "{}", module_blob.display());
    let blobs: Vec<_> = std::fs::read_dir(worker.join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(blobs.len(), 3, "one module, two notes: {blobs:?}");
    let layouts: Vec<_> = std::fs::read_dir(worker.join("app-files"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(layouts.len(), 2);
    for dir in layouts {
        let note = std::fs::read_to_string(dir.join("notes/readme.txt")).unwrap();
        assert!(note.starts_with("the bundled-"), "{note}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bundle_whose_part_is_missing_fails_with_a_reason_and_is_not_contributed() {
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(&devnet, PoolOptions::default()).await.unwrap();
    let module = fixtures::example_app("greeting").unwrap();
    let store = BlobStore::from_url(&pool.storage_url).unwrap();
    store.put(module.clone()).await.unwrap();
    let bundle = Bundle {
        module: Part::of(&module),
        files: vec![BundleFile {
            path: "absent.txt".into(),
            part: Part::of(b"never uploaded"),
        }],
        ..Default::default()
    };
    let app = pool
        .deploy_app("incomplete", &bundle.encode().unwrap())
        .await
        .unwrap();
    let task = pool
        .deal(&DealRequest::new(app).args("Alice"))
        .await
        .unwrap()
        .task_ids()[0];
    let url = pool.scheduler_url().unwrap();
    let failed = fixtures::eventually(Duration::from_secs(120), "no replicate failed", || async {
        let r = fixtures::scheduler_task(&url, task).await?;
        r.replicates
            .iter()
            .find(|r| r.status == ReplicateStatus::Failed)
            .cloned()
    })
    .await
    .unwrap();
    let reason = failed.reason.unwrap_or_default();
    assert!(reason.contains("app part"), "{reason}");
    let chain = decloud_chain::client::Client::connect(&pool.profile, None, None)
        .await
        .unwrap();
    let contributed =
        fixtures::hub_events::<decloud_chain::contracts::IHub::TaskContribute>(&chain, task)
            .await
            .unwrap();
    assert!(
        contributed.is_empty(),
        "a failed download is not contributed"
    );
}
