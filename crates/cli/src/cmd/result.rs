//! `decloud result get <task> [-o dir]`: downloads a completed task's result archive, checks it
//! against what the hub certified, and unpacks it.
//!
//! The check itself is `decloud_client::result::fetch_verified`'s.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use decloud_client::result::{fetch_verified, list_files};
use serde_json::json;

use super::shared::{RpcOpts, Untrusted, parse_b256, print_json, spinner};

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
        #[command(flatten)]
        rpc: RpcOpts,
    },
}

/// Runs `decloud result <verb>`.
pub(crate) async fn run(args: ResultArgs, home: &Path, json: bool) -> anyhow::Result<()> {
    match args.command {
        ResultCommand::Get {
            task,
            output,
            max_mib,
            rpc,
        } => {
            let task_id = parse_b256(&task, "task id")?;
            let client = rpc.connect(home, None).await?;
            let dest = output.unwrap_or_else(|| PathBuf::from(task_id.to_string()));
            let bar = spinner("downloading and checking the result", json);
            let result =
                fetch_verified(&client, task_id, &dest, max_mib.saturating_mul(1 << 20)).await;
            bar.finish_and_clear();
            let result = result?;
            let files = list_files(&result.dir);
            if json {
                return print_json(&json!({
                    "task_id": task_id,
                    "location": result.location,
                    "digest": result.digest,
                    "verified": true,
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
