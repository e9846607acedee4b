//! Selling and buying with signed orders: the file of signed orders (`orders.json`), signing an
//! order after checking the wallet may, and cancelling one on chain.

use std::path::Path;

use alloy::primitives::{Address, B256};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use decloud_chain::client::Client;
use decloud_chain::contracts::{AppRegistry, IHub};
use decloud_protocol::OrderKind;
use decloud_protocol::{AppOrder, DatasetOrder, Domain, RequestOrder, WorkerpoolOrder};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use decloud_protocol::AnyOrder;

/// Reads the order of `kind` in `value` (an order's JSON body).
pub fn order_from_json(kind: OrderKind, value: serde_json::Value) -> Result<AnyOrder> {
    Ok(AnyOrder::deserialize_as(kind, value)?)
}

/// The hub's `manage*Order(order, true)` transaction: cancels `order` for good.
pub fn cancel_tx(client: &Client, order: &AnyOrder) -> TransactionRequest {
    let hub = client.hub();
    match order {
        AnyOrder::App(o) => hub
            .manageAppOrder(o.into(), true)
            .into_transaction_request(),
        AnyOrder::Dataset(o) => hub
            .manageDatasetOrder(o.into(), true)
            .into_transaction_request(),
        AnyOrder::Workerpool(o) => hub
            .manageWorkerpoolOrder(o.into(), true)
            .into_transaction_request(),
        AnyOrder::Request(o) => hub
            .manageRequestOrder(o.into(), true)
            .into_transaction_request(),
    }
}

/// Fills a zero salt with a random one and signs; returns the hash.
fn salt_and_sign(order: &mut AnyOrder, signer: &PrivateKeySigner, domain: &Domain) -> Result<B256> {
    if order.salt().is_zero() {
        order.set_salt(B256::random());
    }
    Ok(order.sign_with(signer, domain)?)
}

/// The file of signed orders: the chain they are valid on and one order per kind.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SignedOrders {
    /// The chain and hub the orders are signed for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<Domain>,
    /// Signed app order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<AppOrder>,
    /// Signed dataset order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetOrder>,
    /// Signed workerpool order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workerpool: Option<WorkerpoolOrder>,
    /// Signed request order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestOrder>,
}

impl SignedOrders {
    /// Reads the file at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(Error::io(format!(
            "cannot read {}: sign orders first with `decloud order sign`",
            path.display()
        )))?;
        serde_json::from_str(&text).map_err(Error::json(format!(
            "{} is not a file of signed orders",
            path.display()
        )))
    }

    /// Reads the file at `path`, or nothing when there is none.
    pub fn load_or_default(path: &Path) -> Result<Self> {
        if path.exists() {
            Self::load(path)
        } else {
            Ok(Self::default())
        }
    }

    /// Writes the file to `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(Error::json(format!("cannot write {}", path.display())))?;
        std::fs::write(path, text).map_err(Error::io(format!("cannot write {}", path.display())))
    }

    /// The order of `kind`, if the file has one.
    pub fn get(&self, kind: OrderKind) -> Option<AnyOrder> {
        match kind {
            OrderKind::App => self.app.clone().map(AnyOrder::App),
            OrderKind::Dataset => self.dataset.clone().map(AnyOrder::Dataset),
            OrderKind::Workerpool => self.workerpool.clone().map(AnyOrder::Workerpool),
            OrderKind::Request => self.request.clone().map(AnyOrder::Request),
        }
    }

    /// Stores `order` in the slot of its kind.
    pub fn set(&mut self, order: AnyOrder) {
        match order {
            AnyOrder::App(o) => self.app = Some(o),
            AnyOrder::Dataset(o) => self.dataset = Some(o),
            AnyOrder::Workerpool(o) => self.workerpool = Some(o),
            AnyOrder::Request(o) => self.request = Some(o),
        }
    }

    /// The orders of the kinds `chosen`, or of every kind the file holds when none is; an error
    /// names a missing one. `path` is the file's, for the messages.
    pub fn select(&self, chosen: &[OrderKind], path: &Path) -> Result<Vec<AnyOrder>> {
        if chosen.is_empty() {
            let all: Vec<_> = OrderKind::ALL
                .into_iter()
                .filter_map(|k| self.get(k))
                .collect();
            if all.is_empty() {
                return Err(Error::MissingOrder(format!(
                    "{} holds no signed order: run `decloud order sign` first",
                    path.display()
                )));
            }
            return Ok(all);
        }
        chosen
            .iter()
            .map(|k| {
                self.get(*k).ok_or_else(|| {
                    Error::MissingOrder(format!(
                        "{} holds no signed {k} order: run `decloud order sign --{k}` first",
                        path.display(),
                        k = k.as_str()
                    ))
                })
            })
            .collect()
    }

    /// Fails when the orders are signed for another chain than `domain`'s.
    pub fn check_domain(&self, domain: &Domain, path: &Path) -> Result<()> {
        match &self.domain {
            Some(d) if d != domain => Err(Error::WrongChain {
                path: path.to_path_buf(),
                signed_chain: d.chain_id,
                signed_hub: d.hub,
                chain: domain.chain_id,
                hub: domain.hub,
            }),
            _ => Ok(()),
        }
    }
}

