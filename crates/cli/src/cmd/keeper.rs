//! `decloud keeper list | set-url`: the keepers' URLs published on chain (`KeeperRegistry`,
//! docs/confidential.md "Finding the keepers"), with their stake and standing at the hub.

use std::path::Path;

use anyhow::bail;
use clap::{Args, Subcommand};
use decloud_chain::keeper_registry::{self, KeeperListing};
use decloud_protocol::format_amount;
use serde_json::json;

use crate::cmd::shared::{RpcOpts, SignerOpts, print_json, spinner};

/// Arguments of `decloud keeper`.
#[derive(Args)]
pub(crate) struct KeeperArgs {
    #[command(subcommand)]
    command: KeeperCommand,
}

#[derive(Subcommand)]
enum KeeperCommand {
    /// List the keepers that published a URL, with their attester stake and whether the hub
    /// counts their attestations. A URL is what its keeper claims: the answers' signatures are
    /// what counts.
    #[command(after_help = "Examples:\n  \
        decloud keeper list\n  \
        decloud keeper list --json")]
    List {
        #[command(flatten)]
        rpc: RpcOpts,
    },
    /// Publish the wallet's keeper URL (https only; `decloud node --keeper --public-url URL`
    /// does it at start), or remove it with --remove.
    #[command(after_help = "Examples:\n  \
        decloud keeper set-url https://keeper1.example:7651#sha256:4f1c... --wallet keeper1\n  \
        decloud keeper set-url --remove --wallet keeper1")]
    SetUrl {
        /// The URL the keeper serves (`https://HOST:PORT`, with `#sha256:PIN` for a
        /// self-signed key).
        #[arg(required_unless_present = "remove")]
        url: Option<String>,
        /// Remove the wallet's URL instead.
        #[arg(long, conflicts_with = "url")]
        remove: bool,
        #[command(flatten)]
        signer: SignerOpts,
    },
}

fn to_json(k: &KeeperListing) -> serde_json::Value {
    json!({
        "address": k.address,
        "url": k.url,
        "stake": k.stake.to_string(),
        "active": k.active,
    })
}

/// Refuses a `--public-url` the registry would refuse, before anything starts.
pub(crate) fn check_public_url(url: &str, insecure_http: bool) -> anyhow::Result<()> {
    if insecure_http {
        bail!(
            "--public-url publishes an https URL: a keeper that serves plain HTTP (--insecure-http) cannot publish one"
        );
    }
    keeper_registry::check_url(url).map_err(|reason| anyhow::anyhow!("--public-url: {reason}"))
}

/// `url` with the pin of `served` (the node's own `https://...#sha256:...`) when it has none.
fn with_pin(url: &str, served: &str) -> String {
    match (url.contains('#'), served.split_once('#')) {
        (false, Some((_, pin))) => format!("{url}#{pin}"),
        _ => url.to_owned(),
    }
}

/// `decloud node --keeper --public-url URL`: publishes the keeper's URL (pinned to the key it
/// serves with, `served`) unless the registry holds it already; one line saying which.
pub(crate) async fn publish_at_start(
    profile: &decloud_chain::ChainProfile,
    signer: alloy::signers::local::PrivateKeySigner,
    url: &str,
    served: &str,
) -> anyhow::Result<String> {
    let url = with_pin(url, served);
    keeper_registry::check_url(&url).map_err(|reason| anyhow::anyhow!("--public-url: {reason}"))?;
    let keeper = signer.address();
    let client = decloud_chain::client::Client::connect(profile, None, Some(signer)).await?;
    Ok(match keeper_registry::publish(&client, &url).await? {
        Some(receipt) => format!(
            "published {url} as keeper {keeper}'s URL (transaction {})",
            receipt.transaction_hash
        ),
        None => format!("{url} is keeper {keeper}'s URL on chain already"),
    })
}

/// Runs `decloud keeper <verb>` with data under `home`.
pub(crate) async fn run(args: KeeperArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    match args.command {
        KeeperCommand::List { rpc } => {
            let client = rpc.connect(home, None).await?;
            let all = keeper_registry::list(&client).await?;
            if json {
                return print_json(&json!({
                    "keepers": all.iter().map(to_json).collect::<Vec<_>>(),
                }));
            }
            if all.is_empty() {
                println!("no keeper published a URL (decloud node --keeper --public-url URL does)");
            }
            for k in &all {
                let standing = if k.active { "active" } else { "not counted" };
                println!(
                    "{}  {:>16}  {:<11}  {}",
                    k.address,
                    format_amount(k.stake),
                    standing,
                    k.url
                );
            }
            Ok(())
        }
        KeeperCommand::SetUrl {
            url,
            remove,
            signer,
        } => {
            let url = if remove {
                String::new()
            } else {
                url.unwrap_or_default()
            };
            if !remove && let Err(reason) = keeper_registry::check_url(&url) {
                bail!(reason);
            }
            let client = signer.connect(home).await?;
            let bar = spinner("publishing the keeper's URL", json);
            let receipt = keeper_registry::set_url(&client, &url).await;
            bar.finish_and_clear();
            let receipt = receipt?;
            let keeper = client.signer().map(|s| s.address()).unwrap_or_default();
            if json {
                return print_json(&json!({
                    "keeper": keeper,
                    "url": url,
                    "transaction": receipt.transaction_hash,
                }));
            }
            if remove {
                println!(
                    "keeper {keeper} has no URL on chain now (transaction {})",
                    receipt.transaction_hash
                );
            } else {
                println!(
                    "keeper {keeper} publishes {url} (transaction {})",
                    receipt.transaction_hash
                );
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_url_gets_the_served_pin_unless_it_has_one() {
        let served = "https://127.0.0.1:7651#sha256:abcd";
        assert_eq!(
            with_pin("https://k.example:7651", served),
            "https://k.example:7651#sha256:abcd"
        );
        assert_eq!(
            with_pin("https://k.example:7651#sha256:ffff", served),
            "https://k.example:7651#sha256:ffff"
        );
        assert_eq!(
            with_pin("https://k.example", "http://127.0.0.1:7651"),
            "https://k.example"
        );
        assert!(check_public_url("https://k.example", true).is_err());
        assert!(check_public_url("http://k.example", false).is_err());
        assert!(check_public_url("https://k.example", false).is_ok());
    }
}
