//! `decloud secret push | show`: a requester's named secrets in a secret management service.
//! A TEE task gets the secrets its request names (`"secrets": ["NAME"]` in the params); the
//! value is read from a file or standard input, never from the command line, and never printed.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use decloud_client::secret::SecretInfo;

use super::shared::{KeeperOpts, SmsOpts, Untrusted, WalletAddressOpts, WalletOpts, print_json};

/// Arguments of `decloud secret`.
#[derive(Args)]
pub(crate) struct SecretArgs {
    #[command(subcommand)]
    command: SecretCommand,
}

#[derive(Subcommand)]
enum SecretCommand {
    /// Store (or rotate) a named secret of your wallet: sealed to the SMS, signed by you.
    #[command(after_help = "Examples:\n  \
        decloud secret push api-token --file token.txt\n  \
        pass show api | decloud secret push api-token --stdin\n  \
        decloud secret push api-token --file token.txt --keepers URL1,URL2,URL3,URL4,URL5 --threshold 3\n\n\
        The value is at most 64 KiB; one trailing newline is dropped. Pushing again stores the\n\
        next version (an older one can never come back). A request names the secrets its TEE\n\
        task gets in its params: {\"secrets\": [\"api-token\"]}.")]
    Push {
        /// The secret's name: 1 to 64 letters, digits, '.', '_' or '-'.
        name: String,
        /// Read the value from this file.
        #[arg(long, value_name = "FILE", conflicts_with = "stdin")]
        file: Option<PathBuf>,
        /// Read the value from standard input.
        #[arg(long)]
        stdin: bool,
        #[command(flatten)]
        wallet: WalletOpts,
        #[command(flatten)]
        sms: SmsOpts,
        #[command(flatten)]
        keepers: KeeperOpts,
    },
    /// Whether the SMS holds a secret of yours, its version and hash (never its value).
    #[command(
        after_help = "Examples:\n  decloud secret show api-token\n  decloud secret show api-token --json"
    )]
    Show {
        /// The secret's name.
        name: String,
        #[command(flatten)]
        wallet: WalletAddressOpts,
        #[command(flatten)]
        sms: SmsOpts,
    },
}

fn read_value(file: Option<&Path>, stdin: bool) -> anyhow::Result<Vec<u8>> {
    let limit = decloud_protocol::tee::MAX_SECRET_BYTES as u64 + 2;
    let mut value = Vec::new();
    match (file, stdin) {
        (Some(path), _) => {
            std::fs::File::open(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .take(limit + 1)
                .read_to_end(&mut value)
                .with_context(|| format!("cannot read {}", path.display()))?;
        }
        (None, true) => {
            std::io::stdin()
                .take(limit + 1)
                .read_to_end(&mut value)
                .context("cannot read standard input")?;
        }
        (None, false) => bail!(
            "give the secret's value with --file FILE or --stdin (never on the command line, where other users and the shell history see it)"
        ),
    }
    if value.ends_with(b"\n") {
        value.pop();
        if value.ends_with(b"\r") {
            value.pop();
        }
    }
    Ok(value)
}

fn print_info(info: &SecretInfo, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(info);
    }
    match (info.version, info.ciphertext_hash) {
        (Some(version), Some(hash)) if info.exists => println!(
            "secret {}: version {version}, written by {}, sealed write sha256 {hash}",
            Untrusted(&info.name),
            info.owner.unwrap_or_default()
        ),
        _ => println!(
            "secret {}: not stored (push it with `decloud secret push {}`)",
            Untrusted(&info.name),
            Untrusted(&info.name)
        ),
    }
    Ok(())
}

/// Prints a secret split among keepers: one line per keeper (each holds only its share).
pub(crate) fn print_split(written: &[SecretInfo], k: usize, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&serde_json::json!({
            "threshold": k,
            "keepers": written,
        }));
    }
    if let Some(first) = written.first() {
        println!(
            "secret {}: split {k}-of-{} among keepers, each holds only its share",
            Untrusted(&first.name),
            written.len()
        );
    }
    for (i, info) in written.iter().enumerate() {
        println!(
            "  share {}: version {}, sealed write sha256 {}",
            i + 1,
            info.version.unwrap_or_default(),
            info.ciphertext_hash.unwrap_or_default()
        );
    }
    Ok(())
}

/// Runs `decloud secret <verb>`.
pub(crate) async fn run(args: SecretArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    match args.command {
        SecretCommand::Push {
            name,
            file,
            stdin,
            wallet,
            sms,
            keepers,
        } => {
            decloud_sms::api::check_name(&name)?;
            let value = read_value(file.as_deref(), stdin)?;
            if let Some((keepers, k)) = keepers.clients()? {
                let signer = wallet.unlock(home)?;
                let written = decloud_client::secret::push_secret_to_keepers(
                    &keepers, k, &signer, &name, &value,
                )
                .await?;
                return print_split(&written, k, json);
            }
            let client = sms.client(home)?;
            let signer = wallet.unlock(home)?;
            let info = decloud_client::secret::push_secret(&client, &signer, &name, &value).await?;
            print_info(&info, json)
        }
        SecretCommand::Show { name, wallet, sms } => {
            let client = sms.client(home)?;
            let owner = wallet.address(home)?;
            let info = decloud_client::secret::show_secret(&client, owner, &name).await?;
            print_info(&info, json)
        }
    }
}
