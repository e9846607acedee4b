//! `decloud order publish`: signed orders of `orders.json` to the market.

use std::path::Path;

use anyhow::Context;
use clap::Args;
use decloud_protocol::Domain;
use serde_json::json;

use super::SignedOpts;
use crate::cmd::shared::{MarketOpts, print_json};

/// Arguments of `decloud order publish`.
#[derive(Args)]
pub(super) struct PublishArgs {
    #[command(flatten)]
    signed: SignedOpts,
    #[command(flatten)]
    market: MarketOpts,
}

/// Runs `decloud order publish`.
pub(super) async fn run(args: PublishArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    let (signed, chosen) = args.signed.load()?;
    if let Ok(profile) = decloud_chain::ChainProfile::load(home) {
        let domain = Domain::new(profile.chain_id, profile.contracts.hub);
        signed.check_domain(&domain, &args.signed.orders)?;
    }
    let market = args.market.client(home)?;
    let mut receipts = Vec::new();
    for order in chosen {
        let kind = order.kind();
        let receipt = market
            .publish(kind, &serde_json::to_value(&order)?)
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
