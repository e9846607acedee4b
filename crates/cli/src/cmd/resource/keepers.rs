//! `decloud dataset keeper-group | keepers | draw-keepers | reshare`: a dataset's keepers drawn
//! per epoch (docs/confidential.md): the owner sets the group's size and threshold, anyone draws
//! an epoch's keepers with the beacon, and the owner re-splits the key to the keepers drawn.

use std::path::Path;
use std::time::Instant;

use alloy::primitives::Address;
use anyhow::{Context, bail};
use clap::Args;
use decloud_chain::client::Client;
use decloud_chain::keepers;
use decloud_client::resource::{self, Kind};
use serde_json::json;

use super::deploy::dataset_key_path;
use crate::cmd::shared::{RpcOpts, SignerOpts, parse_address, print_json, spinner};

/// Arguments of `decloud dataset keeper-group`.
#[derive(Args)]
pub(crate) struct KeeperGroupArgs {
    /// The dataset's address.
    dataset: String,
    /// How many keepers hold a share (n, at most 9; 0 removes the group).
    #[arg(long, value_name = "N")]
    size: u64,
    /// How many of them rebuild the key (k, from 1 to n); a TEE task then needs k of their
    /// attestations.
    #[arg(long, value_name = "K", default_value_t = 0)]
    threshold: u64,
    #[command(flatten)]
    signer: SignerOpts,
}

/// Arguments of `decloud dataset keepers` and `decloud dataset draw-keepers`.
#[derive(Args)]
pub(crate) struct KeepersArgs {
    /// The dataset's address.
    dataset: String,
    /// The keeper epoch [default: the current one for `keepers`, the next one for `draw-keepers`].
    #[arg(long)]
    epoch: Option<u64>,
    #[command(flatten)]
    rpc: RpcOpts,
}

/// Arguments of `decloud dataset draw-keepers`.
#[derive(Args)]
pub(crate) struct DrawKeepersArgs {
    /// The dataset's address.
    dataset: String,
    /// The keeper epoch to draw [default: the next one].
    #[arg(long)]
    epoch: Option<u64>,
    #[command(flatten)]
    signer: SignerOpts,
}

/// Arguments of `decloud dataset reshare`.
#[derive(Args)]
pub(crate) struct ReshareArgs {
    /// The dataset's address.
    dataset: String,
    /// The keeper epoch whose draw gets the shares [default: the next one when it is drawn,
    /// else the current one].
    #[arg(long)]
    epoch: Option<u64>,
    /// Keepers' URLs (`decloud node --keeper`), comma separated, in any order: those of the
    /// keepers drawn are used, others are ignored [default: the URLs the drawn keepers
    /// published on chain, `decloud keeper list`].
    #[arg(long, value_name = "URL,URL,...", value_delimiter = ',')]
    keepers: Vec<String>,
    /// The identity that opens the dataset [default: $DECLOUD_HOME/keys/datasets/<checksum>.key,
    /// where `dataset encrypt` put it].
    #[arg(long, value_name = "FILE")]
    key: Option<std::path::PathBuf>,
    #[command(flatten)]
    signer: SignerOpts,
}

fn dataset_arg(s: &str) -> anyhow::Result<Address> {
    parse_address(s, "dataset")
}

/// The current keeper epoch, or a one-line reason when the hub has none.
async fn current_epoch(client: &Client) -> anyhow::Result<u64> {
    let length = keepers::epoch_length(client).await?;
    if length == 0 {
        bail!(
            "the hub has no keeper epochs yet: its admin sets their length first (`decloud attester keeper-epoch --set SECONDS`)"
        );
    }
    Ok(keepers::current_epoch(client).await?)
}

/// `decloud dataset keeper-group`.
pub(crate) async fn keeper_group(
    args: KeeperGroupArgs,
    home: &Path,
    json: bool,
) -> anyhow::Result<()> {
    let dataset = dataset_arg(&args.dataset)?;
    if args.size > 0 && (args.threshold == 0 || args.threshold > args.size || args.size > 9) {
        bail!(
            "a keeper group of {} with threshold {} is not one: give --size N (1 to 9) and --threshold K (1 to N), or --size 0 to remove it",
            args.size,
            args.threshold
        );
    }
    let client = args.signer.connect(home).await?;
    let bar = spinner("setting the dataset's keeper group", json);
    let receipt = keepers::set_group(&client, dataset, args.size, args.threshold).await;
    bar.finish_and_clear();
    let receipt = receipt?;
    if json {
        return print_json(&json!({
            "dataset": dataset,
            "size": args.size,
            "threshold": args.threshold,
            "transaction": receipt.transaction_hash,
        }));
    }
    if args.size == 0 {
        println!("dataset {dataset} has no keeper group now: any registered attester counts");
    } else {
        println!(
            "dataset {dataset}: {} keepers drawn per epoch, any {} rebuild its key (transaction {})",
            args.size, args.threshold, receipt.transaction_hash
        );
        println!(
            "next:    decloud dataset draw-keepers {dataset}, then decloud dataset reshare {dataset} --keepers URL,..."
        );
    }
    Ok(())
}

