//! `decloud order init`: order templates in `decloud.toml`.

use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use anyhow::{Context, bail};
use clap::Args;
use decloud_protocol::OrderKind;
use decloud_protocol::{AppOrder, DatasetOrder, RequestOrder, WorkerpoolOrder};

use super::TEMPLATE_FILE;
use crate::cmd::shared::{WalletAddressOpts, parse_address};

/// Arguments of `decloud order init`.
#[derive(Args)]
pub(super) struct InitArgs {
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
    /// The requester of a request template.
    #[command(flatten)]
    wallet: WalletAddressOpts,
}

/// Default volume of an offer template (app, dataset, workerpool orders).
const OFFER_VOLUME: u64 = 1_000_000;

/// Runs `decloud order init`.
pub(super) fn run(args: InitArgs, home: &Path) -> anyhow::Result<()> {
    let file = &args.file;
    let resources = [args.app, args.dataset, args.workerpool, args.request];
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
            parse_address(text, what)
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
                let requester = args.wallet.address(home).unwrap_or(Address::ZERO);
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
        if orders.contains_key(kind.as_str()) && !args.force {
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
