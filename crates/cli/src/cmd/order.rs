//! `decloud order init | sign | publish | cancel | show`: the four order kinds, from a
//! `decloud.toml` template (like iExec's `iexec.json`) to a signed order in `orders.json`, to the
//! market, and off it.
//!
//! `decloud.toml` holds one section per kind, `[order.app]`, `[order.dataset]`,
//! `[order.workerpool]`, `[order.request]`, with the fields of the order (docs/protocol.md §5) in
//! snake case: prices in nano-units as strings, tags as lists of names (`["tee"]`), addresses as
//! `0x…`. `order sign` fills a zero salt with a random one and writes the signed orders, with the
//! chain they are valid on, to `orders.json`.

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use decloud_chain::client::Client;
use decloud_chain::contracts::{AppRegistry, HubExtension};
use decloud_market::OrderKind;
use decloud_market::client::ClientError;
use decloud_protocol::{AppOrder, DatasetOrder, Domain, Order, RequestOrder, WorkerpoolOrder};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::shared::{MarketOpts, print_json, unix_now};
use super::wallet::{RpcOpts, WalletOpts, spinner};

/// Default template file.
pub const TEMPLATE_FILE: &str = "decloud.toml";
/// Default file of signed orders.
pub const SIGNED_FILE: &str = "orders.json";

/// Arguments of `decloud order`.
#[derive(Args)]
pub struct OrderArgs {
    #[command(subcommand)]
    command: OrderCommand,
}

/// Which order kinds a command acts on; none given = every kind present in the file.
#[derive(Args, Clone, Debug, Default)]
pub struct Kinds {
    /// The app order.
    #[arg(long)]
    app: bool,
    /// The dataset order.
    #[arg(long)]
    dataset: bool,
    /// The workerpool order.
    #[arg(long)]
    workerpool: bool,
    /// The request order.
    #[arg(long)]
    request: bool,
}

impl Kinds {
    fn chosen(&self) -> Vec<OrderKind> {
        let flags = [self.app, self.dataset, self.workerpool, self.request];
        OrderKind::ALL
            .into_iter()
            .zip(flags)
            .filter_map(|(k, on)| on.then_some(k))
            .collect()
    }
}

