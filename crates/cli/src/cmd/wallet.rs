//! `decloud wallet create | import | show`: keystore V3 wallets under `$DECLOUD_HOME/wallets`.
//!
//! Also the options every chain command shares: [`WalletOpts`] (`--wallet`,
//! `--password-file`) and [`RpcOpts`] (`--rpc`), with the helpers that unlock the wallet and
//! connect to the chain.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use decloud_chain::ChainProfile;
use decloud_chain::client::Client;
use decloud_chain::wallet::{self, DEFAULT_WALLET, WalletInfo, WalletStore};
use indicatif::{ProgressBar, ProgressStyle};

/// Which wallet signs, and where its password comes from.
#[derive(Args, Clone, Debug)]
pub struct WalletOpts {
    /// Wallet name (in $DECLOUD_HOME/wallets) or path to a keystore file.
    #[arg(long, env = "DECLOUD_WALLET", default_value = DEFAULT_WALLET, value_name = "NAME|PATH")]
    pub wallet: String,
    /// Read the wallet password from this file (first line). Otherwise
    /// DECLOUD_WALLET_PASSWORD, otherwise a prompt.
    #[arg(long, env = "DECLOUD_WALLET_PASSWORD_FILE", value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

impl WalletOpts {
    /// The wallet's address, read without its password.
    pub fn address(&self, home: &Path) -> anyhow::Result<Address> {
        let info = WalletStore::new(home).info(&self.wallet)?;
        info.address.with_context(|| {
            format!(
                "the keystore {} has no address field: pass --password-file or set DECLOUD_WALLET_PASSWORD so it can be decrypted",
                info.path.display()
            )
        })
    }

    /// Decrypts the wallet (asking for the password if needed).
    pub fn unlock(&self, home: &Path) -> anyhow::Result<PrivateKeySigner> {
        let store = WalletStore::new(home);
        // Fail on a missing wallet before asking for a password.
        let info = store.info(&self.wallet)?;
        let password = password(
            self.password_file.as_deref(),
            &format!("password for wallet {}: ", info.name),
            false,
        )?;
        Ok(store.unlock(&self.wallet, &password)?)
    }
}

/// Which chain endpoint to use.
#[derive(Args, Clone, Debug)]
pub struct RpcOpts {
    /// JSON-RPC endpoint to use instead of the chain profile's.
    #[arg(long, env = "DECLOUD_RPC", value_name = "URL")]
    pub rpc: Option<String>,
}

impl RpcOpts {
    /// Connects to the chain of the profile under `home`, signing with `signer` if given.
    pub async fn connect(
        &self,
        home: &Path,
        signer: Option<PrivateKeySigner>,
    ) -> anyhow::Result<Client> {
        let profile = ChainProfile::load(home)?;
        Ok(Client::connect(&profile, self.rpc.as_deref(), signer).await?)
    }
}

/// A spinner on stderr while waiting for the chain (hidden with `--json` or off a terminal).
pub fn spinner(message: impl Into<String>, hidden: bool) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
        bar.set_style(style);
    }
    if hidden || !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.enable_steady_tick(Duration::from_millis(100));
    bar.set_message(message.into());
    bar
}

/// The password from `--password-file`, `DECLOUD_WALLET_PASSWORD`, or a prompt on the terminal
/// (typed twice when `confirm`).
pub fn password(file: Option<&Path>, prompt: &str, confirm: bool) -> anyhow::Result<String> {
    if let Some(p) = wallet::password_from_env_or_file(file)? {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "no wallet password: set {} or pass --password-file (no terminal to prompt on)",
            wallet::PASSWORD_ENV
        );
    }
    let first = rpassword::prompt_password(prompt).context("reading the password")?;
    if confirm {
        let again =
            rpassword::prompt_password("repeat the password: ").context("reading the password")?;
        if again != first {
            bail!("the two passwords differ: run the command again");
        }
    }
    Ok(first)
}

/// Arguments of `decloud wallet`.
#[derive(Args)]
pub struct WalletArgs {
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
    Create {
        /// Name of the wallet (its file is $DECLOUD_HOME/wallets/<name>.json).
        #[arg(long, default_value = DEFAULT_WALLET)]
        name: String,
        /// Read the password from this file (first line) instead of DECLOUD_WALLET_PASSWORD or a prompt.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
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
        /// Name of the wallet.
        #[arg(long, default_value = DEFAULT_WALLET)]
        name: String,
        /// Read the password from this file (first line) instead of DECLOUD_WALLET_PASSWORD or a prompt.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a wallet's address and file (no password needed), or every wallet with --all.
    #[command(after_help = "Examples:\n  \
        decloud wallet show\n  \
        decloud wallet show --wallet worker1 --json\n  \
        decloud wallet show --wallet ./keystore.json\n  \
        decloud wallet show --all")]
    Show {
        /// Wallet name or keystore path.
        #[arg(long, env = "DECLOUD_WALLET", default_value = DEFAULT_WALLET, value_name = "NAME|PATH")]
        wallet: String,
        /// List every wallet under $DECLOUD_HOME/wallets.
        #[arg(long)]
        all: bool,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `decloud wallet <verb>` with data under `home`.
pub async fn run(args: WalletArgs, home: &Path) -> anyhow::Result<()> {
    let store = WalletStore::new(home);
    match args.command {
        WalletCommand::Create {
            name,
            password_file,
            json,
        } => {
            check_free(&store, &name)?;
            let pw = password(
                password_file.as_deref(),
                &format!("new password for wallet {name}: "),
                true,
            )?;
            let info = store.create(&name, &pw)?;
            print_info(&info, json, "created")
        }
        WalletCommand::Import {
            key,
            key_file,
            name,
            password_file,
            json,
        } => {
            check_free(&store, &name)?;
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
            let pw = password(
                password_file.as_deref(),
                &format!("new password for wallet {name}: "),
                true,
            )?;
            let info = store.import(&name, &key, &pw)?;
            print_info(&info, json, "imported")
        }
        WalletCommand::Show { wallet, all, json } => {
            if all {
                let wallets = store.list()?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&wallets)?);
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
            let info = store.info(&wallet)?;
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
        println!("{}", serde_json::to_string_pretty(info)?);
        return Ok(());
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
