//! What makes an order publishable, asked of the chain: a signature by the resource owner (or
//! the requester), volume left, not cancelled, not expired, and for requests a balance that
//! pays at least one task at the prices asked.

use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::transports::{RpcError, TransportErrorKind};
use decloud_chain::contracts::IHub;
use decloud_chain::{ChainError, ChainProfile};
use decloud_protocol::{AnyOrder, Domain, ProtocolError};

use crate::{BookEntry, MarketError, OrderKind, OrderStatus};

alloy::sol! {
    /// The ownership view every resource registry (app, dataset, workerpool) shares.
    #[sol(rpc)]
    interface ResourceRegistry {
        function ownerOfResource(address id) external view returns (address);
    }
}

/// Checks orders against the chain named by a profile.
#[derive(Clone, Debug)]
pub struct ChainChecker {
    provider: DynProvider,
    profile: ChainProfile,
    domain: Domain,
    /// The RPC endpoint as errors name it: its origin only.
    endpoint: String,
}

/// An order that holds, as the book would keep it.
#[derive(Clone, Debug)]
pub struct Checked {
    /// Its book entry.
    pub entry: BookEntry,
    /// A request whose requester has nothing in the escrow (it asks for free work, at no cost
    /// to sign): it gets less book space.
    pub unfunded: bool,
}

/// What the chain says of an order right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OnChain {
    /// Tasks still available.
    pub remaining: u64,
    /// Where the order stands.
    pub status: OrderStatus,
}

impl From<ProtocolError> for MarketError {
    fn from(e: ProtocolError) -> Self {
        Self::BadRequest(e.to_string())
    }
}

fn price(value: U256, what: &str) -> Result<u64, MarketError> {
    u64::try_from(value).map_err(|_| {
        MarketError::BadRequest(format!("{what} {value} is too large for the order book"))
    })
}

impl ChainChecker {
    /// A checker reading the chain of `profile` (no wallet: it only reads).
    pub fn new(profile: ChainProfile) -> Result<Self, MarketError> {
        let url = profile.rpc_url.parse().map_err(|_| {
            MarketError::Chain(format!(
                "invalid RPC URL {:?} in the chain profile",
                profile.rpc_url
            ))
        })?;
        let endpoint = decloud_chain::client::endpoint(&profile.rpc_url);
        let provider = ProviderBuilder::new().connect_http(url).erased();
        let domain = Domain::new(profile.chain_id, profile.contracts.hub);
        Ok(Self {
            provider,
            profile,
            domain,
            endpoint,
        })
    }

    /// An RPC failure while `what`: [`MarketError::ChainDown`] when the chain does not answer
    /// (decloud-chain's classification), [`MarketError::Chain`] when it answered an error.
    fn rpc_error(&self, what: &str, e: &RpcError<TransportErrorKind>) -> MarketError {
        match decloud_chain::client::rpc_error(&self.endpoint, what, e) {
            ChainError::Unreachable { .. } => MarketError::ChainDown(self.endpoint.clone()),
            other => MarketError::Chain(other.to_string()),
        }
    }

    /// [`MarketError::ChainDown`] if the call failed because the chain does not answer.
    fn chain_down(&self, e: &alloy::contract::Error) -> Option<MarketError> {
        match e {
            alloy::contract::Error::TransportError(t) => match self.rpc_error("", t) {
                down @ MarketError::ChainDown(_) => Some(down),
                _ => None,
            },
            _ => None,
        }
    }

    /// A failed contract call while `what`: [`MarketError::ChainDown`] when the chain does not
    /// answer, [`MarketError::Chain`] otherwise.
    fn call_error(&self, what: &str, e: alloy::contract::Error) -> MarketError {
        match e {
            alloy::contract::Error::TransportError(t) => self.rpc_error(what, &t),
            other => MarketError::Chain(format!(
                "{what}: {}",
                other.to_string().lines().next().unwrap_or_default()
            )),
        }
    }

