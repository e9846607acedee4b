//! `decloud account deposit | withdraw | show`: the wallet's escrow account on the hub.

use std::path::Path;

use alloy::primitives::{Address, B256, U256};
use anyhow::bail;
use clap::{Args, Subcommand};
use decloud_chain::client::Client;
use decloud_client::account::{self, Account};
use decloud_protocol::{format_amount, parse_amount};
use indicatif::ProgressBar;
use serde_json::json;

use super::shared::{RpcOpts, SignerOpts, WalletAddressOpts, print_json, spinner};

/// Arguments of `decloud account`.
#[derive(Args)]
pub(crate) struct AccountArgs {
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
        signer: SignerOpts,
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
        signer: SignerOpts,
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
        #[command(flatten)]
        wallet: WalletAddressOpts,
        #[command(flatten)]
        rpc: RpcOpts,
    },
}

/// Prints `account` as `decloud account show` does.
fn print_account(account: &Account) {
    println!("address:  {}", account.address);
    println!(
        "balance:  {} (free in the escrow)",
        format_amount(account.balance)
    );
    println!(
        "frozen:   {} (locked in deals and stakes)",
        format_amount(account.frozen)
    );
    println!(
        "wallet:   {} (not deposited)",
        format_amount(account.tokens)
    );
    println!("score:    {}", account.score);
}

/// Runs `decloud account <verb>` with data under `home`.
pub(crate) async fn run(args: AccountArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    match args.command {
        AccountCommand::Show {
            address,
            wallet,
            rpc,
        } => {
            let address = match address {
                Some(a) => a,
                None => wallet.address(home)?,
            };
            let bar = spinner("reading the account", json);
            let result = async {
                let client = rpc.connect(home, None).await?;
                anyhow::Ok(Account::read(&client, address).await?)
            }
            .await;
            bar.finish_and_clear();
            let account = result?;
            if json {
                print_json(&account.to_json())?;
            } else {
                print_account(&account);
            }
            Ok(())
        }
        AccountCommand::Deposit { amount, signer } => {
            let amount = parse_amount(&amount)?;
            if amount.is_zero() {
                bail!("nothing to deposit: give an amount above 0");
            }
            let (account, tx) = on_chain(&signer, home, json, async |client, bar| {
                account::deposit(client, amount, |m| bar.set_message(m)).await
            })
            .await?;
            report(&account, tx, json, "deposited", amount)
        }
        AccountCommand::Withdraw { amount, signer } => {
            let all = amount.trim().eq_ignore_ascii_case("all");
            let amount = if all {
                None
            } else {
                Some(parse_amount(&amount)?)
            };
            let (account, tx, amount) = on_chain(&signer, home, json, async |client, bar| {
                account::withdraw(client, amount, |m| bar.set_message(m)).await
            })
            .await?;
            report(&account, tx, json, "withdrew", amount)
        }
    }
}

/// Unlocks the wallet, then connects and runs `op` under a spinner (its messages say what `op`
/// is doing).
async fn on_chain<T>(
    signer: &SignerOpts,
    home: &Path,
    json: bool,
    op: impl AsyncFnOnce(&Client, &ProgressBar) -> decloud_client::Result<T>,
) -> anyhow::Result<T> {
    let wallet = signer.wallet.unlock(home)?;
    let bar = spinner("connecting", json);
    let result = async {
        let client = signer.rpc.connect(home, Some(wallet)).await?;
        anyhow::Ok(op(&client, &bar).await?)
    }
    .await;
    bar.finish_and_clear();
    result
}

/// Prints what a deposit or withdrawal did and the account after it.
fn report(account: &Account, tx: B256, json: bool, verb: &str, amount: U256) -> anyhow::Result<()> {
    if json {
        let mut v = account.to_json();
        v["amount"] = json!(amount.to_string());
        v["transaction"] = json!(tx.to_string());
        print_json(&v)
    } else {
        println!("{verb} {} (transaction {tx})", format_amount(amount));
        print_account(account);
        Ok(())
    }
}
