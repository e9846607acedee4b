//! `decloud order cancel`: orders cancelled for good on chain and withdrawn from the market.

use std::path::Path;

use clap::Args;
use decloud_client::orders::{AnyOrder, cancel_tx, order_from_json, order_status};
use decloud_market::client::ClientError;
use serde_json::json;

use super::SignedOpts;
use crate::cmd::shared::{
    MarketOpts, SignerOpts, Untrusted, parse_b256, print_json, spinner, unix_now,
};

/// Arguments of `decloud order cancel`.
#[derive(Args)]
pub(super) struct CancelArgs {
    /// Cancel the order with this hash (fetched from the market) instead of orders.json's.
    #[arg(long, value_name = "HASH")]
    hash: Option<String>,
    #[command(flatten)]
    signed: SignedOpts,
    #[command(flatten)]
    market: MarketOpts,
    #[command(flatten)]
    signer: SignerOpts,
}

/// Runs `decloud order cancel`.
pub(super) async fn run(args: CancelArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    let market = args.market.client(home)?;
    let orders: Vec<AnyOrder> = match &args.hash {
        Some(text) => {
            let hash = parse_b256(text, "order hash")?;
            let entry = market.order(hash).await?;
            vec![order_from_json(entry.kind, entry.order)?]
        }
        None => args.signed.load()?.1,
    };
    let signer = args.signer.wallet.unlock(home)?;
    let client = args.signer.rpc.connect(home, Some(signer.clone())).await?;
    let domain = client.domain();
    let mut results = Vec::new();
    for order in &orders {
        let hash = order.hash(&domain);
        let kind = order.kind().as_str();
        let status = order_status(&client, hash).await?;
        let mut transaction = None;
        if !status.cancelled {
            let what = format!("cancelling the {kind} order");
            let bar = spinner(format!("{what} on chain"), json);
            let receipt = client.send(&what, cancel_tx(&client, order)).await;
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
                    "warning: the order is cancelled on chain, but the market did not withdraw it ({}); its follower will mark it cancelled",
                    Untrusted(&e)
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