/// `decloud dataset keepers`: the group and the keepers drawn for an epoch.
pub(crate) async fn show(args: KeepersArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    let dataset = dataset_arg(&args.dataset)?;
    let client = args.rpc.connect(home, None).await?;
    let (n, k) = keepers::group(&client, dataset).await?;
    let current = current_epoch(&client).await?;
    let epoch = args.epoch.unwrap_or(current);
    let drawn = keepers::drawn(&client, dataset, epoch).await?;
    if json {
        return print_json(&json!({
            "dataset": dataset,
            "size": n,
            "threshold": k,
            "current_epoch": current,
            "epoch": epoch,
            "keepers": drawn,
        }));
    }
    if n == 0 {
        println!("dataset {dataset} has no keeper group: any registered attester counts");
        return Ok(());
    }
    println!("dataset:   {dataset}");
    println!("group:     {n} keepers, any {k} rebuild the key");
    println!("epoch:     {epoch} (current {current})");
    match drawn {
        Some(list) => {
            for (i, a) in list.iter().enumerate() {
                println!("keeper {}:  {a}", i + 1);
            }
        }
        None => println!(
            "keepers:   not drawn yet: decloud dataset draw-keepers {dataset} --epoch {epoch}"
        ),
    }
    Ok(())
}

/// `decloud dataset draw-keepers`: draws an epoch's keepers (anyone may).
pub(crate) async fn draw(args: DrawKeepersArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    let dataset = dataset_arg(&args.dataset)?;
    let client = args.signer.connect(home).await?;
    let epoch = match args.epoch {
        Some(e) => e,
        None => current_epoch(&client).await? + 1,
    };
    // The draw's beacon round first: fetched from the profile's beacon when nobody submitted it.
    let bar = spinner("putting the draw's beacon round on chain", json);
    let beacon_url = client.profile().beacon_url.clone();
    let round = keepers::ensure_draw_round(&client, epoch, beacon_url.as_deref()).await;
    bar.finish_and_clear();
    let round = round?;
    let bar = spinner("drawing the keepers", json);
    let drawn = keepers::draw(&client, dataset, epoch).await;
    bar.finish_and_clear();
    let drawn = drawn.with_context(|| {
        format!("drawing epoch {epoch}'s keepers (the attester snapshot must precede the draw time, `decloud attester snapshot`)")
    })?;
    let (round, submitted) = match round {
        keepers::DrawRound::OnChain(r) => (r, false),
        keepers::DrawRound::Submitted(r) => (r, true),
    };
    if json {
        return print_json(&json!({
            "dataset": dataset,
            "epoch": epoch,
            "round": round,
            "round_submitted": submitted,
            "keepers": drawn,
        }));
    }
    if submitted {
        println!(
            "beacon round {round} fetched from the beacon and submitted (the contract verified it)"
        );
    }
    println!("epoch {epoch}'s keepers of dataset {dataset} (beacon round {round}):");
    for (i, a) in drawn.iter().enumerate() {
        println!("keeper {}:  {a}", i + 1);
    }
    Ok(())
}

/// The drawn keepers among `urls` (each URL's keeper says which attester it is), in draw order;
/// a drawn keeper missing from them is an error that names it.
async fn from_urls(
    urls: &[String],
    drawn: &[Address],
    epoch: u64,
) -> anyhow::Result<Vec<decloud_client::secret::SmsClient>> {
    let mut by_attester = std::collections::HashMap::new();
    for url in urls {
        let sms = decloud_client::secret::SmsClient::new(url)?;
        let info = sms
            .info()
            .await
            .with_context(|| format!("asking the keeper at {url} who it is"))?;
        by_attester.insert(info.attester, sms);
    }
    drawn
        .iter()
        .map(|a| {
            by_attester.remove(a).with_context(|| {
                format!("keeper {a}, drawn for epoch {epoch}, is not among --keepers: add its URL")
            })
        })
        .collect()
}

