//! From the protocol's orders to the contract bindings, and matching them on chain.

use alloy::primitives::B256;
use alloy::rpc::types::TransactionReceipt;
use alloy::sol_types::{SolEvent, SolType, SolValue};
use decloud_protocol::{AppOrder, DatasetOrder, Order, RequestOrder, WorkerpoolOrder, typed};

use crate::ChainError;
use crate::client::Client;
use crate::contracts::IHub;

/// Converts between two `sol!` types generated separately from the same Solidity type (the
/// protocol's structs and the IHub binding's): ABI-encode one, decode it as the other. No
/// field is named, so a new field needs nothing here.
pub fn rebind<A, B>(value: &A) -> Result<B, ChainError>
where
    A: SolValue,
    B: SolValue + From<<B::SolType as SolType>::RustType>,
{
    B::abi_decode(&value.abi_encode()).map_err(|e| {
        ChainError::tx(
            "converting between contract bindings",
            format!(
                "{} and {} are not the same Solidity type: {e}",
                std::any::type_name::<A>(),
                std::any::type_name::<B>()
            ),
        )
    })
}

/// The conversion of a value to the binding of the same Solidity type. It can't fail: the two
/// types come from the same declaration (`the_protocol_types_are_the_bindings` checks it).
fn convert<A, B>(value: &A) -> B
where
    A: SolValue,
    B: SolValue + From<<B::SolType as SolType>::RustType>,
{
    rebind(value).expect("the protocol's structs and the IHub bindings are the same Solidity types")
}

macro_rules! bind_orders {
    ($($order:ident),*) => {$(
        impl From<&$order> for IHub::$order {
            fn from(o: &$order) -> Self {
                convert(&o.signed())
            }
        }
    )*};
}

bind_orders!(AppOrder, DatasetOrder, WorkerpoolOrder, RequestOrder);

impl From<&IHub::Deal> for typed::Deal {
    fn from(d: &IHub::Deal) -> Self {
        convert(d)
    }
}

impl From<&typed::Deal> for IHub::Deal {
    fn from(d: &typed::Deal) -> Self {
        convert(d)
    }
}

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
        .find_map(|log| IHub::DealCreated::decode_log(&log.inner).ok())
        .ok_or_else(|| ChainError::tx(what, "the receipt has no DealCreated event"))?;
    Ok(MatchedDeal {
        deal_id: created.dealid,
        deal: (&created.deal).into(),
        receipt,
    })
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, Bytes, U256};
    use decloud_protocol::Tag;

    use super::*;

    #[test]
    fn the_protocol_types_are_the_bindings() {
        let request = RequestOrder {
            app: Address::repeat_byte(1),
            app_max_price: U256::from(2),
            requester: Address::repeat_byte(3),
            volume: 4,
            tag: Tag::TEE,
            params: "{\"args\":\"x\"}".into(),
            salt: B256::repeat_byte(5),
            sign: Bytes::from(vec![6; 65]),
            ..Default::default()
        };
        let bound = IHub::RequestOrder::from(&request);
        assert_eq!(bound.params, request.params);
        assert_eq!(bound.volume, U256::from(4));
        assert_eq!(bound.sign, request.sign);
        assert_eq!(bound.tag, Tag::TEE.0);
        for (ours, theirs) in [
            (
                AppOrder::default().signed().abi_encode(),
                IHub::AppOrder::from(&AppOrder::default()).abi_encode(),
            ),
            (
                DatasetOrder::none().signed().abi_encode(),
                IHub::DatasetOrder::from(&DatasetOrder::none()).abi_encode(),
            ),
            (
                WorkerpoolOrder::default().signed().abi_encode(),
                IHub::WorkerpoolOrder::from(&WorkerpoolOrder::default()).abi_encode(),
            ),
        ] {
            assert_eq!(ours, theirs);
        }
        let deal = typed::Deal {
            app: Address::repeat_byte(7),
            volume: U256::from(8),
            requestHash: B256::repeat_byte(9),
            ..Default::default()
        };
        let round: typed::Deal = (&IHub::Deal::from(&deal)).into();
        assert_eq!(round, deal);
    }
}