    /// The EIP-712 domain orders are signed in.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// Validates an order published as `kind` at unix time `now` and returns its book entry.
    pub async fn check(
        &self,
        kind: OrderKind,
        body: &serde_json::Value,
        now: u64,
    ) -> Result<Checked, MarketError> {
        let order = AnyOrder::deserialize_as(kind, body).map_err(|e| {
            MarketError::BadRequest(format!("malformed {} order: {e}", kind.as_str()))
        })?;
        let contracts = &self.profile.contracts;
        // Who must have signed, and what the book calls the order's price.
        let (signer, price_name) = match &order {
            AnyOrder::App(_) => (
                self.owner(contracts.app_registry, &order).await?,
                "app price",
            ),
            AnyOrder::Dataset(_) => (
                self.owner(contracts.dataset_registry, &order).await?,
                "dataset price",
            ),
            AnyOrder::Workerpool(_) => (
                self.owner(contracts.workerpool_registry, &order).await?,
                "workerpool price",
            ),
            AnyOrder::Request(o) => (o.requester, "workerpool max price"),
        };
        let hash = self.signed_by(&order, signer).await?;
        let mut unfunded = false;
        if let AnyOrder::Request(o) = &order {
            let per_task = o.app_max_price + o.dataset_max_price + o.workerpool_max_price;
            let balance = IHub::new(contracts.hub, &self.provider)
                .balanceOf(o.requester)
                .call()
                .await
                .map_err(|e| self.call_error("reading the requester's balance", e))?;
            unfunded = balance.is_zero();
            if balance < per_task {
                return Err(MarketError::BadRequest(format!(
                    "requester {} has {balance} in the escrow but one task costs up to {per_task}: deposit with `decloud account deposit`",
                    o.requester
                )));
            }
        }
        let mut entry = BookEntry {
            hash,
            kind,
            resource: order.resource(),
            signer,
            price: price(order.price(), price_name)?,
            volume: order.volume(),
            remaining: order.volume(),
            tag: order.tag().0,
            category: order.category(),
            trust: order.trust(),
            workerpool: order.workerpool(),
            dataset: order.dataset(),
            expiry: order.expiry(),
            status: OrderStatus::Open,
            order: serde_json::to_value(&order).expect("orders serialize"),
        };
        if entry.volume == 0 {
            return Err(MarketError::BadRequest(
                "the order's volume is 0: sign it with a volume of at least 1".into(),
            ));
        }
        if entry.expiry != 0 && entry.expiry <= now {
            return Err(MarketError::BadRequest(format!(
                "the order expired at {} (now {now}): sign a new one with a later --expiry",
                entry.expiry
            )));
        }
        let on_chain = self.on_chain(&entry, now).await?;
        match on_chain.status {
            OrderStatus::Cancelled => {
                return Err(MarketError::BadRequest(format!(
                    "order {} was cancelled on chain: sign a new one (with another salt)",
                    entry.hash
                )));
            }
            OrderStatus::Filled => {
                return Err(MarketError::BadRequest(format!(
                    "order {} is already consumed: sign a new one (with another salt)",
                    entry.hash
                )));
            }
            OrderStatus::Open | OrderStatus::Dead => {}
        }
        entry.remaining = on_chain.remaining;
        Ok(Checked { entry, unfunded })
    }

    /// What the chain says of a book entry now: consumed volume, cancellation, expiry.
    pub async fn on_chain(&self, entry: &BookEntry, now: u64) -> Result<OnChain, MarketError> {
        let hub = IHub::new(self.profile.contracts.hub, &self.provider);
        let status = hub
            .orderStatus(entry.hash)
            .call()
            .await
            .map_err(|e| self.call_error("reading the order's status", e))?;
        let consumed = if entry.kind == OrderKind::Request {
            hub.requestOrderConsumed(entry.hash, U256::from(entry.volume))
                .call()
                .await
                .map_err(|e| self.call_error("reading the request's consumed volume", e))?
        } else {
            status.consumed
        };
        let consumed = u64::try_from(consumed).unwrap_or(u64::MAX);
        let remaining = entry.volume.saturating_sub(consumed);
        let status = if status.cancelled {
            OrderStatus::Cancelled
        } else if remaining == 0 {
            OrderStatus::Filled
        } else if entry.expiry != 0 && entry.expiry <= now {
            OrderStatus::Dead
        } else {
            OrderStatus::Open
        };
        Ok(OnChain { remaining, status })
    }

    /// Latest block number of the chain.
    pub async fn block_number(&self) -> Result<u64, MarketError> {
        self.provider
            .get_block_number()
            .await
            .map_err(|e| self.rpc_error("reading the latest block", &e))
    }

    /// The provider, for the follower's log queries.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// The profile the checker reads.
    pub fn profile(&self) -> &ChainProfile {
        &self.profile
    }

    /// The owner of the resource `order` offers, read from its `registry`.
    async fn owner(&self, registry: Address, order: &AnyOrder) -> Result<Address, MarketError> {
        let (id, what) = (order.resource(), order.kind().as_str());
        ResourceRegistry::new(registry, &self.provider)
            .ownerOfResource(id)
            .call()
            .await
            .map_err(|e| {
                // A registry that does not answer says nothing about the resource; one that
                // reverts (or answers nothing) does not know it.
                self.chain_down(&e).unwrap_or_else(|| {
                    MarketError::BadRequest(format!(
                        "{what} {id} is not registered on this chain: deploy it with `decloud {what} deploy`"
                    ))
                })
            })
    }

    /// Checks that `expected` signed `order` (or presigned it on chain); returns its hash.
    async fn signed_by(&self, order: &AnyOrder, expected: Address) -> Result<B256, MarketError> {
        if order.signature().is_empty() {
            let hash = order.hash(&self.domain);
            let status = IHub::new(self.profile.contracts.hub, &self.provider)
                .orderStatus(hash)
                .call()
                .await
                .map_err(|e| self.call_error("reading the order's status", e))?;
            if status.presigned {
                return Ok(hash);
            }
        }
        Ok(order.verify(&self.domain, expected)?)
    }
}

/// Unix time now, in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The order hash a book entry is stored under, for a hash given as text.
pub fn parse_hash(text: &str) -> Result<B256, MarketError> {
    text.parse().map_err(|_| {
        MarketError::BadRequest(format!(
            "{text:?} is not an order hash: expected 0x followed by 64 hex digits"
        ))
    })
}
