//! `decloud app|dataset|workerpool deploy`: registering a resource, and what it takes (a
//! checksum, a location, maybe an upload).

use std::path::{Path, PathBuf};

use alloy::primitives::B256;
use alloy::rpc::types::TransactionRequest;
use anyhow::{Context, bail};
use clap::Args;
use decloud_chain::client::Client;
use decloud_client::resource::{self, Kind, Resource};

use super::print_resource;
use crate::cmd::shared::{KeeperOpts, SignerOpts, SmsOpts, parse_b256, print_json, spinner};

/// Where `decloud dataset encrypt` keeps the identity that opens the dataset of `checksum`.
pub(super) fn dataset_key_path(home: &Path, checksum: B256) -> PathBuf {
    home.join("keys")
        .join("datasets")
        .join(format!("{}.key", alloy::hex::encode(checksum)))
}

/// Where `decloud app deploy --encrypted` keeps the identity that opens the app module of
/// `checksum` (the plaintext's).
fn app_key_path(home: &Path, checksum: B256) -> PathBuf {
    home.join("keys")
        .join("apps")
        .join(format!("{}.key", alloy::hex::encode(checksum)))
}

/// What identifies an app's module or a dataset: name, location, checksum.
#[derive(Args, Clone, Debug)]
pub(super) struct ContentOpts {
    /// Its name (committed in its id and emitted, not stored).
    #[arg(long)]
    name: String,
    /// Where workers download it from (the app's module, the encrypted dataset).
    #[arg(long, required_unless_present_any = ["upload", "local"])]
    uri: Option<String>,
    /// (Datasets) A local dataset: register the checksum of the file at PATH and never upload
    /// it; only your own workers, started with `decloud node --data 0xDATASET=PATH`, run its
    /// tasks (the code goes to the data).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["uri", "upload", "checksum", "file"])]
    local: Option<PathBuf>,
    /// Upload --file to this storage location (a `decloud node --storage` at
    /// http://host:7700/blobs, s3://bucket/prefix, a directory) and register its URL there.
    #[arg(long, value_name = "STORE", requires = "file", conflicts_with = "uri")]
    upload: Option<String>,
    #[command(flatten)]
    checksum: ChecksumOpts,
}

/// The checksum of a module or dataset: given, or computed from the file.
#[derive(Args, Clone, Debug)]
#[group(required = false, multiple = false)]
pub(super) struct ChecksumOpts {
    /// sha256 of the content (32 bytes of hex).
    #[arg(long, value_name = "HEX")]
    checksum: Option<String>,
    /// Compute the sha256 from this file.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
}

impl ContentOpts {
    /// The checksum to register: given, or the file's.
    fn checksum(&self) -> anyhow::Result<B256> {
        let checksum = match (&self.checksum.checksum, &self.checksum.file, &self.local) {
            (Some(hex), _, _) => parse_b256(hex, "checksum")?,
            (None, Some(file), _) => resource::checksum_of(file)?,
            (None, None, Some(local)) => resource::checksum_of(local)?,
            (None, None, None) => bail!("pass --checksum or --file"),
        };
        if checksum.is_zero() {
            bail!("the checksum is zero: pass the sha256 of the content");
        }
        Ok(checksum)
    }