#[derive(Subcommand)]
enum OrderCommand {
    /// Write order templates into decloud.toml (sections [order.app], [order.workerpool], ...).
    #[command(
        after_help = "Each flag takes the resource's address (for --request: the app's); without it the address is left zero for you to fill in.\n\n\
        Examples:\n  \
        decloud order init --app 0x5a0b...\n  \
        decloud order init --workerpool 0x9c2e... --file pool.toml\n  \
        decloud order init --request 0x5a0b... --wallet requester"
    )]
    Init {
        /// Write an app order template for this app.
        #[arg(long, value_name = "APP", num_args = 0..=1, default_missing_value = "")]
        app: Option<String>,
        /// Write a dataset order template for this dataset.
        #[arg(long, value_name = "DATASET", num_args = 0..=1, default_missing_value = "")]
        dataset: Option<String>,
        /// Write a workerpool order template for this workerpool.
        #[arg(long, value_name = "WORKERPOOL", num_args = 0..=1, default_missing_value = "")]
        workerpool: Option<String>,
        /// Write a request order template for this app (the requester is the wallet).
        #[arg(long, value_name = "APP", num_args = 0..=1, default_missing_value = "")]
        request: Option<String>,
        /// The template file.
        #[arg(long, default_value = TEMPLATE_FILE, value_name = "FILE")]
        file: PathBuf,
        /// Replace a section that exists already.
        #[arg(long)]
        force: bool,
        /// The requester of a request template (no password needed).
        #[arg(long, env = "DECLOUD_WALLET", default_value = decloud_chain::wallet::DEFAULT_WALLET, value_name = "NAME|PATH")]
        wallet: String,
    },
    /// Sign orders of decloud.toml with the wallet and write them to orders.json.
    #[command(after_help = "Examples:\n  \
        decloud order sign --app\n  \
        decloud order sign                   # every section of decloud.toml\n  \
        decloud order sign --workerpool --wallet scheduler --out pool-orders.json")]
    Sign {
        #[command(flatten)]
        kinds: Kinds,
        /// The template file.
        #[arg(long, default_value = TEMPLATE_FILE, value_name = "FILE")]
        file: PathBuf,
        /// Where the signed orders go (merged with what the file holds).
        #[arg(long, default_value = SIGNED_FILE, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        wallet: WalletOpts,
        #[command(flatten)]
        rpc: RpcOpts,
        /// Print the signed orders as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Publish signed orders of orders.json to the market.
    #[command(after_help = "Examples:\n  \
        decloud order publish --app\n  \
        decloud order publish --workerpool --orders pool-orders.json --market http://market:7600")]
    Publish {
        #[command(flatten)]
        kinds: Kinds,
        /// The signed orders.
        #[arg(long, default_value = SIGNED_FILE, value_name = "FILE")]
        orders: PathBuf,
        #[command(flatten)]
        market: MarketOpts,
        /// Print the market's receipts as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancel orders for good on chain (manage*Order) and withdraw them from the market.
    #[command(after_help = "Examples:\n  \
        decloud order cancel --app                       # the app order of orders.json\n  \
        decloud order cancel --hash 0x1f3e...            # an order the market has")]
    Cancel {
        #[command(flatten)]
        kinds: Kinds,
        /// Cancel the order with this hash (fetched from the market) instead of orders.json's.
        #[arg(long, value_name = "HASH")]
        hash: Option<String>,
        /// The signed orders.
        #[arg(long, default_value = SIGNED_FILE, value_name = "FILE")]
        orders: PathBuf,
        #[command(flatten)]
        market: MarketOpts,
        #[command(flatten)]
        wallet: WalletOpts,
        #[command(flatten)]
        rpc: RpcOpts,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show an order: what the market holds and its status on chain.
    #[command(
        after_help = "Examples:\n  decloud order show 0x1f3e...\n  decloud order show 0x1f3e... --json"
    )]
    Show {
        /// The order hash.
        hash: String,
        #[command(flatten)]
        market: MarketOpts,
        #[command(flatten)]
        rpc: RpcOpts,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The file of signed orders: the chain they are valid on and one order per kind.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SignedOrders {
    /// The chain and hub the orders are signed for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<Domain>,
    /// Signed app order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<AppOrder>,
    /// Signed dataset order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetOrder>,
    /// Signed workerpool order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workerpool: Option<WorkerpoolOrder>,
    /// Signed request order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestOrder>,
}

impl SignedOrders {
    fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read {}: sign orders first with `decloud order sign`",
                path.display()
            )
        })?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a file of signed orders", path.display()))
    }

    fn load_or_default(path: &Path) -> anyhow::Result<Self> {
        if path.exists() {
            Self::load(path)
        } else {
            Ok(Self::default())
        }
    }

    fn has(&self, kind: OrderKind) -> bool {
        match kind {
            OrderKind::App => self.app.is_some(),
            OrderKind::Dataset => self.dataset.is_some(),
            OrderKind::Workerpool => self.workerpool.is_some(),
            OrderKind::Request => self.request.is_some(),
        }
    }

    fn json(&self, kind: OrderKind) -> Option<serde_json::Value> {
        match kind {
            OrderKind::App => self.app.as_ref().map(|o| json!(o)),
            OrderKind::Dataset => self.dataset.as_ref().map(|o| json!(o)),
            OrderKind::Workerpool => self.workerpool.as_ref().map(|o| json!(o)),
            OrderKind::Request => self.request.as_ref().map(|o| json!(o)),
        }
    }

    /// The kinds chosen, or every kind the file holds; an error names a missing one.
    fn select(&self, kinds: &Kinds, path: &Path) -> anyhow::Result<Vec<OrderKind>> {
        let chosen = kinds.chosen();
        if chosen.is_empty() {
            let all: Vec<_> = OrderKind::ALL
                .into_iter()
                .filter(|k| self.has(*k))
                .collect();
            if all.is_empty() {
                bail!(
                    "{} holds no signed order: run `decloud order sign` first",
                    path.display()
                );
            }
            return Ok(all);
        }
        for k in &chosen {
            if !self.has(*k) {
                bail!(
                    "{} holds no signed {} order: run `decloud order sign --{}` first",
                    path.display(),
                    k.as_str(),
                    k.as_str()
                );
            }
        }
        Ok(chosen)
    }

    fn check_domain(&self, domain: &Domain, path: &Path) -> anyhow::Result<()> {
        match &self.domain {
            Some(d) if d != domain => bail!(
                "the orders of {} are signed for chain {} (hub {}), not this one (chain {}, hub {}): sign them again",
                path.display(),
                d.chain_id,
                d.hub,
                domain.chain_id,
                domain.hub
            ),
            _ => Ok(()),
        }
    }
}

