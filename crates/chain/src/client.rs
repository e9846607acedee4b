//! The transaction layer: a provider built from the chain profile (and an optional `--rpc`
//! override), with a wallet, that sends transactions with its own nonce management, gas
//! estimation, rebroadcasting of dropped transactions, and decoding of the contracts' custom
//! errors into one-line messages.
//!
//! ```no_run
//! # async fn f(profile: decloud_chain::ChainProfile, signer: alloy::signers::local::PrivateKeySigner) -> Result<(), decloud_chain::ChainError> {
//! use decloud_chain::client::Client;
//! let client = Client::connect(&profile, None, Some(signer)).await?;
//! let hub = client.hub();
//! let tx = hub.deposit(alloy::primitives::U256::from(5)).into_transaction_request();
//! let receipt = client.send("depositing", tx).await?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::time::Duration;

use alloy::contract::{CallBuilder, CallDecoder};
use alloy::eips::eip1559::Eip1559Estimation;
use alloy::network::EthereumWallet;
use alloy::primitives::{Address, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::client::ClientBuilder;
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::{RpcError, TransportErrorKind};
use decloud_protocol::Domain;
use tokio::sync::Mutex;

use crate::contracts::{AppRegistry, DatasetRegistry, DevToken, IHub, WorkerpoolRegistry};
use crate::revert::describe_revert;
use crate::rpc::{RetryLayer, RpcStats};
use crate::send::GasKey;
use crate::{ChainError, ChainProfile};

/// How long and how often to wait for transactions.
#[derive(Clone, Copy, Debug)]
pub struct SendOptions {
    /// The longest interval between receipt polls (the first ones are shorter).
    pub poll: Duration,
    /// How long to wait for a receipt before checking whether the node dropped the
    /// transaction (and rebroadcasting it if so).
    pub rebroadcast_after: Duration,
    /// How many times a transaction is broadcast before giving up.
    pub broadcasts: u32,
    /// Gas limit = estimate × (100 + this) / 100.
    pub gas_margin_percent: u64,
    /// Reuse the gas limit of a call already estimated (same contract, function and calldata
    /// size) instead of asking `eth_estimateGas` again.
    pub reuse_gas_limits: bool,
    /// Send with `eth_sendRawTransactionSync` (EIP-7966: the node answers with the receipt once
    /// the transaction is mined), saving the receipt polls. A node that lacks the method, or
    /// that does not mine within 200 ms (blocks on a clock), turns it off for the client's
    /// life: from then on it sends with `eth_sendRawTransaction` and polls.
    pub sync_send: bool,
}

impl Default for SendOptions {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(100),
            rebroadcast_after: Duration::from_secs(30),
            broadcasts: 4,
            gas_margin_percent: 20,
            reuse_gas_limits: true,
            sync_send: true,
        }
    }
}

/// A connection to the chain of a profile, optionally with a wallet to send transactions.
pub struct Client {
    pub(crate) provider: DynProvider,
    pub(crate) url: String,
    pub(crate) profile: ChainProfile,
    pub(crate) signer: Option<PrivateKeySigner>,
    pub(crate) wallet: Option<EthereumWallet>,
    /// Next nonce to use; `None` until fetched (and after a nonce error).
    pub(crate) nonce: Mutex<Option<u64>>,
    /// The last fee estimate and when it was made: reused for [`crate::send::FEE_TTL`], so that a burst of
    /// transactions asks the node once.
    pub(crate) fees: std::sync::Mutex<Option<(std::time::Instant, Eip1559Estimation)>>,
    /// Gas limits already estimated (with the margin), so that a known call skips
    /// `eth_estimateGas`.
    pub(crate) gas_cache: std::sync::Mutex<HashMap<GasKey, u64>>,
    pub(crate) stats: RpcStats,
    pub(crate) options: SendOptions,
    /// Whether sends still try `eth_sendRawTransactionSync` ([`SendOptions::sync_send`], until
    /// the node shows it cannot serve it).
    pub(crate) sync_send: std::sync::atomic::AtomicBool,
}

impl Client {
    /// Connects to `rpc` (or the profile's RPC URL), checks the chain answers with the profile's
    /// chain id, and signs with `signer` if given.
    pub async fn connect(
        profile: &ChainProfile,
        rpc: Option<&str>,
        signer: Option<PrivateKeySigner>,
    ) -> Result<Self, ChainError> {
        let url = rpc.unwrap_or(&profile.rpc_url).to_string();
        let stats = RpcStats::default();
        let provider = provider_with(&url, profile.max_retries(), stats.clone())?;
        let actual = provider
            .get_chain_id()
            .await
            .map_err(|e| unreachable(&url, &e))?;
        if actual != profile.chain_id {
            return Err(ChainError::WrongChain {
                url,
                expected: profile.chain_id,
                actual,
            });
        }
        let mut profile = profile.clone();
        profile.rpc_url = url.clone();
        Ok(Self {
            provider,
            url,
            profile,
            wallet: signer.clone().map(EthereumWallet::from),
            signer,
            nonce: Mutex::new(None),
            fees: std::sync::Mutex::new(None),
            gas_cache: std::sync::Mutex::new(HashMap::new()),
            stats,
            options: SendOptions::default(),
            sync_send: std::sync::atomic::AtomicBool::new(true),
        })
    }