    /// The name, uri (where the upload put the file, when asked to upload) and checksum to
    /// register.
    async fn resolve(self) -> anyhow::Result<(String, String, B256)> {
        let checksum = self.checksum()?;
        if self.local.is_some() {
            return Ok((
                self.name,
                decloud_worker::LOCAL_DATASET_URI.to_owned(),
                checksum,
            ));
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
    /// TEE fingerprint of the app: the runner measurement key holders accept (32 bytes of
    /// hex, or `sim` for the devnet's simulated runner); none by default.
    #[arg(long, value_name = "HEX|sim")]
    mrenclave: Option<String>,
    /// Encrypt the module (age v1) before uploading it: only the ciphertext is uploaded, the
    /// plaintext's checksum is registered, and the key goes to the SMS (or the --keepers) as an
    /// app secret released only to attested enclaves. The app then runs only in TEE tasks.
    /// Needs --file MODULE, --upload STORE and --mrenclave.
    #[arg(long, requires_all = ["upload", "mrenclave"])]
    encrypted: bool,
    /// The age identity to encrypt with [default: $DECLOUD_HOME/keys/apps/<checksum>.key, made
    /// (mode 0600) at the first deploy of this module and reused after].
    #[arg(long, value_name = "FILE", requires = "encrypted")]
    key: Option<PathBuf>,
    #[command(flatten)]
    sms: SmsOpts,
    #[command(flatten)]
    keepers: KeeperOpts,
    #[command(flatten)]
    signer: SignerOpts,
}

/// Arguments of `decloud dataset deploy`.
#[derive(Args)]
pub(crate) struct DatasetDeploy {
    #[command(flatten)]
    content: ContentOpts,
    /// The dataset is an age file: once it is registered, its key goes to the SMS (signed by
    /// the wallet), which gives it only to attested enclaves running a deal's TEE task.
    #[arg(long)]
    encrypted: bool,
    /// The age identity that opens it [default: the one `decloud dataset encrypt` kept for this
    /// checksum, $DECLOUD_HOME/keys/datasets/<checksum>.key].
    #[arg(long, value_name = "FILE", requires = "encrypted")]
    key: Option<PathBuf>,
    #[command(flatten)]
    sms: SmsOpts,
    #[command(flatten)]
    keepers: KeeperOpts,
    #[command(flatten)]
    signer: SignerOpts,
}

/// Arguments of `decloud dataset encrypt`.
#[derive(Args)]
pub(crate) struct DatasetEncrypt {
    /// The file to encrypt.
    file: PathBuf,
    /// Where to write the encrypted file [default: FILE.age].
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Where to keep the new identity that opens it (mode 0600) [default:
    /// $DECLOUD_HOME/keys/datasets/<checksum>.key, where `dataset deploy --encrypted` finds it].
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
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
    if args.content.local.is_some() {
        bail!("an app can't be local: its workers download it; upload it (--upload) or give --uri");
    }
    let mrenclave = match args.mrenclave.as_deref() {
        Some("sim") => B256::from(decloud_tee::sim::sim_runner_measurements().measurement().0),
        Some(hex) => parse_b256(hex, "mrenclave")?,
        None => B256::ZERO,
    };
    if args.encrypted {
        return app_encrypted(args, mrenclave, home, json).await;
    }
    let (name, uri, checksum) = args.content.resolve().await?;
    let client = args.signer.connect(home).await?;
    let tx = resource::app_registration(&client, name, uri, checksum, mrenclave).await?;
    let (resource, transaction) = deploy(&client, Kind::App, tx, json).await?;
    print_deployed(Kind::App, &resource, transaction, None, json)
}

/// `decloud app deploy --encrypted`: the key and its holders are checked, then the module is
/// encrypted, the ciphertext uploaded, the app registered with the plaintext's checksum, and
/// the key pushed (docs/confidential.md, "Encrypted apps").
async fn app_encrypted(
    args: AppDeploy,
    mrenclave: B256,
    home: &Path,
    json: bool,
) -> anyhow::Result<()> {
    use decloud_client::encrypted_app;
    if mrenclave.is_zero() {
        bail!(
            "an encrypted app runs only in TEE tasks: pass --mrenclave (the runner measurement; sim on a devnet)"
        );
    }
    if args.content.checksum.checksum.is_some() {
        bail!(
            "--encrypted computes the checksum from the module: pass --file MODULE, not --checksum"
        );
    }
    let file = args
        .content
        .checksum
        .file
        .as_deref()
        .context("--encrypted needs --file MODULE (the plain wasm module)")?;
    let store = args
        .content
        .upload
        .as_deref()
        .context("--encrypted needs --upload STORE: only the ciphertext is uploaded")?;
    let module = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    if decloud_age::is_age(&module) {
        bail!(
            "{} is already an age file: pass the plain module, deploy encrypts it",
            file.display()
        );
    }
    let checksum = B256::from(decloud_storage::ContentHash::of(&module).0);
    let holders = match args.keepers.clients()? {
        Some((keepers, k)) => KeyHolders::Keepers(keepers, k),
        None => KeyHolders::Sms(args.sms.client(home)?),
    };
    let key = args.key.unwrap_or_else(|| app_key_path(home, checksum));
    let identity = if key.exists() {
        decloud_age::Identity::read_file(&key)
            .context("the app's key (pass --key FILE, an age identity)")?
    } else {
        let identity = decloud_age::Identity::generate()?;
        // Kept before anything leaves: a module uploaded encrypted to a lost key is useless.
        identity.write_new_file(&key)?;
        identity
    };
    let sealed = encrypted_app::seal(&module, &identity)?;
    drop(module);
    let client = args.signer.connect(home).await?;
    let bar = spinner("uploading the encrypted module", json);
    let uri = encrypted_app::upload(store, &sealed).await;
    bar.finish_and_clear();
    let uri = uri?;
    let tx =
        resource::app_registration(&client, args.content.name, uri, checksum, mrenclave).await?;
    let (resource, transaction) = deploy(&client, Kind::App, tx, json).await?;
    let signer = client.signer().context("deploying needs a wallet")?;
    let bar = spinner("giving the app's key to the key holders", json);
    let info = match holders {
        KeyHolders::Sms(sms) => {
            decloud_client::secret::push_app_key(&sms, signer, resource.address, &identity).await
        }
        KeyHolders::Keepers(keepers, k) => decloud_client::secret::push_app_key_to_keepers(
            &keepers,
            k,
            signer,
            resource.address,
            &identity,
        )
        .await
        .and_then(|mut all| {
            all.drain(..)
                .next()
                .ok_or_else(|| decloud_client::secret::SmsClientError::Invalid("no keeper".into()))
        }),
    };
    bar.finish_and_clear();
    let info = info.with_context(|| {
        format!(
            "app {} is registered, but its key did not reach the key holders: run the same deploy again (the key in {} is reused)",
            resource.address,
            key.display()
        )
    })?;
    print_deployed(Kind::App, &resource, transaction, Some(&info), json)
}

/// Runs `decloud dataset deploy`.
pub(super) async fn dataset(args: DatasetDeploy, home: &Path, json: bool) -> anyhow::Result<()> {
    // An encrypted dataset's key and SMS are checked before anything is uploaded or sent.
    let encrypted = if args.encrypted {
        let checksum = args.content.checksum()?;
        if let Some(file) = &args.content.checksum.file {
            let mut head = [0u8; 32];
            let read = std::io::Read::read(
                &mut std::fs::File::open(file)
                    .with_context(|| format!("cannot read {}", file.display()))?,
                &mut head,
            )
            .with_context(|| format!("cannot read {}", file.display()))?;
            if !decloud_age::is_age(&head[..read]) {
                bail!(
                    "{} is not an age file: encrypt it first (decloud dataset encrypt {})",
                    file.display(),
                    file.display()
                );
            }
        }
        let key = args
            .key
            .clone()
            .unwrap_or_else(|| dataset_key_path(home, checksum));
        let identity = decloud_age::Identity::read_file(&key)
            .context("the dataset's key (pass --key FILE, the identity that opens the file)")?;
        let holders = match args.keepers.clients()? {
            Some((keepers, k)) => KeyHolders::Keepers(keepers, k),
            None => KeyHolders::Sms(args.sms.client(home)?),
        };
        Some((identity, holders))
    } else {
        None
    };
    let (name, uri, checksum) = args.content.resolve().await?;
    let client = args.signer.connect(home).await?;
    let tx = resource::dataset_registration(&client, name, uri, checksum).await?;
    let (resource, transaction) = deploy(&client, Kind::Dataset, tx, json).await?;
    let pushed = match encrypted {
        Some((identity, holders)) => {
            let signer = client.signer().context("deploying needs a wallet")?;
            let bar = spinner("giving the dataset's key to the SMS", json);
            let info = match holders {
                KeyHolders::Sms(sms) => {
                    decloud_client::secret::push_dataset_key(
                        &sms,
                        signer,
                        resource.address,
                        &identity,
                    )
                    .await
                }
                KeyHolders::Keepers(keepers, k) => {
                    decloud_client::secret::push_dataset_key_to_keepers(
                        &keepers,
                        k,
                        signer,
                        resource.address,
                        &identity,
                    )
                    .await
                    .and_then(|mut all| {
                        all.drain(..).next().ok_or_else(|| {
                            decloud_client::secret::SmsClientError::Invalid("no keeper".into())
                        })
                    })
                }
            };
            bar.finish_and_clear();
            Some(info.with_context(|| {
                format!(
                    "dataset {} is registered, but its key did not reach the SMS: run the same deploy again with --uri and --checksum, or push it later",
                    resource.address
                )
            })?)
        }
        None => None,
    };
    print_deployed(Kind::Dataset, &resource, transaction, pushed.as_ref(), json)
}

/// Where a dataset's key goes: whole to one SMS, or split among keepers.
enum KeyHolders {
    Sms(decloud_client::secret::SmsClient),
    Keepers(Vec<decloud_client::secret::SmsClient>, usize),
}

/// Runs `decloud dataset encrypt`.
pub(super) fn dataset_encrypt(args: DatasetEncrypt, home: &Path, json: bool) -> anyhow::Result<()> {
    let output = args.output.unwrap_or_else(|| {
        let mut name = args.file.clone().into_os_string();
        name.push(".age");
        PathBuf::from(name)
    });
    if output.exists() {
        bail!("{} exists: pass another --output", output.display());
    }
    let plain = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let identity = decloud_age::Identity::generate()?;
    let sealed = decloud_age::encrypt(&plain, &[identity.recipient()])?;
    let checksum = B256::from(decloud_storage::ContentHash::of(&sealed).0);
    let key = args.key.unwrap_or_else(|| dataset_key_path(home, checksum));
    // The key first: an encrypted file whose key was lost could never be opened.
    identity.write_new_file(&key)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&output)
        .with_context(|| format!("cannot create {}", output.display()))?;
    std::io::Write::write_all(&mut file, &sealed)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", output.display()))?;
    if json {
        return print_json(&serde_json::json!({
            "file": output,
            "checksum": checksum,
            "key_file": key,
            "recipient": identity.recipient().to_string(),
        }));
    }
    println!(
        "encrypted {} into {} (age v1)",
        args.file.display(),
        output.display()
    );
    println!("checksum:  {checksum}");
    println!(
        "key:       {} (keep it private; deploy gives it to the SMS)",
        key.display()
    );
    println!(
        "next:      decloud dataset deploy --name NAME --file {} --upload STORE --encrypted",
        output.display()
    );
    Ok(())
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
    let (resource, transaction) = deploy(&client, Kind::Workerpool, tx, json).await?;
    print_deployed(Kind::Workerpool, &resource, transaction, None, json)
}

/// Sends the registration `tx`; what it registered and the transaction.
async fn deploy(
    client: &Client,
    kind: Kind,
    tx: TransactionRequest,
    json: bool,
) -> anyhow::Result<(Resource, B256)> {
    let what = format!("deploying the {}", kind.name());
    let bar = spinner(format!("{what} (waiting for the transaction)"), json);
    let receipt = client.send(&what, tx).await;
    bar.finish_and_clear();
    let receipt = receipt?;
    Ok((
        resource::registered(kind, &receipt)?,
        receipt.transaction_hash,
    ))
}

/// Prints a registered resource (and, for an encrypted dataset, where its key went).
fn print_deployed(
    kind: Kind,
    resource: &Resource,
    transaction: B256,
    key: Option<&decloud_client::secret::SecretInfo>,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let mut value = serde_json::to_value(resource)?;
        value["transaction"] = serde_json::json!(transaction);
        if let Some(key) = key {
            let field = match kind {
                Kind::App => "app_key",
                _ => "dataset_key",
            };
            value[field] = serde_json::to_value(key)?;
        }
        return print_json(&value);
    }
    println!("deployed {} {}", kind.name(), resource.address);
    print_resource(resource);
    println!("transaction: {transaction}");
    if let Some(key) = key {
        println!(
            "key:       held by the SMS for attested enclaves (version {})",
            key.version.unwrap_or_default()
        );
    }
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