/// Runs `decloud order <verb>`.
pub async fn run(args: OrderArgs, home: &Path) -> anyhow::Result<()> {
    match args.command {
        OrderCommand::Init {
            app,
            dataset,
            workerpool,
            request,
            file,
            force,
            wallet,
        } => init(
            home,
            [app, dataset, workerpool, request],
            &file,
            force,
            &wallet,
        ),
        OrderCommand::Sign {
            kinds,
            file,
            out,
            wallet,
            rpc,
            json,
        } => sign(home, &kinds, &file, &out, &wallet, &rpc, json).await,
        OrderCommand::Publish {
            kinds,
            orders,
            market,
            json,
        } => publish(home, &kinds, &orders, &market, json).await,
        OrderCommand::Cancel {
            kinds,
            hash,
            orders,
            market,
            wallet,
            rpc,
            json,
        } => {
            cancel(
                home,
                &kinds,
                hash.as_deref(),
                &orders,
                &market,
                &wallet,
                &rpc,
                json,
            )
            .await
        }
        OrderCommand::Show {
            hash,
            market,
            rpc,
            json,
        } => show(home, &hash, &market, &rpc, json).await,
    }
}

/// Default volume of an offer template (app, dataset, workerpool orders).
const OFFER_VOLUME: u64 = 1_000_000;

fn init(
    home: &Path,
    resources: [Option<String>; 4],
    file: &Path,
    force: bool,
    wallet: &str,
) -> anyhow::Result<()> {
    if resources.iter().all(Option::is_none) {
        bail!("say which template to write: --app, --dataset, --workerpool and/or --request");
    }
    let mut doc: toml::Table = if file.exists() {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", file.display()))?
    } else {
        toml::Table::new()
    };
    let address = |text: &str, what: &str| -> anyhow::Result<Address> {
        if text.is_empty() {
            Ok(Address::ZERO)
        } else {
            super::shared::parse_address(text, what)
        }
    };
    let mut sections: Vec<(OrderKind, toml::Value)> = Vec::new();
    for (kind, resource) in OrderKind::ALL.into_iter().zip(resources) {
        let Some(resource) = resource else { continue };
        let value = match kind {
            OrderKind::App => toml::Value::try_from(AppOrder {
                app: address(&resource, "app")?,
                volume: OFFER_VOLUME,
                ..AppOrder::default()
            })?,
            OrderKind::Dataset => toml::Value::try_from(DatasetOrder {
                dataset: address(&resource, "dataset")?,
                volume: OFFER_VOLUME,
                ..DatasetOrder::default()
            })?,
            OrderKind::Workerpool => toml::Value::try_from(WorkerpoolOrder {
                workerpool: address(&resource, "workerpool")?,
                volume: OFFER_VOLUME,
                ..WorkerpoolOrder::default()
            })?,
            OrderKind::Request => {
                let requester = super::wallet::WalletOpts {
                    wallet: wallet.to_string(),
                    password_file: None,
                }
                .address(home)
                .unwrap_or(Address::ZERO);
                toml::Value::try_from(RequestOrder {
                    app: address(&resource, "app")?,
                    requester,
                    beneficiary: requester,
                    volume: 1,
                    ..RequestOrder::default()
                })?
            }
        };
        sections.push((kind, value));
    }
    let orders = doc
        .entry("order")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .with_context(|| format!("`order` in {} is not a table", file.display()))?;
    for (kind, value) in &sections {
        if orders.contains_key(kind.as_str()) && !force {
            bail!(
                "{} already has an [order.{}] section: edit it, or pass --force to replace it",
                file.display(),
                kind.as_str()
            );
        }
        orders.insert(kind.as_str().to_string(), value.clone());
    }
    std::fs::write(file, toml::to_string(&doc)?)
        .with_context(|| format!("cannot write {}", file.display()))?;
    for (kind, _) in &sections {
        println!("wrote [order.{}] in {}", kind.as_str(), file.display());
    }
    println!("edit the prices and volumes, then `decloud order sign`");
    Ok(())
}

