//! The escrow account on the hub: its state, deposits and withdrawals.

use alloy::primitives::{Address, B256, U256};
use decloud_chain::client::Client;
use decloud_protocol::format_amount;
use serde_json::json;

use crate::error::{Error, Result};

/// An account's state on the hub.
#[derive(Clone, Debug)]
pub struct Account {
    /// The account.
    pub address: Address,
    /// Free in the escrow.
    pub balance: U256,
    /// Locked in deals and stakes.
    pub frozen: U256,
    /// Tokens in the wallet, not deposited.
    pub tokens: U256,
    /// The worker score.
    pub score: U256,
}

impl Account {
    /// Reads `address`'s account.
    pub async fn read(client: &Client, address: Address) -> Result<Self> {
        Ok(Self {
            address,
            balance: client.escrow_balance(address).await?,
            frozen: client.frozen_balance(address).await?,
            score: client
                .read("reading the worker score", client.hub().scoreOf(address))
                .await?,
            tokens: client.token_balance(address).await?,
        })
    }

    /// The account as JSON (amounts as decimal strings of nano-units).
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "address": self.address,
            "balance": self.balance.to_string(),
            "frozen": self.frozen.to_string(),
            "wallet_tokens": self.tokens.to_string(),
            "score": self.score.to_string(),
        })
    }
}

/// Moves `amount` from the client's wallet into its escrow account, approving the hub first
/// when needed; `progress` hears what it does. Returns the account after, and the transaction.
pub async fn deposit(
    client: &Client,
    amount: U256,
    progress: impl Fn(String),
) -> Result<(Account, B256)> {
    let me = client.address().ok_or(Error::NoWallet)?;
    let before = Account::read(client, me).await?;
    if before.tokens < amount {
        return Err(Error::InsufficientTokens {
            wallet: me,
            holds: format_amount(before.tokens),
            needs: format_amount(amount),
        });
    }
    progress(format!("depositing {}", format_amount(amount)));
    let receipt = decloud_chain::actions::deposit(client, amount).await?;
    Ok((Account::read(client, me).await?, receipt.transaction_hash))
}

/// Moves `amount` (the whole free balance when `None`) from the client's escrow account back to
/// its wallet; `progress` hears each step. Returns the account after, the transaction and the
/// amount.
pub async fn withdraw(
    client: &Client,
    amount: Option<U256>,
    progress: impl Fn(String),
) -> Result<(Account, B256, U256)> {
    let me = client.address().ok_or(Error::NoWallet)?;
    let before = Account::read(client, me).await?;
    let amount = amount.unwrap_or(before.balance);
    if amount.is_zero() {
        return Err(Error::NothingToWithdraw {
            account: me,
            frozen: format_amount(before.frozen),
        });
    }
    if before.balance < amount {
        return Err(Error::InsufficientEscrow {
            account: me,
            balance: format_amount(before.balance),
            frozen: format_amount(before.frozen),
            amount: format_amount(amount),
        });
    }
    progress(format!("withdrawing {}", format_amount(amount)));
    let call = client.hub().withdraw(amount).into_transaction_request();
    let receipt = client.send("withdrawing", call).await?;
    Ok((
        Account::read(client, me).await?,
        receipt.transaction_hash,
        amount,
    ))
}
