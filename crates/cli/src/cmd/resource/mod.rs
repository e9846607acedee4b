//! `decloud app|dataset|workerpool deploy | show | list`: the registries of resources (ERC-721
//! tokens whose id is the resource's address).

mod deploy;
mod keepers;

use std::path::Path;

use alloy::primitives::Address;
use anyhow::Context;
use clap::{Args, Subcommand};
use decloud_client::resource::{self, Kind, Resource};

use super::shared::{RpcOpts, Untrusted, WalletAddressOpts, parse_address, print_json, table};

/// The registry verbs of `decloud app` (flattened into its subcommands).
#[derive(Subcommand)]
pub(crate) enum AppVerbs {
    /// Register an app (a WASI module, or a bundle made by `decloud app build`) on chain; prints
    /// its address.
    #[command(after_help = "Examples:\n  \
        decloud app deploy --name hello --file hello.wasm --upload http://127.0.0.1:7700/blobs\n  \
        decloud app deploy --name stats --file my-stats/build/bundle --upload http://127.0.0.1:7700/blobs\n  \
        decloud app deploy --name hello --uri http://127.0.0.1:7700/blobs/<sha256> --file hello.wasm\n  \
        decloud app deploy --name hello --uri https://... --checksum 0x<sha256 of the module> --json\n  \
        decloud app deploy --name stats --file stats.wasm --upload http://127.0.0.1:7700/blobs --mrenclave sim --encrypted\n  \
        decloud app deploy --name stats --file stats.wasm --upload STORE --mrenclave 0x<runner> --encrypted --keepers URL1,URL2,URL3 --threshold 2\n\n\
        With --encrypted only the age-encrypted module is uploaded; its key goes to the key holders, which release it to attested enclaves only.")]
    Deploy(Box<deploy::AppDeploy>),
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
pub(crate) enum DatasetVerbs {
    /// Register a dataset on chain; prints its address.
    #[command(after_help = "Examples:\n  \
        decloud dataset deploy --name prices --file prices.csv --upload http://127.0.0.1:7700/blobs\n  \
        decloud dataset deploy --name prices --uri http://127.0.0.1:7700/blobs/<sha256> --file prices.bin\n  \
        decloud dataset deploy --name prices --uri s3://... --checksum 0x<sha256> --json\n  \
        decloud dataset deploy --name prices --file prices.csv.age --upload http://127.0.0.1:7700/blobs --encrypted\n  \
        decloud dataset deploy --name prices --file prices.csv.age --upload http://127.0.0.1:7700/blobs --encrypted --keepers URL1,URL2,URL3 --threshold 2\n  \
        decloud dataset deploy --name prices --local /data/prices.csv   # checksum only; run: decloud node --workers 1 --worker-wallet me --data 0x...=/data/prices.csv")]
    Deploy(Box<deploy::DatasetDeploy>),
    /// Encrypt a file for the marketplace (age v1, a new identity kept beside your wallets);
    /// deploy the result with `--encrypted`: only attested enclaves get the key.
    #[command(after_help = "Examples:\n  \
        decloud dataset encrypt prices.csv           # prices.csv.age, key in $DECLOUD_HOME/keys/datasets/\n  \
        decloud dataset encrypt prices.csv -o /data/prices.age --json\n\n\
        The stock `age -d -i KEYFILE` opens the file too; the checksum printed is what deploy registers.")]
    Encrypt(deploy::DatasetEncrypt),
    /// Ask for keepers drawn per epoch: N of the registered attesters hold a share of the
    /// dataset's key, any K rebuild it, and a TEE task on it needs K of their attestations.
    #[command(after_help = "Examples:\n  \
        decloud dataset keeper-group 0x3f1c... --size 5 --threshold 3\n  \
        decloud dataset keeper-group 0x3f1c... --size 0     # remove it: any attester counts")]
    KeeperGroup(keepers::KeeperGroupArgs),
    /// Show the dataset's keeper group and the keepers drawn for an epoch.
    #[command(after_help = "Examples:\n  \
        decloud dataset keepers 0x3f1c...\n  \
        decloud dataset keepers 0x3f1c... --epoch 982113 --json")]
    Keepers(keepers::KeepersArgs),
    /// Draw an epoch's keepers with the beacon (anyone may, from the draw time to the epoch's
    /// end; the next epoch is drawn in the middle of the current one). A round the chain lacks
    /// is fetched from the profile's beacon URL and submitted first.
    #[command(after_help = "Examples:\n  \
        decloud attester snapshot          # before the draw time: the attesters it draws from\n  \
        decloud dataset draw-keepers 0x3f1c...\n  \
        decloud dataset draw-keepers 0x3f1c... --epoch 982113 --json")]
    DrawKeepers(keepers::DrawKeepersArgs),
    /// Re-split the dataset's key to the keepers drawn for an epoch (the owner's wallet): each
    /// gets its share of a new split; the keepers of other epochs no longer count on chain.
    #[command(after_help = "Examples:\n  \
        decloud dataset reshare 0x3f1c...      # the drawn keepers' URLs from chain (decloud keeper list)\n  \
        decloud dataset reshare 0x3f1c... --keepers https://10.0.0.1:7651,https://10.0.0.2:7651,...\n  \
        decloud dataset reshare 0x3f1c... --epoch 982113 --keepers URL,URL,... --key prices.key --json\n\n\
        It does not make old shares useless: k keepers of an old group can still pool theirs.")]
    Reshare(keepers::ReshareArgs),
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
pub(crate) enum WorkerpoolVerbs {
    /// Register a workerpool (its owner, the wallet, is its scheduler); prints its address.
    #[command(after_help = "Examples:\n  \
        decloud workerpool deploy --description \"my pool\"\n  \
        decloud workerpool deploy --description gpu-pool --worker-stake-ratio 40 --scheduler-reward-ratio 5 --json")]
    Deploy(deploy::WorkerpoolDeploy),
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
    /// The owner's verbs on the pool's workers.
    #[command(flatten)]
    Members(crate::cmd::worker::MemberVerbs),
}

