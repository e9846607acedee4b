//! What the commands share: the option groups (wallet, chain endpoint, market), declared once
//! and flattened into each command, and the output helpers (JSON, tables, spinners) that honour
//! the global `--json`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::primitives::{Address, B256};
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, bail};
use clap::Args;
use comfy_table::{ContentArrangement, Table, presets};
use decloud_chain::ChainProfile;
use decloud_chain::client::Client;
use decloud_chain::wallet::{self, DEFAULT_WALLET, WalletStore};
use decloud_market::client::{DEFAULT_MARKET_URL, MarketClient};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// Which wallet signs, and where its password comes from.
#[derive(Args, Clone, Debug)]
pub(crate) struct WalletOpts {
    /// Wallet name (in $DECLOUD_HOME/wallets) or path to a keystore file.
    #[arg(long, env = "DECLOUD_WALLET", default_value = DEFAULT_WALLET, value_name = "NAME|PATH")]
    pub wallet: String,
    /// Read the wallet password from this file (first line). Otherwise
    /// DECLOUD_WALLET_PASSWORD, otherwise a prompt.
    #[arg(long, env = "DECLOUD_WALLET_PASSWORD_FILE", value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

impl WalletOpts {
    /// Decrypts the wallet (asking for the password if needed).
    pub(crate) fn unlock(&self, home: &Path) -> anyhow::Result<PrivateKeySigner> {
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

/// A wallet whose address only is read (no password needed).
#[derive(Args, Clone, Debug)]
pub(crate) struct WalletAddressOpts {
    /// Wallet name or keystore path (only its address is read: no password needed).
    #[arg(long, env = "DECLOUD_WALLET", default_value = DEFAULT_WALLET, value_name = "NAME|PATH")]
    pub wallet: String,
}

impl WalletAddressOpts {
    /// The wallet's address.
    pub(crate) fn address(&self, home: &Path) -> anyhow::Result<Address> {
        wallet_address(&self.wallet, home)
    }
}

/// The address of wallet `name` under `home`, read without its password.
fn wallet_address(name: &str, home: &Path) -> anyhow::Result<Address> {
    let info = WalletStore::new(home).info(name)?;
    info.address.with_context(|| {
        format!(
            "the keystore {} has no address field: pass --password-file or set DECLOUD_WALLET_PASSWORD so it can be decrypted",
            info.path.display()
        )
    })
}

/// The password from `--password-file`, `DECLOUD_WALLET_PASSWORD`, or a prompt on the terminal
/// (typed twice when `confirm`).
pub(crate) fn password(file: Option<&Path>, prompt: &str, confirm: bool) -> anyhow::Result<String> {
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

/// Which chain endpoint to use.
#[derive(Args, Clone, Debug)]
pub(crate) struct RpcOpts {
    /// JSON-RPC endpoint to use instead of the chain profile's.
    #[arg(long, env = "DECLOUD_RPC", value_name = "URL")]
    pub rpc: Option<String>,
}

impl RpcOpts {
    /// Connects to the chain of the profile under `home`, signing with `signer` if given.
    pub(crate) async fn connect(
        &self,
        home: &Path,
        signer: Option<PrivateKeySigner>,
    ) -> anyhow::Result<Client> {
        let profile = ChainProfile::load(home)?;
        Ok(Client::connect(&profile, self.rpc.as_deref(), signer).await?)
    }
}

/// A wallet that signs, on the chain of the profile.
#[derive(Args, Clone, Debug)]
pub(crate) struct SignerOpts {
    #[command(flatten)]
    pub wallet: WalletOpts,
    #[command(flatten)]
    pub rpc: RpcOpts,
}

impl SignerOpts {
    /// Unlocks the wallet, then connects to the chain signing with it.
    pub(crate) async fn connect(&self, home: &Path) -> anyhow::Result<Client> {
        let signer = self.wallet.unlock(home)?;
        self.rpc.connect(home, Some(signer)).await
    }
}

/// Which market to talk to.
#[derive(Args, Clone, Debug)]
pub(crate) struct MarketOpts {
    /// The market's URL (a `decloud node --market`).
    #[arg(long, env = "DECLOUD_MARKET", default_value = DEFAULT_MARKET_URL, value_name = "URL")]
    pub market: String,
}

impl MarketOpts {
    /// A client of the market.
    pub(crate) fn client(&self) -> anyhow::Result<MarketClient> {
        Ok(MarketClient::new(&self.market)?)
    }
}

/// A spinner on stderr while waiting for the chain (hidden with `--json` or off a terminal).
pub(crate) fn spinner(message: impl Into<String>, hidden: bool) -> ProgressBar {
    let bar = progress(
        ProgressBar::new_spinner(),
        "{spinner} {msg} {elapsed}",
        hidden,
    );
    bar.set_message(message.into());
    bar
}

/// `bar` drawn with `template` on stderr, ticking; hidden with `--json` or off a terminal.
pub(crate) fn progress(bar: ProgressBar, template: &str, hidden: bool) -> ProgressBar {
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    if hidden || !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// Prints `value` as pretty JSON on stdout.
pub(crate) fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A table with the CLI's look, with these column headers.
pub(crate) fn table<I, S>(headers: I) -> Table
where
    I: IntoIterator<Item = S>,
    S: Into<comfy_table::Cell>,
{
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(headers);
    table
}

/// Unix time now, in seconds.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// `0x…` as an address, with a message naming `what` when it is not one.
pub(crate) fn parse_address(text: &str, what: &str) -> anyhow::Result<Address> {
    text.trim().parse().map_err(|_| {
        anyhow::anyhow!("{what} {text:?} is not an address: expected 0x followed by 40 hex digits")
    })
}

/// `0x…` as a 32-byte id, with a message naming `what` when it is not one.
pub(crate) fn parse_b256(text: &str, what: &str) -> anyhow::Result<B256> {
    text.trim().parse().map_err(|_| {
        anyhow::anyhow!("{what} {text:?} is not an id: expected 0x followed by 64 hex digits")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_addresses_are_checked() {
        assert!(parse_address("0x0000000000000000000000000000000000000001", "app").is_ok());
        let err = parse_address("0x12", "app").unwrap_err().to_string();
        assert!(err.contains("app \"0x12\" is not an address"), "{err}");
        assert!(parse_b256("nope", "deal").is_err());
    }
}