/// The drawn keepers at the URLs they published on chain, in draw order, and why any was left
/// out: no URL, no answer, or another attester answering there (a URL is a claim: the keeper
/// that answers must be the one drawn, or its share would go to someone else). Fails when fewer
/// than `k` remain.
async fn from_registry(
    client: &Client,
    drawn: &[Address],
    k: u64,
) -> anyhow::Result<(
    Vec<(Address, decloud_client::secret::SmsClient)>,
    Vec<String>,
)> {
    let mut found = Vec::new();
    let mut left_out = Vec::new();
    for a in drawn {
        let Some(url) = decloud_chain::keeper_registry::url_of(client, *a).await? else {
            left_out.push(format!("keeper {a} published no URL on chain"));
            continue;
        };
        let sms = match decloud_client::secret::SmsClient::new(&url) {
            Ok(sms) => sms,
            Err(e) => {
                left_out.push(format!("keeper {a}'s URL {url} is not usable: {e}"));
                continue;
            }
        };
        match sms.info().await {
            Ok(info) if info.attester == *a => found.push((*a, sms)),
            Ok(info) => left_out.push(format!(
                "keeper {a}'s URL {url} answers as attester {}, not as {a}",
                info.attester
            )),
            Err(e) => left_out.push(format!("keeper {a} at {url} did not answer: {e}")),
        }
    }
    if (found.len() as u64) < k {
        bail!(
            "only {} of the {} drawn keepers answer at the URLs they published, and {k} are needed ({}): pass --keepers URL,... to name them",
            found.len(),
            drawn.len(),
            left_out.join("; ")
        );
    }
    Ok((found, left_out))
}

/// `decloud dataset reshare`: re-splits the dataset's key to the keepers drawn for an epoch.
pub(crate) async fn reshare(args: ReshareArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    let dataset = dataset_arg(&args.dataset)?;
    let client = args.signer.connect(home).await?;
    let (n, k) = keepers::group(&client, dataset).await?;
    if n == 0 {
        bail!(
            "dataset {dataset} has no keeper group: set one first (`decloud dataset keeper-group {dataset} --size N --threshold K`)"
        );
    }
    let current = current_epoch(&client).await?;
    let (epoch, drawn) = match args.epoch {
        Some(e) => (e, keepers::drawn(&client, dataset, e).await?),
        None => match keepers::drawn(&client, dataset, current + 1).await? {
            Some(d) => (current + 1, Some(d)),
            None => (current, keepers::drawn(&client, dataset, current).await?),
        },
    };
    let drawn = drawn.with_context(|| {
        format!("epoch {epoch}'s keepers of dataset {dataset} are not drawn: run `decloud dataset draw-keepers {dataset} --epoch {epoch}` first")
    })?;
    let dataset_info = resource::lookup(&client, Kind::Dataset, dataset).await?;
    let checksum = dataset_info
        .checksum
        .context("the dataset has no checksum on chain")?;
    let key = args
        .key
        .clone()
        .unwrap_or_else(|| dataset_key_path(home, checksum));
    let identity = decloud_age::Identity::read_file(&key)
        .context("the dataset's key (pass --key FILE, the identity that opens the dataset)")?;
    let (drawn, group) = if args.keepers.is_empty() {
        let bar = spinner("finding the drawn keepers' URLs on chain", json);
        let found = from_registry(&client, &drawn, k).await;
        bar.finish_and_clear();
        let (found, left_out) = found?;
        if !json {
            for why in &left_out {
                println!("left out: {why}");
            }
        }
        found.into_iter().unzip()
    } else {
        (
            drawn.clone(),
            from_urls(&args.keepers, &drawn, epoch).await?,
        )
    };
    let signer = client
        .signer()
        .context("resharing needs the owner's wallet")?;
    let bar = spinner("re-splitting the dataset's key", json);
    let started = Instant::now();
    let written = decloud_client::secret::reshare_dataset_key(
        &group,
        usize::try_from(k).unwrap_or(usize::MAX),
        epoch,
        signer,
        dataset,
        &identity,
    )
    .await;
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let written = written.with_context(|| {
        format!("re-splitting dataset {dataset}'s key to epoch {epoch}'s keepers")
    })?;
    let version = written.first().and_then(|w| w.version).unwrap_or_default();
    if json {
        return print_json(&json!({
            "dataset": dataset,
            "epoch": epoch,
            "threshold": k,
            "keepers": drawn,
            "versions": written.iter().map(|w| w.version.unwrap_or_default()).collect::<Vec<_>>(),
            "millis": elapsed.as_millis(),
        }));
    }
    println!(
        "dataset {dataset}'s key re-split {k}-of-{} to epoch {epoch}'s keepers in {} ms (version {version} at the first):",
        drawn.len(),
        elapsed.as_millis()
    );
    for (i, a) in drawn.iter().enumerate() {
        println!("keeper {}:  {a}", i + 1);
    }
    Ok(())
}
