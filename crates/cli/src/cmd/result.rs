//! `decloud result get <task> [-o dir]`: downloads a completed task's result archive, checks it
//! against what the hub certified, opens it if it is encrypted, and unpacks it.
//! `decloud result keygen`: the age identity TEE tasks encrypt a beneficiary's results to.
//!
//! The check itself is `decloud_client::result::fetch_verified`'s.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use decloud_client::result::{fetch_verified, list_files};
use serde_json::json;

use super::shared::{RpcOpts, SmsOpts, Untrusted, WalletOpts, parse_b256, print_json, spinner};

/// Where `decloud result keygen` keeps the identity that opens the wallet owner's results.
pub(crate) fn default_key_path(home: &Path) -> PathBuf {
    home.join("keys").join("result.key")
}

/// Arguments of `decloud result`.
#[derive(Args)]
pub(crate) struct ResultArgs {
    #[command(subcommand)]
    command: ResultCommand,
}

#[derive(Subcommand)]
enum ResultCommand {
    /// Download a completed task's result, check it against the certified digest, unpack it.
    #[command(after_help = "Examples:\n  \
        decloud result get 0x3b7a...                 # into ./<task id>/\n  \
        decloud result get 0x3b7a... -o out --json")]
    Get {
        /// The task id.
        task: String,
        /// Directory to unpack into (must not exist, or be empty) [default: ./<task id>].
        #[arg(short, long, value_name = "DIR")]
        output: Option<PathBuf>,
        /// Largest archive downloaded, in MiB.
        #[arg(long = "max-mib", default_value_t = 1024, value_name = "MIB")]
        max_mib: u64,
        /// The age identity that opens an encrypted result [default: $DECLOUD_HOME/keys/result.key,
        /// written by `decloud result keygen`; the stock `age-keygen`'s files work too].
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        #[command(flatten)]
        rpc: RpcOpts,
    },
    /// Make the age identity your TEE tasks' results are encrypted to, and give its public key
    /// to the SMS as your wallet's result recipient (signed by the wallet).
    #[command(after_help = "Examples:\n  \
        decloud result keygen                        # $DECLOUD_HOME/keys/result.key, pushed to the SMS\n  \
        decloud result keygen --key ~/my.key --sms https://10.0.0.7:7650#sha256:...\n  \
        decloud result keygen --no-push --json       # only the key file\n\n\
        The identity never leaves this machine; only its public key (age1...) goes to the SMS.\n\
        An existing key file is never overwritten: results encrypted to it would be lost.")]
    Keygen {
        /// Where to write the identity (mode 0600) [default: $DECLOUD_HOME/keys/result.key].
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Only write the key file; do not push the recipient to the SMS.
        #[arg(long)]
        no_push: bool,
        #[command(flatten)]
        wallet: WalletOpts,
        #[command(flatten)]
        sms: SmsOpts,
    },
}

/// Runs `decloud result <verb>`.
pub(crate) async fn run(args: ResultArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    match args.command {
        ResultCommand::Keygen {
            key,
            no_push,
            wallet,
            sms,
        } => {
            let path = key.unwrap_or_else(|| default_key_path(home));
            // Everything that can fail before the file exists is checked first.
            let pushing = if no_push {
                None
            } else {
                Some((wallet.unlock(home)?, sms.client(home)?))
            };
            let identity = decloud_age::Identity::generate()?;
            identity.write_new_file(&path)?;
            let recipient = identity.recipient();
            let pushed = match pushing {
                Some((signer, sms)) => Some(
                    decloud_client::secret::push_result_recipient(&sms, &signer, &recipient)
                        .await
                        .map_err(|e| {
                            anyhow::anyhow!(
                                "{e} (the key was written to {}; push it again with `decloud result keygen --key` on a new file, or keep it)",
                                path.display()
                            )
                        })?,
                ),
                None => None,
            };
            if json {
                return print_json(&json!({
                    "key_file": path,
                    "recipient": recipient.to_string(),
                    "pushed": pushed,
                }));
            }
            println!(
                "wrote {} (keep it: it alone opens your encrypted results)",
                path.display()
            );
            println!("recipient: {recipient}");
            match pushed {
                Some(info) => println!(
                    "the SMS holds it as {}'s result recipient (version {})",
                    info.owner.unwrap_or_default(),
                    info.version.unwrap_or_default()
                ),
                None => {
                    println!("not pushed (--no-push): TEE tasks can't encrypt results to it yet")
                }
            }
            Ok(())
        }
        ResultCommand::Get {
            task,
            output,
            max_mib,
            key,
            rpc,
        } => {
            let task_id = parse_b256(&task, "task id")?;
            // An explicit key must load; the default one only if it exists.
            let identity = match key {
                Some(path) => Some(decloud_age::Identity::read_file(&path)?),
                None => {
                    let path = default_key_path(home);
                    path.exists()
                        .then(|| decloud_age::Identity::read_file(&path))
                        .transpose()?
                }
            };
            let client = rpc.connect(home, None).await?;
            let dest = output.unwrap_or_else(|| PathBuf::from(task_id.to_string()));
            let bar = spinner("downloading and checking the result", json);
            let result = fetch_verified(
                &client,
                task_id,
                &dest,
                max_mib.saturating_mul(1 << 20),
                identity.as_ref(),
            )
            .await;
            bar.finish_and_clear();
            let result = result?;
            let files = list_files(&result.dir);
            if json {
                return print_json(&json!({
                    "task_id": task_id,
                    "location": result.location,
                    "digest": result.digest,
                    "verified": true,
                    "encrypted": result.encrypted,
                    "failure": result.failure.as_ref().map(|f| f.to_string()),
                    "callback_data": (!result.callback_data.is_empty())
                        .then(|| alloy::hex::encode_prefixed(&result.callback_data)),
                    "dir": result.dir,
                    "files": files,
                }));
            }
            println!(
                "result of task {task_id}: verified against the chain (digest {})",
                result.digest
            );
            if let Some(f) = &result.failure {
                println!("the app failed, and every replica agreed: {}", Untrusted(f));
            }
            println!("unpacked into {}:", result.dir.display());
            for f in files {
                println!("  {}", Untrusted(f));
            }
            Ok(())
        }
    }
}
