//! What the commands share: the option groups (wallet, chain endpoint, market), declared once
//! and flattened into each command, and the output helpers (JSON, tables, spinners) that honour
//! the global `--json`.

use std::fmt;
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

/// Which SMS to talk to.
#[derive(Args, Clone, Debug)]
pub(crate) struct SmsOpts {
    /// The SMS's URL with its key's fingerprint, as `decloud node --sms` printed it
    /// (https://HOST:PORT#sha256:...) [default: the SMS on 127.0.0.1:7650 of this $DECLOUD_HOME].
    #[arg(long, env = "DECLOUD_SMS", value_name = "URL")]
    pub sms: Option<String>,
}

impl SmsOpts {
    /// A client of that SMS.
    pub(crate) fn client(&self, home: &Path) -> anyhow::Result<decloud_client::secret::SmsClient> {
        let url = self.sms.clone().unwrap_or_else(|| {
            decloud_local::node::local_service_url(
                home,
                "sms",
                decloud_client::secret::DEFAULT_SMS_URL,
            )
        });
        Ok(decloud_client::secret::SmsClient::new(&url)?)
    }
}

/// Split a secret among keepers instead of giving it whole to one SMS.
#[derive(Args, Clone, Debug)]
pub(crate) struct KeeperOpts {
    /// Split the secret k-of-n among these keepers (`decloud node --keeper` URLs, comma
    /// separated, in share order): each gets only its share, sealed to it; any --threshold of
    /// them rebuild it inside an attested enclave, fewer learn nothing.
    #[arg(
        long,
        value_name = "URL,URL,...",
        value_delimiter = ',',
        conflicts_with = "sms",
        requires = "threshold"
    )]
    pub keepers: Vec<String>,
    /// Shares an enclave needs to rebuild the secret (k, from 2 to the number of keepers).
    #[arg(long, value_name = "K", requires = "keepers")]
    pub threshold: Option<usize>,
}

impl KeeperOpts {
    /// Clients of the keepers and the threshold, or `None` without --keepers.
    pub(crate) fn clients(
        &self,
    ) -> anyhow::Result<Option<(Vec<decloud_client::secret::SmsClient>, usize)>> {
        if self.keepers.is_empty() {
            return Ok(None);
        }
        let clients = self
            .keepers
            .iter()
            .map(|url| decloud_client::secret::SmsClient::new(url))
            .collect::<Result<Vec<_>, _>>()?;
        let k = self
            .threshold
            .context("--keepers needs --threshold K (shares an enclave needs)")?;
        Ok(Some((clients, k)))
    }
}

/// Which market to talk to.
#[derive(Args, Clone, Debug)]
pub(crate) struct MarketOpts {
    /// The market's URL with its key's fingerprint, as `decloud node --market` printed it
    /// (https://HOST:PORT#sha256:...) [default: the market on 127.0.0.1:7600 of this
    /// $DECLOUD_HOME].
    #[arg(long, env = "DECLOUD_MARKET", value_name = "URL")]
    pub market: Option<String>,
}

impl MarketOpts {
    /// A client of the market.
    pub(crate) fn client(&self, home: &Path) -> anyhow::Result<MarketClient> {
        let url = self.market.clone().unwrap_or_else(|| {
            decloud_local::node::local_service_url(home, "market", DEFAULT_MARKET_URL)
        });
        Ok(MarketClient::new(&url)?)
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

/// Prints `value` as pretty JSON on stdout. serde_json escapes C0 controls in strings; DEL and
/// C1 (which it leaves raw) are escaped too, so that no string from the network reaches a
/// terminal as a control. Outside strings JSON holds only ASCII punctuation and whitespace, so
/// the replacement touches strings only and the JSON means the same.
pub(crate) fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    println!("{}", json_text(value)?);
    Ok(())
}

/// `value` as pretty JSON with every control character escaped (see [`print_json`]).
fn json_text<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let text = serde_json::to_string_pretty(value)?;
    if !text.contains(is_control) {
        return Ok(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_control(c) && c != '\n' {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Ok(out)
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

/// Text that came from the network (a worker's failure reason, an order's params, a
/// resource's name or uri, a service's error body...), shown with every control character
/// escaped: C0 (newline and tab included, since they would forge lines and columns), DEL and C1.
/// Printed raw, an ESC or CSI byte would let whoever wrote the text clear the screen, retitle
/// the window or forge coloured lines in the user's terminal. Wraps any `Display`, so an error
/// chain is escaped as it is formatted, without a copy. (Width and alignment flags are not
/// applied: pad the label, not the untrusted value.)
pub(crate) struct Untrusted<T>(pub T);

impl<T: fmt::Display> fmt::Display for Untrusted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write as _;
        write!(Escaping(f), "{}", self.0)
    }
}

/// Writes through to the formatter, escaping control characters on the way.
struct Escaping<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(at) = rest.find(is_control) {
            self.0.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                // Every other control is below U+00A0: two hex digits name it.
                c => write!(self.0, "\\x{:02x}", c as u32)?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

/// C0, DEL and C1: what a terminal may act on instead of showing.
fn is_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
}

/// Takes over Ctrl-C (SIGINT) and SIGTERM (what `kill`, systemd and container runtimes send)
/// now, and returns a future that resolves, naming the signal, when either arrives: a
/// long-running command takes both through the same clean shutdown. Called before the command
/// says it is ready, so that a signal sent right after is never the default "die at once".
pub(crate) fn stop_signals() -> impl Future<Output = &'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        // A handler the system refuses (it never does in practice) leaves that signal's default.
        async fn next(signal: Option<Signal>) {
            match signal {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        let int = signal(SignalKind::interrupt()).ok();
        let term = signal(SignalKind::terminate()).ok();
        async move {
            tokio::select! {
                () = next(int) => "SIGINT",
                () = next(term) => "SIGTERM",
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
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
    fn control_characters_from_the_network_are_shown_escaped() {
        let hostile = "ok\x1b[2J\x1b]0;title\x07\nfake \x1b[32m✓ line\x1b[0m\t\r\x7f\u{9b}31m é";
        let shown = Untrusted(hostile).to_string();
        assert_eq!(
            shown,
            "ok\\x1b[2J\\x1b]0;title\\x07\\nfake \\x1b[32m✓ line\\x1b[0m\\t\\r\\x7f\\x9b31m é"
        );
        assert!(!shown.chars().any(is_control), "{shown:?}");
        // Any Display, e.g. an error chain, is escaped as it is formatted.
        let err = anyhow::anyhow!("body \x1b[2J").context("the market answered");
        assert_eq!(
            Untrusted(format_args!("{err:#}")).to_string(),
            "the market answered: body \\x1b[2J"
        );
        assert_eq!(
            Untrusted("plain text, ünïcode").to_string(),
            "plain text, ünïcode"
        );
    }

    #[test]
    fn json_output_escapes_every_control_character() {
        let value = serde_json::json!({"reason": "a\x1b[2J\x07\u{7f}\u{9b}b\n"});
        let text = json_text(&value).unwrap();
        assert!(
            !text.contains(|c: char| is_control(c) && c != '\n'),
            "{text:?}"
        );
        assert!(!text.contains("\x1b["), "{text:?}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value, "the escaped JSON means the same");
    }

    #[test]
    fn ids_and_addresses_are_checked() {
        assert!(parse_address("0x0000000000000000000000000000000000000001", "app").is_ok());
        let err = parse_address("0x12", "app").unwrap_err().to_string();
        assert!(err.contains("app \"0x12\" is not an address"), "{err}");
        assert!(parse_b256("nope", "deal").is_err());
    }
}