/// Arguments of `show`.
#[derive(Args)]
pub(crate) struct ShowArgs {
    /// The resource's address.
    address: String,
    #[command(flatten)]
    rpc: RpcOpts,
}

/// Arguments of `list`.
#[derive(Args)]
pub(crate) struct ListArgs {
    /// List the resources owned by this address.
    #[arg(long, conflicts_with = "all")]
    owner: Option<Address>,
    /// List every resource of the registry.
    #[arg(long)]
    all: bool,
    /// Whose resources to list when neither --owner nor --all is given.
    #[command(flatten)]
    wallet: WalletAddressOpts,
    #[command(flatten)]
    rpc: RpcOpts,
}

/// Runs an app registry verb.
pub(crate) async fn run_app(verb: AppVerbs, home: &Path, json: bool) -> anyhow::Result<()> {
    match verb {
        AppVerbs::Deploy(args) => deploy::app(*args, home, json).await,
        AppVerbs::Show(args) => show(Kind::App, args, home, json).await,
        AppVerbs::List(args) => list(Kind::App, args, home, json).await,
    }
}

/// Runs a dataset registry verb.
pub(crate) async fn run_dataset(verb: DatasetVerbs, home: &Path, json: bool) -> anyhow::Result<()> {
    match verb {
        DatasetVerbs::Deploy(args) => deploy::dataset(*args, home, json).await,
        DatasetVerbs::Encrypt(args) => deploy::dataset_encrypt(args, home, json),
        DatasetVerbs::KeeperGroup(args) => keepers::keeper_group(args, home, json).await,
        DatasetVerbs::Keepers(args) => keepers::show(args, home, json).await,
        DatasetVerbs::DrawKeepers(args) => keepers::draw(args, home, json).await,
        DatasetVerbs::Reshare(args) => keepers::reshare(args, home, json).await,
        DatasetVerbs::Show(args) => show(Kind::Dataset, args, home, json).await,
        DatasetVerbs::List(args) => list(Kind::Dataset, args, home, json).await,
    }
}

/// Runs a workerpool registry verb.
pub(crate) async fn run_workerpool(
    verb: WorkerpoolVerbs,
    home: &Path,
    json: bool,
) -> anyhow::Result<()> {
    match verb {
        WorkerpoolVerbs::Deploy(args) => deploy::workerpool(args, home, json).await,
        WorkerpoolVerbs::Show(args) => show(Kind::Workerpool, args, home, json).await,
        WorkerpoolVerbs::List(args) => list(Kind::Workerpool, args, home, json).await,
        WorkerpoolVerbs::Members(verb) => crate::cmd::worker::run_members(verb, home, json).await,
    }
}

async fn show(kind: Kind, args: ShowArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    let address = parse_address(&args.address, kind.name())?;
    let client = args.rpc.connect(home, None).await?;
    let resource = resource::lookup(&client, kind, address).await?;
    if json {
        return print_json(&resource);
    }
    println!("{}: {}", kind.name(), resource.address);
    print_resource(&resource);
    Ok(())
}

/// The lines of `decloud <kind> show` after the first.
fn print_resource(r: &Resource) {
    let label = if r.kind == "workerpool" {
        "description"
    } else {
        "name"
    };
    println!("{label:<12} {}", Untrusted(&r.name));
    println!("{:<12} {}", "owner", r.owner);
    if r.registered_by != r.owner {
        println!("{:<12} {}", "registered", r.registered_by);
    }
    if let Some(uri) = &r.uri {
        println!("{:<12} {}", "uri", Untrusted(uri));
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

async fn list(kind: Kind, args: ListArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    let owner =
        match (args.owner, args.all) {
            (Some(o), _) => Some(o),
            (None, true) => None,
            (None, false) => Some(args.wallet.address(home).context(
                "listing the wallet's resources (pass --all or --owner to list others)",
            )?),
        };
    let client = args.rpc.connect(home, None).await?;
    let resources = resource::list(&client, kind, owner).await?;
    if json {
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
        let last = match kind {
            Kind::Workerpool => vec![
                r.worker_stake_ratio.unwrap_or_default().to_string(),
                r.scheduler_reward_ratio.unwrap_or_default().to_string(),
            ],
            _ => vec![Untrusted(r.uri.as_deref().unwrap_or_default()).to_string()],
        };
        let mut row = vec![
            r.address.to_string(),
            Untrusted(&r.name).to_string(),
            r.owner.to_string(),
        ];
        row.extend(last);
        t.add_row(row);
    }
    println!("{t}");
    Ok(())
}
