//! `decloud app|dataset|workerpool deploy`: registering a resource, and what it takes (a
//! checksum, a location, maybe an upload).

use std::path::{Path, PathBuf};

use alloy::primitives::B256;
use alloy::rpc::types::TransactionRequest;
use anyhow::{Context, bail};
use clap::Args;
use decloud_chain::client::Client;
use decloud_client::resource::{self, Kind};

use super::print_resource;
use crate::cmd::shared::{SignerOpts, parse_b256, print_json, spinner};

/// What identifies an app's module or a dataset: name, location, checksum.
#[derive(Args, Clone, Debug)]
pub(super) struct ContentOpts {
    /// Its name (committed in its id and emitted, not stored).
    #[arg(long)]
    name: String,
    /// Where workers download it from (the app's module, the encrypted dataset).
    #[arg(long, required_unless_present = "upload")]
    uri: Option<String>,
    /// Upload --file to this storage location (a `decloud node --storage` at
    /// http://host:7700/blobs, s3://bucket/prefix, a directory) and register its URL there.
    #[arg(long, value_name = "STORE", requires = "file", conflicts_with = "uri")]
    upload: Option<String>,
    #[command(flatten)]
    checksum: ChecksumOpts,
}

/// The checksum of a module or dataset: given, or computed from the file.
#[derive(Args, Clone, Debug)]
#[group(required = true, multiple = false)]
pub(super) struct ChecksumOpts {
    /// sha256 of the content (32 bytes of hex).
    #[arg(long, value_name = "HEX")]
    checksum: Option<String>,
    /// Compute the sha256 from this file.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
}

impl ContentOpts {
    /// The name, uri (where the upload put the file, when asked to upload) and checksum to
    /// register.
    async fn resolve(self) -> anyhow::Result<(String, String, B256)> {
        let checksum = match (&self.checksum.checksum, &self.checksum.file) {
            (Some(hex), _) => parse_b256(hex, "checksum")?,
            (None, Some(file)) => resource::checksum_of(file)?,
            (None, None) => bail!("pass --checksum or --file"),
        };
        if checksum.is_zero() {
            bail!("the checksum is zero: pass the sha256 of the content");
        }
        let uri = match (&self.upload, self.uri) {
            (None, Some(uri)) => uri,
            (Some(store), _) => {
                let file = self
                    .checksum
                    .file
                    .as_deref()
                    .context("--upload needs --file")?;
                upload_bundle_parts(store, file).await?;
                resource::upload(store, file).await?
            }
            (None, None) => bail!("pass --uri (where the file is) or --upload (where to put it)"),
        };
        Ok((self.name, uri, checksum))
    }
}