/// The `[order.<kind>]` section of the template, parsed.
fn section<T: DeserializeOwned>(
    doc: &toml::Table,
    kind: OrderKind,
    file: &Path,
) -> anyhow::Result<T> {
    let value = doc
        .get("order")
        .and_then(|o| o.get(kind.as_str()))
        .with_context(|| {
            format!(
                "{} has no [order.{k}] section: write one with `decloud order init --{k}`",
                file.display(),
                k = kind.as_str()
            )
        })?;
    value.clone().try_into().with_context(|| {
        format!(
            "[order.{}] in {} is not a valid order",
            kind.as_str(),
            file.display()
        )
    })
}

/// A random salt, so that two otherwise identical orders differ.
fn random_salt() -> B256 {
    B256::random()
}

async fn owner_of(
    client: &Client,
    registry: Address,
    id: Address,
    what: &str,
) -> anyhow::Result<Address> {
    AppRegistry::new(registry, client.provider())
        .ownerOfResource(id)
        .call()
        .await
        .map_err(|_| {
            anyhow::anyhow!("{what} {id} is not registered on this chain: deploy it with `decloud {what} deploy`, or fix the address")
        })
}

fn must_own(signer: Address, owner: Address, what: &str, id: Address) -> anyhow::Result<()> {
    if signer != owner {
        bail!(
            "the wallet {signer} does not own {what} {id} (its owner is {owner}): sign with the owner's wallet (--wallet)"
        );
    }
    Ok(())
}

