//! Deployment of the protocol contracts from the committed artifacts, and devnet funding.

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use serde::{Deserialize, Serialize};

use crate::ChainError;
use crate::contracts::DevToken;

/// Addresses of the deployed protocol contracts, as stored in the chain profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contracts {
    /// The escrow token (the devnet token on a devnet).
    pub token: Address,
}

impl Contracts {
    /// A value with every address filled, for tests of code that stores profiles.
    pub fn example() -> Self {
        Self {
            token: Address::repeat_byte(0x22),
        }
    }
}

/// What a deployment produced: the addresses and the block of its first transaction.
#[derive(Clone, Debug)]
pub struct Deployment {
    /// Deployed contract addresses.
    pub contracts: Contracts,
    /// Block that holds the first deployment transaction.
    pub first_block: u64,
}

/// Deploys every protocol contract with `provider`'s signer as deployer; `admin` administers them.
pub async fn deploy_all<P: Provider>(provider: &P, admin: Address) -> Result<Deployment, ChainError> {
    let _ = admin; // the hub (contracts issue) takes its admin here
    let token_tx = DevToken::deploy_builder(provider)
        .send()
        .await
        .map_err(|e| ChainError::tx("deploying DevToken", e))?;
    let receipt = token_tx
        .get_receipt()
        .await
        .map_err(|e| ChainError::tx("deploying DevToken", e))?;
    let token = receipt
        .contract_address
        .ok_or_else(|| ChainError::tx("deploying DevToken", "the receipt has no contract address"))?;
    Ok(Deployment {
        contracts: Contracts { token },
        first_block: receipt.block_number.unwrap_or_default(),
    })
}

/// Mints `amount` devnet tokens to each of `accounts` through the faucet. All transactions are
/// sent before any receipt is awaited, so funding ten accounts costs one block, not ten.
pub async fn fund_accounts<P: Provider>(
    provider: &P,
    contracts: &Contracts,
    accounts: &[Address],
    amount: U256,
) -> Result<(), ChainError> {
    let token = DevToken::new(contracts.token, provider);
    let mut pending = Vec::with_capacity(accounts.len());
    for account in accounts {
        let tx = token
            .faucet(*account, amount)
            .send()
            .await
            .map_err(|e| ChainError::tx(format!("funding {account}"), e))?;
        pending.push((account, tx));
    }
    for (account, tx) in pending {
        let receipt = tx
            .get_receipt()
            .await
            .map_err(|e| ChainError::tx(format!("funding {account}"), e))?;
        if !receipt.status() {
            return Err(ChainError::tx(format!("funding {account}"), "the faucet transaction reverted"));
        }
    }
    Ok(())
}