/// When `file` is an app bundle (`decloud app build`'s `build/bundle`), uploads its parts
/// (the module and the files, from the `blobs/` beside it) to `store` first: a worker fetches
/// them from beside the manifest. Anything else is left to the caller.
async fn upload_bundle_parts(store: &str, file: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    if !decloud_protocol::bundle::is_bundle(&bytes) {
        return Ok(());
    }
    let bundle = decloud_protocol::bundle::Bundle::decode(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let parent = file.parent().unwrap_or(Path::new("."));
    let blobs = parent.join("blobs");
    let blobs = if blobs.is_dir() {
        blobs
    } else {
        parent.to_path_buf()
    };
    let target = decloud_storage::BlobStore::from_url(store)?;
    for part in bundle.parts() {
        let id = decloud_storage::ContentHash(part.sha256.0);
        if target.contains(&id).await.unwrap_or(false) {
            continue;
        }
        let path = decloud_runtime::bundle::check_part(&blobs, &part)?;
        let stored = target.put_file(&path).await.with_context(|| {
            format!("cannot upload {} to {}", path.display(), target.location())
        })?;
        if stored != id {
            bail!(
                "{} changed since the build (it hashes to {stored}, not {id}): run `decloud app build` again",
                path.display()
            );
        }
    }
    Ok(())
}

/// Arguments of `decloud app deploy`.
#[derive(Args)]
pub(crate) struct AppDeploy {
    #[command(flatten)]
    content: ContentOpts,
    /// TEE fingerprint of the app (32 bytes of hex); none by default.
    #[arg(long, value_name = "HEX")]
    mrenclave: Option<String>,
    #[command(flatten)]
    signer: SignerOpts,
}

/// Arguments of `decloud dataset deploy`.
#[derive(Args)]
pub(crate) struct DatasetDeploy {
    #[command(flatten)]
    content: ContentOpts,
    #[command(flatten)]
    signer: SignerOpts,
}

/// Arguments of `decloud workerpool deploy`.
#[derive(Args)]
pub(crate) struct WorkerpoolDeploy {
    /// A description of the pool.
    #[arg(long)]
    description: String,
    /// Percent of the workerpool price a worker stakes per contribution.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u8).range(0..=100))]
    worker_stake_ratio: u8,
    /// Percent of the workerpool price the scheduler keeps.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=100))]
    scheduler_reward_ratio: u8,
    #[command(flatten)]
    signer: SignerOpts,
}

/// Runs `decloud app deploy`.
pub(super) async fn app(args: AppDeploy, home: &Path, json: bool) -> anyhow::Result<()> {
    let (name, uri, checksum) = args.content.resolve().await?;
    let mrenclave = match args.mrenclave {
        Some(hex) => parse_b256(&hex, "mrenclave")?,
        None => B256::ZERO,
    };
    let client = args.signer.connect(home).await?;
    let tx = resource::app_registration(&client, name, uri, checksum, mrenclave).await?;
    deploy(&client, Kind::App, tx, json).await
}

/// Runs `decloud dataset deploy`.
pub(super) async fn dataset(args: DatasetDeploy, home: &Path, json: bool) -> anyhow::Result<()> {
    let (name, uri, checksum) = args.content.resolve().await?;
    let client = args.signer.connect(home).await?;
    let tx = resource::dataset_registration(&client, name, uri, checksum).await?;
    deploy(&client, Kind::Dataset, tx, json).await
}

/// Runs `decloud workerpool deploy`.
pub(super) async fn workerpool(
    args: WorkerpoolDeploy,
    home: &Path,
    json: bool,
) -> anyhow::Result<()> {
    let client = args.signer.connect(home).await?;
    let tx = resource::workerpool_registration(
        &client,
        args.description,
        args.worker_stake_ratio,
        args.scheduler_reward_ratio,
    );
    deploy(&client, Kind::Workerpool, tx, json).await
}

/// Sends the registration `tx` and prints what it registered.
async fn deploy(
    client: &Client,
    kind: Kind,
    tx: TransactionRequest,
    json: bool,
) -> anyhow::Result<()> {
    let what = format!("deploying the {}", kind.name());
    let bar = spinner(format!("{what} (waiting for the transaction)"), json);
    let receipt = client.send(&what, tx).await;
    bar.finish_and_clear();
    let receipt = receipt?;
    let resource = resource::registered(kind, &receipt)?;
    if json {
        let mut value = serde_json::to_value(&resource)?;
        value["transaction"] = serde_json::json!(receipt.transaction_hash);
        return print_json(&value);
    }
    println!("deployed {} {}", kind.name(), resource.address);
    print_resource(&resource);
    println!("transaction: {}", receipt.transaction_hash);
    Ok(())
}

#[cfg(test)]
mod bundle_upload_tests {
    use super::*;

    #[tokio::test]
    async fn a_bundles_parts_are_uploaded_beside_it_and_a_plain_file_is_left_alone() {
        let project = tempfile::tempdir().unwrap();
        let build = project.path().join("build");
        let blobs = build.join("blobs");
        std::fs::create_dir_all(&blobs).unwrap();
        let (module, script) = (project.path().join("m.wasm"), project.path().join("a.py"));
        std::fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
        std::fs::write(&script, b"print(1)\n").unwrap();
        let mut b = decloud_runtime::bundle::BundleBuilder::new(&blobs).unwrap();
        b.module(&module).unwrap();
        b.file("a.py", &script).unwrap();
        let (bundle, _, manifest) = b.finish().unwrap();
        let bundle_file = build.join("bundle");
        std::fs::copy(&manifest, &bundle_file).unwrap();

        let store = tempfile::tempdir().unwrap();
        let location = store.path().to_str().unwrap();
        upload_bundle_parts(location, &bundle_file).await.unwrap();
        for part in bundle.parts() {
            let name = decloud_storage::ContentHash(part.sha256.0).to_string();
            assert!(store.path().join(&name).is_file(), "{name}");
        }
        // A plain module uploads nothing here (the caller uploads the file itself).
        let other = tempfile::tempdir().unwrap();
        upload_bundle_parts(other.path().to_str().unwrap(), &module)
            .await
            .unwrap();
        assert_eq!(std::fs::read_dir(other.path()).unwrap().count(), 0);
        // A part that went missing since the build: one line saying what to do.
        std::fs::remove_dir_all(&blobs).unwrap();
        let fresh = tempfile::tempdir().unwrap();
        let err = upload_bundle_parts(fresh.path().to_str().unwrap(), &bundle_file)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("download or build it"), "{err}");
    }
}
