//! `decloud account deposit | withdraw | show`: the wallet's escrow account on the hub.

use std::path::Path;

use alloy::primitives::{Address, U256};
use anyhow::bail;
use clap::{Args, Subcommand};
use decloud_chain::client::Client;
use decloud_protocol::{format_amount, parse_amount};
use serde_json::json;

use super::wallet::{RpcOpts, WalletOpts, spinner};

/// Arguments of `decloud account`.
#[derive(Args)]
pub struct AccountArgs {
    #[command(subcommand)]
    command: AccountCommand,
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Move tokens from the wallet into its escrow account on the hub (approves the hub first).
    #[command(
        after_help = "Amounts are nano-units (1 DCT = 1000000000), or tokens with a DCT suffix.\n\n\
        Examples:\n  \
        decloud account deposit 100DCT\n  \
        decloud account deposit 1500000000 --wallet requester\n  \
        decloud account deposit \"0.5 DCT\" --json"
    )]
    Deposit {
        /// Amount: nano-units, or tokens with a DCT suffix.
        amount: String,
        #[command(flatten)]
        wallet: WalletOpts,
        #[command(flatten)]
        rpc: RpcOpts,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Move tokens from the escrow account (its free part) back to the wallet.
    #[command(after_help = "Examples:\n  \
        decloud account withdraw 10DCT\n  \
        decloud account withdraw all\n  \
        decloud account withdraw 500000000 --wallet worker1 --json")]
    Withdraw {
        /// Amount: nano-units, tokens with a DCT suffix, or `all` (the whole free balance).
        amount: String,
        #[command(flatten)]
        wallet: WalletOpts,
        #[command(flatten)]
        rpc: RpcOpts,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the escrow balance (free and frozen), the wallet's tokens and the worker score.
    #[command(after_help = "Examples:\n  \
        decloud account show\n  \
        decloud account show --wallet worker1 --json\n  \
        decloud account show --address 0x70997970C51812dc3A010C7d01b50e0d17dc79C8")]
    Show {
        /// Show this address instead of the wallet's.
        #[arg(long)]
        address: Option<Address>,
        /// Wallet name or keystore path (only its address is read: no password needed).
        #[arg(long, env = "DECLOUD_WALLET", default_value = decloud_chain::wallet::DEFAULT_WALLET, value_name = "NAME|PATH")]
        wallet: String,
        #[command(flatten)]
        rpc: RpcOpts,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// An account's state on the hub.
struct State {
    address: Address,
    balance: U256,
    frozen: U256,
    tokens: U256,
    score: U256,
}

impl State {
    async fn read(client: &Client, address: Address) -> anyhow::Result<Self> {
        let hub = client.hub();
        let token = client.token();
        let what = "reading the account";
        let balance = hub
            .balanceOf(address)
            .call()
            .await
            .map_err(|e| client.contract_error(what, &e))?;
        let frozen = hub
            .frozenOf(address)
            .call()
            .await
            .map_err(|e| client.contract_error(what, &e))?;
        let score = hub
            .scoreOf(address)
            .call()
            .await
            .map_err(|e| client.contract_error(what, &e))?;
        let tokens = token
            .balanceOf(address)
            .call()
            .await
            .map_err(|e| client.contract_error(what, &e))?;
        Ok(Self {
            address,
            balance,
            frozen,
            tokens,
            score,
        })
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "address": self.address,
            "balance": self.balance.to_string(),
            "frozen": self.frozen.to_string(),
            "wallet_tokens": self.tokens.to_string(),
            "score": self.score.to_string(),
        })
    }

    fn print(&self) {
        println!("address:  {}", self.address);
        println!(
            "balance:  {} (free in the escrow)",
            format_amount(self.balance)
        );
        println!(
            "frozen:   {} (locked in deals and stakes)",
            format_amount(self.frozen)
        );
        println!("wallet:   {} (not deposited)", format_amount(self.tokens));
        println!("score:    {}", self.score);
    }
}

/// Runs `decloud account <verb>` with data under `home`.
pub async fn run(args: AccountArgs, home: &Path) -> anyhow::Result<()> {
    match args.command {
        AccountCommand::Show {
            address,
            wallet,
            rpc,
            json,
        } => {
            let address = match address {
                Some(a) => a,
                None => WalletOpts {
                    wallet,
                    password_file: None,
                }
                .address(home)?,
            };
            let bar = spinner("reading the account", json);
            let result = async {
                let client = rpc.connect(home, None).await?;
                State::read(&client, address).await
            }
            .await;
            bar.finish_and_clear();
            let state = result?;
            if json {
                println!("{}", serde_json::to_string_pretty(&state.json())?);
            } else {
                state.print();
            }
            Ok(())
        }
        AccountCommand::Deposit {
            amount,
            wallet,
            rpc,
            json,
        } => {
            let amount = parse_amount(&amount)?;
            if amount.is_zero() {
                bail!("nothing to deposit: give an amount above 0");
            }
            let signer = wallet.unlock(home)?;
            let bar = spinner("connecting", json);
            let result = deposit(home, &rpc, signer, amount, &bar).await;
            bar.finish_and_clear();
            report(result?, json, "deposited", amount)
        }
        AccountCommand::Withdraw {
            amount,
            wallet,
            rpc,
            json,
        } => {
            let all = amount.trim().eq_ignore_ascii_case("all");
            let amount = if all {
                None
            } else {
                Some(parse_amount(&amount)?)
            };
            let signer = wallet.unlock(home)?;
            let bar = spinner("connecting", json);
            let result = withdraw(home, &rpc, signer, amount, &bar).await;
            bar.finish_and_clear();
            let (state, tx, amount) = result?;
            report((state, tx), json, "withdrew", amount)
        }
    }
}

async fn deposit(
    home: &Path,
    rpc: &RpcOpts,
    signer: alloy::signers::local::PrivateKeySigner,
    amount: U256,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<(State, String)> {
    let client = rpc.connect(home, Some(signer)).await?;
    let me = client.address().unwrap_or_default();
    let before = State::read(&client, me).await?;
    if before.tokens < amount {
        bail!(
            "insufficient tokens: wallet {me} holds {} but the deposit needs {}; deposit less, or fund the wallet (on a devnet: transfer from a dev account)",
            format_amount(before.tokens),
            format_amount(amount)
        );
    }
    let hub = client.hub();
    let token = client.token();
    let allowance = token
        .allowance(me, client.profile().contracts.hub)
        .call()
        .await
        .map_err(|e| client.contract_error("reading the allowance", &e))?;
    if allowance < amount {
        bar.set_message("approving the hub to take the tokens");
        client
            .send(
                "approving the hub",
                token
                    .approve(client.profile().contracts.hub, amount)
                    .into_transaction_request(),
            )
            .await?;
    }
    bar.set_message(format!("depositing {}", format_amount(amount)));
    let receipt = client
        .send("depositing", hub.deposit(amount).into_transaction_request())
        .await?;
    Ok((
        State::read(&client, me).await?,
        receipt.transaction_hash.to_string(),
    ))
}

async fn withdraw(
    home: &Path,
    rpc: &RpcOpts,
    signer: alloy::signers::local::PrivateKeySigner,
    amount: Option<U256>,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<(State, String, U256)> {
    let client = rpc.connect(home, Some(signer)).await?;
    let me = client.address().unwrap_or_default();
    let before = State::read(&client, me).await?;
    let amount = amount.unwrap_or(before.balance);
    if amount.is_zero() {
        bail!(
            "nothing to withdraw: {me} has 0 DCT free in the escrow ({} frozen in deals and stakes)",
            format_amount(before.frozen)
        );
    }
    if before.balance < amount {
        bail!(
            "insufficient balance: {me} has {} free in the escrow ({} frozen) and cannot withdraw {}; withdraw at most the free balance (`decloud account withdraw all`)",
            format_amount(before.balance),
            format_amount(before.frozen),
            format_amount(amount)
        );
    }
    bar.set_message(format!("withdrawing {}", format_amount(amount)));
    let hub = client.hub();
    let receipt = client
        .send(
            "withdrawing",
            hub.withdraw(amount).into_transaction_request(),
        )
        .await?;
    Ok((
        State::read(&client, me).await?,
        receipt.transaction_hash.to_string(),
        amount,
    ))
}

fn report(result: (State, String), json: bool, verb: &str, amount: U256) -> anyhow::Result<()> {
    let (state, tx) = result;
    if json {
        let mut v = state.json();
        v["amount"] = json!(amount.to_string());
        v["transaction"] = json!(tx);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{verb} {} (transaction {tx})", format_amount(amount));
        state.print();
    }
    Ok(())
}
