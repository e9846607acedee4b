//! `decloud order sign`: the templates of `decloud.toml`, signed into `orders.json`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use decloud_client::orders::{AnyOrder, SignedOrders};
use decloud_protocol::OrderKind;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::{Kinds, SIGNED_FILE, TEMPLATE_FILE};
use crate::cmd::shared::{SignerOpts, print_json};

/// Arguments of `decloud order sign`.
#[derive(Args)]
pub(super) struct SignArgs {
    #[command(flatten)]
    kinds: Kinds,
    /// The template file.
    #[arg(long, default_value = TEMPLATE_FILE, value_name = "FILE")]
    file: PathBuf,
    /// Where the signed orders go (merged with what the file holds).
    #[arg(long, default_value = SIGNED_FILE, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    signer: SignerOpts,
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

/// The template's order of `kind`.
fn template(doc: &toml::Table, kind: OrderKind, file: &Path) -> anyhow::Result<AnyOrder> {
    Ok(match kind {
        OrderKind::App => AnyOrder::App(section(doc, kind, file)?),
        OrderKind::Dataset => AnyOrder::Dataset(section(doc, kind, file)?),
        OrderKind::Workerpool => AnyOrder::Workerpool(section(doc, kind, file)?),
        OrderKind::Request => AnyOrder::Request(section(doc, kind, file)?),
    })
}

/// Runs `decloud order sign`.
pub(super) async fn run(args: SignArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    let (file, out) = (&args.file, &args.out);
    let text = std::fs::read_to_string(file).with_context(|| {
        format!(
            "cannot read {}: write a template with `decloud order init`",
            file.display()
        )
    })?;
    let doc: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", file.display()))?;
    let mut chosen = args.kinds.chosen();
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
    let signer = args.signer.wallet.unlock(home)?;
    // Signing needs the chain's domain and registries, not a sender.
    let client = args.signer.rpc.connect(home, None).await?;
    let domain = client.domain();
    let mut signed = SignedOrders::load_or_default(out)?;
    if signed.domain.is_some_and(|d| d != domain) {
        // Orders of another chain are useless here: start afresh.
        signed = SignedOrders::default();
    }
    signed.domain = Some(domain);
    let mut done = Vec::new();
    for kind in chosen {
        let mut order = template(&doc, kind, file)?;
        let hash = decloud_client::orders::sign(&client, &signer, &mut order).await?;
        done.push((kind, hash, serde_json::to_value(&order)?));
        signed.set(order);
    }
    signed.save(out)?;
    if json {
        let list: Vec<_> = done
            .iter()
            .map(|(k, h, o)| json!({"kind": k, "hash": h, "order": o}))
            .collect();
        return print_json(&json!({"file": out, "orders": list}));
    }
    for (kind, hash, _) in &done {
        println!("signed {} order {hash}", kind.as_str());
    }
    println!(
        "wrote {} (publish with `decloud order publish`)",
        out.display()
    );
    Ok(())
}