    /// Changes how transactions are awaited.
    pub fn with_options(mut self, options: SendOptions) -> Self {
        self.sync_send = std::sync::atomic::AtomicBool::new(options.sync_send);
        self.options = options;
        self
    }

    /// The provider (no signer: sign through [`Client::send`]).
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// The profile, with the RPC URL actually used.
    pub fn profile(&self) -> &ChainProfile {
        &self.profile
    }

    /// The wallet's address, if the client has one.
    pub fn address(&self) -> Option<Address> {
        self.signer.as_ref().map(|s| s.address())
    }

    /// The wallet's signer, if any (for signing orders).
    pub fn signer(&self) -> Option<&PrivateKeySigner> {
        self.signer.as_ref()
    }

    /// The EIP-712 domain orders on this chain are signed in.
    pub fn domain(&self) -> Domain {
        Domain::new(self.profile.chain_id, self.profile.contracts.hub)
    }

    /// The hub: every function it serves at its address ([`IHub`]).
    pub fn hub(&self) -> IHub::IHubInstance<DynProvider> {
        IHub::new(self.profile.contracts.hub, self.provider.clone())
    }

    /// The escrow token.
    pub fn token(&self) -> DevToken::DevTokenInstance<DynProvider> {
        DevToken::new(self.profile.contracts.token, self.provider.clone())
    }

    /// Runs a read-only contract call and returns its answer, or a one-line error naming `what`
    /// (e.g. `client.read("reading the task", client.hub().task(id))`).
    pub async fn read<P: Provider, D: CallDecoder>(
        &self,
        what: &str,
        call: CallBuilder<P, D>,
    ) -> Result<D::CallOutput, ChainError> {
        call.call().await.map_err(|e| self.contract_error(what, &e))
    }

    /// The app registry.
    pub fn app_registry(&self) -> AppRegistry::AppRegistryInstance<DynProvider> {
        AppRegistry::new(self.profile.contracts.app_registry, self.provider.clone())
    }

    /// The dataset registry.
    pub fn dataset_registry(&self) -> DatasetRegistry::DatasetRegistryInstance<DynProvider> {
        DatasetRegistry::new(
            self.profile.contracts.dataset_registry,
            self.provider.clone(),
        )
    }

    /// The workerpool registry.
    pub fn workerpool_registry(
        &self,
    ) -> WorkerpoolRegistry::WorkerpoolRegistryInstance<DynProvider> {
        WorkerpoolRegistry::new(
            self.profile.contracts.workerpool_registry,
            self.provider.clone(),
        )
    }

    /// `account`'s tokens in its wallet (not deposited in the escrow).
    pub async fn token_balance(&self, account: Address) -> Result<U256, ChainError> {
        self.token()
            .balanceOf(account)
            .call()
            .await
            .map_err(|e| self.contract_error(&format!("reading the tokens of {account}"), &e))
    }

    /// `account`'s free balance in the hub's escrow (what it can spend or withdraw).
    pub async fn escrow_balance(&self, account: Address) -> Result<U256, ChainError> {
        self.hub().balanceOf(account).call().await.map_err(|e| {
            self.contract_error(&format!("reading the escrow balance of {account}"), &e)
        })
    }

    /// What the hub holds frozen for `account`: deal prices and stakes of work in flight.
    pub async fn frozen_balance(&self, account: Address) -> Result<U256, ChainError> {
        self.hub().frozenOf(account).call().await.map_err(|e| {
            self.contract_error(&format!("reading the frozen balance of {account}"), &e)
        })
    }

    /// Turns an RPC error into a one-line [`ChainError`]: a revert becomes
    /// [`ChainError::Reverted`] with the decoded custom error, a transport failure
    /// [`ChainError::Unreachable`].
    pub fn rpc_error(&self, what: &str, e: &RpcError<TransportErrorKind>) -> ChainError {
        rpc_error(&self.url, what, e)
    }

    /// Same as [`Client::rpc_error`] for errors of the contract bindings (`.call()`).
    pub fn contract_error(&self, what: &str, e: &alloy::contract::Error) -> ChainError {
        match e {
            alloy::contract::Error::TransportError(t) => self.rpc_error(what, t),
            other => match other.as_revert_data() {
                Some(data) => ChainError::Reverted {
                    what: what.to_string(),
                    reason: describe_revert(&data),
                },
                None => ChainError::tx(what, other),
            },
        }
    }

    /// The RPC calls this client made so far (by method), for measurements.
    pub fn rpc_counts(&self) -> crate::rpc::RpcCounts {
        self.stats.snapshot()
    }
}

