//! `decloud wallet create | import | show`: keystore V3 wallets under `$DECLOUD_HOME/wallets`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use decloud_chain::wallet::{self, DEFAULT_WALLET, WalletInfo, WalletStore};

use super::shared::{WalletAddressOpts, password, print_json};

/// Arguments of `decloud wallet`.
#[derive(Args)]
pub(crate) struct WalletArgs {
    #[command(subcommand)]
    command: WalletCommand,
}

#[derive(Subcommand)]
enum WalletCommand {
    /// Create a wallet with a new random key, encrypted with a password.
    #[command(after_help = "Examples:\n  \
        decloud wallet create                          # the wallet named \"default\"\n  \
        decloud wallet create --name worker1\n  \
        DECLOUD_WALLET_PASSWORD=... decloud wallet create --name ci --json\n  \
        decloud wallet create --password-file ~/.secrets/pw")]
    Create(NewWallet),
    /// Store an existing private key as an encrypted wallet.
    #[command(after_help = "Examples:\n  \
        decloud wallet import --name dev0 --key-file key.txt\n  \
        decloud wallet import --name dev0              # prompts for the key\n  \
        decloud wallet import --name dev0 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80\n\n\
        A key on the command line is visible to other users of the machine: prefer --key-file or the prompt.")]
    Import {
        /// The private key (64 hex digits); prompted for when neither this nor --key-file is given.
        key: Option<String>,
        /// Read the private key from this file.
        #[arg(long, value_name = "FILE", conflicts_with = "key")]
        key_file: Option<PathBuf>,
        #[command(flatten)]
        new: NewWallet,
    },
    /// Show a wallet's address and file (no password needed), or every wallet with --all.
    #[command(after_help = "Examples:\n  \
        decloud wallet show\n  \
        decloud wallet show --wallet worker1 --json\n  \
        decloud wallet show --wallet ./keystore.json\n  \
        decloud wallet show --all")]
    Show {
        #[command(flatten)]
        wallet: WalletAddressOpts,
        /// List every wallet under $DECLOUD_HOME/wallets.
        #[arg(long)]
        all: bool,
    },
}

/// The wallet a command creates.
#[derive(Args)]
struct NewWallet {
    /// Name of the wallet (its file is $DECLOUD_HOME/wallets/<name>.json).
    #[arg(long, default_value = DEFAULT_WALLET)]
    name: String,
    /// Read the password from this file (first line) instead of DECLOUD_WALLET_PASSWORD or a prompt.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

impl NewWallet {
    /// The new wallet's password (typed twice when prompted for).
    fn password(&self) -> anyhow::Result<String> {
        password(
            self.password_file.as_deref(),
            &format!("new password for wallet {}: ", self.name),
            true,
        )
    }
}

/// Runs `decloud wallet <verb>` with data under `home`.
pub(crate) async fn run(args: WalletArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    let store = WalletStore::new(home);
    match args.command {
        WalletCommand::Create(new) => {
            check_free(&store, &new.name)?;
            let info = store.create(&new.name, &new.password()?)?;
            print_info(&info, json, "created")
        }
        WalletCommand::Import { key, key_file, new } => {
            check_free(&store, &new.name)?;
            let key = match (key, key_file) {
                (Some(k), _) => k,
                (None, Some(f)) => std::fs::read_to_string(&f)
                    .with_context(|| format!("cannot read the key file {}", f.display()))?
                    .trim()
                    .to_string(),
                (None, None) => {
                    if !std::io::stdin().is_terminal() {
                        bail!("no private key: pass it as an argument or with --key-file");
                    }
                    rpassword::prompt_password("private key (hex): ").context("reading the key")?
                }
            };
            let info = store.import(&new.name, &key, &new.password()?)?;
            print_info(&info, json, "imported")
        }
        WalletCommand::Show { wallet, all } => {
            if all {
                let wallets = store.list()?;
                if json {
                    print_json(&wallets)?;
                } else if wallets.is_empty() {
                    println!(
                        "no wallets under {} (create one with `decloud wallet create`)",
                        store.dir().display()
                    );
                } else {
                    for w in wallets {
                        println!(
                            "{:<20} {}  {}",
                            w.name,
                            describe_address(w.address),
                            w.path.display()
                        );
                    }
                }
                return Ok(());
            }
            let info = store.info(&wallet.wallet)?;
            print_info(&info, json, "")
        }
    }
}

fn check_free(store: &WalletStore, name: &str) -> anyhow::Result<()> {
    // Refuse before asking for a password twice.
    let path = store.resolve(name);
    if path.exists() {
        return Err(wallet::WalletError::Exists {
            name: name.to_string(),
            path,
        }
        .into());
    }
    Ok(())
}

fn describe_address(a: Option<Address>) -> String {
    a.map(|a| a.to_string())
        .unwrap_or_else(|| "(address not stored)".into())
}

fn print_info(info: &WalletInfo, json: bool, verb: &str) -> anyhow::Result<()> {
    if json {
        return print_json(info);
    }
    if !verb.is_empty() {
        println!("{verb} wallet {}", info.name);
    } else {
        println!("wallet:   {}", info.name);
    }
    println!("address:  {}", describe_address(info.address));
    println!("file:     {}", info.path.display());
    Ok(())
}
