//! Deployment of the oracle contracts: the committee on the source chain (and its members' stakes),
//! the gateway (which deploys its work passes) on a destination chain.

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, U256, keccak256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;

use crate::OracleError;
use crate::contracts::{Committee, Gateway};

/// A committee member's stake on a devnet: 1,000 tokens.
pub const DEVNET_MEMBER_STAKE: u64 = 1_000 * 1_000_000_000;
/// The committee's minimum stake on a devnet: 100 tokens.
pub const DEVNET_MIN_STAKE: u64 = 100 * 1_000_000_000;
/// Seconds a leaving member stays slashable: one day.
pub const DEVNET_UNBONDING: u64 = 86_400;

/// The devnet committee's keys: derived from a public seed (like the dev accounts, never for a
/// real chain), so every devnet and test has the same members.
pub fn devnet_member_keys(n: usize) -> Vec<PrivateKeySigner> {
    (0..n)
        .map(|i| {
            let seed = keccak256(format!("decloud devnet committee member {i}"));
            PrivateKeySigner::from_bytes(&seed).expect("a keccak hash is a valid key")
        })
        .collect()
}

/// A provider at `rpc_url` that signs with `key`.
pub fn provider(rpc_url: &str, key: PrivateKeySigner) -> Result<DynProvider, OracleError> {
    let url = rpc_url
        .parse()
        .map_err(|_| OracleError::Profile(format!("{rpc_url:?} is not an http(s) URL")))?;
    Ok(ProviderBuilder::new()
        .wallet(EthereumWallet::from(key))
        .connect_http(url)
        .erased())
}

fn tx(what: &str) -> impl Fn(alloy::contract::Error) -> OracleError + '_ {
    move |e| OracleError::Chain(format!("{what}: {}", first_line(&e.to_string())))
}

/// The first line of an error's text.
pub(crate) fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}

async fn mined<N: alloy::network::Network>(
    what: &str,
    pending: alloy::providers::PendingTransactionBuilder<N>,
) -> Result<N::ReceiptResponse, OracleError> {
    use alloy::network::ReceiptResponse;
    let receipt = pending
        .get_receipt()
        .await
        .map_err(|e| OracleError::Chain(format!("{what}: {e}")))?;
    if !receipt.status() {
        return Err(OracleError::Chain(format!(
            "{what}: the transaction reverted"
        )));
    }
    Ok(receipt)
}

/// Deploys a committee for `hub` (stakes in `token`); returns its address and block.
pub async fn deploy_committee(
    a: &DynProvider,
    hub: Address,
    token: Address,
    min_stake: U256,
    unbonding: u64,
) -> Result<(Address, u64), OracleError> {
    use alloy::network::ReceiptResponse;
    let what = "deploying the committee";
    let pending = Committee::deploy_builder(a, hub, token, min_stake, unbonding)
        .send()
        .await
        .map_err(tx(what))?;
    let receipt = mined(what, pending).await?;
    let address = receipt
        .contract_address()
        .ok_or_else(|| OracleError::Chain(format!("{what}: no contract address")))?;
    Ok((address, receipt.block_number().unwrap_or_default()))
}

/// `member` approves and stakes `stake` tokens in the committee (it must hold them).
pub async fn join(
    rpc_url: &str,
    member: PrivateKeySigner,
    committee: Address,
    token: Address,
    stake: U256,
) -> Result<(), OracleError> {
    let a = provider(rpc_url, member)?;
    let what = "approving the committee's stake";
    let erc20 = decloud_chain::contracts::DevToken::new(token, &a);
    let pending = erc20
        .approve(committee, stake)
        .send()
        .await
        .map_err(tx(what))?;
    mined(what, pending).await?;
    let what = "joining the committee";
    let pending = Committee::new(committee, &a)
        .join(stake)
        .send()
        .await
        .map_err(tx(what))?;
    mined(what, pending).await?;
    Ok(())
}

/// Deploys a gateway with its first committee, `members` and `threshold` (later ones come by
/// the outgoing committee's handover); returns the gateway, its work passes and the block.
pub async fn deploy_gateway(
    b: &DynProvider,
    members: Vec<Address>,
    threshold: u64,
) -> Result<(Address, Address, u64), OracleError> {
    use alloy::network::ReceiptResponse;
    let what = "deploying the gateway";
    let pending = Gateway::deploy_builder(b, members, U256::from(threshold))
        .send()
        .await
        .map_err(tx(what))?;
    let receipt = mined(what, pending).await?;
    let gateway = receipt
        .contract_address()
        .ok_or_else(|| OracleError::Chain(format!("{what}: no contract address")))?;
    let passes = Gateway::new(gateway, b)
        .passes()
        .call()
        .await
        .map_err(tx("reading the gateway's work passes"))?;
    Ok((gateway, passes, receipt.block_number().unwrap_or_default()))
}

/// Sends `call` and waits for it to be mined successfully.
pub(crate) async fn send<P, D, N>(
    what: &str,
    call: alloy::contract::CallBuilder<P, D, N>,
) -> Result<N::ReceiptResponse, OracleError>
where
    P: Provider<N>,
    D: alloy::contract::CallDecoder,
    N: alloy::network::Network,
{
    let pending = call.send().await.map_err(tx(what))?;
    mined(what, pending).await
}