/// The owner of resource `id` in `registry`; `what` (`app`, ...) names it in the error.
pub async fn owner_of(
    client: &Client,
    registry: Address,
    id: Address,
    what: &'static str,
) -> Result<Address> {
    AppRegistry::new(registry, client.provider())
        .ownerOfResource(id)
        .call()
        .await
        .map_err(|_| Error::NotRegistered { what, id })
}

/// Signs `order` with `signer` for the client's chain once the chain shows the signer may: it
/// owns the app, dataset or workerpool offered, or is the request's requester (filled in when
/// zero). Fills a zero salt with a random one. Returns the order's hash.
pub async fn sign(
    client: &Client,
    signer: &PrivateKeySigner,
    order: &mut AnyOrder,
) -> Result<B256> {
    let me = signer.address();
    let contracts = &client.profile().contracts;
    let resource = match order {
        AnyOrder::App(o) => Some((contracts.app_registry, o.app, "app")),
        AnyOrder::Dataset(o) => Some((contracts.dataset_registry, o.dataset, "dataset")),
        AnyOrder::Workerpool(o) => {
            Some((contracts.workerpool_registry, o.workerpool, "workerpool"))
        }
        AnyOrder::Request(o) => {
            if o.requester.is_zero() {
                o.requester = me;
            }
            if o.requester != me {
                return Err(Error::NotRequester {
                    requester: o.requester,
                    signer: me,
                });
            }
            None
        }
    };
    if let Some((registry, id, what)) = resource {
        let owner = owner_of(client, registry, id, what).await?;
        if owner != me {
            return Err(Error::NotOwner {
                signer: me,
                what,
                id,
                owner,
            });
        }
    }
    salt_and_sign(order, signer, &client.domain())
}

/// The order's status on the hub: consumed volume, presigned, cancelled.
pub async fn order_status(client: &Client, hash: B256) -> Result<IHub::orderStatusReturn> {
    Ok(client
        .read("reading the order's status", client.hub().orderStatus(hash))
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signed_orders_select_what_they_hold() {
        let path = Path::new("orders.json");
        let mut signed = SignedOrders::default();
        let err = signed.select(&[], path).unwrap_err().to_string();
        assert!(err.contains("holds no signed order"), "{err}");
        signed.set(AnyOrder::App(AppOrder::default()));
        let all = signed.select(&[], path).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].kind(), OrderKind::App);
        let err = signed
            .select(&[OrderKind::Workerpool], path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("order sign --workerpool"), "{err}");
    }

    #[test]
    fn orders_of_another_chain_are_refused() {
        let here = Domain::new(1, Address::repeat_byte(1));
        let there = Domain::new(2, Address::repeat_byte(1));
        let signed = SignedOrders {
            domain: Some(there),
            ..SignedOrders::default()
        };
        assert!(signed.check_domain(&there, Path::new("o.json")).is_ok());
        let err = signed
            .check_domain(&here, Path::new("o.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sign them again"), "{err}");
    }

    #[test]
    fn an_order_round_trips_through_json() {
        let order = AnyOrder::Workerpool(WorkerpoolOrder {
            volume: 7,
            ..WorkerpoolOrder::default()
        });
        let back =
            order_from_json(OrderKind::Workerpool, serde_json::to_value(&order).unwrap()).unwrap();
        let domain = Domain::new(1, Address::ZERO);
        assert_eq!(back.hash(&domain), order.hash(&domain));
        assert!(order_from_json(OrderKind::App, json!({"nope": 1})).is_err());
    }
}
