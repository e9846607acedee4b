//! Where signed orders are valid: the EIP-712 domain of one hub on one chain.

use alloy::primitives::{Address, B256};
use alloy::sol_types::{Eip712Domain, eip712_domain};
use serde::{Deserialize, Serialize};

/// EIP-712 domain name of the hub.
pub const DOMAIN_NAME: &str = "decloud";
/// EIP-712 domain version of the hub.
pub const DOMAIN_VERSION: &str = "1";

/// Where orders are valid: the chain and the hub that verifies them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Domain {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The hub contract (EIP-712 `verifyingContract`).
    pub hub: Address,
}

impl Domain {
    /// The domain of `hub` on chain `chain_id`.
    pub fn new(chain_id: u64, hub: Address) -> Self {
        Self { chain_id, hub }
    }

    /// The EIP-712 domain: `name="decloud", version="1", chainId, verifyingContract=hub`.
    pub fn eip712(&self) -> Eip712Domain {
        eip712_domain! {
            name: DOMAIN_NAME,
            version: DOMAIN_VERSION,
            chain_id: self.chain_id,
            verifying_contract: self.hub,
        }
    }

    /// The domain separator (the hub's `domainSeparator()`).
    pub fn separator(&self) -> B256 {
        self.eip712().hash_struct()
    }
}
