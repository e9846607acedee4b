//! `decloud app|dataset|workerpool deploy | show | list` and `decloud category list`: the
//! registries of resources (ERC-721 tokens whose id is the resource's address) and the hub's
//! categories.

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256};
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use decloud_chain::client::Client;
use decloud_chain::contracts::{AppRegistry, DatasetRegistry, WorkerpoolRegistry};
use serde::Serialize;

use super::shared::{
    CONTRIBUTION_DEADLINE_RATIO, FINAL_DEADLINE_RATIO, logs_since_deployment, print_json, small,
    table,
};
use super::wallet::{RpcOpts, WalletOpts, spinner};

/// The registry verbs of `decloud app` (flattened into its subcommands).
#[derive(Subcommand)]
pub enum AppVerbs {
    /// Register an app (a WASI module) on chain; prints its address.
    #[command(after_help = "Examples:\n  \
        decloud app deploy --name hello --file hello.wasm --upload http://127.0.0.1:7700/blobs\n  \
        decloud app deploy --name hello --uri http://127.0.0.1:7700/blobs/<sha256> --file hello.wasm\n  \
        decloud app deploy --name hello --uri https://... --checksum 0x<sha256 of the module> --json")]
    Deploy {
        /// The app's name (committed in its id and emitted, not stored).
        #[arg(long)]
        name: String,
        /// Where workers download the module from.
        #[arg(long, required_unless_present = "upload")]
        uri: Option<String>,
        #[command(flatten)]
        upload: UploadOpts,
        #[command(flatten)]
        checksum: ChecksumOpts,
        /// TEE fingerprint of the app (32 bytes of hex); none by default.
        #[arg(long, value_name = "HEX")]
        mrenclave: Option<String>,
        #[command(flatten)]
        wallet: WalletOpts,
        #[command(flatten)]
        rpc: RpcOpts,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a deployed app: owner, checksum, name and uri.
    #[command(
        after_help = "Examples:\n  decloud app show 0x5a0b...\n  decloud app show 0x5a0b... --json"
    )]
    Show(ShowArgs),
    /// List deployed apps: the wallet's by default, `--owner` someone else's, `--all` every one.
    #[command(
        after_help = "Examples:\n  decloud app list\n  decloud app list --all --json\n  decloud app list --owner 0x7099..."
    )]
    List(ListArgs),
}

/// The registry verbs of `decloud dataset`.
#[derive(Subcommand)]
pub enum DatasetVerbs {
    /// Register a dataset on chain; prints its address.
    #[command(after_help = "Examples:\n  \
        decloud dataset deploy --name prices --file prices.csv --upload http://127.0.0.1:7700/blobs\n  \
        decloud dataset deploy --name prices --uri http://127.0.0.1:7700/blobs/<sha256> --file prices.bin\n  \
        decloud dataset deploy --name prices --uri s3://... --checksum 0x<sha256> --json")]
    Deploy {
        /// The dataset's name (committed in its id and emitted, not stored).
        #[arg(long)]
        name: String,
        /// Where workers download the (encrypted) dataset from.
        #[arg(long, required_unless_present = "upload")]
        uri: Option<String>,
        #[command(flatten)]
        upload: UploadOpts,
        #[command(flatten)]
        checksum: ChecksumOpts,
        #[command(flatten)]
        wallet: WalletOpts,
        #[command(flatten)]
        rpc: RpcOpts,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a deployed dataset: owner, checksum, name and uri.
    #[command(
        after_help = "Examples:\n  decloud dataset show 0x3f1c...\n  decloud dataset show 0x3f1c... --json"
    )]
    Show(ShowArgs),
    /// List deployed datasets: the wallet's by default, `--owner` someone else's, `--all` every one.
    #[command(
        after_help = "Examples:\n  decloud dataset list\n  decloud dataset list --all --json"
    )]
    List(ListArgs),
}

/// The registry verbs of `decloud workerpool`.
#[derive(Subcommand)]
pub enum WorkerpoolVerbs {
    /// Register a workerpool (its owner, the wallet, is its scheduler); prints its address.
    #[command(after_help = "Examples:\n  \
        decloud workerpool deploy --description \"my pool\"\n  \
        decloud workerpool deploy --description gpu-pool --worker-stake-ratio 40 --scheduler-reward-ratio 5 --json")]
    Deploy {
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
        wallet: WalletOpts,
        #[command(flatten)]
        rpc: RpcOpts,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a deployed workerpool: owner (scheduler), policy, description.
    #[command(
        after_help = "Examples:\n  decloud workerpool show 0x9c2e...\n  decloud workerpool show 0x9c2e... --json"
    )]
    Show(ShowArgs),
    /// List deployed workerpools: the wallet's by default, `--owner` someone else's, `--all` every one.
    #[command(
        after_help = "Examples:\n  decloud workerpool list --all\n  decloud workerpool list --json"
    )]
    List(ListArgs),
}