async fn sign(
    home: &Path,
    kinds: &Kinds,
    file: &Path,
    out: &Path,
    wallet: &WalletOpts,
    rpc: &RpcOpts,
    json: bool,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| {
        format!(
            "cannot read {}: write a template with `decloud order init`",
            file.display()
        )
    })?;
    let doc: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", file.display()))?;
    let mut chosen = kinds.chosen();
    if chosen.is_empty() {
        let present = doc.get("order").and_then(|o| o.as_table());
        chosen = OrderKind::ALL
            .into_iter()
            .filter(|k| present.is_some_and(|p| p.contains_key(k.as_str())))
            .collect();
        if chosen.is_empty() {
            bail!(
                "{} has no [order.*] section: write one with `decloud order init`",
                file.display()
            );
        }
    }
    let signer: PrivateKeySigner = wallet.unlock(home)?;
    let me = signer.address();
    let client = rpc.connect(home, None).await?;
    let domain = client.domain();
    let contracts = client.profile().contracts.clone();
    let mut signed = SignedOrders::load_or_default(out)?;
    if signed.domain.is_some_and(|d| d != domain) {
        // Orders of another chain are useless here: start afresh.
        signed = SignedOrders::default();
    }
    signed.domain = Some(domain);
    let mut hashes = Vec::new();
    for kind in chosen {
        let hash = match kind {
            OrderKind::App => {
                let mut o: AppOrder = section(&doc, kind, file)?;
                let owner = owner_of(&client, contracts.app_registry, o.app, "app").await?;
                must_own(me, owner, "app", o.app)?;
                if o.salt.is_zero() {
                    o.salt = random_salt();
                }
                let h = o.sign_with(&signer, &domain)?;
                signed.app = Some(o);
                h
            }
            OrderKind::Dataset => {
                let mut o: DatasetOrder = section(&doc, kind, file)?;
                let owner =
                    owner_of(&client, contracts.dataset_registry, o.dataset, "dataset").await?;
                must_own(me, owner, "dataset", o.dataset)?;
                if o.salt.is_zero() {
                    o.salt = random_salt();
                }
                let h = o.sign_with(&signer, &domain)?;
                signed.dataset = Some(o);
                h
            }
            OrderKind::Workerpool => {
                let mut o: WorkerpoolOrder = section(&doc, kind, file)?;
                let owner = owner_of(
                    &client,
                    contracts.workerpool_registry,
                    o.workerpool,
                    "workerpool",
                )
                .await?;
                must_own(me, owner, "workerpool", o.workerpool)?;
                if o.salt.is_zero() {
                    o.salt = random_salt();
                }
                let h = o.sign_with(&signer, &domain)?;
                signed.workerpool = Some(o);
                h
            }
            OrderKind::Request => {
                let mut o: RequestOrder = section(&doc, kind, file)?;
                if o.requester.is_zero() {
                    o.requester = me;
                }
                if o.requester != me {
                    bail!(
                        "the request's requester is {} but the wallet is {me}: sign with the requester's wallet (--wallet), or fix `requester`",
                        o.requester
                    );
                }
                if o.salt.is_zero() {
                    o.salt = random_salt();
                }
                let h = o.sign_with(&signer, &domain)?;
                signed.request = Some(o);
                h
            }
        };
        hashes.push((kind, hash));
    }
    std::fs::write(out, serde_json::to_string_pretty(&signed)?)
        .with_context(|| format!("cannot write {}", out.display()))?;
    if json {
        let list: Vec<_> = hashes
            .iter()
            .map(|(k, h)| json!({"kind": k, "hash": h, "order": signed.json(*k)}))
            .collect();
        return print_json(&json!({"file": out, "orders": list}));
    }
    for (kind, hash) in &hashes {
        println!("signed {} order {hash}", kind.as_str());
    }
    println!(
        "wrote {} (publish with `decloud order publish`)",
        out.display()
    );
    Ok(())
}

async fn publish(
    home: &Path,
    kinds: &Kinds,
    path: &Path,
    market: &MarketOpts,
    json: bool,
) -> anyhow::Result<()> {
    let signed = SignedOrders::load(path)?;
    let chosen = signed.select(kinds, path)?;
    if let Ok(profile) = decloud_chain::ChainProfile::load(home) {
        signed.check_domain(&Domain::new(profile.chain_id, profile.contracts.hub), path)?;
    }
    let market = market.client()?;
    let mut receipts = Vec::new();
    for kind in chosen {
        let order = signed.json(kind).context("the order vanished")?;
        let receipt = market
            .publish(kind, &order)
            .await
            .with_context(|| format!("publishing the {} order", kind.as_str()))?;
        receipts.push((kind, receipt));
    }
    if json {
        let list: Vec<_> = receipts
            .iter()
            .map(|(k, r)| json!({"kind": k, "hash": r.hash, "status": r.status, "remaining": r.remaining, "created": r.created}))
            .collect();
        return print_json(&list);
    }
    for (kind, r) in &receipts {
        let verb = if r.created {
            "published"
        } else {
            "already published"
        };
        println!(
            "{verb} {} order {} ({} tasks available) on {}",
            kind.as_str(),
            r.hash,
            r.remaining,
            market.url()
        );
    }
    Ok(())
}

