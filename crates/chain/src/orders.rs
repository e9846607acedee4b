//! From the protocol's orders to the contract bindings, and matching them on chain.

use alloy::primitives::{B256, U256};
use alloy::rpc::types::TransactionReceipt;
use alloy::sol_types::SolEvent;
use decloud_protocol::{AppOrder, DatasetOrder, RequestOrder, WorkerpoolOrder, typed};

use crate::ChainError;
use crate::client::Client;
use crate::contracts::{Hub, HubExtension};

macro_rules! bind_orders {
    ($m:ident) => {
        impl From<&AppOrder> for $m::AppOrder {
            fn from(o: &AppOrder) -> Self {
                Self {
                    app: o.app,
                    appprice: o.app_price,
                    volume: U256::from(o.volume),
                    tag: o.tag.0,
                    datasetrestrict: o.dataset_restrict,
                    workerpoolrestrict: o.workerpool_restrict,
                    requesterrestrict: o.requester_restrict,
                    expiry: U256::from(o.expiry),
                    salt: o.salt,
                    sign: o.sign.clone(),
                }
            }
        }

        impl From<&DatasetOrder> for $m::DatasetOrder {
            fn from(o: &DatasetOrder) -> Self {
                Self {
                    dataset: o.dataset,
                    datasetprice: o.dataset_price,
                    volume: U256::from(o.volume),
                    tag: o.tag.0,
                    apprestrict: o.app_restrict,
                    workerpoolrestrict: o.workerpool_restrict,
                    requesterrestrict: o.requester_restrict,
                    expiry: U256::from(o.expiry),
                    salt: o.salt,
                    sign: o.sign.clone(),
                }
            }
        }

        impl From<&WorkerpoolOrder> for $m::WorkerpoolOrder {
            fn from(o: &WorkerpoolOrder) -> Self {
                Self {
                    workerpool: o.workerpool,
                    workerpoolprice: o.workerpool_price,
                    volume: U256::from(o.volume),
                    tag: o.tag.0,
                    category: U256::from(o.category),
                    trust: U256::from(o.trust),
                    apprestrict: o.app_restrict,
                    datasetrestrict: o.dataset_restrict,
                    requesterrestrict: o.requester_restrict,
                    expiry: U256::from(o.expiry),
                    salt: o.salt,
                    sign: o.sign.clone(),
                }
            }
        }

        impl From<&RequestOrder> for $m::RequestOrder {
            fn from(o: &RequestOrder) -> Self {
                Self {
                    app: o.app,
                    appmaxprice: o.app_max_price,
                    dataset: o.dataset,
                    datasetmaxprice: o.dataset_max_price,
                    workerpool: o.workerpool,
                    workerpoolmaxprice: o.workerpool_max_price,
                    requester: o.requester,
                    volume: U256::from(o.volume),
                    tag: o.tag.0,
                    category: U256::from(o.category),
                    trust: U256::from(o.trust),
                    beneficiary: o.beneficiary,
                    callback: o.callback,
                    params: o.params.clone(),
                    expiry: U256::from(o.expiry),
                    salt: o.salt,
                    sign: o.sign.clone(),
                }
            }
        }

        impl From<&$m::Deal> for typed::Deal {
            fn from(d: &$m::Deal) -> Self {
                Self {
                    app: d.app,
                    appOwner: d.appOwner,
                    appPrice: d.appPrice,
                    dataset: d.dataset,
                    datasetOwner: d.datasetOwner,
                    datasetPrice: d.datasetPrice,
                    workerpool: d.workerpool,
                    scheduler: d.scheduler,
                    workerpoolPrice: d.workerpoolPrice,
                    requester: d.requester,
                    beneficiary: d.beneficiary,
                    callback: d.callback,
                    category: d.category,
                    trust: d.trust,
                    tag: d.tag,
                    workClockTimeRef: d.workClockTimeRef,
                    workerStake: d.workerStake,
                    schedulerRewardRatio: d.schedulerRewardRatio,
                    requestHash: d.requestHash,
                    botFirst: d.botFirst,
                    volume: d.volume,
                }
            }
        }

        impl From<&typed::Deal> for $m::Deal {
            fn from(d: &typed::Deal) -> Self {
                Self {
                    app: d.app,
                    appOwner: d.appOwner,
                    appPrice: d.appPrice,
                    dataset: d.dataset,
                    datasetOwner: d.datasetOwner,
                    datasetPrice: d.datasetPrice,
                    workerpool: d.workerpool,
                    scheduler: d.scheduler,
                    workerpoolPrice: d.workerpoolPrice,
                    requester: d.requester,
                    beneficiary: d.beneficiary,
                    callback: d.callback,
                    category: d.category,
                    trust: d.trust,
                    tag: d.tag,
                    workClockTimeRef: d.workClockTimeRef,
                    workerStake: d.workerStake,
                    schedulerRewardRatio: d.schedulerRewardRatio,
                    requestHash: d.requestHash,
                    botFirst: d.botFirst,
                    volume: d.volume,
                }
            }
        }
    };
}

bind_orders!(Hub);
bind_orders!(HubExtension);

/// A deal created by [`match_orders`].
#[derive(Clone, Debug)]
pub struct MatchedDeal {
    /// The deal id.
    pub deal_id: B256,
    /// The deal as emitted in `DealCreated` (pass it back to the hub's task functions).
    pub deal: typed::Deal,
    /// The receipt of the `matchOrders` transaction.
    pub receipt: TransactionReceipt,
}

/// Sends `matchOrders` with the client's wallet (anyone may send it) and returns the deal.
/// Pass [`DatasetOrder::none`] when the request uses no dataset.
pub async fn match_orders(
    client: &Client,
    app: &AppOrder,
    dataset: &DatasetOrder,
    workerpool: &WorkerpoolOrder,
    request: &RequestOrder,
) -> Result<MatchedDeal, ChainError> {
    let what = "matching the orders";
    let hub = client.hub();
    let call = hub.matchOrders(
        app.into(),
        dataset.into(),
        workerpool.into(),
        request.into(),
    );
    let receipt = client.send(what, call.into_transaction_request()).await?;
    let created = receipt
        .inner
        .logs()
        .iter()
        .find_map(|log| Hub::DealCreated::decode_log(&log.inner).ok())
        .ok_or_else(|| ChainError::tx(what, "the receipt has no DealCreated event"))?;
    Ok(MatchedDeal {
        deal_id: created.dealid,
        deal: (&created.deal).into(),
        receipt,
    })
}