/// A provider for `rpc_url` without wallet or fillers, for reads and raw requests, retrying
/// rate limits and transient failures ([`crate::rpc`]); a one-line error when the URL does not
/// parse.
pub fn read_only_provider(rpc_url: &str) -> Result<DynProvider, ChainError> {
    provider_with(
        rpc_url,
        crate::profile::DEFAULT_MAX_RETRIES,
        RpcStats::default(),
    )
}

/// How long connecting to the RPC endpoint may take before the request fails (and is retried).
pub const RPC_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long one JSON-RPC request may take, answer included, before it fails (and is retried).
pub const RPC_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// [`read_only_provider`] retrying at most `max_retries` times and counting its calls into
/// `stats`.
pub fn provider_with(
    rpc_url: &str,
    max_retries: u32,
    stats: RpcStats,
) -> Result<DynProvider, ChainError> {
    let url = rpc_url.parse().map_err(|_| bad_rpc_url(rpc_url))?;
    // Without a deadline a request whose packets are dropped (a partition, a firewall, a node
    // killed mid-answer) waits for the OS to give up on the connection, minutes, and holds the
    // loop that sent it: a service would stop following the chain until then.
    let http = alloy::transports::http::reqwest::Client::builder()
        .connect_timeout(RPC_CONNECT_TIMEOUT)
        .timeout(RPC_REQUEST_TIMEOUT)
        .build()
        .map_err(|e| ChainError::Unreachable {
            url: endpoint(rpc_url),
            reason: first_line(&e.to_string()).to_owned(),
        })?;
    let client = ClientBuilder::default()
        .layer(RetryLayer::new(max_retries, stats))
        .http_with_client(http, url);
    Ok(ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_client(client)
        .erased())
}

/// `url` as errors name it: scheme, host and port only. An RPC provider's API key lives in the
/// path, the query or the user part, and these errors reach logs and remote clients.
pub fn endpoint(url: &str) -> String {
    match url.parse::<alloy::transports::http::reqwest::Url>() {
        Ok(parsed) => parsed.origin().ascii_serialization(),
        Err(_) => "(an RPC URL that does not parse)".to_string(),
    }
}

/// [`ChainError::BadRpcUrl`] for `url`, which does not parse: it shows only the scheme and the
/// host part as typed (so a typo is still visible), never a user, a path or a query, where an
/// RPC provider's API key may be.
pub fn bad_rpc_url(url: &str) -> ChainError {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let shown = if scheme.is_empty() {
        host.to_owned()
    } else {
        format!("{scheme}://{host}")
    };
    ChainError::BadRpcUrl {
        url: shown.chars().take(80).collect(),
    }
}

/// [`ChainError::Unreachable`] for `url`, with the first line of the transport's error; both
/// name the endpoint only (see [`endpoint`]).
pub(crate) fn unreachable(url: &str, e: &RpcError<TransportErrorKind>) -> ChainError {
    let shown = endpoint(url);
    let mut reason = first_line(&e.to_string()).replace(url, &shown);
    // The transport quotes the URL in its own form (normalized, credentials dropped).
    if let Ok(mut parsed) = url.parse::<alloy::transports::http::reqwest::Url>() {
        reason = reason.replace(parsed.as_str(), &shown);
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
        reason = reason.replace(parsed.as_str(), &shown);
    }
    ChainError::Unreachable { url: shown, reason }
}

pub(crate) fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

/// Classifies an RPC error (see [`Client::rpc_error`]).
pub fn rpc_error(url: &str, what: &str, e: &RpcError<TransportErrorKind>) -> ChainError {
    match e {
        RpcError::ErrorResp(payload) => match payload.as_revert_data() {
            Some(data) => ChainError::Reverted {
                what: what.to_string(),
                reason: describe_revert(&data),
            },
            None if payload
                .message
                .to_ascii_lowercase()
                .contains("insufficient funds") =>
            {
                ChainError::tx(
                    what,
                    "the wallet has not enough ether to pay for gas: send it some (on a devnet, from a development account)",
                )
            }
            None => ChainError::tx(what, first_line(&payload.message)),
        },
        RpcError::Transport(_) => unreachable(url, e),
        other => ChainError::tx(what, first_line(&other.to_string())),
    }
}

#[cfg(test)]
mod url_tests {
    use super::*;

    #[test]
    fn a_url_that_does_not_parse_is_shown_without_user_path_or_query() {
        for (typed, shown) in [
            ("htp//127.0.0.1:8545", "htp"),
            ("http://127.0.0.1:85450", "http://127.0.0.1:85450"),
            (
                "https://key123@rpc.example:99999/v3/secret?k=s",
                "https://rpc.example:99999",
            ),
            ("wss://user:pw@[::1:8545/path", "wss://[::1:8545"),
        ] {
            assert!(
                typed
                    .parse::<alloy::transports::http::reqwest::Url>()
                    .is_err(),
                "{typed}"
            );
            let message = bad_rpc_url(typed).to_string();
            assert!(
                message.contains(&format!("{shown:?}")),
                "{typed}: {message}"
            );
            for secret in ["key123", "secret", "k=s", "user", "pw", "path"] {
                assert!(!message.contains(secret), "{typed}: {message}");
            }
        }
    }
}