/// An order of any kind, for cancelling.
enum AnyOrder {
    App(AppOrder),
    Dataset(DatasetOrder),
    Workerpool(WorkerpoolOrder),
    Request(RequestOrder),
}

impl AnyOrder {
    fn from_json(kind: OrderKind, value: serde_json::Value) -> anyhow::Result<Self> {
        Ok(match kind {
            OrderKind::App => AnyOrder::App(serde_json::from_value(value)?),
            OrderKind::Dataset => AnyOrder::Dataset(serde_json::from_value(value)?),
            OrderKind::Workerpool => AnyOrder::Workerpool(serde_json::from_value(value)?),
            OrderKind::Request => AnyOrder::Request(serde_json::from_value(value)?),
        })
    }

    fn kind(&self) -> OrderKind {
        match self {
            AnyOrder::App(_) => OrderKind::App,
            AnyOrder::Dataset(_) => OrderKind::Dataset,
            AnyOrder::Workerpool(_) => OrderKind::Workerpool,
            AnyOrder::Request(_) => OrderKind::Request,
        }
    }

    fn hash(&self, domain: &Domain) -> B256 {
        match self {
            AnyOrder::App(o) => o.hash(domain),
            AnyOrder::Dataset(o) => o.hash(domain),
            AnyOrder::Workerpool(o) => o.hash(domain),
            AnyOrder::Request(o) => o.hash(domain),
        }
    }

