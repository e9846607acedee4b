//! A proxy task's destination (carried in the request's `params`), the `Delivery` the committee
//! signs for it, and its wire form.

use alloy::primitives::{Address, B256, Bytes, FixedBytes, U256, keccak256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{Eip712Domain, SolStruct, eip712_domain};
use serde::{Deserialize, Serialize};

use crate::OracleError;
use crate::contracts::Gateway::Delivery;

/// The selector of EIP-1154's `receiveResult(bytes32,bytes)`, the method a destination calls
/// when it names none.
pub const RECEIVE_RESULT: [u8; 4] = [0x5d, 0xd8, 0x08, 0x55];

/// Gas given to the consumer when the destination names no cap.
pub const DEFAULT_CALLBACK_GAS: u64 = 200_000;

/// Largest gas cap a destination may ask (the gateway's `MAX_CALLBACK_GAS`).
pub const MAX_CALLBACK_GAS: u64 = 5_000_000;

/// Where a proxy task's result goes: the `"oracle"` object of the request's `params`, e.g.
/// `{"args": "3 1 2", "oracle": {"chain_id": 31338, "gateway": "0x..", "consumer": "0x..",
/// "method": "0x5dd80855", "gas": 200000}}`. `method` and `gas` are optional.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// Chain id of the destination chain B.
    pub chain_id: u64,
    /// The gateway on B.
    pub gateway: Address,
    /// The consumer contract on B.
    pub consumer: Address,
    /// The consumer's method, `(bytes32 taskid, bytes result)`; `receiveResult` by default.
    #[serde(default)]
    pub method: Option<FixedBytes<4>>,
    /// Gas cap of the consumer's call; 200,000 by default.
    #[serde(default)]
    pub gas: Option<u64>,
}

impl Destination {
    /// The destination in a request's `params` (JSON text), `None` when it names none.
    pub fn from_params(params: &str) -> Result<Option<Self>, OracleError> {
        let value: serde_json::Value = match serde_json::from_str(params) {
            Ok(v) => v,
            // Params that are not JSON name no destination.
            Err(_) => return Ok(None),
        };
        let Some(oracle) = value.get("oracle") else {
            return Ok(None);
        };
        let dest: Self = serde_json::from_value(oracle.clone()).map_err(|e| {
            OracleError::BadDestination(format!(
                "{e} (expected {{\"chain_id\", \"gateway\", \"consumer\", \"method\"?, \"gas\"?}})"
            ))
        })?;
        if dest.gas_limit() == 0 || dest.gas_limit() > MAX_CALLBACK_GAS {
            return Err(OracleError::BadDestination(format!(
                "gas {} is outside 1..={MAX_CALLBACK_GAS}",
                dest.gas_limit()
            )));
        }
        Ok(Some(dest))
    }

    /// The method's selector.
    pub fn selector(&self) -> FixedBytes<4> {
        self.method.unwrap_or(FixedBytes(RECEIVE_RESULT))
    }

    /// The gas cap.
    pub fn gas_limit(&self) -> u64 {
        self.gas.unwrap_or(DEFAULT_CALLBACK_GAS)
    }

    /// The request `params` carrying this destination beside `args`.
    pub fn to_params(&self, args: &str) -> String {
        serde_json::json!({ "args": args, "oracle": self }).to_string()
    }
}

/// The EIP-712 domain of a gateway: deliveries signed in it are good on that chain and that
/// gateway only.
pub fn gateway_domain(chain_id: u64, gateway: Address) -> Eip712Domain {
    eip712_domain! {
        name: "decloud-gateway",
        version: "1",
        chain_id: chain_id,
        verifying_contract: gateway,
    }
}

/// A delivery, its callback data, and one member's signature, as signers serve it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedDelivery {
    /// Position in the signer's log (for `?after=`).
    pub seq: u64,
    /// The destination chain.
    pub chain_id: u64,
    /// The destination gateway.
    pub gateway: Address,
    /// The delivery.
    pub delivery: DeliveryWire,
    /// The callback data (its keccak256 is `delivery.digest`).
    pub data: Bytes,
    /// The member who signed.
    pub signer: Address,
    /// Its 65-byte signature (r ‖ s ‖ v).
    pub signature: Bytes,
}

/// `Delivery` with serde, field for field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct DeliveryWire {
    pub source_chain_id: u64,
    pub source_hub: Address,
    pub dealid: B256,
    pub taskid: B256,
    pub app: Address,
    pub dataset: Address,
    pub workerpool: Address,
    pub tag: B256,
    pub trust: U256,
    pub digest: B256,
    pub consumer: Address,
    pub method: FixedBytes<4>,
    pub gas_limit: u64,
}

