//! Where keepers publish their URLs (`KeeperRegistry`, docs/confidential.md "Finding the
//! keepers"): each address sets only its own URL, so a URL is keyed by the attester address the
//! hub counts. A URL is a claim, not a proof: whoever reads one still believes only the
//! signatures of the answers it gets there.

use alloy::primitives::{Address, U256};
use alloy::rpc::types::TransactionReceipt;
use serde::Serialize;

use crate::ChainError;
use crate::client::Client;
use crate::contracts::KeeperRegistry;

/// The longest URL the registry takes, in bytes (its `MAX_URL_LENGTH`).
pub const MAX_URL_LENGTH: usize = 256;

/// Entries read per call when listing the registry.
const PAGE: u64 = 100;

/// A keeper's published URL with its record at the hub.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeeperListing {
    /// The keeper's address (its attester key signs its answers).
    pub address: Address,
    /// The URL it published.
    pub url: String,
    /// Its attester stake at the hub (0 when it is no attester).
    pub stake: U256,
    /// Whether the hub counts its attestations now (registered, staked, not leaving, not
    /// slashed).
    pub active: bool,
}

/// Why `url` would be refused by the registry (the contract's own rules: `https://`, printable
/// ASCII without spaces, at most [`MAX_URL_LENGTH`] bytes), checked before anything is sent.
pub fn check_url(url: &str) -> Result<(), String> {
    if url.len() > MAX_URL_LENGTH {
        return Err(format!(
            "the URL is {} bytes long and the keeper registry takes at most {MAX_URL_LENGTH}: shorten it",
            url.len()
        ));
    }
    let Some(rest) = url.strip_prefix("https://").filter(|r| !r.is_empty()) else {
        return Err(format!(
            "{url:?} is not an https:// URL: a keeper publishes the https URL it serves (its TLS pin after #sha256:)"
        ));
    };
    if let Some(i) = rest.bytes().position(|b| b <= 0x20 || b >= 0x7f) {
        return Err(format!(
            "the URL holds a space, a control character or a non-ASCII byte at byte {}: percent-encode it",
            i + 8
        ));
    }
    Ok(())
}

fn registry(
    client: &Client,
) -> Result<KeeperRegistry::KeeperRegistryInstance<alloy::providers::DynProvider>, ChainError> {
    let address = client.profile().contracts.keeper_registry;
    if address.is_zero() {
        return Err(ChainError::tx(
            "reading the keeper registry",
            "this chain's profile names no keeper registry (its hub predates it): give the keepers' URLs by hand (--keepers, --sms-url), or redeploy the devnet (`decloud devnet up`)",
        ));
    }
    Ok(KeeperRegistry::new(address, client.provider().clone()))
}

/// The URL `keeper` published, if any.
pub async fn url_of(client: &Client, keeper: Address) -> Result<Option<String>, ChainError> {
    let url = client
        .read("reading a keeper's URL", registry(client)?.urlOf(keeper))
        .await?;
    Ok((!url.is_empty()).then_some(url))
}

/// Publishes `url` as the client's wallet's URL (an empty one removes it).
pub async fn set_url(client: &Client, url: &str) -> Result<TransactionReceipt, ChainError> {
    if !url.is_empty() {
        check_url(url).map_err(|reason| ChainError::tx("publishing the keeper's URL", reason))?;
    }
    let tx = registry(client)?
        .setUrl(url.to_owned())
        .into_transaction_request();
    client.send("publishing the keeper's URL", tx).await
}

/// Publishes `url` as the client's wallet's URL unless it is the one on chain already; the
/// receipt when it sent one.
pub async fn publish(client: &Client, url: &str) -> Result<Option<TransactionReceipt>, ChainError> {
    let signer = client
        .signer()
        .ok_or_else(|| ChainError::tx("publishing the keeper's URL", "no wallet to sign with"))?;
    if url_of(client, signer.address()).await?.as_deref() == Some(url) {
        return Ok(None);
    }
    set_url(client, url).await.map(Some)
}

/// Every address with a URL on the registry, with it, in the order of their first URL.
pub async fn urls(client: &Client) -> Result<Vec<(Address, String)>, ChainError> {
    let registry = registry(client)?;
    let what = "listing the keeper registry";
    let count: u64 = client
        .read(what, registry.keeperCount())
        .await?
        .saturating_to();
    let mut out = Vec::new();
    let mut start = 0;
    while start < count {
        let page = client
            .read(what, registry.keepers(U256::from(start), U256::from(PAGE)))
            .await?;
        if page.addresses.is_empty() {
            break;
        }
        start += page.addresses.len() as u64;
        out.extend(
            page.addresses
                .into_iter()
                .zip(page.urls)
                .filter(|(_, url)| !url.is_empty()),
        );
    }
    Ok(out)
}

/// Every keeper with a URL on the registry, with its stake and standing at the hub.
pub async fn list(client: &Client) -> Result<Vec<KeeperListing>, ChainError> {
    let mut out = Vec::new();
    for (address, url) in urls(client).await? {
        let record = crate::attesters::attester(client, address).await?;
        out.push(KeeperListing {
            address,
            url,
            stake: record.stake,
            active: record.active,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_as_the_contract_checks_them() {
        assert!(check_url("https://k.example:7651#sha256:00ff").is_ok());
        assert!(check_url("http://k.example").unwrap_err().contains("https"));
        assert!(check_url("https://").unwrap_err().contains("https"));
        assert!(check_url("https://a b").unwrap_err().contains("byte 9"));
        let long = format!("https://{}", "a".repeat(MAX_URL_LENGTH));
        assert!(check_url(&long).unwrap_err().contains("at most 256"));
        let most = format!("https://{}", "a".repeat(MAX_URL_LENGTH - 8));
        assert!(check_url(&most).is_ok());
    }
}
