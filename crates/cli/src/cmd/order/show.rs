//! `decloud order show`: an order as the market holds it and its status on chain.

use std::path::Path;

use alloy::primitives::U256;
use anyhow::bail;
use clap::Args;
use decloud_chain::contracts::IHub;
use decloud_market::client::ClientError;
use decloud_protocol::OrderKind;
use serde_json::json;

use crate::cmd::shared::{MarketOpts, RpcOpts, parse_b256, print_json};

/// Arguments of `decloud order show`.
#[derive(Args)]
pub(super) struct ShowArgs {
    /// The order hash.
    hash: String,
    #[command(flatten)]
    market: MarketOpts,
    #[command(flatten)]
    rpc: RpcOpts,
}

/// Runs `decloud order show`.
pub(super) async fn run(args: ShowArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    let hash = parse_b256(&args.hash, "order hash")?;
    let market = args.market.client(home)?;
    let entry = match market.order(hash).await {
        Ok(e) => Some(e),
        Err(ClientError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let client = args.rpc.connect(home, None).await?;
    let status = decloud_client::orders::order_status(&client, hash).await?;
    let consumed = match &entry {
        Some(e) if e.kind == OrderKind::Request => {
            client
                .read(
                    "reading the request's consumed volume",
                    client
                        .hub()
                        .requestOrderConsumed(hash, U256::from(e.volume)),
                )
                .await?
        }
        _ => status.consumed,
    };
    let IHub::orderStatusReturn {
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