impl From<&DeliveryWire> for Delivery {
    fn from(w: &DeliveryWire) -> Self {
        Delivery {
            sourceChainId: U256::from(w.source_chain_id),
            sourceHub: w.source_hub,
            dealid: w.dealid,
            taskid: w.taskid,
            app: w.app,
            dataset: w.dataset,
            workerpool: w.workerpool,
            tag: w.tag,
            trust: w.trust,
            digest: w.digest,
            consumer: w.consumer,
            method: w.method,
            gasLimit: U256::from(w.gas_limit),
        }
    }
}

impl DeliveryWire {
    /// The EIP-712 hash a member signs for the gateway `gateway` on chain `chain_id`.
    pub fn signing_hash(&self, chain_id: u64, gateway: Address) -> B256 {
        Delivery::from(self).eip712_signing_hash(&gateway_domain(chain_id, gateway))
    }

    /// Whether `data` is what this delivery certifies.
    pub fn matches(&self, data: &[u8]) -> bool {
        keccak256(data) == self.digest
    }
}

/// Signs `delivery` for `(chain_id, gateway)` with `key`: the 65-byte r ‖ s ‖ v signature.
pub fn sign(
    key: &PrivateKeySigner,
    delivery: &DeliveryWire,
    chain_id: u64,
    gateway: Address,
) -> Result<Bytes, OracleError> {
    let hash = delivery.signing_hash(chain_id, gateway);
    let sig = key
        .sign_hash_sync(&hash)
        .map_err(|e| OracleError::Sign(e.to_string()))?;
    Ok(Bytes::from(sig.as_bytes().to_vec()))
}

/// Who signed `signature` over `delivery` for `(chain_id, gateway)`; `None` for a malformed one.
pub fn recover(
    delivery: &DeliveryWire,
    chain_id: u64,
    gateway: Address,
    signature: &[u8],
) -> Option<Address> {
    let sig = alloy::primitives::Signature::try_from(signature).ok()?;
    sig.recover_address_from_prehash(&delivery.signing_hash(chain_id, gateway))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receive_result_selector_is_eip1154s() {
        assert_eq!(
            &keccak256("receiveResult(bytes32,bytes)")[..4],
            &RECEIVE_RESULT[..]
        );
    }

    #[test]
    fn destinations_are_read_from_params() {
        let gateway = Address::repeat_byte(1);
        let consumer = Address::repeat_byte(2);
        let dest = Destination {
            chain_id: 31338,
            gateway,
            consumer,
            method: None,
            gas: Some(150_000),
        };
        let params = dest.to_params("3 1 2");
        assert_eq!(Destination::from_params(&params).unwrap(), Some(dest));
        assert_eq!(Destination::from_params(r#"{"args":"x"}"#).unwrap(), None);
        assert_eq!(Destination::from_params("not json").unwrap(), None);
        let err = Destination::from_params(r#"{"oracle":{"chain_id":1}}"#).unwrap_err();
        assert!(err.to_string().contains("gateway"), "{err}");
        let err = Destination::from_params(&format!(
            r#"{{"oracle":{{"chain_id":1,"gateway":"{gateway}","consumer":"{consumer}","gas":0}}}}"#
        ))
        .unwrap_err();
        assert!(err.to_string().contains("gas 0"), "{err}");
    }

    #[test]
    fn a_signature_recovers_its_signer_for_its_domain_only() {
        let key = PrivateKeySigner::random();
        let d = DeliveryWire {
            source_chain_id: 31337,
            source_hub: Address::repeat_byte(3),
            dealid: B256::repeat_byte(4),
            taskid: B256::repeat_byte(5),
            app: Address::repeat_byte(6),
            dataset: Address::ZERO,
            workerpool: Address::repeat_byte(7),
            tag: B256::ZERO,
            trust: U256::from(3),
            digest: keccak256([1u8]),
            consumer: Address::repeat_byte(8),
            method: FixedBytes(RECEIVE_RESULT),
            gas_limit: 200_000,
        };
        let gw = Address::repeat_byte(9);
        let sig = sign(&key, &d, 31338, gw).unwrap();
        assert_eq!(recover(&d, 31338, gw, &sig), Some(key.address()));
        assert_ne!(recover(&d, 31339, gw, &sig), Some(key.address()));
        assert_eq!(recover(&d, 31338, gw, &sig[..10]), None);
    }
}