/// Uploading the file to a storage location instead of naming where it already is.
#[derive(Args, Clone, Debug)]
pub struct UploadOpts {
    /// Upload --file to this storage location (a `decloud node --storage` at
    /// http://host:7700/blobs, s3://bucket/prefix, a directory) and register its URL there.
    #[arg(long, value_name = "STORE", requires = "file", conflicts_with = "uri")]
    upload: Option<String>,
}

impl UploadOpts {
    /// The uri to register: `uri` as given, or where the upload of `file` put it.
    async fn uri(&self, uri: Option<String>, file: Option<&Path>) -> anyhow::Result<String> {
        match (&self.upload, uri) {
            (None, Some(uri)) => Ok(uri),
            (Some(store), _) => {
                let file = file.context("--upload needs --file")?;
                let bytes = std::fs::read(file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let store = decloud_storage::BlobStore::from_url(store)?;
                let id = store.put(bytes).await.with_context(|| {
                    format!("cannot upload {} to {}", file.display(), store.location())
                })?;
                Ok(store.url_of(&id))
            }
            (None, None) => bail!("pass --uri (where the file is) or --upload (where to put it)"),
        }
    }
}

/// The checksum of a module or dataset: given, or computed from the file.
#[derive(Args, Clone, Debug)]
#[group(required = true, multiple = false)]
pub struct ChecksumOpts {
    /// sha256 of the content (32 bytes of hex).
    #[arg(long, value_name = "HEX")]
    checksum: Option<String>,
    /// Compute the sha256 from this file.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
}

impl ChecksumOpts {
    fn resolve(&self) -> anyhow::Result<B256> {
        let checksum = match (&self.checksum, &self.file) {
            (Some(hex), _) => super::shared::parse_b256(hex, "checksum")?,
            (None, Some(file)) => {
                let bytes = std::fs::read(file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                B256::from(decloud_storage::ContentHash::of(&bytes).0)
            }
            (None, None) => bail!("pass --checksum or --file"),
        };
        if checksum.is_zero() {
            bail!("the checksum is zero: pass the sha256 of the content");
        }
        Ok(checksum)
    }
}

/// Arguments of `show`.
#[derive(Args)]
pub struct ShowArgs {
    /// The resource's address.
    address: String,
    #[command(flatten)]
    rpc: RpcOpts,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `list`.
#[derive(Args)]
pub struct ListArgs {
    /// List the resources owned by this address.
    #[arg(long, conflicts_with = "all")]
    owner: Option<Address>,
    /// List every resource of the registry.
    #[arg(long)]
    all: bool,
    /// Whose resources to list when neither --owner nor --all is given (no password needed).
    #[arg(long, env = "DECLOUD_WALLET", default_value = decloud_chain::wallet::DEFAULT_WALLET, value_name = "NAME|PATH")]
    wallet: String,
    #[command(flatten)]
    rpc: RpcOpts,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

/// The three resource kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    App,
    Dataset,
    Workerpool,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::App => "app",
            Kind::Dataset => "dataset",
            Kind::Workerpool => "workerpool",
        }
    }

    fn registry(self, client: &Client) -> Address {
        let c = &client.profile().contracts;
        match self {
            Kind::App => c.app_registry,
            Kind::Dataset => c.dataset_registry,
            Kind::Workerpool => c.workerpool_registry,
        }
    }