    /// The hub's `manage*Order(order, true)` transaction.
    fn cancel_tx(&self, client: &Client) -> TransactionRequest {
        let hub = client.hub_extension();
        match self {
            AnyOrder::App(o) => hub
                .manageAppOrder(o.into(), true)
                .into_transaction_request(),
            AnyOrder::Dataset(o) => hub
                .manageDatasetOrder(o.into(), true)
                .into_transaction_request(),
            AnyOrder::Workerpool(o) => hub
                .manageWorkerpoolOrder(o.into(), true)
                .into_transaction_request(),
            AnyOrder::Request(o) => hub
                .manageRequestOrder(o.into(), true)
                .into_transaction_request(),
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn cancel(
    home: &Path,
    kinds: &Kinds,
    hash: Option<&str>,
    path: &Path,
    market: &MarketOpts,
    wallet: &WalletOpts,
    rpc: &RpcOpts,
    json: bool,
) -> anyhow::Result<()> {
    let market = market.client()?;
    let orders: Vec<AnyOrder> = match hash {
        Some(text) => {
            let hash = super::shared::parse_b256(text, "order hash")?;
            let entry = market.order(hash).await?;
            vec![AnyOrder::from_json(entry.kind, entry.order)?]
        }
        None => {
            let signed = SignedOrders::load(path)?;
            let mut list = Vec::new();
            for kind in signed.select(kinds, path)? {
                let value = signed.json(kind).context("the order vanished")?;
                list.push(AnyOrder::from_json(kind, value)?);
            }
            list
        }
    };
    let signer = wallet.unlock(home)?;
    let client = rpc.connect(home, Some(signer.clone())).await?;
    let domain = client.domain();
    let mut results = Vec::new();
    for order in &orders {
        let hash = order.hash(&domain);
        let kind = order.kind().as_str();
        let status = client
            .hub_extension()
            .orderStatus(hash)
            .call()
            .await
            .map_err(|e| client.contract_error("reading the order's status", &e))?;
        let mut transaction = None;
        if !status.cancelled {
            let what = format!("cancelling the {kind} order");
            let bar = spinner(format!("{what} on chain"), json);
            let receipt = client.send(&what, order.cancel_tx(&client)).await;
            bar.finish_and_clear();
            transaction = Some(receipt?.transaction_hash);
        }
        let withdrawn = match market
            .withdraw(hash, &signer, domain.chain_id, domain.hub, unix_now())
            .await
        {
            Ok(_) => "withdrawn",
            Err(ClientError::NotFound(_)) => "not in the book",
            Err(e) => {
                eprintln!(
                    "warning: the order is cancelled on chain, but the market did not withdraw it ({e}); its follower will mark it cancelled"
                );
                "not withdrawn"
            }
        };
        results.push(json!({
            "kind": kind,
            "hash": hash,
            "transaction": transaction,
            "already_cancelled": status.cancelled,
            "market": withdrawn,
        }));
        if !json {
            match transaction {
                Some(tx) => println!(
                    "cancelled {kind} order {hash} on chain (transaction {tx}); market: {withdrawn}"
                ),
                None => println!(
                    "{kind} order {hash} was already cancelled on chain; market: {withdrawn}"
                ),
            }
        }
    }
    if json {
        print_json(&results)?;
    }
    Ok(())
}

async fn show(
    home: &Path,
    hash: &str,
    market: &MarketOpts,
    rpc: &RpcOpts,
    json: bool,
) -> anyhow::Result<()> {
    let hash = super::shared::parse_b256(hash, "order hash")?;
    let market = market.client()?;
    let entry = match market.order(hash).await {
        Ok(e) => Some(e),
        Err(ClientError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let client = rpc.connect(home, None).await?;
    let hub = client.hub_extension();
    let status = hub
        .orderStatus(hash)
        .call()
        .await
        .map_err(|e| client.contract_error("reading the order's status", &e))?;
    let consumed = match &entry {
        Some(e) if e.kind == OrderKind::Request => hub
            .requestOrderConsumed(hash, U256::from(e.volume))
            .call()
            .await
            .map_err(|e| client.contract_error("reading the request's consumed volume", &e))?,
        _ => status.consumed,
    };
    let HubExtension::orderStatusReturn {
        presigned,
        cancelled,
        ..
    } = status;
    if entry.is_none() && consumed.is_zero() && !presigned && !cancelled {
        bail!(
            "unknown order {hash}: neither the market at {} nor the chain knows it; check the hash, or publish the order",
            market.url()
        );
    }
    let chain = json!({
        "consumed": consumed.to_string(),
        "presigned": presigned,
        "cancelled": cancelled,
    });
    if json {
        return print_json(&json!({"hash": hash, "market": entry, "chain": chain}));
    }
    println!("order {hash}");
    match &entry {
        Some(e) => {
            println!("{:<11} {}", "kind", e.kind.as_str());
            println!("{:<11} {}", "resource", e.resource);
            println!("{:<11} {}", "signer", e.signer);
            println!(
                "{:<11} {}",
                if e.kind == OrderKind::Request {
                    "max price"
                } else {
                    "price"
                },
                decloud_protocol::format_amount(U256::from(e.price))
            );
            println!(
                "{:<11} {} of {} tasks left",
                "volume", e.remaining, e.volume
            );
            if let Some(c) = e.category {
                println!("{:<11} {c}", "category");
            }
            if let Some(t) = e.trust {
                println!("{:<11} {t}", "trust");
            }
            println!("{:<11} {}", "tag", decloud_protocol::Tag(e.tag));
            if e.expiry != 0 {
                println!("{:<11} {} (unix time)", "expiry", e.expiry);
            }
            println!(
                "{:<11} {}",
                "market",
                format!("{:?}", e.status).to_lowercase()
            );
        }
        None => println!("{:<11} not in the book of {}", "market", market.url()),
    }
    println!(
        "{:<11} consumed {consumed}{}{}",
        "chain",
        if cancelled { ", cancelled" } else { "" },
        if presigned { ", presigned" } else { "" }
    );
    Ok(())
}
