//! `decloud result get <task> [-o dir]`: downloads a completed task's result archive, checks it
//! against what the hub certified, and unpacks it.
//!
//! The check: the archive must hash to the name its location gives (a content address), and the
//! digest the runtime recomputes from the files (docs/design.md#result-digest) must give the
//! consensus result hash of the task's `TaskConsensus` event, `keccak(taskid ‖ digest)`. For a
//! callback deal, the callback data of `TaskFinalize` is checked the same way.

use std::path::{Path, PathBuf};

use alloy::primitives::{B256, keccak256};
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use decloud_chain::client::Client;
use decloud_chain::contracts::HubExtension;
use decloud_protocol::result::result_hash;
use decloud_runtime::{ERROR_JSON, FailureRecord, Limits, Outcome};
use decloud_storage::ContentHash;
use serde_json::json;

use super::shared::{
    STATUS_COMPLETED, find_task, hub_logs, print_json, results_location, small, status_name,
    task_view,
};
use super::wallet::{RpcOpts, spinner};

/// Arguments of `decloud result`.
#[derive(Args)]
pub struct ResultArgs {
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
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A result downloaded and checked against the chain.
#[derive(Clone, Debug)]
pub struct VerifiedResult {
    /// Where it came from.
    pub location: String,
    /// Its digest, as certified.
    pub digest: B256,
    /// The app's deterministic failure, when the certified result is one.
    pub failure: Option<FailureRecord>,
    /// The callback data handed to the deal's callback contract (empty without one).
    pub callback_data: Vec<u8>,
    /// Where it is unpacked.
    pub dir: PathBuf,
}

/// The result hash that reached consensus for `task_id` (the last one, after any reopen).
async fn consensus_of(client: &Client, task_id: B256) -> anyhow::Result<B256> {
    let logs = hub_logs(
        client,
        Filter::new()
            .event_signature(HubExtension::TaskConsensus::SIGNATURE_HASH)
            .topic1(task_id),
    )
    .await?;
    logs.iter()
        .filter_map(|l| HubExtension::TaskConsensus::decode_log(&l.inner).ok())
        .map(|e| e.resultHash)
        .next_back()
        .with_context(|| format!("task {task_id} has no consensus on chain"))
}

fn empty_or_missing(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// Downloads, checks and unpacks the result of completed task `task_id` into `dest`.
pub async fn fetch_verified(
    client: &Client,
    task_id: B256,
    dest: &Path,
    max_bytes: u64,
) -> anyhow::Result<VerifiedResult> {
    let view = task_view(client, task_id).await?;
    if view.status != STATUS_COMPLETED {
        bail!(
            "task {task_id} is {}: it has no certified result yet; follow it with `decloud task show {task_id} --watch`",
            status_name(view.status)
        );
    }
    let (deal, _) = find_task(client, task_id).await?;
    let callback = !deal.deal.callback.is_zero();
    let consensus = consensus_of(client, task_id).await?;
    let (location, callback_data) =
        results_location(client, task_id).await?.with_context(|| {
            format!("task {task_id} is completed but its TaskFinalize event is missing")
        })?;
    let location = String::from_utf8(location)
        .context("the task's results location is not text: it cannot be downloaded")?;
    if callback && result_hash(task_id, keccak256(&callback_data)) != consensus {
        bail!(
            "the callback data published for task {task_id} does not match the certified result: report it to the workerpool"
        );
    }
    if location.trim().is_empty() {
        bail!(
            "task {task_id} was finalized without a results location: only its callback data ({} bytes) is available",
            callback_data.len()
        );
    }
    if !empty_or_missing(dest) {
        bail!(
            "{} is not empty: choose another directory with -o",
            dest.display()
        );
    }
    let (_, name) = decloud_storage::uri::split(&location)
        .with_context(|| format!("the results location {location:?} is not a URL"))?;
    let named = name
        .strip_prefix("0x")
        .unwrap_or(name)
        .parse::<ContentHash>()
        .ok();
    let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
    let archive_path = scratch.path().join("result.tar");
    decloud_storage::uri::fetch_to_file(&location, named.as_ref(), max_bytes, &archive_path)
        .await
        .with_context(|| format!("cannot download the result from {location}"))?;
    let archive = std::fs::read(&archive_path).context("cannot read the downloaded archive")?;
    std::fs::create_dir_all(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    decloud_storage::results::unpack(&archive, dest, max_bytes.saturating_mul(4))
        .with_context(|| format!("cannot unpack the result into {}", dest.display()))?;

    // A failed run's archive holds its record; a successful one, the app's output.
    let failure = std::fs::read(dest.join(ERROR_JSON))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<FailureRecord>(&bytes).ok());
    let reference = small(deal.deal.workClockTimeRef);
    let mut candidates = Vec::new();
    if let Some(record) = &failure
        && let Some(c) = Outcome::Failed(record.clone()).contribution(callback)
    {
        candidates.push((c.digest, Some(record.clone())));
    }
    if let Some(c) =
        decloud_runtime::outcome_of_output(dest, callback, &Limits::for_category(reference))
            .ok()
            .and_then(|o| o.contribution(callback))
    {
        candidates.push((c.digest, None));
    }
    let Some((digest, failure)) = candidates
        .into_iter()
        .find(|(d, _)| result_hash(task_id, B256::from(d.0)) == consensus)
    else {
        bail!(
            "the result downloaded from {location} does not match the certified one (consensus hash {consensus}): it was altered; do not trust the files in {}",
            dest.display()
        );
    };
    Ok(VerifiedResult {
        location,
        digest: B256::from(digest.0),
        failure,
        callback_data,
        dir: dest.to_path_buf(),
    })
}

/// Runs `decloud result <verb>`.
pub async fn run(args: ResultArgs, home: &Path) -> anyhow::Result<()> {
    match args.command {
        ResultCommand::Get {
            task,
            output,
            max_mib,
            rpc,
            json,
        } => {
            let task_id = super::shared::parse_b256(&task, "task id")?;
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
                println!("the app failed, and every replica agreed: {f}");
            }
            println!("unpacked into {}:", result.dir.display());
            for f in files {
                println!("  {f}");
            }
            Ok(())
        }
    }
}

/// The files under `dir`, relative and sorted.
fn list_files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