    fn event(self) -> B256 {
        match self {
            Kind::App => AppRegistry::AppRegistered::SIGNATURE_HASH,
            Kind::Dataset => DatasetRegistry::DatasetRegistered::SIGNATURE_HASH,
            Kind::Workerpool => WorkerpoolRegistry::WorkerpoolRegistered::SIGNATURE_HASH,
        }
    }
}

/// A resource as shown and listed.
#[derive(Debug, Serialize)]
struct Resource {
    kind: &'static str,
    address: Address,
    owner: Address,
    /// App and dataset: name; workerpool: description.
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checksum: Option<B256>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mrenclave: Option<B256>,
    #[serde(skip_serializing_if = "Option::is_none")]
    worker_stake_ratio: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduler_reward_ratio: Option<u8>,
    /// Who registered it (differs from `owner` after a transfer).
    registered_by: Address,
    #[serde(skip_serializing_if = "Option::is_none")]
    block: Option<u64>,
}

impl Resource {
    /// The resource described by its registration event (owner as registered).
    fn from_log(kind: Kind, log: &Log) -> Option<Self> {
        let block = log.block_number;
        Some(match kind {
            Kind::App => {
                let e = AppRegistry::AppRegistered::decode_log(&log.inner).ok()?;
                Resource {
                    kind: kind.name(),
                    address: e.app,
                    owner: e.owner,
                    name: e.name.clone(),
                    uri: Some(e.uri.clone()),
                    checksum: Some(e.checksum),
                    mrenclave: Some(e.mrenclave),
                    worker_stake_ratio: None,
                    scheduler_reward_ratio: None,
                    registered_by: e.owner,
                    block,
                }
            }
            Kind::Dataset => {
                let e = DatasetRegistry::DatasetRegistered::decode_log(&log.inner).ok()?;
                Resource {
                    kind: kind.name(),
                    address: e.dataset,
                    owner: e.owner,
                    name: e.name.clone(),
                    uri: Some(e.uri.clone()),
                    checksum: Some(e.checksum),
                    mrenclave: None,
                    worker_stake_ratio: None,
                    scheduler_reward_ratio: None,
                    registered_by: e.owner,
                    block,
                }
            }
            Kind::Workerpool => {
                let e = WorkerpoolRegistry::WorkerpoolRegistered::decode_log(&log.inner).ok()?;
                Resource {
                    kind: kind.name(),
                    address: e.workerpool,
                    owner: e.owner,
                    name: e.description.clone(),
                    uri: None,
                    checksum: None,
                    mrenclave: None,
                    worker_stake_ratio: Some(e.workerStakeRatio),
                    scheduler_reward_ratio: Some(e.schedulerRewardRatio),
                    registered_by: e.owner,
                    block,
                }
            }
        })
    }
}

/// Runs an app registry verb.
pub async fn run_app(verb: AppVerbs, home: &Path) -> anyhow::Result<()> {
    match verb {
        AppVerbs::Deploy {
            name,
            uri,
            upload,
            checksum,
            mrenclave,
            wallet,
            rpc,
            json,
        } => {
            let file = checksum.file.clone();
            let checksum = checksum.resolve()?;
            let uri = upload.uri(uri, file.as_deref()).await?;
            let mrenclave = match mrenclave {
                Some(hex) => super::shared::parse_b256(&hex, "mrenclave")?,
                None => B256::ZERO,
            };
            let signer = wallet.unlock(home)?;
            let client = rpc.connect(home, Some(signer)).await?;
            let owner = client.address().context("no wallet")?;
            let registry =
                AppRegistry::new(client.profile().contracts.app_registry, client.provider());
            let id = registry
                .predictId(owner, name.clone(), uri.clone(), checksum, mrenclave)
                .call()
                .await
                .map_err(|e| client.contract_error("predicting the app's id", &e))?;
            if registry
                .exists(id)
                .call()
                .await
                .map_err(|e| client.contract_error("reading the app registry", &e))?
            {
                bail!(
                    "this app (same owner, name, uri, checksum, mrenclave) is already deployed at {id}: see `decloud app show {id}`"
                );
            }
            let call = registry.register(name, uri, checksum, mrenclave);
            deploy(&client, Kind::App, call.into_transaction_request(), json).await
        }
        AppVerbs::Show(args) => show(Kind::App, args, home).await,
        AppVerbs::List(args) => list(Kind::App, args, home).await,
    }
}

/// Runs a dataset registry verb.
pub async fn run_dataset(verb: DatasetVerbs, home: &Path) -> anyhow::Result<()> {
    match verb {
        DatasetVerbs::Deploy {
            name,
            uri,
            upload,
            checksum,
            wallet,
            rpc,
            json,
        } => {
            let file = checksum.file.clone();
            let checksum = checksum.resolve()?;
            let uri = upload.uri(uri, file.as_deref()).await?;
            let signer = wallet.unlock(home)?;
            let client = rpc.connect(home, Some(signer)).await?;
            let owner = client.address().context("no wallet")?;
            let registry = DatasetRegistry::new(
                client.profile().contracts.dataset_registry,
                client.provider(),
            );
            let id = registry
                .predictId(owner, name.clone(), uri.clone(), checksum)
                .call()
                .await
                .map_err(|e| client.contract_error("predicting the dataset's id", &e))?;
            if registry
                .exists(id)
                .call()
                .await
                .map_err(|e| client.contract_error("reading the dataset registry", &e))?
            {
                bail!(
                    "this dataset (same owner, name, uri, checksum) is already deployed at {id}: see `decloud dataset show {id}`"
                );
            }
            let call = registry.register(name, uri, checksum);
            deploy(
                &client,
                Kind::Dataset,
                call.into_transaction_request(),
                json,
            )
            .await
        }
        DatasetVerbs::Show(args) => show(Kind::Dataset, args, home).await,
        DatasetVerbs::List(args) => list(Kind::Dataset, args, home).await,
    }
}

/// Runs a workerpool registry verb.
pub async fn run_workerpool(verb: WorkerpoolVerbs, home: &Path) -> anyhow::Result<()> {
    match verb {
        WorkerpoolVerbs::Deploy {
            description,
            worker_stake_ratio,
            scheduler_reward_ratio,
            wallet,
            rpc,
            json,
        } => {
            let signer = wallet.unlock(home)?;
            let client = rpc.connect(home, Some(signer)).await?;
            let registry = WorkerpoolRegistry::new(
                client.profile().contracts.workerpool_registry,
                client.provider(),
            );
            let call = registry.register(description, worker_stake_ratio, scheduler_reward_ratio);
            deploy(
                &client,
                Kind::Workerpool,
                call.into_transaction_request(),
                json,
            )
            .await
        }
        WorkerpoolVerbs::Show(args) => show(Kind::Workerpool, args, home).await,
        WorkerpoolVerbs::List(args) => list(Kind::Workerpool, args, home).await,
    }
}

async fn deploy(
    client: &Client,
    kind: Kind,
    tx: alloy::rpc::types::TransactionRequest,
    json: bool,
) -> anyhow::Result<()> {
    let what = format!("deploying the {}", kind.name());
    let bar = spinner(format!("{what} (waiting for the transaction)"), json);
    let receipt = client.send(&what, tx).await;
    bar.finish_and_clear();
    let receipt = receipt?;
    let resource = receipt
        .inner
        .logs()
        .iter()
        .filter(|l| l.topic0() == Some(&kind.event()))
        .find_map(|l| Resource::from_log(kind, l))
        .with_context(|| format!("{what}: the receipt has no registration event"))?;
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

/// The resource at `address`, with its registration details, or an "unknown" error.
async fn lookup(client: &Client, kind: Kind, address: Address) -> anyhow::Result<Resource> {
    let filter = Filter::new()
        .address(kind.registry(client))
        .event_signature(kind.event())
        .topic1(address.into_word());
    let logs = logs_since_deployment(client, &filter, "reading the registry's events").await?;
    let mut resource = logs
        .iter()
        .find_map(|l| Resource::from_log(kind, l))
        .with_context(|| {
            format!(
                "no {k} {address} on this chain: check the address, or list them with `decloud {k} list --all`",
                k = kind.name()
            )
        })?;
    resource.owner = current_owner(client, kind, address).await?;
    if kind == Kind::Workerpool {
        let info = WorkerpoolRegistry::new(kind.registry(client), client.provider())
            .workerpoolInfo(address)
            .call()
            .await
            .map_err(|e| client.contract_error("reading the workerpool", &e))?;
        resource.worker_stake_ratio = Some(info.workerStakeRatio);
        resource.scheduler_reward_ratio = Some(info.schedulerRewardRatio);
    }
    Ok(resource)
}

async fn current_owner(client: &Client, kind: Kind, address: Address) -> anyhow::Result<Address> {
    AppRegistry::new(kind.registry(client), client.provider())
        .ownerOfResource(address)
        .call()
        .await
        .map_err(|e| {
            client
                .contract_error(&format!("reading the {}'s owner", kind.name()), &e)
                .into()
        })
}

async fn show(kind: Kind, args: ShowArgs, home: &Path) -> anyhow::Result<()> {
    let address = super::shared::parse_address(&args.address, kind.name())?;
    let client = args.rpc.connect(home, None).await?;
    let resource = lookup(&client, kind, address).await?;
    if args.json {
        return print_json(&resource);
    }
    println!("{}: {}", kind.name(), resource.address);
    print_resource(&resource);
    Ok(())
}

fn print_resource(r: &Resource) {
    let label = if r.kind == "workerpool" {
        "description"
    } else {
        "name"
    };
    println!("{label:<12} {}", r.name);
    println!("{:<12} {}", "owner", r.owner);
    if r.registered_by != r.owner {
        println!("{:<12} {}", "registered", r.registered_by);
    }
    if let Some(uri) = &r.uri {
        println!("{:<12} {uri}", "uri");
    }
    if let Some(c) = r.checksum {
        println!("{:<12} {c}", "checksum");
    }
    if let Some(m) = r.mrenclave.filter(|m| !m.is_zero()) {
        println!("{:<12} {m}", "mrenclave");
    }
    if let (Some(s), Some(k)) = (r.worker_stake_ratio, r.scheduler_reward_ratio) {
        println!(
            "{:<12} workers stake {s}% of the price, the scheduler keeps {k}%",
            "policy"
        );
    }
}

async fn list(kind: Kind, args: ListArgs, home: &Path) -> anyhow::Result<()> {
    let owner = match (args.owner, args.all) {
        (Some(o), _) => Some(o),
        (None, true) => None,
        (None, false) => Some(
            WalletOpts {
                wallet: args.wallet.clone(),
                password_file: None,
            }
            .address(home)
            .context("listing the wallet's resources (pass --all or --owner to list others)")?,
        ),
    };
    let client = args.rpc.connect(home, None).await?;
    let filter = Filter::new()
        .address(kind.registry(&client))
        .event_signature(kind.event());
    let logs = logs_since_deployment(&client, &filter, "reading the registry's events").await?;
    let mut resources = Vec::new();
    for log in &logs {
        let Some(mut r) = Resource::from_log(kind, log) else {
            continue;
        };
        r.owner = current_owner(&client, kind, r.address).await?;
        if owner.is_none_or(|o| o == r.owner) {
            resources.push(r);
        }
    }
    if args.json {
        return print_json(&resources);
    }
    if resources.is_empty() {
        match owner {
            Some(o) => println!(
                "no {k} owned by {o} (deploy one with `decloud {k} deploy`)",
                k = kind.name()
            ),
            None => println!("no {} deployed on this chain", kind.name()),
        }
        return Ok(());
    }
    let mut t = match kind {
        Kind::Workerpool => table(["address", "description", "owner", "stake %", "reward %"]),
        _ => table(["address", "name", "owner", "uri"]),
    };
    for r in &resources {
        match kind {
            Kind::Workerpool => t.add_row(vec![
                r.address.to_string(),
                r.name.clone(),
                r.owner.to_string(),
                r.worker_stake_ratio.unwrap_or_default().to_string(),
                r.scheduler_reward_ratio.unwrap_or_default().to_string(),
            ]),
            _ => t.add_row(vec![
                r.address.to_string(),
                r.name.clone(),
                r.owner.to_string(),
                r.uri.clone().unwrap_or_default(),
            ]),
        };
    }
    println!("{t}");
    Ok(())
}

/// Arguments of `decloud category`.
#[derive(Args)]
pub struct CategoryArgs {
    #[command(subcommand)]
    command: CategoryCommand,
}

#[derive(Subcommand)]
enum CategoryCommand {
    /// List the hub's categories: id, name, reference time and the deadlines it gives a task.
    #[command(after_help = "Examples:\n  decloud category list\n  decloud category list --json")]
    List {
        #[command(flatten)]
        rpc: RpcOpts,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A category as listed.
#[derive(Debug, Serialize)]
struct Category {
    id: u64,
    name: String,
    work_clock_time_ref: u64,
    contribution_deadline_secs: u64,
    final_deadline_secs: u64,
}

/// Runs `decloud category <verb>`.
pub async fn run_category(args: CategoryArgs, home: &Path) -> anyhow::Result<()> {
    let CategoryCommand::List { rpc, json } = args.command;
    let client = rpc.connect(home, None).await?;
    let hub = client.hub_extension();
    let count = hub
        .categoryCount()
        .call()
        .await
        .map_err(|e| client.contract_error("reading the categories", &e))?;
    let mut categories = Vec::new();
    for id in 0..small(count) {
        let c = hub
            .category(alloy::primitives::U256::from(id))
            .call()
            .await
            .map_err(|e| client.contract_error("reading a category", &e))?;
        let reference = small(c.workClockTimeRef);
        categories.push(Category {
            id,
            name: c.name,
            work_clock_time_ref: reference,
            contribution_deadline_secs: reference.saturating_mul(CONTRIBUTION_DEADLINE_RATIO),
            final_deadline_secs: reference.saturating_mul(FINAL_DEADLINE_RATIO),
        });
    }
    if json {
        return print_json(&categories);
    }
    let mut t = table([
        "id",
        "name",
        "reference",
        "contribute within",
        "final deadline",
    ]);
    for c in &categories {
        t.add_row(vec![
            c.id.to_string(),
            c.name.clone(),
            format!("{} s", c.work_clock_time_ref),
            format!("{} s", c.contribution_deadline_secs),
            format!("{} s", c.final_deadline_secs),
        ]);
    }
    println!("{t}");
    Ok(())
}
